package api_test

import (
	"slices"
	"testing"
)

// listedUsers is the usernames GET /api/users shows to token.
func (e *env) listedUsers(token string) []string {
	e.t.Helper()
	r := e.do("GET", "/api/users", token, nil)
	e.expect(r, 200, "listing users")
	var page struct {
		Users []struct {
			Username string `json:"username"`
		} `json:"users"`
	}
	r.decode(e.t, &page)
	var out []string
	for _, u := range page.Users {
		out = append(out, u.Username)
	}
	slices.Sort(out)
	return out
}

// auditTargets is the targets of the audit entries token may see whose
// action mentions set-owner or bulk, newest first.
func (e *env) ownerAuditTargets(token string) []string {
	e.t.Helper()
	r := e.do("GET", "/api/audit?limit=1000", token, nil)
	e.expect(r, 200, "reading the audit log")
	var page struct {
		Entries []struct {
			Action string `json:"action"`
			Target string `json:"target"`
		} `json:"entries"`
	}
	r.decode(e.t, &page)
	var out []string
	for _, en := range page.Entries {
		if en.Action == "PUT /api/user/:username/set-owner" || en.Action == "POST /api/users/bulk" {
			out = append(out, en.Target)
		}
	}
	return out
}

// Giving a reseller's user to another admin tells the previous owner: its
// events socket names the user (as for a deletion, so its users table
// refetches and drops the row) and its audit view shows the transfer,
// while the user stays listed for the new owner and sudo.
func TestSetOwnerTellsPreviousOwner(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) { testSetOwnerTellsPreviousOwner(t, newEnvOn(t, engine.url(t))) })
	}
}

func testSetOwnerTellsPreviousOwner(t *testing.T, e *env) {
	addr := e.listen()
	e.createUser(e.alice, "moving")
	e.createUser(e.alice, "staying")
	alice := dialEvents(t, addr, e.token(e.alice))
	bob := dialEvents(t, addr, e.token(e.bob))
	alice.next("hello")
	bob.next("hello")
	if got := e.ownerAuditTargets(e.token(e.alice)); len(got) != 0 {
		t.Fatalf("alice sees transfer entries before any: %v", got)
	}

	e.expect(e.do("PUT", "/api/user/moving/set-owner?admin_username=bob", e.token(e.sudo), nil), 200, "set owner")
	if got := usernamesOf(alice.next("users")); !slices.Equal(got, []string{"moving"}) {
		t.Fatalf("previous owner's event names %v, want moving", got)
	}
	if got := usernamesOf(bob.next("users")); !slices.Equal(got, []string{"moving"}) {
		t.Fatalf("new owner's event names %v, want moving", got)
	}
	if got := e.listedUsers(e.token(e.alice)); !slices.Equal(got, []string{"staying"}) {
		t.Fatalf("alice lists %v after the transfer", got)
	}
	// The move's tombstone is not a deletion for the user directories.
	if got := e.listedUsers(e.token(e.bob)); !slices.Equal(got, []string{"moving"}) {
		t.Fatalf("bob lists %v after the transfer", got)
	}
	if got := e.listedUsers(e.token(e.sudo)); !slices.Contains(got, "moving") || !slices.Contains(got, "staying") {
		t.Fatalf("sudo lists %v after the transfer", got)
	}
	for who, tok := range map[string]string{"alice": e.token(e.alice), "bob": e.token(e.bob)} {
		if got := e.ownerAuditTargets(tok); !slices.Equal(got, []string{"/api/user/moving"}) {
			t.Fatalf("%s's audit view shows transfers %v, want the one of moving", who, got)
		}
	}
	// A later change of the user is no news to alice any more.
	e.expect(e.do("PUT", "/api/user/moving", e.token(e.bob), map[string]any{"note": "hi"}), 200, "bob edits")
	bob.next("users")
	e.createUser(e.alice, "marker")
	if got := usernamesOf(alice.next("users")); !slices.Equal(got, []string{"marker"}) {
		t.Fatalf("alice's next event names %v: bob's edit leaked", got)
	}

	// The bulk transfer does the same, one entry for the previous owner.
	r := e.do("POST", "/api/users/bulk", e.token(e.sudo), map[string]any{"action": "set_owner",
		"usernames": []string{"staying", "marker", "moving"}, "admin_username": "bob"})
	e.expect(r, 200, "bulk set_owner")
	if got := usernamesOf(alice.next("users")); !slices.Equal(got, []string{"marker", "staying"}) {
		t.Fatalf("previous owner's bulk event names %v", got)
	}
	if got := e.listedUsers(e.token(e.alice)); len(got) != 0 {
		t.Fatalf("alice lists %v after the bulk transfer", got)
	}
	if got := e.listedUsers(e.token(e.bob)); !slices.Equal(got, []string{"marker", "moving", "staying"}) {
		t.Fatalf("bob lists %v after the bulk transfer", got)
	}
	if got := e.ownerAuditTargets(e.token(e.alice)); !slices.Equal(got, []string{"/api/users/bulk", "/api/user/moving"}) {
		t.Fatalf("alice's audit view shows transfers %v", got)
	}
}
