package api_test

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/outpost-panel/outpost/backend/api"
	"github.com/outpost-panel/outpost/backend/auth"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
)

func (e *env) login(username, password, forwardedFor string) *response {
	e.t.Helper()
	form := url.Values{"username": {username}, "password": {password}, "grant_type": {"password"}}
	req := httptest.NewRequest("POST", "/api/admin/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
	return e.send(req)
}

func TestLogin(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.EnvSudoUser, o.EnvSudoPassword = "root", "env-secret" })

	check := func(r *response, who string, sudo bool) {
		t.Helper()
		e.expect(r, 200, "login "+who)
		var tok struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
		}
		r.decode(t, &tok)
		if tok.TokenType != "bearer" || tok.AccessToken == "" {
			t.Fatalf("login %s: %s", who, r.body)
		}
		me := e.do("GET", "/api/admin", tok.AccessToken, nil)
		e.expect(me, 200, "GET /api/admin as "+who)
		var a map[string]any
		me.decode(t, &a)
		if a["username"] != who || a["is_sudo"] != sudo {
			t.Fatalf("GET /api/admin as %s: %s", who, me.body)
		}
		for _, k := range []string{"telegram_id", "discord_webhook", "users_usage"} {
			if _, ok := a[k]; !ok {
				t.Errorf("GET /api/admin lacks %q: %s", k, me.body)
			}
		}
	}
	check(e.login("admin", e.sudoPassword, ""), "admin", true)
	check(e.login("alice", testPassword, ""), "alice", false)
	check(e.login("root", "env-secret", ""), "root", true)

	// OAuth2 clients may post the form as multipart.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("username", "alice")
	_ = mw.WriteField("password", testPassword)
	mw.Close()
	req := httptest.NewRequest("POST", "/api/admin/token", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	check(e.send(req), "alice", false)

	for _, tc := range []struct {
		name, user, pass string
	}{
		{"wrong password", "alice", "nope"},
		{"unknown admin", "mallory", testPassword},
		{"env sudo with a wrong password", "root", "env-secret2"},
		{"username in another case", "ALICE", testPassword},
	} {
		r := e.login(tc.user, tc.pass, "")
		e.expect(r, 401, tc.name)
		if r.detail() != "Incorrect username or password" {
			t.Errorf("%s: detail %q", tc.name, r.detail())
		}
	}

	// Missing fields and non-form bodies are schema errors.
	e.expect(e.login("alice", "", ""), 422, "missing password")
	e.expect(e.do("POST", "/api/admin/token", "", map[string]string{"username": "alice", "password": testPassword}), 422, "JSON body")
}

func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.TrustedProxies = []string{"0.0.0.0"} })

	// Per address and username: ten attempts in a minute are answered, the
	// eleventh is not, even with the right password.
	for i := range 10 {
		e.expect(e.login("alice", "wrong", "203.0.113.7"), 401, fmt.Sprintf("attempt %d", i+1))
	}
	r := e.login("alice", testPassword, "203.0.113.7")
	e.expect(r, 429, "11th attempt on alice from one address")
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	// Another address is not affected, nor another username from the first.
	e.expect(e.login("alice", testPassword, "203.0.113.8"), 200, "alice from another address")
	e.expect(e.login("bob", testPassword, "203.0.113.7"), 200, "bob from the guessing address")

	// Per address: thirty attempts in a minute whatever the usernames.
	for i := range 18 { // 11 + 1 above
		e.expect(e.login(fmt.Sprintf("guess%d", i), "x", "203.0.113.7"), 401, "spraying usernames")
	}
	e.expect(e.login("bob", testPassword, "203.0.113.7"), 429, "31st attempt from one address")

	// An IPv6 client is counted by its /64: a fresh address per guess buys
	// nothing.
	for i := range 10 {
		e.expect(e.login("bob", "wrong", fmt.Sprintf("2001:db8:1:2::%x", i+1)), 401, "guess over IPv6")
	}
	e.expect(e.login("bob", testPassword, "2001:db8:1:2::ffff"), 429, "11th attempt from one /64")
	e.expect(e.login("bob", testPassword, "2001:db8:1:3::1"), 200, "bob from another /64")

	// The window passes.
	e.clock.Advance(61 * time.Second)
	e.expect(e.login("alice", testPassword, "203.0.113.7"), 200, "login after the window")
}

// Issue 9, item 3: wrong passwords for an admin from one address, every
// half second for minutes, never refuse its right password from another one.
// (alice rather than the bootstrapped admin: her cheap bcrypt keeps the test
// short.)
func TestLoginGuessesElsewhereNeverLockOutTheAdmin(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.TrustedProxies = []string{"0.0.0.0"} })
	limited := 0
	for i := range 240 { // two minutes of guesses
		r := e.login("alice", fmt.Sprintf("guess-%d", i), "198.51.100.66")
		if r.status == 429 {
			limited++
		} else {
			e.expect(r, 401, "a guess")
		}
		e.clock.Advance(500 * time.Millisecond)
		if i%20 == 19 {
			e.expect(e.login("alice", testPassword, "192.0.2.10"), 200, fmt.Sprintf("the admin after %d guesses elsewhere", i+1))
		}
	}
	if limited == 0 {
		t.Fatal("240 guesses from one address in two minutes were never limited")
	}
	// A success forgets the admin's own typos: ten more tries later in the
	// same window are answered.
	for range 9 {
		e.expect(e.login("alice", "typo", "192.0.2.10"), 401, "a typo")
	}
	e.expect(e.login("alice", testPassword, "192.0.2.10"), 200, "the admin after nine typos")
	for range 9 {
		e.expect(e.login("alice", "typo", "192.0.2.10"), 401, "typos after a success")
	}
	e.expect(e.login("alice", testPassword, "192.0.2.10"), 200, "the admin after nine more typos")
}

// Without trusted proxies, X-Forwarded-For is the client's own claim and
// must not give it a fresh rate-limit key per request.
func TestLoginRateLimitIgnoresUntrustedForwardedFor(t *testing.T) {
	e := newEnv(t)
	for i := range 10 {
		e.expect(e.login("alice", "x", fmt.Sprintf("192.0.2.%d", i)), 401, "guess")
	}
	e.expect(e.login("alice", testPassword, "192.0.2.99"), 429, "11th attempt with a forged X-Forwarded-For")
}

// Behind a trusted proxy the client is the right-most address the proxy
// appended; what the client put at the left end is not believed.
func TestLoginRateLimitReadsForwardedForFromTheRight(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.TrustedProxies = []string{"0.0.0.0", "10.0.0.0/8"} })
	for i := range 10 {
		// The client forges a new left-most address each time; the proxy
		// (and an inner trusted hop) append the real one.
		e.expect(e.login("alice", "x", fmt.Sprintf("192.0.2.%d, 203.0.113.9, 10.1.2.3", i)), 401, "guess")
	}
	e.expect(e.login("alice", testPassword, "192.0.2.99, 203.0.113.9, 10.1.2.3"), 429, "11th attempt behind a forged left end")
	e.expect(e.login("alice", testPassword, "203.0.113.10, 10.1.2.3"), 200, "another client behind the same proxies")
}

type route struct {
	method, path string
	body         any
	sudoOnly     bool
}

// protectedRoutes lists every route behind admin auth. {user} is a user owned
// by the sudo admin, {node} an existing node.
func protectedRoutes(user string, node int64) []route {
	n := strconv.FormatInt(node, 10)
	return []route{
		{"GET", "/api/admin", nil, false},
		{"GET", "/api/core", nil, false},
		{"GET", "/api/inbounds", nil, false},
		{"POST", "/api/user", map[string]any{"username": "intruder", "proxies": map[string]any{"vless": map[string]any{}}}, false},
		{"GET", "/api/user/" + user, nil, false},
		{"PUT", "/api/user/" + user, map[string]any{"data_limit": 1}, false},
		{"DELETE", "/api/user/" + user, nil, false},
		{"GET", "/api/users", nil, false},
		{"GET", "/api/core/config", nil, true},
		{"PUT", "/api/core/config", map[string]any{"inbounds": []any{}}, true},
		{"GET", "/api/node/settings", nil, true},
		{"POST", "/api/node", map[string]any{"name": "intruder"}, true},
		{"GET", "/api/nodes", nil, true},
		{"GET", "/api/node/" + n, nil, true},
		{"PUT", "/api/node/" + n, map[string]any{"name": "renamed"}, true},
		{"DELETE", "/api/node/" + n, nil, true},
		{"POST", "/api/node/" + n + "/token", nil, true},
	}
}

func TestAuthorizationMatrix(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.EnvSudoUser, o.EnvSudoPassword = "root", "env-secret" })
	ctx := context.Background()
	e.createUser(e.sudo, "sudo_user")
	node := &model.Node{Name: "n1"}
	if _, err := e.st.CreateNode(ctx, node); err != nil {
		t.Fatal(err)
	}
	routes := protectedRoutes("sudo_user", node.ID)

	// Tokens that must be refused, each with why. All but "expiring" live
	// for two days, so each is refused for its own reason and not for age.
	long := func(secret []byte, a *model.Admin) string {
		t.Helper()
		tok, err := auth.Issue(secret, a, 48*time.Hour, e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	otherSecret := long([]byte("not-the-panel-secret-not-the-pan"), e.sudo)
	ghost := long(e.secrets.JWT, &model.Admin{Username: "ghost", IsSudo: true})
	envAsAdmin := long(e.secrets.JWT, &model.Admin{Username: "root"})
	beforeReset := long(e.secrets.JWT, e.bob)
	expiring := e.token(e.sudo) // valid for an hour from now
	e.clock.Advance(2 * time.Second)
	reset := e.clock.Now()
	e.bob.PasswordResetAt = &reset
	if err := e.db.Tx(ctx, func(tx *store.Tx) error { return tx.UpdateAdmin(e.bob) }); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour + time.Second) // "expiring" is now expired
	// Each refused token, minus its flaw, would be accepted.
	e.expect(e.do("GET", "/api/admin", long(e.secrets.JWT, e.sudo), nil), 200, "control token")

	refused := map[string]string{
		"anonymous":                  "",
		"garbage token":              "not-a-jwt",
		"other secret":               otherSecret,
		"expired":                    expiring,
		"issued before reset":        beforeReset,
		"unknown admin":              ghost,
		"env sudo name, admin claim": envAsAdmin,
	}
	for name, tok := range refused {
		for _, rt := range routes {
			before := e.snapshot()
			r := e.do(rt.method, rt.path, tok, rt.body)
			e.expect(r, 401, fmt.Sprintf("%s: %s %s", name, rt.method, rt.path))
			if r.header.Get("WWW-Authenticate") != "Bearer" {
				t.Fatalf("%s: %s %s: no WWW-Authenticate", name, rt.method, rt.path)
			}
			e.assertUnchanged(before, name+" "+rt.method+" "+rt.path)
		}
	}
	// A scheme other than Bearer is no credential either.
	req := httptest.NewRequest("GET", "/api/admin", nil)
	req.Header.Set("Authorization", "Basic "+e.token(e.sudo))
	e.expect(e.send(req), 401, "Basic scheme")

	// A token issued after the reset works (same second is handled by Issue).
	e.expect(e.do("GET", "/api/admin", e.token(e.bob), nil), 200, "token after reset")

	// A regular admin: sudo-only routes and the sudo's user are forbidden.
	alice := e.token(e.alice)
	for _, rt := range routes {
		if !rt.sudoOnly && !strings.HasPrefix(rt.path, "/api/user/") {
			continue
		}
		before := e.snapshot()
		e.expect(e.do(rt.method, rt.path, alice, rt.body), 403, "alice: "+rt.method+" "+rt.path)
		e.assertUnchanged(before, "alice "+rt.method+" "+rt.path)
	}

	// Allowed: every route for the DB sudo and the env sudo (mutating routes
	// are exercised in their own tests; here, reads).
	for _, tok := range []string{e.token(e.sudo), e.token(&model.Admin{Username: "root", IsSudo: true})} {
		for _, rt := range routes {
			if rt.method != "GET" {
				continue
			}
			e.expect(e.do(rt.method, rt.path, tok, nil), 200, "sudo: "+rt.path)
		}
	}
	// A regular admin reads its own things.
	e.createUser(e.alice, "alice_user")
	for _, p := range []string{"/api/admin", "/api/core", "/api/inbounds", "/api/users", "/api/user/alice_user"} {
		e.expect(e.do("GET", p, alice, nil), 200, "alice: "+p)
	}
}

// Demoting or deleting an admin takes effect on its next request, not when
// its token expires.
func TestAdminChangesApplyToLiveTokens(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	carol := e.createAdmin("carol", true)
	tok := e.token(carol)
	e.expect(e.do("GET", "/api/core/config", tok, nil), 200, "sudo carol")

	carol.IsSudo = false
	if err := e.db.Tx(ctx, func(tx *store.Tx) error { return tx.UpdateAdmin(carol) }); err != nil {
		t.Fatal(err)
	}
	e.expect(e.do("GET", "/api/core/config", tok, nil), 403, "demoted carol")

	if err := e.db.Tx(ctx, func(tx *store.Tx) error { return tx.DeleteAdmin(carol.ID) }); err != nil {
		t.Fatal(err)
	}
	e.expect(e.do("GET", "/api/admin", tok, nil), 401, "deleted carol")
}

// The env sudo's token dies with the env sudo.
func TestEnvSudoTokenNeedsEnv(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.EnvSudoUser, o.EnvSudoPassword = "root", "env-secret" })
	tok := e.token(&model.Admin{Username: "root", IsSudo: true})
	e.expect(e.do("GET", "/api/admin", tok, nil), 200, "env sudo")

	opts := e.opts
	opts.EnvSudoUser, opts.EnvSudoPassword = "", ""
	e.app = api.New(opts)
	e.expect(e.do("GET", "/api/admin", tok, nil), 401, "env sudo removed")
}

// A token names the admin row it was issued to: deleting bob and creating a
// new sudo bob must not hand the old token the new admin's rights (issue 9,
// item 2), even in the same second.
func TestDeletedAdminTokenDiesWithIt(t *testing.T) {
	e := newEnv(t)
	r := e.login("bob", testPassword, "")
	e.expect(r, 200, "login bob")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	r.decode(t, &tok)
	e.expect(e.do("GET", "/api/admin", tok.AccessToken, nil), 200, "old bob's token")

	sudo := e.token(e.sudo)
	e.expect(e.do("DELETE", "/api/admin/bob", sudo, nil), 200, "delete bob")
	e.expect(e.do("POST", "/api/admin", sudo, map[string]any{"username": "bob", "password": "brand-new-1", "is_sudo": true}), 200, "re-create bob as sudo")

	for _, rt := range []struct{ method, path string }{{"GET", "/api/admin"}, {"GET", "/api/admins"}, {"GET", "/api/core/config"}} {
		e.expect(e.do(rt.method, rt.path, tok.AccessToken, nil), 401, "old bob's token on "+rt.path)
	}
	// The new bob logs in and gets a token of its own.
	r = e.login("bob", "brand-new-1", "")
	e.expect(r, 200, "login new bob")
	r.decode(t, &tok)
	e.expect(e.do("GET", "/api/core/config", tok.AccessToken, nil), 200, "new bob's token")
}

// An env sudo token never opens a database admin of the same name, and a
// token that names no admin id (issued before the claim existed) is refused.
func TestTokenAdminIDBinding(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.EnvSudoUser, o.EnvSudoPassword = "alice", "env-secret" })
	envTok := e.token(&model.Admin{Username: "alice", IsSudo: true})
	var me map[string]any
	r := e.do("GET", "/api/admin", envTok, nil)
	e.expect(r, 200, "env sudo alice")
	r.decode(t, &me)
	if me["is_sudo"] != true {
		t.Fatalf("env sudo token read as %s", r.body)
	}
	// The row alice's token stays the regular admin.
	r = e.do("GET", "/api/admin", e.token(e.alice), nil)
	e.expect(r, 200, "db alice")
	r.decode(t, &me)
	if me["is_sudo"] != false {
		t.Fatalf("db alice's token read as %s", r.body)
	}
	opts := e.opts
	opts.EnvSudoUser, opts.EnvSudoPassword = "", ""
	e.app = api.New(opts)
	e.expect(e.do("GET", "/api/admin", envTok, nil), 401, "env sudo token once the env no longer names alice")

	legacy, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "admin", "access": "sudo", "iat": e.clock.Now().Unix(), "exp": e.clock.Now().Add(time.Hour).Unix(),
	}).SignedString(e.secrets.JWT)
	if err != nil {
		t.Fatal(err)
	}
	e.expect(e.do("GET", "/api/admin", legacy, nil), 401, "token without aid")
}
