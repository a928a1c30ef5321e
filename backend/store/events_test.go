package store

import (
	"context"
	"slices"
	"testing"

	"github.com/outpost-panel/outpost/backend/model"
)

// UsersChangedSince names users changed after a revision, deleted ones
// included (from their tombstones, migration 0008), with their owners, and
// says when more changed than it may name.
func TestUsersChangedSince(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		owner := &model.Admin{Username: "owner", HashedPassword: "x"}
		mustTx(t, s, func(tx *Tx) error { return tx.CreateAdmin(owner) })
		var ids []int64
		var start int64
		dirChange(t, s, func(tx *Tx, rev int64) error {
			start = rev
			for _, name := range []string{"kept", "gone", "other"} {
				u := testUser(name)
				u.Revision = rev
				if name != "other" {
					u.AdminID = owner.ID
				}
				if err := tx.CreateUser(&u); err != nil {
					return err
				}
				ids = append(ids, u.ID)
			}
			return nil
		})
		ch, err := s.UsersChangedSince(ctx, start, 10)
		if err != nil || ch.Revision != start || len(ch.Users) != 0 {
			t.Fatalf("nothing after the newest revision: %+v, %v", ch, err)
		}
		var deleteRev int64
		dirChange(t, s, func(tx *Tx, rev int64) error {
			deleteRev = rev
			return tx.DeleteUser(ids[1])
		})
		ch, err = s.UsersChangedSince(ctx, start, 10)
		if err != nil {
			t.Fatal(err)
		}
		want := []ChangedUser{{ID: ids[1], Username: "gone", AdminID: owner.ID, Deleted: true}}
		if ch.Revision != deleteRev || !slices.Equal(ch.Users, want) || ch.Truncated {
			t.Fatalf("after the deletion: %+v, want %+v at %d", ch, want, deleteRev)
		}
		ch, err = s.UsersChangedSince(ctx, start-1, 10)
		if err != nil {
			t.Fatal(err)
		}
		names := []string{}
		for _, u := range ch.Users {
			names = append(names, u.Username)
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"gone", "kept", "other"}) || ch.Truncated {
			t.Fatalf("from before the creation: %+v", ch)
		}
		ch, err = s.UsersChangedSince(ctx, start-1, 2)
		if err != nil || len(ch.Users) != 2 || !ch.Truncated {
			t.Fatalf("over the limit: %+v, %v", ch, err)
		}
	})
}
