package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/outpost-panel/outpost/backend/api"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
	"github.com/outpost-panel/outpost/nodes/protocol"
)

// adminsState is the admins table plus everything snapshot covers, for
// checking that a refused admin request changed nothing.
func (e *env) adminsState() string {
	e.t.Helper()
	var admins []model.Admin
	err := e.db.Read(context.Background(), func(tx *store.Tx) error {
		var err error
		admins, err = tx.ListAdmins(0, 0, "")
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	type full struct {
		model.Admin
		Hash  string
		Reset any
	}
	rows := make([]full, len(admins))
	for i, a := range admins {
		rows[i] = full{Admin: a, Hash: a.HashedPassword, Reset: a.PasswordResetAt}
	}
	b, _ := json.Marshal(struct {
		Admins []full
		Rest   snapshot
	}{rows, e.snapshot()})
	return string(b)
}

func (e *env) userStatus(name string) model.Status {
	e.t.Helper()
	u, err := e.st.User(context.Background(), nil, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return u.Status
}

type adminCall struct {
	method, path string
	body         any
	status       int // for a sudo caller
}

// adminCalls are every /api/admin* route that needs sudo, each valid for a
// fresh env.
var adminCalls = []adminCall{
	{"GET", "/api/admins", nil, 200},
	{"POST", "/api/admin", map[string]any{"username": "carol", "password": "secret123"}, 200},
	{"PUT", "/api/admin/alice", map[string]any{"password": "another1"}, 200},
	{"DELETE", "/api/admin/bob", nil, 200},
	{"POST", "/api/admin/alice/users/disable", nil, 200},
	{"POST", "/api/admin/alice/users/activate", nil, 200},
	{"GET", "/api/admin/usage/alice", nil, 200},
	{"POST", "/api/admin/usage/reset/alice", nil, 200},
}

func TestAdminRoutesAuthorization(t *testing.T) {
	for _, call := range adminCalls {
		t.Run(call.method+" "+call.path, func(t *testing.T) {
			e := newEnv(t)
			e.createUser(e.alice, "alice_user")
			before := e.adminsState()
			for _, c := range []struct {
				who    string
				token  string
				status int
			}{
				{"anonymous", "", 401},
				{"garbage token", "not-a-jwt", 401},
				{"regular admin", e.token(e.alice), 403},
			} {
				r := e.do(call.method, call.path, c.token, call.body)
				e.expect(r, c.status, c.who)
				if c.status == 401 && r.header.Get("WWW-Authenticate") != "Bearer" {
					t.Errorf("%s: 401 without WWW-Authenticate: Bearer", c.who)
				}
				if got := e.adminsState(); got != before {
					t.Fatalf("%s: refused request changed the store", c.who)
				}
			}
			r := e.do(call.method, call.path, e.token(e.sudo), call.body)
			e.expect(r, call.status, "sudo")
			if !json.Valid(r.body) {
				t.Fatalf("sudo: body is not JSON: %s", r.body)
			}
		})
	}
	t.Run("GET /api/admin", func(t *testing.T) {
		e := newEnv(t)
		e.expect(e.do("GET", "/api/admin", "", nil), 401, "anonymous")
		e.expect(e.do("GET", "/api/admin", e.token(e.alice), nil), 200, "regular admin")
	})
}

func TestAdminCRUD(t *testing.T) {
	e := newEnv(t)
	sudo := e.token(e.sudo)

	r := e.do("POST", "/api/admin", sudo, map[string]any{
		"username": "Carol_1", "password": "secret123", "is_sudo": false,
		"telegram_id": 12345, "discord_webhook": "https://discord.com/api/webhooks/1/x",
	})
	e.expect(r, 200, "create")
	var got map[string]any
	r.decode(t, &got)
	want := map[string]any{"username": "Carol_1", "is_sudo": false, "telegram_id": float64(12345),
		"discord_webhook": "https://discord.com/api/webhooks/1/x", "users_usage": float64(0),
		"max_users": nil, "max_data_limit": nil, "max_used_traffic": nil, "allow_unlimited": nil}
	if !mapsEqual(got, want) {
		t.Fatalf("create answered %s", r.body)
	}
	e.expect(e.login("Carol_1", "secret123", ""), 200, "new admin logs in")

	// List, filter and page.
	list := func(query string) []string {
		t.Helper()
		r := e.do("GET", "/api/admins"+query, sudo, nil)
		e.expect(r, 200, "list "+query)
		var as []map[string]any
		r.decode(t, &as)
		var names []string
		for _, a := range as {
			names = append(names, a["username"].(string))
			if _, ok := a["hashed_password"]; ok {
				t.Fatalf("list leaks the password hash: %s", r.body)
			}
		}
		return names
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{"admin", "alice", "bob", "Carol_1"}},
		{"?username=CAROL", []string{"Carol_1"}},
		{"?username=li", []string{"alice"}},
		{"?offset=1&limit=2", []string{"alice", "bob"}},
		{"?offset=10", nil},
		{"?username=nobody", nil},
	} {
		if got := list(tc.query); !slices.Equal(got, tc.want) {
			t.Errorf("GET /api/admins%s = %v, want %v", tc.query, got, tc.want)
		}
	}

	// Modify: promote, change contacts, clear them.
	r = e.do("PUT", "/api/admin/Carol_1", sudo, map[string]any{"is_sudo": true, "telegram_id": 777})
	e.expect(r, 200, "modify")
	r.decode(t, &got)
	if got["is_sudo"] != true || got["telegram_id"] != float64(777) || got["discord_webhook"] == nil {
		t.Fatalf("modify answered %s", r.body)
	}
	// Carol is now sudo: another sudo may no longer edit or delete her.
	e.expect(e.do("PUT", "/api/admin/Carol_1", sudo, map[string]any{"telegram_id": 0}), 403, "edit another sudo")
	e.expect(e.do("DELETE", "/api/admin/Carol_1", sudo, nil), 403, "delete another sudo")
	// But she may edit herself, clearing her contacts.
	carol, err := e.st.AdminByUsername(context.Background(), "Carol_1")
	if err != nil {
		t.Fatal(err)
	}
	r = e.do("PUT", "/api/admin/Carol_1", e.token(carol), map[string]any{"telegram_id": 0, "discord_webhook": ""})
	e.expect(r, 200, "sudo edits itself")
	r.decode(t, &got)
	if got["telegram_id"] != nil || got["discord_webhook"] != nil {
		t.Fatalf("clearing contacts answered %s", r.body)
	}
	e.expect(e.do("PUT", "/api/admin/Carol_1", e.token(carol), map[string]any{"is_sudo": false}), 400, "sudo demotes itself")
	e.expect(e.do("DELETE", "/api/admin/Carol_1", e.token(carol), nil), 403, "sudo deletes itself")

	// Delete a regular admin: its users stay, owned by nobody.
	e.createUser(e.bob, "bob_user")
	r = e.do("DELETE", "/api/admin/bob", sudo, nil)
	e.expect(r, 200, "delete")
	if r.detail() != "Admin removed successfully" {
		t.Fatalf("delete answered %s", r.body)
	}
	e.expect(e.do("DELETE", "/api/admin/bob", sudo, nil), 404, "delete again")
	e.expect(e.do("GET", "/api/admin", e.token(e.bob), nil), 401, "deleted admin's token")
	u, err := e.st.User(context.Background(), nil, "bob_user")
	if err != nil {
		t.Fatalf("the deleted admin's user is gone: %v", err)
	}
	if u.AdminID != 0 {
		t.Fatalf("the deleted admin's user still has owner %d", u.AdminID)
	}
}

func mapsEqual(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestAdminPasswordChangeEndsOldTokens(t *testing.T) {
	e := newEnv(t)
	sudo := e.token(e.sudo)
	old := e.token(e.alice)
	e.expect(e.do("GET", "/api/admin", old, nil), 200, "before")

	// Sending back the current password is not a change: sessions survive.
	e.expect(e.do("PUT", "/api/admin/alice", sudo, map[string]any{"password": testPassword}), 200, "same password")
	e.expect(e.do("GET", "/api/admin", old, nil), 200, "token after resending the same password")

	e.expect(e.do("PUT", "/api/admin/alice", sudo, map[string]any{"password": "brand-new-pw"}), 200, "change")
	e.expect(e.do("GET", "/api/admin", old, nil), 401, "old token after the change")
	e.expect(e.do("GET", "/api/users", old, nil), 401, "old token on another route")
	e.expect(e.login("alice", testPassword, ""), 401, "old password")
	r := e.login("alice", "brand-new-pw", "")
	e.expect(r, 200, "new password")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	r.decode(t, &tok)
	// Issued in the same second as the reset, the new token still works.
	e.expect(e.do("GET", "/api/admin", tok.AccessToken, nil), 200, "new token")
	// The sudo's own token is untouched.
	e.expect(e.do("GET", "/api/admins", sudo, nil), 200, "sudo token")
}

func TestAdminBulkUsersStatus(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sudo := e.token(e.sudo)
	aliceTok := e.token(e.alice)
	e.createUser(e.alice, "a_active")
	e.createUser(e.alice, "a_disabled")
	e.expect(e.do("PUT", "/api/user/a_disabled", aliceTok, map[string]any{"status": "disabled"}), 200, "disable one")
	r := e.do("POST", "/api/user", aliceTok, map[string]any{
		"username": "a_hold", "status": "on_hold", "on_hold_expire_duration": 86400,
		"proxies": map[string]any{"vless": map[string]any{}},
	})
	e.expect(r, 200, "create on_hold")
	e.createUser(e.bob, "b_active")

	emails := func(names ...string) []string {
		var out []string
		for _, n := range names {
			u, err := e.st.User(ctx, nil, n)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, u.Email())
		}
		slices.Sort(out)
		return out
	}
	// oneChange runs call and returns the one delta it published.
	oneChange := func(what string, call func()) protocol.Delta {
		t.Helper()
		before := e.snapshot().Revision
		call()
		changes, err := e.db.ChangesSince(ctx, before, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(changes) != 1 {
			t.Fatalf("%s published %d changes, want 1", what, len(changes))
		}
		if after := e.snapshot().Revision; after != before+1 {
			t.Fatalf("%s took revisions %d..%d, want one", what, before, after)
		}
		var d protocol.Delta
		if err := json.Unmarshal(changes[0].Data, &d); err != nil {
			t.Fatal(err)
		}
		return d
	}

	d := oneChange("disable", func() {
		r := e.do("POST", "/api/admin/alice/users/disable", sudo, nil)
		e.expect(r, 200, "disable")
		if r.detail() != "Users successfully disabled" {
			t.Fatalf("disable answered %s", r.body)
		}
	})
	removed := slices.Clone(d.Removes)
	slices.Sort(removed)
	if want := emails("a_active", "a_hold"); !slices.Equal(removed, want) || len(d.Upserts) != 0 {
		t.Fatalf("disable delta removes %v upserts %d, want removes %v", removed, len(d.Upserts), want)
	}
	for name, want := range map[string]model.Status{"a_active": "disabled", "a_disabled": "disabled", "a_hold": "disabled", "b_active": "active"} {
		if got := e.userStatus(name); got != want {
			t.Errorf("after disable %s is %s, want %s", name, got, want)
		}
	}

	d = oneChange("activate", func() {
		r := e.do("POST", "/api/admin/alice/users/activate", sudo, nil)
		e.expect(r, 200, "activate")
		if r.detail() != "Users successfully activated" {
			t.Fatalf("activate answered %s", r.body)
		}
	})
	var upserted []string
	for _, u := range d.Upserts {
		upserted = append(upserted, u.Email)
	}
	slices.Sort(upserted)
	if want := emails("a_active", "a_disabled", "a_hold"); !slices.Equal(upserted, want) || len(d.Removes) != 0 {
		t.Fatalf("activate delta upserts %v removes %d, want upserts %v", upserted, len(d.Removes), want)
	}
	for name, want := range map[string]model.Status{"a_active": "active", "a_disabled": "active", "a_hold": "on_hold", "b_active": "active"} {
		if got := e.userStatus(name); got != want {
			t.Errorf("after activate %s is %s, want %s", name, got, want)
		}
	}

	// Nothing to do: no change is published.
	before := e.snapshot()
	e.expect(e.do("POST", "/api/admin/alice/users/activate", sudo, nil), 200, "activate again")
	if changes, _ := e.db.ChangesSince(ctx, before.Revision, 10); len(changes) != 0 {
		t.Fatalf("a no-op activate published %d changes", len(changes))
	}
}

func TestAdminUsage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sudo := e.token(e.sudo)
	e.createUser(e.alice, "a_user")
	u, err := e.st.User(ctx, nil, "a_user")
	if err != nil {
		t.Fatal(err)
	}
	n := &model.Node{Name: "n1", Address: "127.0.0.1"}
	if _, err := e.st.CreateNode(ctx, n); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.ApplyUsage(ctx, n.ID, n.SessionFence, 0, 1, e.clock.Now(), []store.UserTraffic{{UserID: u.ID, Up: 1000, Down: 234}}); err != nil {
		t.Fatal(err)
	}

	r := e.do("GET", "/api/admin/usage/alice", sudo, nil)
	e.expect(r, 200, "usage")
	if string(r.body) != "1234" {
		t.Fatalf("usage = %s, want 1234", r.body)
	}
	r = e.do("GET", "/api/admin/usage/bob", sudo, nil)
	e.expect(r, 200, "usage of bob")
	if string(r.body) != "0" {
		t.Fatalf("bob's usage = %s, want 0", r.body)
	}
	r = e.do("POST", "/api/admin/usage/reset/alice", sudo, nil)
	e.expect(r, 200, "reset")
	var a map[string]any
	r.decode(t, &a)
	if a["username"] != "alice" || a["users_usage"] != float64(0) {
		t.Fatalf("reset answered %s", r.body)
	}
	r = e.do("GET", "/api/admin/usage/alice", sudo, nil)
	if string(r.body) != "0" {
		t.Fatalf("usage after reset = %s", r.body)
	}
	// The users keep their own counters.
	if u2, _ := e.st.User(ctx, nil, "a_user"); u2.UsedTraffic != 1234 {
		t.Fatalf("user's used_traffic after the admin reset = %d", u2.UsedTraffic)
	}
}

func TestAdminBadInput(t *testing.T) {
	e := newEnv(t)
	e.createUser(e.alice, "a_user")
	sudo := e.token(e.sudo)
	before := e.adminsState()
	long := strings.Repeat("a", 33)
	for _, tc := range []struct {
		name         string
		method, path string
		body         any
		status       int
	}{
		{"username with a space", "POST", "/api/admin", `{"username":"bad name","password":"secret123"}`, 400},
		{"username too short", "POST", "/api/admin", `{"username":"ab","password":"secret123"}`, 400},
		{"username of 33 characters", "POST", "/api/admin", `{"username":"` + long + `","password":"secret123"}`, 400},
		{"unicode username", "POST", "/api/admin", `{"username":"адмін","password":"secret123"}`, 400},
		{"empty username", "POST", "/api/admin", `{"username":"","password":"secret123"}`, 400},
		{"short password", "POST", "/api/admin", `{"username":"carol","password":"12345"}`, 400},
		{"password over 72 bytes", "POST", "/api/admin", `{"username":"carol","password":"` + strings.Repeat("p", 73) + `"}`, 400},
		{"duplicate", "POST", "/api/admin", `{"username":"alice","password":"secret123"}`, 409},
		{"duplicate in another case", "POST", "/api/admin", `{"username":"ALICE","password":"secret123"}`, 409},
		{"not a discord webhook", "POST", "/api/admin", `{"username":"carol","password":"secret123","discord_webhook":"http://example.com/x"}`, 400},
		{"negative telegram id", "POST", "/api/admin", `{"username":"carol","password":"secret123","telegram_id":-5}`, 422},
		{"missing password", "POST", "/api/admin", `{"username":"carol"}`, 422},
		{"missing username", "POST", "/api/admin", `{"password":"secret123"}`, 422},
		{"username a number", "POST", "/api/admin", `{"username":5,"password":"secret123"}`, 422},
		{"is_sudo a string", "POST", "/api/admin", `{"username":"carol","password":"secret123","is_sudo":"yes"}`, 422},
		{"telegram_id a string", "POST", "/api/admin", `{"username":"carol","password":"secret123","telegram_id":"x"}`, 422},
		{"unknown field", "POST", "/api/admin", `{"username":"carol","password":"secret123","role":"god"}`, 422},
		{"malformed JSON", "POST", "/api/admin", `{"username":"carol",`, 422},
		{"array body", "POST", "/api/admin", `[]`, 422},
		{"empty body", "POST", "/api/admin", ``, 422},
		{"modify unknown", "PUT", "/api/admin/nobody", `{"password":"secret123"}`, 404},
		{"modify short password", "PUT", "/api/admin/alice", `{"password":"123"}`, 400},
		{"modify is_sudo a string", "PUT", "/api/admin/alice", `{"is_sudo":"true"}`, 422},
		{"modify malformed", "PUT", "/api/admin/alice", `{`, 422},
		{"modify unknown field", "PUT", "/api/admin/alice", `{"username":"x"}`, 422},
		{"delete unknown", "DELETE", "/api/admin/nobody", nil, 404},
		{"disable unknown", "POST", "/api/admin/nobody/users/disable", nil, 404},
		{"activate unknown", "POST", "/api/admin/nobody/users/activate", nil, 404},
		{"usage unknown", "GET", "/api/admin/usage/nobody", nil, 404},
		{"reset unknown", "POST", "/api/admin/usage/reset/nobody", nil, 404},
		{"negative limit", "GET", "/api/admins?limit=-1", nil, 422},
		{"negative offset", "GET", "/api/admins?offset=-1", nil, 422},
		{"limit not a number", "GET", "/api/admins?limit=ten", nil, 422},
		{"long username filter", "GET", "/api/admins?username=" + strings.Repeat("x", 65), nil, 400},
	} {
		// One env for all: each case must leave it exactly as it was.
		r := e.do(tc.method, tc.path, sudo, tc.body)
		e.expect(r, tc.status, tc.name)
		if after := e.adminsState(); after != before {
			t.Fatalf("%s changed the store", tc.name)
		}
	}
}

func TestAdminEnvSudo(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.EnvSudoUser, o.EnvSudoPassword = "root", "env-secret" })
	r := e.login("root", "env-secret", "")
	e.expect(r, 200, "env sudo login")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	r.decode(t, &tok)
	before := e.adminsState()
	e.expect(e.do("POST", "/api/admin", tok.AccessToken, map[string]any{"username": "ROOT", "password": "secret123"}), 409, "shadowing the env sudo")
	if e.adminsState() != before {
		t.Fatal("a refused create changed the store")
	}
	// The env sudo is a sudo like any other, and not the DB sudo's self.
	e.expect(e.do("POST", "/api/admin", tok.AccessToken, map[string]any{"username": "dave", "password": "secret123"}), 200, "env sudo creates")
	e.expect(e.do("PUT", "/api/admin/admin", tok.AccessToken, map[string]any{"password": "secret999"}), 403, "env sudo edits the DB sudo")
	e.expect(e.do("PUT", "/api/admin/root", tok.AccessToken, map[string]any{"password": "secret999"}), 404, "the env sudo has no row")
}
