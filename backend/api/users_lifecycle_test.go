package api_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
	"github.com/outpost-panel/outpost/backend/sub"
)

// lcUse records bytes for a user through a real usage batch of a new node.
func (e *env) lcUse(nodeName, username string, bytes int64) int64 {
	e.t.Helper()
	ctx := context.Background()
	n := &model.Node{Name: nodeName, Address: "127.0.0.1"}
	if _, err := e.st.CreateNode(ctx, n); err != nil {
		e.t.Fatal(err)
	}
	fence, _, err := e.db.NodeSessionStart(ctx, n.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	u, err := e.st.User(ctx, nil, username)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.db.ApplyUsage(ctx, n.ID, fence, 0, 1, e.clock.Now(), []store.UserTraffic{{UserID: u.ID, Down: bytes}}); err != nil {
		e.t.Fatal(err)
	}
	return n.ID
}

func (e *env) lcUser(name string) *model.User {
	e.t.Helper()
	u, err := e.st.User(context.Background(), nil, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

func TestLifecycleRoutesAuthorization(t *testing.T) {
	e := newEnv(t)
	e.createUser(e.alice, "alices")
	owner := []struct{ method, path string }{
		{"POST", "/api/user/alices/reset"},
		{"POST", "/api/user/alices/revoke_sub"},
		{"POST", "/api/user/alices/active-next"},
		{"GET", "/api/user/alices/usage"},
		{"GET", "/api/user/alices/usage/daily"},
	}
	sudoOnly := []struct{ method, path string }{
		{"PUT", "/api/user/alices/set-owner?admin_username=bob"},
		{"POST", "/api/users/reset"},
	}
	anyAdmin := []struct{ method, path string }{
		{"GET", "/api/users/usage"},
		{"GET", "/api/users/expired"},
		{"DELETE", "/api/users/expired"},
	}
	before := e.snapshot()
	for _, list := range [][]struct{ method, path string }{owner, sudoOnly, anyAdmin} {
		for _, r := range list {
			e.expect(e.do(r.method, r.path, "", nil), 401, "anonymous "+r.method+" "+r.path)
			e.expect(e.do(r.method, r.path, "not-a-token", nil), 401, "bad token "+r.method+" "+r.path)
		}
	}
	for _, list := range [][]struct{ method, path string }{owner, sudoOnly} {
		for _, r := range list {
			e.expect(e.do(r.method, r.path, e.token(e.bob), nil), 403, "foreign admin "+r.method+" "+r.path)
		}
	}
	for _, r := range sudoOnly {
		e.expect(e.do(r.method, r.path, e.token(e.alice), nil), 403, "owner on sudo route "+r.method+" "+r.path)
	}
	e.assertUnchanged(before, "refused lifecycle requests")

	// Bob sees none of alice's users through the listing routes.
	e.clock.Advance(time.Hour)
	e.do("PUT", "/api/user/alices", e.token(e.alice), map[string]any{"expire": e.clock.Now().Add(-time.Minute).Unix()})
	r := e.do("GET", "/api/users/expired", e.token(e.bob), nil)
	e.expect(r, 200, "bob's expired users")
	var names []string
	r.decode(t, &names)
	if len(names) != 0 {
		t.Fatalf("bob sees expired users %v", names)
	}
	e.expect(e.do("DELETE", "/api/users/expired", e.token(e.bob), nil), 404, "bob deletes alice's expired users")
	e.lcUse("edge", "alices", 500)
	r = e.do("GET", "/api/users/usage", e.token(e.bob), nil)
	e.expect(r, 200, "bob's users usage")
	var usage struct {
		Usages []map[string]any `json:"usages"`
	}
	r.decode(t, &usage)
	if len(usage.Usages) != 0 {
		t.Fatalf("bob sees usage of alice's users: %s", r.body)
	}
	// A regular admin's admin[] filter cannot widen its view.
	r = e.do("GET", "/api/users/usage?admin=alice", e.token(e.bob), nil)
	e.expect(r, 200, "bob's users usage naming alice")
	r.decode(t, &usage)
	if len(usage.Usages) != 0 {
		t.Fatalf("bob sees alice's usage through admin=alice: %s", r.body)
	}

	// The owner and sudo may.
	for _, tok := range []string{e.token(e.alice), e.token(e.sudo)} {
		e.expect(e.do("POST", "/api/user/alices/reset", tok, nil), 200, "reset")
		e.expect(e.do("POST", "/api/user/alices/revoke_sub", tok, nil), 200, "revoke")
		e.expect(e.do("GET", "/api/user/alices/usage", tok, nil), 200, "usage")
	}
	e.expect(e.do("POST", "/api/users/reset", e.token(e.sudo), nil), 200, "reset all")
	e.expect(e.do("PUT", "/api/user/alices/set-owner?admin_username=bob", e.token(e.sudo), nil), 200, "set owner")
	e.expect(e.do("GET", "/api/user/alices", e.token(e.bob), nil), 200, "new owner reads")
	e.expect(e.do("POST", "/api/user/alices/reset", e.token(e.alice), nil), 403, "former owner resets")
}

func TestLifecycleRoutesBadInput(t *testing.T) {
	e := newEnv(t)
	e.createUser(e.alice, "alices")
	sudo := e.token(e.sudo)
	cases := []struct {
		method, path string
		status       int
		detail       string
	}{
		{"POST", "/api/user/nobody/reset", 404, "User not found"},
		{"POST", "/api/user/nobody/revoke_sub", 404, "User not found"},
		{"POST", "/api/user/nobody/active-next", 404, "User not found"},
		{"POST", "/api/user/alices/active-next", 404, "User doesn't have next plan"},
		{"GET", "/api/user/nobody/usage", 404, "User not found"},
		{"PUT", "/api/user/nobody/set-owner?admin_username=bob", 404, "User not found"},
		{"PUT", "/api/user/alices/set-owner?admin_username=ghost", 404, "Admin not found"},
		{"PUT", "/api/user/alices/set-owner", 422, ""},
		{"GET", "/api/user/alices/usage?start=yesterday", 400, "Invalid date range or format"},
		{"GET", "/api/user/alices/usage?start=2026-13-01T00:00:00", 400, "Invalid date range or format"},
		{"GET", "/api/user/alices/usage?start=2026-11-20T00:00:00&end=2026-11-10T00:00:00", 400, "Invalid date range or format"},
		{"GET", "/api/users/usage?end=soon", 400, "Invalid date range or format"},
		{"GET", "/api/users/expired?expired_after=1e9", 400, "Invalid date range or format"},
		{"DELETE", "/api/users/expired?expired_before=" + url.QueryEscape("2026-11-26 25:00:00"), 400, "Invalid date range or format"},
		{"DELETE", "/api/users/expired?expired_after=2026-11-25T00:00:00&expired_before=2026-11-24T00:00:00", 400, "Invalid date range or format"},
	}
	before := e.snapshot()
	for _, c := range cases {
		r := e.do(c.method, c.path, sudo, nil)
		e.expect(r, c.status, c.method+" "+c.path)
		if c.detail != "" && r.detail() != c.detail {
			t.Errorf("%s %s: detail %q, want %q", c.method, c.path, r.detail(), c.detail)
		}
	}
	e.assertUnchanged(before, "bad lifecycle requests")
}

func TestLifecycleRoutes(t *testing.T) {
	e := newEnv(t)
	alice := e.token(e.alice)
	sudo := e.token(e.sudo)
	created := e.createUser(e.alice, "alices")
	e.createUser(e.bob, "bobs")

	// Usage per node over a range, then a reset that keeps lifetime usage.
	nodeID := e.lcUse("edge", "alices", 3000)
	e.lcUse("edge2", "bobs", 700)
	r := e.do("GET", "/api/user/alices/usage", alice, nil)
	e.expect(r, 200, "user usage")
	var usage struct {
		Username string `json:"username"`
		Usages   []struct {
			NodeID      *int64 `json:"node_id"`
			NodeName    string `json:"node_name"`
			UsedTraffic int64  `json:"used_traffic"`
		} `json:"usages"`
	}
	r.decode(t, &usage)
	if usage.Username != "alices" || len(usage.Usages) != 1 || usage.Usages[0].NodeID == nil ||
		*usage.Usages[0].NodeID != nodeID || usage.Usages[0].NodeName != "edge" || usage.Usages[0].UsedTraffic != 3000 {
		t.Fatalf("user usage: %s", r.body)
	}
	past := url.QueryEscape(e.clock.Now().Add(-72 * time.Hour).Format("2006-01-02T15:04:05"))
	r = e.do("GET", "/api/user/alices/usage?start="+past+"&end="+past, alice, nil)
	e.expect(r, 200, "usage of an empty range")
	r.decode(t, &usage)
	if len(usage.Usages) != 0 {
		t.Fatalf("usage of an empty range: %s", r.body)
	}
	r = e.do("GET", "/api/users/usage?admin=bob", sudo, nil)
	e.expect(r, 200, "users usage of bob")
	r.decode(t, &usage)
	if len(usage.Usages) != 1 || usage.Usages[0].UsedTraffic != 700 {
		t.Fatalf("users usage of bob: %s", r.body)
	}

	r = e.do("POST", "/api/user/alices/reset", alice, nil)
	e.expect(r, 200, "reset")
	var u map[string]any
	r.decode(t, &u)
	if u["used_traffic"] != float64(0) || u["lifetime_used_traffic"] != float64(3000) {
		t.Fatalf("after reset: used %v lifetime %v", u["used_traffic"], u["lifetime_used_traffic"])
	}

	// revoke_sub: new credentials, and the old subscription token is dead.
	oldURL := created["subscription_url"].(string)
	r = e.do("POST", "/api/user/alices/revoke_sub", alice, nil)
	e.expect(r, 200, "revoke")
	r.decode(t, &u)
	oldProxies := created["proxies"].(map[string]any)
	newProxies := u["proxies"].(map[string]any)
	if oldProxies["vless"].(map[string]any)["id"] == newProxies["vless"].(map[string]any)["id"] ||
		oldProxies["trojan"].(map[string]any)["password"] == newProxies["trojan"].(map[string]any)["password"] {
		t.Fatalf("credentials unchanged: %v -> %v", oldProxies, newProxies)
	}
	stored := e.lcUser("alices")
	for _, c := range []struct {
		url  string
		good bool
	}{{oldURL, false}, {u["subscription_url"].(string), true}} {
		tok := c.url[strings.LastIndex(c.url, "/")+1:]
		parsed, err := sub.ReadToken(tok, e.secrets.Subscription)
		if err != nil || parsed.Username != "alices" {
			t.Fatalf("token %q: %q %v", tok, parsed.Username, err)
		}
		if got := parsed.ValidFor(e.secrets.Subscription, stored.ID, stored.CreatedAt, stored.SubRevokedAt); got != c.good {
			t.Errorf("token from %s valid = %v, want %v", c.url, got, c.good)
		}
	}

	// active-next applies the plan now; remaining traffic is added.
	e.expect(e.do("PUT", "/api/user/alices", alice, map[string]any{
		"data_limit": 10000,
		"next_plan":  map[string]any{"data_limit": 5000, "expire": 86400, "add_remaining_traffic": true, "fire_on_either": true},
	}), 200, "set next plan")
	e.lcUse("edge3", "alices", 1000)
	r = e.do("POST", "/api/user/alices/active-next", alice, nil)
	e.expect(r, 200, "active-next")
	r.decode(t, &u)
	if u["data_limit"] != float64(5000+9000) || u["expire"] != float64(e.clock.Now().Unix()+86400) ||
		u["next_plan"] != nil || u["used_traffic"] != float64(0) || u["status"] != "active" {
		t.Fatalf("after active-next: %s", r.body)
	}

	// set-owner moves the user to bob.
	r = e.do("PUT", "/api/user/alices/set-owner?admin_username=bob", sudo, nil)
	e.expect(r, 200, "set-owner")
	r.decode(t, &u)
	if u["admin"].(map[string]any)["username"] != "bob" {
		t.Fatalf("owner after set-owner: %v", u["admin"])
	}

	// Reset all keeps lifetime usage.
	e.expect(e.do("POST", "/api/users/reset", sudo, nil), 200, "reset all")
	for name, lifetime := range map[string]int64{"alices": 4000, "bobs": 700} {
		got := e.lcUser(name)
		if got.UsedTraffic != 0 || got.LifetimeUsedTraffic != lifetime {
			t.Errorf("%s after reset all: used %d lifetime %d", name, got.UsedTraffic, got.LifetimeUsedTraffic)
		}
	}

	// Expired users: listed, then deleted.
	e.expect(e.do("PUT", "/api/user/bobs", sudo, map[string]any{"expire": e.clock.Now().Add(-2 * time.Hour).Unix()}), 200, "expire bobs")
	r = e.do("GET", "/api/users/expired", sudo, nil)
	e.expect(r, 200, "expired users")
	var names []string
	r.decode(t, &names)
	if len(names) != 1 || names[0] != "bobs" {
		t.Fatalf("expired users: %s", r.body)
	}
	after := url.QueryEscape(e.clock.Now().Add(-time.Hour).Format("2006-01-02T15:04:05"))
	e.expect(e.do("DELETE", "/api/users/expired?expired_after="+after, sudo, nil), 404, "none expired in the last hour")
	r = e.do("DELETE", "/api/users/expired", sudo, nil)
	e.expect(r, 200, "delete expired users")
	r.decode(t, &names)
	if len(names) != 1 || names[0] != "bobs" {
		t.Fatalf("deleted: %s", r.body)
	}
	e.expect(e.do("GET", "/api/user/bobs", sudo, nil), 404, "deleted user")
	e.expect(e.do("GET", "/api/user/alices", sudo, nil), 200, "active user kept")
}

// POST /api/users/reset queues, in its transaction, the data_usage_reset
// webhook event of every user it resets, by the admin who asked: what a
// reset of each user would send.
func TestResetAllQueuesEachUsersWebhook(t *testing.T) {
	e := newEnv(t)
	e.st.SetWebhookAddresses([]string{"http://127.0.0.1:9/hook"})
	e.createUser(e.alice, "first")
	e.createUser(e.bob, "second")
	var queued []store.WebhookRow
	claim := func() {
		queued = nil
		if err := e.db.Tx(context.Background(), func(tx *store.Tx) (err error) {
			queued, err = tx.ClaimWebhooks(e.clock.Now(), time.Hour, 100)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	claim() // the user_created events
	e.expect(e.do("POST", "/api/users/reset", e.token(e.sudo), nil), 200, "reset all")
	claim()
	got := map[string]string{}
	for _, r := range queued {
		var n struct {
			Action   string `json:"action"`
			Username string `json:"username"`
			By       struct {
				Username string `json:"username"`
			} `json:"by"`
		}
		if err := json.Unmarshal(r.Payload, &n); err != nil {
			t.Fatal(err)
		}
		got[n.Username] = n.Action + " by " + n.By.Username
	}
	want := "data_usage_reset by " + e.sudo.Username
	if len(got) != 2 || got["first"] != want || got["second"] != want {
		t.Fatalf("queued %v, want %q for first and second", got, want)
	}
}

// GET /api/user/{username}/usage/daily sums a user's traffic over every
// node per UTC day; days without traffic are left out and the range is
// honoured.
func TestUserUsageDaily(t *testing.T) {
	e := newEnv(t)
	e.createUser(e.alice, "dailyu")
	day1 := e.clock.Now().UTC()
	e.lcUse("edge-a", "dailyu", 1000)
	e.lcUse("edge-b", "dailyu", 500)
	e.clock.Advance(48 * time.Hour)
	e.lcUse("edge-c", "dailyu", 70)
	start := day1.Add(-time.Hour).Format("2006-01-02T15:04:05")
	r := e.do("GET", "/api/user/dailyu/usage/daily?start="+start, e.token(e.alice), nil)
	e.expect(r, 200, "daily usage")
	var got struct {
		Username string `json:"username"`
		Days     []struct {
			Date string `json:"date"`
			Used int64  `json:"used_traffic"`
		} `json:"days"`
	}
	r.decode(t, &got)
	d1, d3 := day1.Format("2006-01-02"), day1.Add(48*time.Hour).Format("2006-01-02")
	if got.Username != "dailyu" || len(got.Days) != 2 || got.Days[0].Date != d1 || got.Days[0].Used != 1500 ||
		got.Days[1].Date != d3 || got.Days[1].Used != 70 {
		t.Fatalf("daily usage %s; want %s 1500 and %s 70", r.body, d1, d3)
	}
	// A range that ends before the third day leaves it out.
	end := day1.Add(24 * time.Hour).Format("2006-01-02T15:04:05")
	r = e.do("GET", "/api/user/dailyu/usage/daily?start="+start+"&end="+end, e.token(e.alice), nil)
	e.expect(r, 200, "daily usage, bounded")
	r.decode(t, &got)
	if len(got.Days) != 1 || got.Days[0].Used != 1500 {
		t.Fatalf("bounded daily usage %s", r.body)
	}
	e.expect(e.do("GET", "/api/user/dailyu/usage/daily?start=yesterday", e.token(e.alice), nil), 400, "bad start")
	e.expect(e.do("GET", "/api/user/nobody/usage/daily", e.token(e.alice), nil), 404, "unknown user")
}

func TestUserResets(t *testing.T) {
	e := newEnv(t)
	e.createUser(e.alice, "resetme")
	alice := e.token(e.alice)
	type resets struct {
		Username string `json:"username"`
		Resets   []struct {
			Used    int64  `json:"used_traffic_at_reset"`
			ResetAt string `json:"reset_at"`
		} `json:"resets"`
		Total int `json:"total"`
	}
	get := func(query string) resets {
		t.Helper()
		r := e.do("GET", "/api/user/resetme/resets"+query, alice, nil)
		e.expect(r, 200, "resets"+query)
		var out resets
		r.decode(t, &out)
		return out
	}
	if r := get(""); r.Total != 0 || r.Resets == nil || len(r.Resets) != 0 || r.Username != "resetme" {
		t.Fatalf("before any reset: %+v", r)
	}

	e.lcUse("n1", "resetme", 1000)
	e.expect(e.do("POST", "/api/user/resetme/reset", alice, nil), 200, "first reset")
	e.clock.Advance(time.Hour)
	alice = e.token(e.alice) // the first token expired with the hour
	e.lcUse("n2", "resetme", 2000)
	e.expect(e.do("POST", "/api/user/resetme/reset", alice, nil), 200, "second reset")

	all := get("")
	if all.Total != 2 || len(all.Resets) != 2 || all.Resets[0].Used != 2000 || all.Resets[1].Used != 1000 {
		t.Fatalf("newest first: %+v", all)
	}
	if all.Resets[0].ResetAt <= all.Resets[1].ResetAt {
		t.Errorf("reset times not newest first: %+v", all.Resets)
	}
	if p := get("?offset=1&limit=1"); p.Total != 2 || len(p.Resets) != 1 || p.Resets[0].Used != 1000 {
		t.Errorf("second page: %+v", p)
	}
	if p := get("?offset=5"); p.Total != 2 || len(p.Resets) != 0 {
		t.Errorf("past the end: %+v", p)
	}

	// Owner rules as the sibling routes: a foreign admin is refused, sudo sees it.
	e.expect(e.do("GET", "/api/user/resetme/resets", e.token(e.bob), nil), 403, "foreign admin")
	e.expect(e.do("GET", "/api/user/resetme/resets", e.token(e.sudo), nil), 200, "sudo")
	e.expect(e.do("GET", "/api/user/nobody/resets", alice, nil), 404, "unknown user")
	e.expect(e.do("GET", "/api/user/resetme/resets", "", nil), 401, "anonymous")
	e.expect(e.do("GET", "/api/user/resetme/resets?limit=5000", alice, nil), 422, "limit too big")
	e.expect(e.do("GET", "/api/user/resetme/resets?offset=-1", alice, nil), 422, "negative offset")
	e.expect(e.do("GET", "/api/user/resetme/resets?limit=x", alice, nil), 422, "limit not a number")
}
