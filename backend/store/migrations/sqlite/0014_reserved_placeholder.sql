-- PLACEHOLDER on branch h-online only: migration number 0014 is assigned
-- to another branch (h-devices), and the loader wants numbers without gaps.
-- Delete this file when merging after the branch that owns 0014.
SELECT 1;
