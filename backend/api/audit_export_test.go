package api

// AuditExempt is the allowlist of mutating routes that write no audit
// entry, for TestEveryMutatingRouteIsAudited.
func AuditExempt() map[string]string { return auditExempt }
