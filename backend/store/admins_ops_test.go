package store

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

func TestAdminUserRefsAndDisable(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		owner := model.Admin{Username: "owner", HashedPassword: "h"}
		other := model.Admin{Username: "other", HashedPassword: "h"}
		statuses := map[string]model.Status{"u_active": model.StatusActive, "u_hold": model.StatusOnHold,
			"u_limited": model.StatusLimited, "u_disabled": model.StatusDisabled}
		var foreignID int64
		mustTx(t, s, func(tx *Tx) error {
			for _, a := range []*model.Admin{&owner, &other} {
				if err := tx.CreateAdmin(a); err != nil {
					return err
				}
			}
			for _, name := range []string{"u_active", "u_hold", "u_limited", "u_disabled"} {
				u := testUser(name)
				u.Status, u.AdminID, u.CreatedAt = statuses[name], owner.ID, time.Unix(1_700_000_000, 0).UTC()
				if err := tx.CreateUser(&u); err != nil {
					return err
				}
			}
			u := testUser("foreign")
			u.AdminID, u.CreatedAt = other.ID, time.Unix(1_700_000_000, 0).UTC()
			if err := tx.CreateUser(&u); err != nil {
				return err
			}
			foreignID = u.ID
			return nil
		})

		var refs []UserRef
		mustRead(t, s, func(tx *Tx) (err error) { refs, err = tx.AdminUserRefs(owner.ID); return err })
		var names []string
		for _, r := range refs {
			names = append(names, r.Username)
			if r.Status != statuses[r.Username] || r.ID == 0 {
				t.Errorf("ref %+v", r)
			}
		}
		if !slices.Equal(names, []string{"u_active", "u_hold", "u_limited", "u_disabled"}) {
			t.Fatalf("refs of owner: %v", names)
		}

		at := time.Unix(1_800_000_000, 0).UTC()
		var n int64
		mustTx(t, s, func(tx *Tx) (err error) { n, err = tx.DisableAdminUsers(owner.ID, 42, at); return err })
		if n != 3 {
			t.Fatalf("disabled %d users, want 3", n)
		}
		mustRead(t, s, func(tx *Tx) error {
			for _, name := range []string{"u_active", "u_hold", "u_limited"} {
				u, err := tx.UserByUsername(name)
				if err != nil {
					return err
				}
				if u.Status != model.StatusDisabled || u.Revision != 42 || u.LastStatusChange == nil || !u.LastStatusChange.Equal(at) {
					t.Errorf("%s after disable: %s rev %d changed %v", name, u.Status, u.Revision, u.LastStatusChange)
				}
			}
			// Already disabled: untouched, revision included.
			if u, err := tx.UserByUsername("u_disabled"); err != nil || u.Revision == 42 {
				t.Errorf("u_disabled rewritten: %+v %v", u, err)
			}
			u, err := tx.UserByID(foreignID)
			if err != nil {
				return err
			}
			if u.Status != model.StatusActive {
				t.Errorf("another admin's user became %s", u.Status)
			}
			return nil
		})
		// Back again: only the owner's disabled users move.
		mustTx(t, s, func(tx *Tx) (err error) {
			n, err = tx.MoveAdminUsers(owner.ID, model.StatusDisabled, model.StatusActive, 43, at)
			return err
		})
		if n != 4 {
			t.Fatalf("moved %d users, want 4", n)
		}
		mustRead(t, s, func(tx *Tx) (err error) { refs, err = tx.AdminUserRefs(owner.ID); return err })
		for _, r := range refs {
			if r.Status != model.StatusActive {
				t.Errorf("%s after the move: %s", r.Username, r.Status)
			}
		}
		mustTx(t, s, func(tx *Tx) (err error) {
			n, err = tx.MoveAdminUsers(owner.ID, model.StatusDisabled, model.StatusActive, 44, at)
			return err
		})
		if n != 0 {
			t.Fatalf("a second move changed %d users", n)
		}
		if err := s.Tx(context.Background(), func(tx *Tx) error {
			_, err := tx.MoveAdminUsers(owner.ID, "sleeping", model.StatusActive, 45, at)
			return err
		}); !errors.Is(err, model.ErrInvalid) {
			t.Fatalf("unknown status: %v", err)
		}
		mustRead(t, s, func(tx *Tx) (err error) { refs, err = tx.AdminUserRefs(12345); return err })
		if len(refs) != 0 {
			t.Fatalf("refs of an unknown admin: %v", refs)
		}
	})
}
