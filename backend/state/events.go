package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
)

// What the dashboard's events socket reads (package events): each call is
// one short read of the database every replica shares.

// UsersChangedSince is the current revision and up to limit users changed
// or deleted after the revision after (store.UsersChangedSince).
func (s *State) UsersChangedSince(ctx context.Context, after int64, limit int) (model.UserChanges, error) {
	return s.store.UsersChangedSince(ctx, after, limit)
}

// UsageMark moves with every usage batch any replica records.
func (s *State) UsageMark(ctx context.Context) (string, error) {
	u, err := s.store.UsageSignature(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d/%d", u.Seqs, u.Nodes), nil
}

// OnlineNow counts every user seen online within OnlineWindow.
func (s *State) OnlineNow(ctx context.Context) (int, error) {
	var n int
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		n, err = tx.CountOnlineUsers(s.now().Add(-OnlineWindow), nil)
		return err
	})
	return n, err
}

// NotificationsMark moves whenever GET /api/notifications would answer
// differently.
func (s *State) NotificationsMark(ctx context.Context) (string, error) {
	stats, err := s.NotificationStatus(ctx)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, st := range stats {
		fmt.Fprintf(h, "%q %d %d %d %q\n", st.Address, st.Pending, st.Retrying, st.Failed, st.LastError)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
