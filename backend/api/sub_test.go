package api_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/state"
	"github.com/outpost-panel/outpost/backend/sub"
)

func (e *env) fetchSubscription(path, userAgent string) *response {
	e.t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	if userAgent != "" {
		req.Header.Set("User-Agent", userAgent)
	}
	return e.send(req)
}

func TestSubscription(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	limit, expire := int64(10<<30), e.clock.Now().Add(30*24*time.Hour).Unix()
	u := e.createUser(e.alice, "subber")
	if _, err := e.st.ModifyUser(ctx, nil, "subber", state.UserInput{DataLimit: &limit, Expire: &expire}); err != nil {
		t.Fatal(err)
	}
	subURL := u["subscription_url"].(string)
	path := strings.TrimPrefix(subURL, "http://example.com")

	r := e.fetchSubscription(path, "v2rayN/6.30")
	e.expect(r, 200, "subscription")
	for h, want := range map[string]string{
		"Subscription-Userinfo":   fmt.Sprintf("upload=0; download=0; total=%d; expire=%d", limit, expire),
		"Profile-Update-Interval": "12",
		"Content-Disposition":     `attachment; filename="subber"`,
		"Profile-Title":           "base64:" + base64.StdEncoding.EncodeToString([]byte("subber")),
	} {
		if got := r.header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("content type %q", ct)
	}
	decoded, err := base64.StdEncoding.DecodeString(string(r.body))
	if err != nil {
		t.Fatalf("body is not base64: %v", err)
	}
	links := strings.Split(string(decoded), "\n")
	if fmt.Sprint(links) != fmt.Sprint(u["links"]) {
		t.Errorf("subscription links %v, want the user's links %v", links, u["links"])
	}

	// The fetch is recorded, as Marzban does.
	r = e.do("GET", "/api/user/subber", e.token(e.alice), nil)
	var after map[string]any
	r.decode(t, &after)
	if after["sub_last_user_agent"] != "v2rayN/6.30" || after["sub_updated_at"] != "2026-11-26T01:02:03" {
		t.Errorf("after fetch: sub_last_user_agent %v, sub_updated_at %v", after["sub_last_user_agent"], after["sub_updated_at"])
	}

	// Unlimited and never-expiring users report zeros.
	zero := int64(0)
	if _, err := e.st.ModifyUser(ctx, nil, "subber", state.UserInput{DataLimit: &zero, Expire: &zero}); err != nil {
		t.Fatal(err)
	}
	r = e.fetchSubscription(path, "")
	if got := r.header.Get("Subscription-Userinfo"); got != "upload=0; download=0; total=0; expire=0" {
		t.Errorf("unlimited userinfo %q", got)
	}
}

func TestSubscriptionRefusals(t *testing.T) {
	e := newEnv(t)
	e.clock.Advance(time.Hour)
	u := e.createUser(e.alice, "subber")
	good := u["subscription_url"].(string)[len("http://example.com/sub/"):]
	secret := e.secrets.Subscription
	e.createUser(e.alice, "gone")
	goneToken := sub.MakeToken("gone", e.clock.Now(), secret)
	e.expect(e.do("DELETE", "/api/user/gone", e.token(e.alice), nil), 200, "delete gone")

	for name, tok := range map[string]string{
		"tampered signature":  good[:len(good)-1] + flip(good[len(good)-1]),
		"other secret":        sub.MakeToken("subber", e.clock.Now(), "another-secret"),
		"unknown user":        sub.MakeToken("nobody", e.clock.Now(), secret),
		"deleted user":        goneToken,
		"older than the user": sub.MakeToken("subber", e.clock.Now().Add(-time.Hour), secret),
		"garbage":             "abc",
		"path traversal":      "..%2F..%2Fapi%2Fusers",
	} {
		before := e.snapshot()
		r := e.fetchSubscription("/sub/"+tok, "")
		e.expect(r, 404, name)
		if r.detail() != "Not Found" {
			t.Errorf("%s: detail %q", name, r.detail())
		}
		e.assertUnchanged(before, name)
	}
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}
