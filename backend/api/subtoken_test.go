package api_test

import (
	"strings"
	"testing"
	"time"
)

// Issue 9, item 9: a subscription link minted for a user must not open the
// subscription of a later user of the same name, whether it is re-created
// a minute later or within the same second.
func TestSubscriptionTokenDiesWithItsUser(t *testing.T) {
	for _, tc := range []struct {
		name string
		gap  time.Duration // between minting and re-creating
	}{
		{"re-created later", time.Minute},
		{"re-created in the same second", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tok := e.token(e.alice)
			u := e.createUser(e.alice, "again")
			oldURL := u["subscription_url"].(string)
			oldPath := oldURL[strings.Index(oldURL, "/sub/"):]
			e.expect(e.fetchSubscription(oldPath, "v2rayN/6.30"), 200, "the link of the first user")

			e.clock.Advance(tc.gap)
			e.expect(e.do("DELETE", "/api/user/again", tok, nil), 200, "delete")
			e.expect(e.fetchSubscription(oldPath, "v2rayN/6.30"), 404, "the link once its user is gone")
			u = e.createUser(e.alice, "again")
			for _, p := range []string{"", "/info", "/usage", "/v2ray"} {
				e.expect(e.fetchSubscription(oldPath+p, "v2rayN/6.30"), 404, "the old link on the re-created user: "+p)
			}
			newURL := u["subscription_url"].(string)
			e.expect(e.fetchSubscription(newURL[strings.Index(newURL, "/sub/"):], "v2rayN/6.30"), 200, "the new user's own link")
		})
	}
}
