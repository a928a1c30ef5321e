package api_test

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/api"
	"github.com/outpost-panel/outpost/backend/auth"
)

// loginFrom posts the login form from address addr, with otp when not "".
func (e *env) loginFrom(username, password, otp, addr string) *response {
	e.t.Helper()
	form := url.Values{"username": {username}, "password": {password}}
	if otp != "" {
		form.Set("otp", otp)
	}
	req := httptest.NewRequest("POST", "/api/admin/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", addr)
	return e.send(req)
}

// Guesses at one admin name from many addresses (each under its own
// address limits) slow that name down: after 20 free failures each one
// blocks the name for twice as long as the last, up to a minute, with 429
// and Retry-After before the password is looked at. Other names are not
// touched and a success forgets the count.
func TestLoginSlowdownPerName(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.TrustedProxies = []string{"0.0.0.0"} })
	n := 0
	addr := func() string { n++; return fmt.Sprintf("10.%d.%d.1", n/250, n%250) }
	for i := range 20 {
		e.expect(e.loginFrom("alice", "wrong", "", addr()), 401, fmt.Sprintf("free failure %d", i+1))
	}
	want := time.Second
	for want < time.Minute {
		e.expect(e.loginFrom("alice", "wrong", "", addr()), 401, "failure past the free ones")
		r := e.loginFrom("alice", testPassword, "", addr())
		e.expect(r, 429, "right password while the name is blocked")
		if got := r.header.Get("Retry-After"); got != fmt.Sprint(int(want.Seconds())) {
			t.Fatalf("Retry-After %q, want %v", got, want)
		}
		if !strings.Contains(r.detail(), "failed sign-ins for this username") {
			t.Fatalf("refusal detail %q", r.detail())
		}
		e.expect(e.loginFrom("bob", testPassword, "", addr()), 200, "another name while alice is blocked")
		e.clock.Advance(want)
		want *= 2
	}
	// The ceiling: one more failure blocks for a minute, not longer.
	e.expect(e.loginFrom("alice", "wrong", "", addr()), 401, "failure at the ceiling")
	r := e.loginFrom("alice", "wrong", "", addr())
	e.expect(r, 429, "blocked at the ceiling")
	if got := r.header.Get("Retry-After"); got != "60" {
		t.Fatalf("Retry-After at the ceiling %q, want 60", got)
	}
	e.clock.Advance(time.Minute)
	e.expect(e.loginFrom("alice", testPassword, "", addr()), 200, "right password after the block")
	// The success forgot the count: the next failures are free again.
	for i := range 20 {
		e.expect(e.loginFrom("alice", "wrong", "", addr()), 401, fmt.Sprintf("free again %d", i+1))
	}
}

// A blocked name is still checked for an admin with two-factor sign-in
// when the form carries a code: an attacker keeping the name blocked
// cannot lock such an admin out. Without the second factor on, a code in
// the form does not get past the block.
func TestLoginSlowdownLetsTwoFactorThrough(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.TrustedProxies = []string{"0.0.0.0"} })
	tok := e.accessToken(e.loginFrom("alice", testPassword, "", "192.0.2.1"))
	secret, _ := e.enrolTOTP(tok)
	n := 0
	addr := func() string { n++; return fmt.Sprintf("10.%d.%d.1", n/250, n%250) }
	for range 21 {
		e.expect(e.loginFrom("alice", "wrong", "", addr()), 401, "guess at alice")
		e.expect(e.loginFrom("bob", "wrong", "", addr()), 401, "guess at bob")
	}
	e.expect(e.loginFrom("alice", testPassword, "", addr()), 429, "alice without a code, blocked")
	e.expect(e.loginFrom("bob", testPassword, "123456", addr()), 429, "bob (no second factor) with a code, blocked")
	e.clock.Advance(auth.TOTPPeriod)
	code, err := auth.TOTPCode(secret, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Advancing a TOTP period ended the 1s blocks; block again.
	e.expect(e.loginFrom("alice", "wrong", "", addr()), 401, "guess at alice")
	e.expect(e.loginFrom("alice", testPassword, "", addr()), 429, "alice blocked again")
	e.accessToken(e.loginFrom("alice", testPassword, code, addr()))
}
