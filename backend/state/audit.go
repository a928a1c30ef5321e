package state

import (
	"context"
	"encoding/json"
	"time"

	"github.com/outpost-panel/outpost/backend/audit"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
)

// AuditEntries is one page of the audit log, newest first.
func (s *State) AuditEntries(ctx context.Context, f audit.Filter) ([]audit.Entry, error) {
	return s.store.AuditEntries(ctx, f)
}

// EachAuditEntry streams every entry matching f, newest first.
func (s *State) EachAuditEntry(ctx context.Context, f audit.Filter, fn func(audit.Entry) error) error {
	return s.store.EachAuditEntry(ctx, f, fn)
}

// AuditAction records an operation that changed nothing in the database
// (a core restart, a node reconnect) in a transaction of its own.
func (s *State) AuditAction(ctx context.Context, action, target string, after any) error {
	return s.store.AuditStandalone(ctx, action, target, after)
}

// AuditPruneBatch is how many entries one prune transaction deletes.
const AuditPruneBatch = 1000

// PruneAudit deletes entries older than retention in batches of
// AuditPruneBatch (each its own short transaction, so writers are not held
// up), and reports how many went. retention <= 0 keeps everything.
func (s *State) PruneAudit(ctx context.Context, retention time.Duration) (int, error) {
	if retention <= 0 {
		return 0, nil
	}
	cutoff := s.now().Add(-retention)
	total := 0
	for {
		n, err := s.store.PruneAudit(ctx, cutoff, AuditPruneBatch)
		total += n
		if err != nil || n < AuditPruneBatch {
			return total, err
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}

// userAudit is a user as its audit entries show it: the model's JSON with
// the proxies' credentials (UUIDs, passwords) masked and the fields that
// change on every edit left out.
func userAudit(u *model.User) map[string]any {
	if u == nil {
		return nil
	}
	raw, err := json.Marshal(u)
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	delete(m, "edit_at")
	delete(m, "inbounds") // computed from the core config
	if proxies, ok := m["proxies"].(map[string]any); ok {
		for _, p := range proxies {
			if settings, ok := p.(map[string]any); ok {
				for _, k := range []string{"id", "password"} {
					if v, ok := settings[k]; ok && v != "" {
						settings[k] = audit.Masked
					}
				}
			}
		}
	}
	return m
}

// auditUser writes the entry of a change to one user, owned (for the
// resellers' view) by the user's admin. The action is the operation's (the
// route, CLI command or job) when there is one, else fallback.
func auditUser(tx *store.Tx, fallback string, before, after *model.User) error {
	u := after
	if u == nil {
		u = before
	}
	return tx.Audit(opAction(tx, fallback), "/api/user/"+u.Username, u.AdminID, userAudit(before), userAudit(after))
}

// opAction is the action of the operation tx runs under (the route, CLI
// command or job), or fallback outside one.
func opAction(tx *store.Tx, fallback string) string {
	if op := audit.OperationFrom(tx.Context()); op != nil && op.Action != "" {
		return op.Action
	}
	return fallback
}
