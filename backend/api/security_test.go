package api_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/api"
	"github.com/outpost-panel/outpost/backend/auth"
	"github.com/outpost-panel/outpost/backend/internal/testenv"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
)

// Issue 13, items 1, 2 and 5, end to end through the real API on both
// engines: two-factor sign-in, API keys and sessions.

var engines = []struct {
	name string
	url  func(t *testing.T) string
}{
	{"sqlite", func(*testing.T) string { return "" }},
	{"postgres", func(t *testing.T) string { return testenv.Postgres(t) }},
}

// loginOTP posts the login form with an otp field ("" leaves it out).
func (e *env) loginOTP(username, password, otp string) *response {
	e.t.Helper()
	form := url.Values{"username": {username}, "password": {password}}
	if otp != "" {
		form.Set("otp", otp)
	}
	req := httptest.NewRequest("POST", "/api/admin/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "security-test/1.0")
	return e.send(req)
}

func (e *env) accessToken(r *response) string {
	e.t.Helper()
	e.expect(r, 200, "login")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	r.decode(e.t, &tok)
	return tok.AccessToken
}

// enrolTOTP turns alice's second factor on through the API and returns
// her secret and recovery codes.
func (e *env) enrolTOTP(token string) (string, []string) {
	e.t.Helper()
	r := e.do("POST", "/api/admin/totp/enroll", token, nil)
	e.expect(r, 200, "enroll")
	var en struct {
		Secret     string `json:"secret"`
		OTPAuthURL string `json:"otpauth_url"`
	}
	r.decode(e.t, &en)
	if !strings.HasPrefix(en.OTPAuthURL, "otpauth://totp/") || !strings.Contains(en.OTPAuthURL, "secret="+en.Secret) {
		e.t.Fatalf("otpauth url %q", en.OTPAuthURL)
	}
	e.expect(e.do("POST", "/api/admin/totp/confirm", token, map[string]any{"code": "000000x"}), 400, "confirm with a bad code")
	code, err := auth.TOTPCode(en.Secret, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	r = e.do("POST", "/api/admin/totp/confirm", token, map[string]any{"code": code})
	e.expect(r, 200, "confirm")
	var rc struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	r.decode(e.t, &rc)
	if len(rc.RecoveryCodes) != 10 {
		e.t.Fatalf("recovery codes %v", rc.RecoveryCodes)
	}
	return en.Secret, rc.RecoveryCodes
}

func TestTOTPSignIn(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			e := newEnvOn(t, engine.url(t))
			tok := e.accessToken(e.loginOTP("alice", testPassword, ""))
			secret, codes := e.enrolTOTP(tok)

			// The secret is sealed at rest, and the codes are stored hashed.
			var sealed string
			var hashes int
			if err := e.db.Read(context.Background(), func(tx *store.Tx) error {
				ts, err := tx.TOTP(e.alice.ID)
				if err != nil {
					return err
				}
				sealed = ts.Secret
				hashes, err = tx.RecoveryCodesLeft(e.alice.ID)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(sealed, secret) || !strings.HasPrefix(sealed, "v1:") || hashes != 10 {
				t.Fatalf("stored secret %q, %d codes", sealed, hashes)
			}

			// The password alone is not enough any more: 401 that says so.
			r := e.loginOTP("alice", testPassword, "")
			e.expect(r, 401, "login without a code")
			if r.detail() != "Two-factor code required" || r.header.Get("X-Outpost-Otp") != "required" {
				t.Fatalf("detail %q, header %q", r.detail(), r.header.Get("X-Outpost-Otp"))
			}
			e.expect(e.loginOTP("alice", testPassword, "123456"), 401, "login with a wrong code")
			// The confirming code's step is used: the same code again fails.
			code, _ := auth.TOTPCode(secret, e.clock.Now())
			e.expect(e.loginOTP("alice", testPassword, code), 401, "login replaying the confirming code")

			// The next step's code signs in (the ±1 window) once.
			e.clock.Advance(auth.TOTPPeriod)
			code, _ = auth.TOTPCode(secret, e.clock.Now().Add(auth.TOTPPeriod))
			tok = e.accessToken(e.loginOTP("alice", testPassword, code))
			e.expect(e.do("GET", "/api/admin", tok, nil), 200, "token from a 2FA sign-in")
			r = e.loginOTP("alice", testPassword, code)
			e.expect(r, 401, "replayed code")
			if r.detail() != "Invalid two-factor code" {
				t.Fatalf("replay detail %q", r.detail())
			}
			// A code two steps away is outside the window.
			e.clock.Advance(5 * auth.TOTPPeriod)
			far, _ := auth.TOTPCode(secret, e.clock.Now().Add(2*auth.TOTPPeriod))
			e.expect(e.loginOTP("alice", testPassword, far), 401, "code two steps ahead")

			// A recovery code works once, written any way.
			rc := strings.ToUpper(strings.ReplaceAll(codes[3], "-", " "))
			e.accessToken(e.loginOTP("alice", testPassword, rc))
			e.expect(e.loginOTP("alice", testPassword, codes[3]), 401, "recovery code used twice")
			// Right code, wrong password: still refused.
			code, _ = auth.TOTPCode(secret, e.clock.Now())
			e.expect(e.loginOTP("alice", "wrong password", code), 401, "wrong password with a good code")

			// Disabling needs a code; a sudo may reset instead.
			e.expect(e.do("POST", "/api/admin/totp/disable", tok, map[string]any{"code": "111111"}), 400, "disable with a wrong code")
			var st struct {
				Enabled bool `json:"enabled"`
				Left    int  `json:"recovery_codes_left"`
			}
			e.do("GET", "/api/admin/totp", tok, nil).decode(t, &st)
			if !st.Enabled || st.Left != 9 {
				t.Fatalf("status %+v", st)
			}
			e.expect(e.do("POST", "/api/admin/alice/totp/reset", e.token(e.bob), nil), 403, "a regular admin resetting 2FA")
			e.expect(e.do("POST", "/api/admin/alice/totp/reset", e.token(e.sudo), nil), 200, "sudo resets alice's 2FA")
			e.accessToken(e.loginOTP("alice", testPassword, ""))

			// Disabling with a code, after enrolling again.
			secret, _ = e.enrolTOTP(tok)
			e.clock.Advance(auth.TOTPPeriod)
			code, _ = auth.TOTPCode(secret, e.clock.Now())
			e.expect(e.do("POST", "/api/admin/totp/disable", tok, map[string]any{"code": code}), 200, "disable with a code")
			e.accessToken(e.loginOTP("alice", testPassword, ""))
		})
	}
}

// Wrong second-factor codes count against the login limits like wrong
// passwords.
func TestTOTPCodesAreRateLimited(t *testing.T) {
	e := newEnv(t)
	tok := e.accessToken(e.loginOTP("alice", testPassword, ""))
	e.enrolTOTP(tok)
	var last *response
	for i := 0; i < 11; i++ {
		last = e.loginOTP("alice", testPassword, fmt.Sprintf("%06d", i))
	}
	e.expect(last, 429, "the 11th wrong code in a minute")
}

// createKey makes a key through the API and returns it.
func (e *env) createKey(token, name string, scopes []string, expires int64) string {
	e.t.Helper()
	body := map[string]any{"name": name, "scopes": scopes}
	if expires != 0 {
		body["expires_at"] = expires
	}
	r := e.do("POST", "/api/admin/keys", token, body)
	e.expect(r, 200, "create key "+name)
	var k struct {
		Key    string   `json:"key"`
		Prefix string   `json:"prefix"`
		Scopes []string `json:"scopes"`
	}
	r.decode(e.t, &k)
	if !strings.HasPrefix(k.Key, "op_") || !strings.HasPrefix(k.Key, k.Prefix) || len(k.Key) < 40 {
		e.t.Fatalf("key %+v", k)
	}
	return k.Key
}

func userBody(name string) map[string]any {
	return map[string]any{"username": name, "proxies": map[string]any{"vless": map[string]any{}}}
}

func TestAPIKeys(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			e := newEnvOn(t, engine.url(t), func(o *api.Options) { o.KeyUseFlush = 10 * time.Millisecond })
			sudo := e.token(e.sudo)
			alice := e.token(e.alice)

			readKey := e.createKey(sudo, "dashboards", []string{"read"}, 0)
			usersKey := e.createKey(sudo, "shop", []string{"users"}, 0)
			allKey := e.createKey(alice, "alice's bot", []string{"all"}, 0)

			// Read-only: reads, refused on every write with 403.
			e.expect(e.do("GET", "/api/users", readKey, nil), 200, "read key lists users")
			before := e.snapshot()
			r := e.do("POST", "/api/user", readKey, userBody("from_read"))
			e.expect(r, 403, "read key creating a user")
			if !strings.Contains(r.detail(), "scopes (read)") {
				t.Fatalf("detail %q", r.detail())
			}
			e.assertUnchanged(before, "refused write")

			// users scope: a user yes, a node no.
			e.expect(e.do("POST", "/api/user", usersKey, userBody("from_shop")), 200, "users key creating a user")
			e.expect(e.do("POST", "/api/node", usersKey, map[string]any{"name": "n1", "address": "10.0.0.1"}), 403, "users key creating a node")
			// A key never calls the account routes, not even with "all".
			e.expect(e.do("POST", "/api/admin/keys", allKey, map[string]any{"name": "x", "scopes": []string{"all"}}), 403, "key minting a key")
			e.expect(e.do("GET", "/api/admin/sessions", allKey, nil), 403, "key listing sessions")
			// Never more than the owner: alice's "all" key is no sudo.
			e.expect(e.do("GET", "/api/admins", allKey, nil), 403, "regular admin's key on a sudo route")
			e.expect(e.do("POST", "/api/user", allKey, userBody("alices")), 200, "alice's key creates her user")
			// A regular admin cannot ask for the admins scope.
			e.expect(e.do("POST", "/api/admin/keys", alice, map[string]any{"name": "x", "scopes": []string{"admins"}}), 400, "admins scope for a regular admin")
			for _, bad := range []map[string]any{
				{"name": "", "scopes": []string{"read"}},
				{"name": "x", "scopes": []string{}},
				{"name": "x", "scopes": []string{"root"}},
				{"name": "x", "scopes": []string{"read"}, "expires_at": e.clock.Now().Unix() - 1},
				{"name": "x", "scopes": []string{"read"}, "expires_at": model.MaxExpire + 1},
			} {
				if r := e.do("POST", "/api/admin/keys", alice, bad); r.status != 400 && r.status != 422 {
					t.Fatalf("bad key %v: %d %s", bad, r.status, r.body)
				}
			}

			// Last use: listed at once (this replica), written behind.
			// (Polled: on PostgreSQL e.snapshot copies the database, which
			// ends the pool's connections, so a flush may fail and go again.)
			var keys []model.APIKey
			for listed := time.Now().Add(5 * time.Second); ; {
				keys = nil
				e.do("GET", "/api/admin/keys", sudo, nil).decode(t, &keys)
				if len(keys) == 2 && keys[0].LastUsedAt != nil && keys[0].LastUsedIP != nil {
					break
				}
				if time.Now().After(listed) {
					t.Fatalf("keys %+v", keys)
				}
				time.Sleep(20 * time.Millisecond)
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				var stored []model.APIKey
				_ = e.db.Read(context.Background(), func(tx *store.Tx) error {
					var err error
					stored, err = tx.APIKeys(e.sudo.ID)
					return err
				})
				if len(stored) == 2 && stored[0].LastUsedAt != nil && stored[1].LastUsedAt != nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("last use never written: %+v", stored)
				}
				time.Sleep(20 * time.Millisecond)
			}

			// Revoked: 401.
			e.expect(e.do("DELETE", fmt.Sprintf("/api/admin/keys/%d", keys[0].ID), sudo, nil), 200, "revoke")
			e.expect(e.do("GET", "/api/users", readKey, nil), 401, "revoked key")
			e.expect(e.do("DELETE", fmt.Sprintf("/api/admin/keys/%d", keys[1].ID), alice, nil), 404, "revoking another admin's key")

			// Expired: 401.
			soon := e.createKey(alice, "short", []string{"read"}, e.clock.Now().Unix()+60)
			e.expect(e.do("GET", "/api/users", soon, nil), 200, "key before expiry")
			e.clock.Advance(time.Minute)
			r = e.do("GET", "/api/users", soon, nil)
			e.expect(r, 401, "expired key")
			if r.detail() != "API key expired" {
				t.Fatalf("detail %q", r.detail())
			}

			// The owner deleted: its keys die with it.
			e.expect(e.do("DELETE", "/api/admin/alice", sudo, nil), 200, "delete alice")
			e.expect(e.do("GET", "/api/users", allKey, nil), 401, "deleted owner's key")
		})
	}
}

// TestRouteScopes walks the route table: every admin and sudo route has an
// API key scope, and no route that changes anything is open to a read key.
func TestRouteScopes(t *testing.T) {
	// "all": the routes that hand out a backup (every secret of the panel).
	valid := map[string]bool{"read": true, "users": true, "nodes": true, "admins": true, "all": true, "account": true}
	seen := 0
	for _, r := range api.RouteScopes() {
		if r.Auth != "admin" && r.Auth != "sudo" {
			if r.Scope != "" {
				t.Errorf("%s (%s): a scope on a route keys never reach", r.Key, r.Auth)
			}
			continue
		}
		seen++
		if !valid[r.Scope] {
			t.Errorf("%s: no API key scope mapping (scope %q); add its area to scopeByArea or set Scope", r.Key, r.Scope)
		}
		if r.Method != "GET" && r.Scope == "read" {
			t.Errorf("%s: a mutating route open to read-only keys", r.Key)
		}
	}
	if seen < 40 {
		t.Fatalf("only %d authenticated routes walked", seen)
	}
	want := map[string]string{
		"POST /api/user": "users", "POST /api/users/bulk": "users", "POST /api/node": "nodes",
		"PUT /api/core/config": "nodes", "PUT /api/hosts": "nodes", "POST /api/admin": "admins",
		"GET /api/users": "read", "POST /api/admin/keys": "account", "DELETE /api/admin/sessions/:id": "account",
		"POST /api/system/backup": "all", "GET /api/system/backups/:name": "all", "GET /api/system/backups": "read",
	}
	for _, r := range api.RouteScopes() {
		if w, ok := want[r.Key]; ok && r.Scope != w {
			t.Errorf("%s: scope %q, want %q", r.Key, r.Scope, w)
		}
	}
}

func TestSessions(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			e := newEnvOn(t, engine.url(t))
			laptop := e.accessToken(e.loginOTP("alice", testPassword, ""))
			phone := e.accessToken(e.loginOTP("alice", testPassword, ""))
			tablet := e.accessToken(e.loginOTP("alice", testPassword, ""))
			e.accessToken(e.loginOTP("bob", testPassword, ""))

			var list []model.AdminSession
			e.do("GET", "/api/admin/sessions", laptop, nil).decode(t, &list)
			if len(list) != 3 || !list[2].Current || list[0].Current || list[0].UserAgent != "security-test/1.0" || list[0].Address == "" {
				t.Fatalf("sessions %+v", list)
			}
			// Ending the phone's session refuses its token at once.
			e.expect(e.do("DELETE", fmt.Sprintf("/api/admin/sessions/%d", list[1].ID), laptop, nil), 200, "end phone")
			r := e.do("GET", "/api/admin", phone, nil)
			e.expect(r, 401, "ended session's token")
			if r.detail() != "Session ended; sign in again" {
				t.Fatalf("detail %q", r.detail())
			}
			e.expect(e.do("GET", "/api/admin", laptop, nil), 200, "laptop still in")
			// Bob cannot end alice's sessions.
			bob := e.accessToken(e.loginOTP("bob", testPassword, ""))
			e.expect(e.do("DELETE", fmt.Sprintf("/api/admin/sessions/%d", list[0].ID), bob, nil), 404, "bob ending alice's session")
			e.expect(e.do("DELETE", "/api/admin/sessions/x", bob, nil), 422, "bad id")

			// Another replica (its own cache, the same database) sees an
			// ending within the cache's time.
			other := api.New(e.opts)
			e2 := *e
			e2.app = other
			e.expect(e2.do("GET", "/api/admin", tablet, nil), 200, "tablet on the other replica")
			e.expect(e.do("DELETE", fmt.Sprintf("/api/admin/sessions/%d", list[0].ID), laptop, nil), 200, "end tablet here")
			e.clock.Advance(3 * time.Second)
			e.expect(e2.do("GET", "/api/admin", tablet, nil), 401, "tablet on the other replica after the cache time")

			// Changing the password ends every other session; this one
			// gets a fresh token.
			phone2 := e.accessToken(e.loginOTP("alice", testPassword, ""))
			e.expect(e.do("POST", "/api/admin/password", laptop, map[string]any{"current_password": "nope!!", "new_password": "new password 1"}), 400, "wrong current password")
			r = e.do("POST", "/api/admin/password", laptop, map[string]any{"current_password": testPassword, "new_password": "new password 1"})
			newLaptop := e.accessToken(r)
			e.expect(e.do("GET", "/api/admin", phone2, nil), 401, "other session after the password change")
			e.expect(e.do("GET", "/api/admin", laptop, nil), 401, "old token of this session")
			e.expect(e.do("GET", "/api/admin", newLaptop, nil), 200, "new token of this session")
			e.do("GET", "/api/admin/sessions", newLaptop, nil).decode(t, &list)
			if len(list) != 1 || !list[0].Current {
				t.Fatalf("sessions after the password change %+v", list)
			}
			e.accessToken(e.loginOTP("alice", "new password 1", ""))
		})
	}
}
