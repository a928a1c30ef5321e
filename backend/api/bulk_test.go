package api_test

import (
	"strings"
	"testing"
)

func TestBulkUsersRoute(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"al_1", "al_2"} {
		e.createUser(e.alice, n)
	}
	e.createUser(e.bob, "bo_1")
	alice := e.token(e.alice)

	before := e.snapshot()
	r := e.do("POST", "/api/users/bulk", alice, map[string]any{"action": "disable", "usernames": []string{"al_1", "bo_1"}})
	e.expect(r, 403, "reseller naming another admin's user")
	if !strings.Contains(r.detail(), "bo_1") {
		t.Fatalf("403 detail %q does not name bo_1", r.detail())
	}
	e.assertUnchanged(before, "a refused bulk request")
	for _, tc := range []struct {
		name string
		body any
		want int
	}{
		{"unknown action", map[string]any{"action": "explode", "usernames": []string{"al_1"}}, 422},
		{"no usernames", map[string]any{"action": "disable"}, 422},
		{"unknown field", map[string]any{"action": "disable", "usernames": []string{"al_1"}, "force": true}, 422},
		{"days as text", map[string]any{"action": "extend_expiry", "usernames": []string{"al_1"}, "days": "3"}, 422},
		{"no days", map[string]any{"action": "extend_expiry", "usernames": []string{"al_1"}}, 400},
		{"set_owner by a reseller", map[string]any{"action": "set_owner", "usernames": []string{"al_1"}, "admin_username": "alice"}, 403},
		{"too many", map[string]any{"action": "disable", "usernames": make([]string, 1001)}, 400},
	} {
		e.expect(e.do("POST", "/api/users/bulk", alice, tc.body), tc.want, tc.name)
		e.assertUnchanged(before, tc.name)
	}

	r = e.do("POST", "/api/users/bulk", alice, map[string]any{"action": "disable", "usernames": []string{"al_1", "al_2", "nobody"}})
	e.expect(r, 200, "bulk disable")
	var res struct {
		Changed  int   `json:"changed"`
		Revision int64 `json:"revision"`
		Skipped  []struct {
			Username string `json:"username"`
			Reason   string `json:"reason"`
		} `json:"skipped"`
	}
	r.decode(t, &res)
	if res.Changed != 2 || res.Revision != before.Revision+1 || len(res.Skipped) != 1 || res.Skipped[0].Username != "nobody" {
		t.Fatalf("bulk disable answered %+v (revision before %d)", res, before.Revision)
	}
	for _, n := range []string{"al_1", "al_2"} {
		var u struct {
			Status string `json:"status"`
		}
		e.do("GET", "/api/user/"+n, alice, nil).decode(t, &u)
		if u.Status != "disabled" {
			t.Fatalf("%s is %s", n, u.Status)
		}
	}
	r = e.do("POST", "/api/users/bulk", e.token(e.sudo), map[string]any{"action": "set_owner", "usernames": []string{"al_1"}, "admin_username": "bob"})
	e.expect(r, 200, "sudo set_owner")
}
