package state

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/feed"
	"github.com/outpost-panel/outpost/backend/internal/testenv"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
)

// newStateOn is newState on SQLite ("") or a fresh PostgreSQL database.
func newStateOn(t *testing.T, engine string) (*State, *feed.Memory, *clock) {
	t.Helper()
	if engine == "sqlite" {
		return newState(t)
	}
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	st, err := store.Open(ctx, testenv.Postgres(t), t.TempDir(), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := feed.NewMemory(1000)
	c := &clock{now: time.Unix(1_800_000_000, 0).UTC()}
	s := New(st, f, log, c.Now)
	if _, err := s.Bootstrap(ctx, true); err != nil {
		t.Fatal(err)
	}
	return s, f, c
}

func forEachBulkEngine(t *testing.T, body func(t *testing.T, s *State, f *feed.Memory, c *clock)) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			s, f, c := newStateOn(t, engine)
			body(t, s, f, c)
		})
	}
}

func TestBulkUsers(t *testing.T) {
	forEachBulkEngine(t, func(t *testing.T, s *State, f *feed.Memory, c *clock) {
		ctx := context.Background()
		alice, err := s.CreateAdmin(ctx, AdminInput{Username: "alice", Password: "alice-pass-123"})
		if err != nil {
			t.Fatal(err)
		}
		bob, err := s.CreateAdmin(ctx, AdminInput{Username: "bob", Password: "bob-pass-1234"})
		if err != nil {
			t.Fatal(err)
		}
		s.SetWebhookAddresses([]string{"http://127.0.0.1:1/hook"})
		now := c.Now().Unix()
		mk := func(owner *model.Admin, name string, limit, expire int64) {
			t.Helper()
			in := UserInput{Username: ptr(name), Proxies: map[string]model.ProxySettings{"vless": {}}, DataLimit: ptr(limit), Expire: ptr(expire)}
			if _, err := s.CreateUser(ctx, owner, in); err != nil {
				t.Fatal(err)
			}
		}
		mk(alice, "ua1", 1<<30, now+86400)
		mk(alice, "ua2", 0, 0)
		mk(alice, "ua3", model.MaxBytes-5, now-10) // already expired
		mk(bob, "ub1", 1<<30, 0)
		get := func(name string) *model.User {
			t.Helper()
			u, err := s.User(ctx, nil, name)
			if err != nil {
				t.Fatal(err)
			}
			return u
		}
		pending := func() int {
			t.Helper()
			stats, err := s.NotificationStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, st := range stats {
				n += st.Pending
			}
			return n
		}

		// A reseller naming another admin's user changes nothing.
		last, _ := f.Last(ctx)
		before := pending()
		_, err = s.BulkUsers(ctx, alice, BulkInput{Action: BulkDisable, Usernames: []string{"ua1", "ub1"}})
		var foreign *ForeignUserError
		if !errors.As(err, &foreign) || foreign.Username != "ub1" || !errors.Is(err, model.ErrForbidden) {
			t.Fatalf("foreign user: %v", err)
		}
		if get("ua1").Status != model.StatusActive || pending() != before {
			t.Fatal("a refused bulk request changed something")
		}
		if cs, _ := f.Since(ctx, last, 10); len(cs) != 0 {
			t.Fatalf("a refused bulk request reached the feed: %d changes", len(cs))
		}

		// Disable: one revision in the feed removing both users, one
		// event each, unknown names skipped.
		res, err := s.BulkUsers(ctx, alice, BulkInput{Action: BulkDisable, Usernames: []string{"ua1", "UA2", "ghost", "ua1"}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Changed != 2 || len(res.Skipped) != 1 || res.Skipped[0].Username != "ghost" {
			t.Fatalf("disable: %+v", res)
		}
		ch := changesAfter(t, f, last)
		if len(ch) != 1 || ch[0].Revision != res.Revision || len(ch[0].Removes) != 2 {
			t.Fatalf("disable reached the feed as %+v", ch)
		}
		if got := pending() - before; got != 4 {
			t.Fatalf("disable enqueued %d notifications, want 4 (user_updated and user_disabled each, as PUT /api/user sends)", got)
		}
		if get("ua1").Status != model.StatusDisabled || get("ua2").Status != model.StatusDisabled {
			t.Fatal("not disabled")
		}
		res, err = s.BulkUsers(ctx, alice, BulkInput{Action: BulkEnable, Usernames: []string{"ua1", "ua2", "ua3"}})
		if err != nil || res.Changed != 2 || len(res.Skipped) != 1 || res.Skipped[0].Reason != "not disabled" {
			t.Fatalf("enable: %+v, %v", res, err)
		}

		// Saturating arithmetic: a limit near the maximum stays there.
		res, err = s.BulkUsers(ctx, alice, BulkInput{Action: BulkAddData, Bytes: 1 << 40, Usernames: []string{"ua1", "ua2", "ua3"}})
		if err != nil || res.Changed != 2 || res.Skipped[0].Username != "ua2" {
			t.Fatalf("add_data: %+v, %v", res, err)
		}
		if got := get("ua3").DataLimit; got != model.MaxBytes {
			t.Fatalf("a3's limit %d, want saturated at model.MaxBytes", got)
		}
		if got := get("ua1").DataLimit; got != 1<<30+1<<40 {
			t.Fatalf("a1's limit %d", got)
		}

		// Extend: from the expiry, or from now for a user past it, which
		// becomes active again.
		res, err = s.BulkUsers(ctx, alice, BulkInput{Action: BulkExtendExpiry, Days: 30, Usernames: []string{"ua1", "ua2", "ua3"}})
		if err != nil || res.Changed != 2 || res.Skipped[0].Reason != "never expires" {
			t.Fatalf("extend_expiry: %+v, %v", res, err)
		}
		if got := get("ua1").Expire; got != now+86400+30*86400 {
			t.Fatalf("a1 expires %d", got)
		}
		if u := get("ua3"); u.Expire != now+30*86400 || u.Status != model.StatusActive {
			t.Fatalf("a3 after extension: expire %d status %s", u.Expire, u.Status)
		}

		// Reset and revoke: usage log stamped, credentials replaced.
		oldID := get("ua1").Proxies["vless"].ID
		res, err = s.BulkUsers(ctx, alice, BulkInput{Action: BulkRevokeSub, Usernames: []string{"ua1"}})
		if err != nil || res.Changed != 1 {
			t.Fatalf("revoke_sub: %+v, %v", res, err)
		}
		if u := get("ua1"); u.Proxies["vless"].ID == oldID || u.SubRevokedAt == nil {
			t.Fatalf("revoke_sub left %+v", u.Proxies)
		}
		res, err = s.BulkUsers(ctx, alice, BulkInput{Action: BulkResetUsage, Usernames: []string{"ua1", "ua3"}})
		if err != nil || res.Changed != 2 {
			t.Fatalf("reset_usage: %+v, %v", res, err)
		}
		if u := get("ua1"); u.UsageResetAt == nil || u.Revision != res.Revision {
			t.Fatalf("reset_usage left usage_reset_at %v revision %d (want %d)", u.UsageResetAt, u.Revision, res.Revision)
		}

		// Owner changes are sudo's.
		if _, err := s.BulkUsers(ctx, alice, BulkInput{Action: BulkSetOwner, AdminUsername: "alice", Usernames: []string{"ua1"}}); !errors.Is(err, model.ErrForbidden) {
			t.Fatalf("reseller set_owner: %v", err)
		}
		res, err = s.BulkUsers(ctx, nil, BulkInput{Action: BulkSetOwner, AdminUsername: "bob", Usernames: []string{"ua1", "ub1"}})
		if err != nil || res.Changed != 1 || get("ua1").AdminID != bob.ID {
			t.Fatalf("set_owner: %+v, %v", res, err)
		}

		// Delete: one revision, every user removed from nodes.
		last, _ = f.Last(ctx)
		res, err = s.BulkUsers(ctx, alice, BulkInput{Action: BulkDelete, Usernames: []string{"ua2", "ua3"}})
		if err != nil || res.Changed != 2 {
			t.Fatalf("delete: %+v, %v", res, err)
		}
		if _, err := s.User(ctx, nil, "ua3"); !errors.Is(err, model.ErrNotFound) {
			t.Fatalf("a3 after delete: %v", err)
		}
		if ch := changesAfter(t, f, last); len(ch) != 1 || len(ch[0].Removes) != 2 {
			t.Fatalf("delete reached the feed as %+v", ch)
		}

		// Bad requests change nothing.
		for _, in := range []BulkInput{
			{Action: "explode", Usernames: []string{"ua1"}},
			{Action: BulkDisable},
			{Action: BulkExtendExpiry, Usernames: []string{"ua1"}},
			{Action: BulkAddData, Bytes: -1, Usernames: []string{"ua1"}},
			{Action: BulkSetInbounds, Usernames: []string{"ua1"}, Inbounds: map[string][]string{"vless": {"no-such-tag"}}},
			{Action: BulkDisable, Usernames: make([]string, MaxBulkUsers+1)},
		} {
			if _, err := s.BulkUsers(ctx, nil, in); !errors.Is(err, model.ErrInvalid) {
				t.Fatalf("%+v: %v, want ErrInvalid", in.Action, err)
			}
		}
	})
}
