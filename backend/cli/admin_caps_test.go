package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/audit"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
)

// admin sessions lists an admin's live sign-ins and end-sessions ends
// them all, leaving other admins' alone; both through the real CLI on a
// real data dir.
func TestAdminSessionsCommands(t *testing.T) {
	p := newPanelDir(t)
	p.run("", nil, "admin", "create", "reseller", "--password", "reseller-pw-1").must(t, 0, "create reseller")
	p.run("", nil, "admin", "create", "other", "--password", "other-pw-1").must(t, 0, "create other")
	var mine, theirs []int64
	p.withState(func(st *state.State) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Second)
		for _, who := range []struct {
			name string
			ids  *[]int64
			n    int
		}{{"reseller", &mine, 2}, {"other", &theirs, 1}} {
			a, err := st.AdminByUsername(ctx, who.name)
			if err != nil {
				t.Fatal(err)
			}
			for i := range who.n {
				s := &model.AdminSession{AdminID: a.ID, Username: a.Username, CreatedAt: now.Add(time.Duration(i) * time.Minute),
					ExpiresAt: now.Add(24 * time.Hour), Address: "198.51.100.7", UserAgent: "Firefox/" + who.name}
				if err := st.CreateSession(ctx, s); err != nil {
					t.Fatal(err)
				}
				*who.ids = append(*who.ids, s.ID)
			}
		}
	})

	r := p.run("", nil, "admin", "sessions", "reseller").must(t, 0, "sessions")
	if strings.Count(r.stdout, "198.51.100.7") != 2 || !strings.Contains(r.stdout, "Firefox/reseller") || strings.Contains(r.stdout, "Firefox/other") {
		t.Fatalf("sessions table:\n%s", r.stdout)
	}
	r = p.run("", nil, "admin", "sessions", "reseller", "--json").must(t, 0, "sessions --json")
	var listed []model.AdminSession
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil || len(listed) != 2 {
		t.Fatalf("sessions --json %q: %v", r.stdout, err)
	}

	r = p.run("", nil, "admin", "end-sessions", "reseller").must(t, 0, "end-sessions")
	if !strings.Contains(r.stdout, "ended 2 sessions of reseller") {
		t.Fatalf("end-sessions said %q", r.stdout)
	}
	p.withState(func(st *state.State) {
		for _, id := range mine {
			if live, err := st.SessionLive(context.Background(), id); err != nil || live {
				t.Fatalf("session %d of reseller still live (%v)", id, err)
			}
		}
		if live, err := st.SessionLive(context.Background(), theirs[0]); err != nil || !live {
			t.Fatalf("the other admin's session ended too (%v)", err)
		}
		var actions []string
		_ = st.EachAuditEntry(context.Background(), audit.Filter{}, func(e audit.Entry) error {
			actions = append(actions, e.Action+" "+e.Target)
			return nil
		})
		if !strings.Contains(strings.Join(actions, "\n"), "cli admin end-sessions reseller") {
			t.Fatalf("no audit entry for end-sessions: %q", actions)
		}
	})
	r = p.run("", nil, "admin", "sessions", "reseller").must(t, 0, "sessions after")
	if !strings.Contains(r.stdout, "no live sessions") {
		t.Fatalf("after end-sessions: %q", r.stdout)
	}
	p.run("", nil, "admin", "end-sessions", "reseller", "--json").must(t, 0, "again")
	r = p.run("", nil, "admin", "sessions", "ghost").must(t, 1, "unknown admin")
	if !strings.Contains(r.stderr, "not found") {
		t.Fatalf("unknown admin said %q", r.stderr)
	}
	p.run("", nil, "admin", "end-sessions").must(t, 2, "no username")
}

// admin caps sets, shows and clears a reseller's caps; bad values change
// nothing.
func TestAdminCapsCommand(t *testing.T) {
	p := newPanelDir(t)
	p.run("", nil, "admin", "create", "reseller", "--password", "reseller-pw-1").must(t, 0, "create reseller")
	caps := func() model.AdminCaps {
		t.Helper()
		var c model.AdminCaps
		p.withState(func(st *state.State) {
			a, err := st.AdminByUsername(context.Background(), "reseller")
			if err != nil {
				t.Fatal(err)
			}
			c = a.AdminCaps
		})
		return c
	}
	r := p.run("", nil, "admin", "caps", "reseller", "--max-users", "50", "--max-data-limit", "500GB",
		"--max-traffic", "1.5TiB", "--allow-unlimited=false").must(t, 0, "set caps")
	if !strings.Contains(r.stdout, "set the caps of reseller") || !strings.Contains(r.stdout, "max users") {
		t.Fatalf("caps said:\n%s", r.stdout)
	}
	c := caps()
	if c.MaxUsers == nil || *c.MaxUsers != 50 || c.MaxDataLimit == nil || *c.MaxDataLimit != 500e9 ||
		c.MaxUsedTraffic == nil || *c.MaxUsedTraffic != 1.5*(1<<40) || c.AllowUnlimited == nil || *c.AllowUnlimited {
		t.Fatalf("caps %+v", c)
	}

	// One flag changes one cap; "none" clears it.
	p.run("", nil, "admin", "caps", "reseller", "--max-data-limit", "none").must(t, 0, "clear one")
	if c := caps(); c.MaxDataLimit != nil || c.MaxUsers == nil || *c.MaxUsers != 50 || c.MaxUsedTraffic == nil {
		t.Fatalf("after clearing max-data-limit: %+v", c)
	}
	r = p.run("", nil, "admin", "caps", "reseller", "--json").must(t, 0, "show")
	var shown model.AdminWithUse
	if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil || shown.MaxUsers == nil || *shown.MaxUsers != 50 || shown.MaxDataLimit != nil {
		t.Fatalf("caps --json %q: %v", r.stdout, err)
	}

	before := caps()
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--max-users", "-1"}, 2, "not a number of users"},
		{[]string{"--max-users", "many"}, 2, "not a number of users"},
		{[]string{"--max-users", "200000000"}, 1, "max_users"},
		{[]string{"--max-data-limit", "lots"}, 2, "not a number of bytes"},
		{[]string{"--max-traffic", "-5GB"}, 2, "not a number of bytes"},
		{[]string{"--max-traffic", "9999999PB"}, 2, "2^62"},
		{[]string{"--allow-unlimited=perhaps"}, 2, "allow-unlimited"},
	} {
		r := p.run("", nil, append([]string{"admin", "caps", "reseller"}, tc.args...)...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
			t.Fatalf("%v: exit %d, stderr %q; want %d and %q", tc.args, r.code, r.stderr, tc.code, tc.msg)
		}
	}
	if after := caps(); *after.MaxUsers != *before.MaxUsers || after.MaxDataLimit != nil || *after.MaxUsedTraffic != *before.MaxUsedTraffic {
		t.Fatalf("a refused command changed the caps: %+v", after)
	}
	p.run("", nil, "admin", "caps", "ghost", "--max-users", "1").must(t, 1, "unknown admin")
}
