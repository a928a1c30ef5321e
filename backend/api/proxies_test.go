package api_test

import (
	"encoding/base64"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/outpost-panel/outpost/backend/api"
)

// X-Forwarded-Host/Proto shape subscription_url and the share links only
// when a trusted proxy sends them (issue 9, item 3). httptest requests come
// from 0.0.0.0 and are addressed to example.com.
func TestForwardedHostNeedsATrustedProxy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted []string
		host    string // in subscription_url and links
		scheme  string
	}{
		{"no trusted proxies", nil, "example.com", "http"},
		{"another proxy trusted", []string{"10.0.0.0/8"}, "example.com", "http"},
		{"the peer is a trusted proxy", []string{"0.0.0.0/32"}, "evil.example", "https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(o *api.Options) { o.TrustedProxies = tc.trusted })
			e.createUser(e.alice, "fwd_user")
			forwarded := func(path, token string) *response {
				req := httptest.NewRequest("GET", path, nil)
				req.Header.Set("X-Forwarded-Host", "evil.example")
				req.Header.Set("X-Forwarded-Proto", "https")
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				return e.send(req)
			}
			r := forwarded("/api/user/fwd_user", e.token(e.alice))
			e.expect(r, 200, "get user")
			var u map[string]any
			r.decode(t, &u)
			subURL, _ := u["subscription_url"].(string)
			if want := tc.scheme + "://" + tc.host + "/sub/"; !strings.HasPrefix(subURL, want) {
				t.Fatalf("subscription_url %q, want it under %s", subURL, want)
			}
			links, _ := u["links"].([]any)
			if len(links) == 0 {
				t.Fatalf("no links: %s", r.body)
			}
			for _, l := range links {
				if !strings.Contains(l.(string), "@"+tc.host+":") {
					t.Errorf("user link %q does not use %s", l, tc.host)
				}
			}
			// The subscription itself, fetched through the same headers.
			r = forwarded(subURL[strings.Index(subURL, "/sub/"):], "")
			e.expect(r, 200, "subscription")
			body, err := base64.StdEncoding.DecodeString(string(r.body))
			if err != nil {
				t.Fatalf("subscription body: %v", err)
			}
			for _, l := range strings.Split(string(body), "\n") {
				if !strings.Contains(l, "@"+tc.host+":") {
					t.Errorf("subscription link %q does not use %s", l, tc.host)
				}
			}
		})
	}
}
