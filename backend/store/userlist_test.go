package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

// TestUserSortsHaveColumns: every sort the filter accepts has a column,
// and every column a sort the filter accepts.
func TestUserSortsHaveColumns(t *testing.T) {
	for _, name := range model.UserSorts {
		if _, ok := userSortColumns[name]; !ok {
			t.Errorf("sort %q has no column", name)
		}
	}
	for name := range userSortColumns {
		if !slices.Contains(model.UserSorts, name) {
			t.Errorf("column of sort %q is not in model.UserSorts", name)
		}
	}
}

// TestPruneUserTombstones: the scheduled prune removes tombstones older
// than tombstoneKeep and keeps newer ones, with nobody listing users; a
// prune of everything leaves none. (The directory's
// TestPrunedTombstonesReload checks that a replica below the horizon
// reloads.)
func TestPruneUserTombstones(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		users := make([]*model.User, 6)
		for i := range users {
			u := testUser("tomb" + string(rune('a'+i)))
			users[i] = &u
		}
		createUsers(t, s, users...)
		ids := idsOf([]model.User{*users[0], *users[1], *users[2], *users[3]})
		for _, del := range [][]int64{ids[0:3], ids[3:4]} {
			mustTx(t, s, func(tx *Tx) error {
				if _, err := tx.BumpRevision(); err != nil {
					return err
				}
				return tx.DeleteUsers(del)
			})
		}
		old := time.Now().Add(-tombstoneKeep - time.Hour).Unix()
		mustTx(t, s, func(tx *Tx) error {
			_, err := tx.exec(`UPDATE user_tombstones SET deleted_at = $1 WHERE user_id IN ($2, $3, $4)`,
				old, ids[0], ids[1], ids[2])
			return err
		})
		if err := s.PruneUserTombstones(ctx); err != nil {
			t.Fatal(err)
		}
		tombstones := func() []int64 {
			var left []int64
			mustRead(t, s, func(tx *Tx) error {
				var err error
				left, err = tx.queryIDs(`SELECT user_id FROM user_tombstones ORDER BY user_id`)
				return err
			})
			return left
		}
		if left := tombstones(); len(left) != 1 || left[0] != ids[3] {
			t.Fatalf("tombstones left %v, want only the recent one (%d)", left, ids[3])
		}
		if err := s.PruneUserTombstonesBefore(ctx, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if left := tombstones(); len(left) != 0 {
			t.Fatalf("%d tombstones left after pruning them all", len(left))
		}
	})
}

// dirChange runs fn in a transaction that takes a revision first, as
// state.change does.
func dirChange(t testing.TB, s *Store, fn func(tx *Tx, rev int64) error) {
	t.Helper()
	mustTx(t, s, func(tx *Tx) error {
		rev, err := tx.BumpRevision()
		if err != nil {
			return err
		}
		return fn(tx, rev)
	})
}
