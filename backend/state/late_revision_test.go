package state

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/outpost-panel/outpost/backend/feed"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
)

// TestModifyUserNoLostUpdate: ModifyUser reads the user before it takes
// the revision (changeLate), so two admins changing different fields of
// one user at once must still both land: the second write finds the row
// changed since its read (store.ErrRaced) and runs again on the new row.
// Without the compare on the revision, the write that read first and
// committed last puts back the other's field.
func TestModifyUserNoLostUpdate(t *testing.T) {
	forEachBulkEngine(t, func(t *testing.T, s *State, f *feed.Memory, c *clock) {
		ctx := context.Background()
		in := UserInput{Username: ptr("shared"), Proxies: map[string]model.ProxySettings{"vless": {}}}
		if _, err := s.CreateUser(ctx, nil, in); err != nil {
			t.Fatal(err)
		}
		for round := 1; round <= 25; round++ {
			note, limit := fmt.Sprintf("note %d", round), int64(round)<<30
			var wg sync.WaitGroup
			errs := make([]error, 2)
			wg.Add(2)
			go func() {
				defer wg.Done()
				_, errs[0] = s.ModifyUser(ctx, nil, "shared", UserInput{Note: ptr(note)})
			}()
			go func() {
				defer wg.Done()
				_, errs[1] = s.ModifyUser(ctx, nil, "shared", UserInput{DataLimit: ptr(limit)})
			}()
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			u, err := s.User(ctx, nil, "shared")
			if err != nil {
				t.Fatal(err)
			}
			if u.Note != note || u.DataLimit != limit {
				t.Fatalf("round %d: note %q, data_limit %d; want %q and %d (one admin's change was lost)", round, u.Note, u.DataLimit, note, limit)
			}
		}
		// Every node-visible change (the limits; a note is not) left its
		// own revision in the feed.
		got, err := f.Since(ctx, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int64]bool{}
		for _, c := range got {
			seen[c.Revision] = true
		}
		if len(seen) < 26 {
			t.Fatalf("%d distinct revisions in the feed, want at least 26 (a create and 25 new limits)", len(seen))
		}
	})
}

// TestUpdateUserFromStale: a write of a user read at an older revision is
// ErrRaced and changes nothing; at the current revision it writes.
func TestUpdateUserFromStale(t *testing.T) {
	forEachBulkEngine(t, func(t *testing.T, s *State, _ *feed.Memory, _ *clock) {
		ctx := context.Background()
		in := UserInput{Username: ptr("stale"), Proxies: map[string]model.ProxySettings{"vless": {}}}
		created, err := s.CreateUser(ctx, nil, in)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.ModifyUser(ctx, nil, "stale", UserInput{Note: ptr("newer")}); err != nil {
			t.Fatal(err)
		}
		old := *created
		old.Note = "from the old read"
		err = s.store.Tx(ctx, func(tx *store.Tx) error {
			rev, err := tx.BumpRevision()
			if err != nil {
				return err
			}
			old.Revision = rev
			return tx.UpdateUserFrom(&old, created.Revision)
		})
		if !errors.Is(err, store.ErrRaced) {
			t.Fatalf("write of a stale read: %v, want ErrRaced", err)
		}
		u, err := s.User(ctx, nil, "stale")
		if err != nil {
			t.Fatal(err)
		}
		if u.Note != "newer" {
			t.Fatalf("note %q after the refused write", u.Note)
		}
		err = s.store.Tx(ctx, func(tx *store.Tx) error {
			rev, err := tx.BumpRevision()
			if err != nil {
				return err
			}
			fresh := *u
			fresh.Note, fresh.Revision = "current", rev
			return tx.UpdateUserFrom(&fresh, u.Revision)
		})
		if err != nil {
			t.Fatalf("write of a current read: %v", err)
		}
		if err := s.store.Tx(ctx, func(tx *store.Tx) error { return tx.DeleteUserFrom(u.ID, u.Revision) }); !errors.Is(err, store.ErrRaced) {
			t.Fatalf("delete of a stale read: %v, want ErrRaced", err)
		}
		if _, err := s.User(ctx, nil, "stale"); err != nil {
			t.Fatalf("user gone after a refused delete: %v", err)
		}
	})
}
