-- Reserved for the reseller caps migration (h-resellers), which lands as 0012;
-- delete this file when that branch is merged.
SELECT 1;
