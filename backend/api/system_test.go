package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
)

func TestSystemRoute(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, name := range []string{"usr_a1", "usr_a2", "usr_a3"} {
		e.createUser(e.alice, name)
	}
	e.createUser(e.bob, "usr_b1")
	e.expect(e.do("PUT", "/api/user/usr_a2", e.token(e.alice), map[string]any{"status": "disabled"}), 200, "disable")
	e.expect(e.do("PUT", "/api/user/usr_a3", e.token(e.alice), map[string]any{"data_limit": 100}), 200, "limit")
	e.lcUse("n1", "usr_a3", 150)
	// Seen online a minute ago: counts; usr_b1 was seen 3 minutes ago: does not.
	err := e.db.Tx(ctx, func(tx *store.Tx) error {
		for name, ago := range map[string]time.Duration{"usr_a1": time.Minute, "usr_b1": 3 * time.Minute} {
			u, err := tx.UserByUsername(name)
			if err != nil {
				return err
			}
			at := e.clock.Now().Add(-ago)
			u.OnlineAt = &at
			if err := tx.UpdateUser(u); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Review(ctx); err != nil {
		t.Fatal(err)
	}
	type stats struct {
		Version           string
		MemTotal, MemUsed uint64
		CPUCores          int     `json:"cpu_cores"`
		CPUUsage          float64 `json:"cpu_usage"`
		TotalUser         int     `json:"total_user"`
		OnlineUsers       int     `json:"online_users"`
		UsersActive       int     `json:"users_active"`
		UsersOnHold       int     `json:"users_on_hold"`
		UsersDisabled     int     `json:"users_disabled"`
		UsersExpired      int     `json:"users_expired"`
		UsersLimited      int     `json:"users_limited"`
		IncomingBandwidth int64   `json:"incoming_bandwidth"`
		OutgoingBandwidth int64   `json:"outgoing_bandwidth"`
		IncomingSpeed     *int64  `json:"incoming_bandwidth_speed"`
	}
	get := func(a *model.Admin) stats {
		r := e.do("GET", "/api/system", e.token(a), nil)
		e.expect(r, 200, "system")
		var s stats
		r.decode(t, &s)
		return s
	}
	s := get(e.sudo)
	if s.TotalUser != 4 || s.UsersActive != 2 || s.UsersDisabled != 1 || s.UsersLimited != 1 || s.OnlineUsers != 1 ||
		s.OutgoingBandwidth != 150 || s.IncomingBandwidth != 0 || s.CPUCores < 1 || s.Version == "" || s.IncomingSpeed == nil {
		t.Fatalf("sudo stats %+v", s)
	}
	if a := get(e.alice); a.TotalUser != 3 || a.UsersActive != 1 || a.UsersDisabled != 1 || a.UsersLimited != 1 || a.OnlineUsers != 1 {
		t.Fatalf("alice's stats %+v", a)
	}
	if b := get(e.bob); b.TotalUser != 1 || b.UsersActive != 1 || b.OnlineUsers != 0 {
		t.Fatalf("bob's stats %+v", b)
	}
}
