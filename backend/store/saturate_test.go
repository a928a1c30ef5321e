package store

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

// TestApplyUsageSaturates: a node that reports absurd counters, times the
// largest coefficient, cannot overflow a user's counters (which failed the
// whole batch on PostgreSQL and wrapped to REAL on SQLite): they stop at
// model.MaxBytes, and the other users of the batch are counted.
func TestApplyUsageSaturates(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		node := testNode("greedy")
		node.UsageCoefficient = model.MaxUsageCoefficient
		// Their owner's users_usage adds the batch's sum, which passes
		// 2^63 with two such users.
		admin := model.Admin{Username: "owner", HashedPassword: "h"}
		var ids []int64
		mustTx(t, s, func(tx *Tx) error {
			if err := tx.CreateNode(&node); err != nil {
				return err
			}
			if err := tx.CreateAdmin(&admin); err != nil {
				return err
			}
			for _, name := range []string{"huge", "normal", "huge_too"} {
				u := testUser(name)
				u.AdminID = admin.ID
				if err := tx.CreateUser(&u); err != nil {
					return err
				}
				ids = append(ids, u.ID)
			}
			return nil
		})
		fence, _, err := s.NodeSessionStart(ctx, node.ID)
		if err != nil {
			t.Fatal(err)
		}
		at := time.Unix(1_800_003_600, 0).UTC()
		for seq := range int64(3) {
			batch := []UserTraffic{
				{UserID: ids[0], Up: math.MaxInt64 / 2, Down: math.MaxInt64 / 2},
				{UserID: ids[1], Up: 1, Down: 1},
				{UserID: ids[2], Up: math.MaxInt64, Down: math.MaxInt64},
			}
			if _, err := s.ApplyUsage(ctx, node.ID, fence, seq, seq+1, at, batch); err != nil {
				t.Fatalf("batch %d: %v", seq, err)
			}
		}
		// The hourly history folds the journaled batches: the same sums.
		if err := s.FoldAllUsage(ctx); err != nil {
			t.Fatalf("folding the usage journal: %v", err)
		}
		st := readUsage(t, s, node.ID, admin.ID, ids)
		if st.used[ids[0]] != model.MaxBytes || st.lifetime[ids[0]] != model.MaxBytes {
			t.Errorf("huge: used %d lifetime %d, want both %d", st.used[ids[0]], st.lifetime[ids[0]], model.MaxBytes)
		}
		if want := int64(3 * 2 * 1000); st.used[ids[1]] != want {
			t.Errorf("normal: used %d, want %d", st.used[ids[1]], want)
		}
		if got := st.hourly[[2]int64{ids[0], at.Unix()}]; got != model.MaxBytes {
			t.Errorf("huge: hourly history %d, want %d", got, model.MaxBytes)
		}
		if st.adminUsage != model.MaxBytes {
			t.Errorf("owner's users_usage %d, want %d", st.adminUsage, model.MaxBytes)
		}
	})
}

func TestScaledUsage(t *testing.T) {
	for _, c := range []struct {
		raw   int64
		coeff float64
		want  int64
	}{
		{1000, 1.5, 1500},
		{3, 0.5, 2},
		{-5, 1, 0},
		{math.MaxInt64, 1000, model.MaxBytes},
		{model.MaxBytes, 1, model.MaxBytes},
		{1, math.NaN(), 0},
	} {
		if got := scaledUsage(c.raw, c.coeff); got != c.want {
			t.Errorf("scaledUsage(%d, %v) = %d, want %d", c.raw, c.coeff, got, c.want)
		}
	}
}
