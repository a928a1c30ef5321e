package state

import (
	"context"
	"time"

	"github.com/outpost-panel/outpost/backend/audit"
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
