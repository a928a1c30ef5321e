package state

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
)

func TestAdminUsersStatusBulk(t *testing.T) {
	s, f, c := newState(t)
	ctx := context.Background()
	owner, err := s.CreateAdmin(ctx, AdminInput{Username: "owner", Password: "secret123"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.CreateAdmin(ctx, AdminInput{Username: "other", Password: "secret123"})
	if err != nil {
		t.Fatal(err)
	}
	vless := map[string]model.ProxySettings{model.ProtoVLESS: {}}
	mk := func(a *model.Admin, name string, in UserInput) {
		t.Helper()
		in.Username, in.Proxies = &name, vless
		if _, err := s.CreateUser(ctx, a, in); err != nil {
			t.Fatal(err)
		}
	}
	soon := c.Now().Add(time.Hour).Unix()
	mk(owner, "fine", UserInput{})
	mk(owner, "ends_soon", UserInput{Expire: &soon})
	mk(other, "foreign", UserInput{})

	rev := func() int64 {
		var r int64
		if err := s.store.Read(ctx, func(tx *store.Tx) error { r, err = tx.CurrentRevision(); return err }); err != nil {
			t.Fatal(err)
		}
		return r
	}
	status := func(name string) model.Status {
		u, err := s.User(ctx, nil, name)
		if err != nil {
			t.Fatal(err)
		}
		return u.Status
	}

	before := rev()
	n, err := s.DisableAdminUsers(ctx, "owner")
	if err != nil || n != 2 {
		t.Fatalf("disable: %d, %v", n, err)
	}
	ds := changesAfter(t, f, before)
	if len(ds) != 1 || len(ds[0].Removes) != 2 || len(ds[0].Upserts) != 0 {
		t.Fatalf("disable published %+v", ds)
	}

	// While disabled, ends_soon's time runs out: activation brings it back
	// as expired, not active, and nodes are not told to add it.
	c.Add(2 * time.Hour)
	before = rev()
	n, err = s.ActivateAdminUsers(ctx, "owner")
	if err != nil || n != 2 {
		t.Fatalf("activate: %d, %v", n, err)
	}
	if got := []model.Status{status("fine"), status("ends_soon"), status("foreign")}; !slices.Equal(got, []model.Status{"active", "expired", "active"}) {
		t.Fatalf("after activate: %v", got)
	}
	ds = changesAfter(t, f, before)
	if len(ds) != 1 || len(ds[0].Upserts) != 1 || len(ds[0].Removes) != 0 {
		t.Fatalf("activate published %+v", ds)
	}

	// An expired user is disabled too, so no reset or review revives it.
	if n, err := s.DisableAdminUsers(ctx, "owner"); err != nil || n != 2 {
		t.Fatalf("disable again: %d, %v", n, err)
	}
	if st := status("ends_soon"); st != model.StatusDisabled {
		t.Fatalf("expired user after disable: %s", st)
	}
	if _, err := s.DisableAdminUsers(ctx, "ghost"); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("unknown admin: %v", err)
	}
}

func TestModifyAdminRules(t *testing.T) {
	s, _, _ := newState(t)
	ctx := context.Background()
	root, err := s.CreateAdmin(ctx, AdminInput{Username: "root", Password: "secret123", IsSudo: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAdmin(ctx, AdminInput{Username: "root2", Password: "secret123", IsSudo: true}); err != nil {
		t.Fatal(err)
	}
	no := false
	pw := "another-one"
	for _, tc := range []struct {
		name   string
		actor  *model.Admin
		target string
		ch     AdminChanges
		want   error
	}{
		{"sudo edits another sudo", root, "root2", AdminChanges{Password: &pw}, model.ErrForbidden},
		{"sudo demotes itself", root, "root", AdminChanges{IsSudo: &no}, model.ErrInvalid},
		{"env sudo edits a DB sudo", &model.Admin{Username: "env", IsSudo: true}, "root", AdminChanges{Password: &pw}, model.ErrForbidden},
		{"console edits any sudo", nil, "root2", AdminChanges{IsSudo: &no}, nil},
		{"sudo edits itself", root, "root", AdminChanges{Password: &pw}, nil},
	} {
		_, err := s.ModifyAdmin(ctx, tc.actor, tc.target, tc.ch)
		if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := s.DeleteAdmin(ctx, root, "root"); !errors.Is(err, model.ErrForbidden) {
		t.Errorf("sudo deletes itself: %v", err)
	}
	if err := s.DeleteAdmin(ctx, nil, "root"); err != nil {
		t.Errorf("console deletes a sudo: %v", err)
	}
}
