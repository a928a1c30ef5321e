package state

import (
	"context"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
)

// Usage as nodes report it: a batch is recorded once per node sequence
// (ApplyUsage), its per-user hours wait in the usage journal until folded
// (FoldUsage), and every reader of hourly usage folds first. The admin's
// usage reports are in lifecycle.go.

// ApplyUsage records the node's usage batch (fromSeq, toSeq] measured at
// at, once: a batch at or below the recorded sequence applies nothing and
// reports applied false. The users' counters, the node's totals and its
// sequence move in one transaction. model.ErrFenced when a newer session
// took over.
func (s *State) ApplyUsage(ctx context.Context, nodeID, fence, fromSeq, toSeq int64, at time.Time, traffic []model.UserTraffic) (applied bool, err error) {
	return s.store.ApplyUsage(ctx, nodeID, fence, fromSeq, toSeq, at, traffic)
}

// FoldUsage folds the usage journal into the hourly usage rows. Readers of
// hourly usage fold first; the scheduler runs it often to keep the journal
// short.
func (s *State) FoldUsage(ctx context.Context) error { return s.store.FoldAllUsage(ctx) }

// SubscriptionUsage is the user's hourly usage per node in [start, end),
// for the subscription's own usage page: the token already named the user,
// so no admin's view applies.
func (s *State) SubscriptionUsage(ctx context.Context, userID int64, start, end time.Time) ([]model.UsagePoint, error) {
	// Batches wait in the usage journal until folded into the hourly rows.
	if err := s.store.FoldAllUsage(ctx); err != nil {
		return nil, err
	}
	var points []model.UsagePoint
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		points, err = tx.UserUsage(userID, start, end)
		return err
	})
	return points, err
}

// ApplyUsageMany records several nodes' usage batches in one transaction,
// each as ApplyUsage would (the hub's group commit).
func (s *State) ApplyUsageMany(ctx context.Context, bs []model.UsageBatch) []model.UsageResult {
	return s.store.ApplyUsageMany(ctx, bs)
}
