package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"
)

// The client in this file is written from Marzban's API as documented in
// REFERENCE.md sections 1-2 only: plain maps and small local structs, no
// Outpost type. A bot or shop script written against Marzban 0.8 does what
// it does here; if this test needs Outpost knowledge to pass, compatibility
// is broken.

// mzClient is a Marzban API client.
type mzClient struct {
	t     *testing.T
	base  string
	token string
	http  *http.Client
}

// mzLogin logs in with the OAuth2 password form, as Marzban clients do.
func mzLogin(t *testing.T, base, username, password string) *mzClient {
	t.Helper()
	c := &mzClient{t: t, base: base, http: &http.Client{Timeout: 30 * time.Second}}
	form := url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}}
	req, err := http.NewRequest("POST", base+"/api/admin/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	status, body := c.send(req)
	if status != 200 {
		t.Fatalf("login: HTTP %d %s", status, body)
	}
	var tok map[string]any
	if err := json.Unmarshal(body, &tok); err != nil {
		t.Fatalf("login: %q: %v", body, err)
	}
	access, ok := tok["access_token"].(string)
	if !ok || access == "" {
		t.Fatalf("login: no access_token string in %s", body)
	}
	if tok["token_type"] != "bearer" {
		t.Errorf("login: token_type = %v, want \"bearer\"", tok["token_type"])
	}
	c.token = access
	return c
}

func (c *mzClient) send(req *http.Request) (int, []byte) {
	c.t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return resp.StatusCode, body
}

// do sends a JSON request and returns the status and raw body.
func (c *mzClient) do(method, path string, body any) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return c.send(req)
}

// must sends a request that has to answer 200 and decodes the body into out.
func (c *mzClient) must(method, path string, body, out any) {
	c.t.Helper()
	status, raw := c.do(method, path, body)
	if status != 200 {
		c.t.Fatalf("%s %s: HTTP %d %s", method, path, status, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: decoding %s: %v", method, path, raw, err)
		}
	}
}

// mustFail sends a request that has to answer status with a {"detail"}
// string, as Marzban's errors are.
func (c *mzClient) mustFail(method, path string, body any, status int) {
	c.t.Helper()
	got, raw := c.do(method, path, body)
	// Marzban answers bad input with FastAPI's 422 from its models and 400
	// from its own checks; scripts branch on the code, so it must match.
	if got != status {
		c.t.Fatalf("%s %s: HTTP %d %s, want %d", method, path, got, raw, status)
	}
	var e map[string]any
	if err := json.Unmarshal(raw, &e); err != nil {
		c.t.Fatalf("%s %s: error body %q is not JSON: %v", method, path, raw, err)
	}
	if _, ok := e["detail"]; !ok {
		c.t.Errorf("%s %s: error body %s has no detail", method, path, raw)
	}
}

type mzUser = map[string]any

// JSON kinds as encoding/json decodes them into any.
const (
	jNull   = "null"
	jString = "string"
	jNumber = "number"
	jBool   = "bool"
	jObject = "object"
	jArray  = "array"
)

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return jNull
	case string:
		return jString
	case float64:
		return jNumber
	case bool:
		return jBool
	case map[string]any:
		return jObject
	case []any:
		return jArray
	}
	return fmt.Sprintf("%T", v)
}

// checkUserShape asserts that u carries every field of Marzban's
// UserResponse with the JSON type Marzban gives it. kinds overrides the
// expected kind of nullable fields for this user.
func checkUserShape(t *testing.T, what string, u mzUser, kinds map[string]string) {
	t.Helper()
	want := map[string]string{
		"username":                  jString,
		"proxies":                   jObject,
		"inbounds":                  jObject,
		"excluded_inbounds":         jObject,
		"expire":                    jNull,
		"data_limit":                jNull,
		"data_limit_reset_strategy": jString,
		"status":                    jString,
		"used_traffic":              jNumber,
		"lifetime_used_traffic":     jNumber,
		"created_at":                jString,
		"note":                      jString,
		"sub_updated_at":            jNull,
		"sub_last_user_agent":       jNull,
		"online_at":                 jNull,
		"on_hold_expire_duration":   jNull,
		"on_hold_timeout":           jNull,
		"auto_delete_in_days":       jNull,
		"next_plan":                 jNull,
		"links":                     jArray,
		"subscription_url":          jString,
	}
	for k, v := range kinds {
		want[k] = v
	}
	// admin is null for users of an admin that is not in the database (the
	// SUDO_USERNAME one), as in Marzban, and an object otherwise.
	if v, ok := u["admin"]; !ok {
		t.Errorf("%s: field \"admin\" missing", what)
	} else if k := jsonKind(v); k != jNull && k != jObject {
		t.Errorf("%s: admin = %v is JSON %s, want null or an object", what, v, k)
	}
	for field, kind := range want {
		v, ok := u[field]
		if !ok {
			t.Errorf("%s: field %q missing", what, field)
			continue
		}
		if got := jsonKind(v); got != kind {
			t.Errorf("%s: %q = %v is JSON %s, want %s", what, field, v, got, kind)
		}
	}
	if a, ok := u["admin"].(map[string]any); ok {
		for field, kind := range map[string]string{"username": jString, "is_sudo": jBool, "users_usage": jNumber} {
			if got := jsonKind(a[field]); got != kind {
				t.Errorf("%s: admin.%s = %v is JSON %s, want %s", what, field, a[field], got, kind)
			}
		}
		for field := range a {
			if strings.Contains(field, "password") {
				t.Errorf("%s: admin carries %q", what, field)
			}
		}
	}
	if s, ok := u["created_at"].(string); ok {
		if _, err := time.Parse("2006-01-02T15:04:05", strings.SplitN(s, ".", 2)[0]); err != nil {
			t.Errorf("%s: created_at %q is not an ISO date time: %v", what, s, err)
		}
	}
}

func num(t *testing.T, u mzUser, field string) int64 {
	t.Helper()
	f, ok := u[field].(float64)
	if !ok {
		t.Fatalf("%q = %v (%T), want a number", field, u[field], u[field])
	}
	return int64(f)
}

// listPage is Marzban's GET /api/users answer.
type listPage struct {
	Users []mzUser `json:"users"`
	Total *int64   `json:"total"`
}

func names(users []mzUser) []string {
	out := make([]string, 0, len(users))
	for _, u := range users {
		s, _ := u["username"].(string)
		out = append(out, s)
	}
	return out
}

func (c *mzClient) list(query string) listPage {
	c.t.Helper()
	var raw map[string]json.RawMessage
	c.must("GET", "/api/users?"+query, nil, &raw)
	for _, k := range []string{"users", "total"} {
		if _, ok := raw[k]; !ok {
			c.t.Fatalf("GET /api/users?%s: no %q key", query, k)
		}
	}
	var p listPage
	data, _ := json.Marshal(raw)
	if err := json.Unmarshal(data, &p); err != nil || p.Total == nil {
		c.t.Fatalf("GET /api/users?%s: %s: users must be a list and total a number (%v)", query, data, err)
	}
	return p
}

func TestMarzbanCompatibility(t *testing.T) {
	p := startPanel(t, t.TempDir(), "")
	c := mzLogin(t, p.url(), sudoUser, sudoPass)

	// Wrong password: 401 with a detail, as Marzban.
	{
		anon := &mzClient{t: t, base: p.url(), http: c.http}
		form := url.Values{"username": {sudoUser}, "password": {"wrong"}}
		req, _ := http.NewRequest("POST", p.url()+"/api/admin/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if status, body := anon.send(req); status != 401 {
			t.Errorf("login with a wrong password: HTTP %d %s, want 401", status, body)
		}
		anon.mustFail("GET", "/api/users", nil, 401)
	}

	var me map[string]any
	c.must("GET", "/api/admin", nil, &me)
	if me["username"] != sudoUser || me["is_sudo"] != true {
		t.Errorf("GET /api/admin = %v, want the sudo admin", me)
	}

	// Inbounds are grouped by protocol; a user may be limited to some tags.
	var inbounds map[string][]map[string]any
	c.must("GET", "/api/inbounds", nil, &inbounds)
	vlessTags := []string{}
	for _, ib := range inbounds["vless"] {
		if tag, ok := ib["tag"].(string); ok {
			vlessTags = append(vlessTags, tag)
		}
	}

	now := time.Now().Unix()
	created := map[string]mzUser{}
	create := func(body map[string]any) mzUser {
		t.Helper()
		var u mzUser
		c.must("POST", "/api/user", body, &u)
		created[body["username"].(string)] = u
		return u
	}

	// A limited user with everything set.
	fullBody := map[string]any{
		"username":                  "shop_full",
		"proxies":                   map[string]any{"vless": map[string]any{"flow": ""}, "trojan": map[string]any{}},
		"expire":                    now + 30*86400,
		"data_limit":                10 << 30,
		"data_limit_reset_strategy": "month",
		"note":                      "paid order 1001",
		"status":                    "active",
	}
	if len(vlessTags) > 0 {
		fullBody["inbounds"] = map[string]any{"vless": vlessTags[:1]}
	}
	full := create(fullBody)
	checkUserShape(t, "created shop_full", full, map[string]string{"expire": jNumber, "data_limit": jNumber})
	if num(t, full, "expire") != now+30*86400 || num(t, full, "data_limit") != 10<<30 {
		t.Errorf("shop_full: expire %v data_limit %v, want what was sent", full["expire"], full["data_limit"])
	}
	if full["data_limit_reset_strategy"] != "month" || full["note"] != "paid order 1001" || full["status"] != "active" {
		t.Errorf("shop_full: strategy %v note %v status %v", full["data_limit_reset_strategy"], full["note"], full["status"])
	}
	proxies, _ := full["proxies"].(map[string]any)
	vless, _ := proxies["vless"].(map[string]any)
	trojan, _ := proxies["trojan"].(map[string]any)
	if id, _ := vless["id"].(string); len(id) != 36 {
		t.Errorf("shop_full: generated vless id %v is not a UUID", vless["id"])
	}
	if pw, _ := trojan["password"].(string); pw == "" {
		t.Errorf("shop_full: no generated trojan password: %v", trojan)
	}
	if _, ok := proxies["vmess"]; ok {
		t.Errorf("shop_full: proxies %v has a protocol that was not asked for", proxies)
	}
	if len(vlessTags) > 0 {
		ib, _ := full["inbounds"].(map[string]any)
		if got, _ := ib["vless"].([]any); len(got) != 1 || got[0] != vlessTags[0] {
			t.Errorf("shop_full: inbounds %v, want vless [%s]", full["inbounds"], vlessTags[0])
		}
	}
	if !strings.Contains(full["subscription_url"].(string), "/sub/") {
		t.Errorf("shop_full: subscription_url %v has no /sub/ path", full["subscription_url"])
	}

	// Unlimited users: expire and data_limit are null, not 0.
	for i, name := range []string{"bot_alpha", "bot_beta", "bot_gamma", "vip_delta"} {
		u := create(map[string]any{"username": name, "proxies": map[string]any{"vmess": map[string]any{}},
			"expire": 0, "data_limit": 0, "note": fmt.Sprintf("batch %d", i)})
		checkUserShape(t, "created "+name, u, nil)
	}
	// An on_hold user waits for its first connection.
	hold := create(map[string]any{"username": "hold_eps", "proxies": map[string]any{"vless": map[string]any{}},
		"status": "on_hold", "on_hold_expire_duration": 7 * 86400, "data_limit": 1 << 30})
	checkUserShape(t, "created hold_eps", hold, map[string]string{"data_limit": jNumber, "on_hold_expire_duration": jNumber})
	if hold["status"] != "on_hold" {
		t.Errorf("hold_eps: status %v, want on_hold", hold["status"])
	}

	// Duplicate username: 409.
	c.mustFail("POST", "/api/user", map[string]any{"username": "bot_alpha", "proxies": map[string]any{"vmess": map[string]any{}}}, 409)
	// Invalid username: 422 with a detail.
	c.mustFail("POST", "/api/user", map[string]any{"username": "no spaces", "proxies": map[string]any{"vmess": map[string]any{}}}, 422)

	// Listing: pagination, search over username and note, status filter, sort.
	all := c.list("")
	if *all.Total != 6 || len(all.Users) != 6 {
		t.Fatalf("list all: total %d, %d users, want 6", *all.Total, len(all.Users))
	}
	for _, u := range all.Users {
		checkUserShape(t, "listed "+u["username"].(string), u, map[string]string{
			"expire": jsonKind(u["expire"]), "data_limit": jsonKind(u["data_limit"]),
			"on_hold_expire_duration": jsonKind(u["on_hold_expire_duration"])})
	}
	sorted := c.list("sort=username")
	want := []string{"bot_alpha", "bot_beta", "bot_gamma", "hold_eps", "shop_full", "vip_delta"}
	if got := names(sorted.Users); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("sort=username: %v, want %v", got, want)
	}
	desc := c.list("sort=-username")
	rev := append([]string(nil), want...)
	sort.Sort(sort.Reverse(sort.StringSlice(rev)))
	if got := names(desc.Users); strings.Join(got, ",") != strings.Join(rev, ",") {
		t.Errorf("sort=-username: %v, want %v", got, rev)
	}
	page := c.list("sort=username&offset=2&limit=2")
	if got := names(page.Users); *page.Total != 6 || strings.Join(got, ",") != "bot_gamma,hold_eps" {
		t.Errorf("offset=2&limit=2: %v total %d, want [bot_gamma hold_eps] total 6", got, *page.Total)
	}
	if s := c.list("search=bot_&sort=username"); strings.Join(names(s.Users), ",") != "bot_alpha,bot_beta,bot_gamma" || *s.Total != 3 {
		t.Errorf("search=bot_: %v total %d", names(s.Users), *s.Total)
	}
	if s := c.list("search=" + url.QueryEscape("order 1001")); strings.Join(names(s.Users), ",") != "shop_full" {
		t.Errorf("search by note: %v, want [shop_full]", names(s.Users))
	}
	if s := c.list("status=on_hold"); strings.Join(names(s.Users), ",") != "hold_eps" || *s.Total != 1 {
		t.Errorf("status=on_hold: %v total %d", names(s.Users), *s.Total)
	}
	if s := c.list("username=bot_beta&username=vip_delta&sort=username"); strings.Join(names(s.Users), ",") != "bot_beta,vip_delta" {
		t.Errorf("username[]: %v, want [bot_beta vip_delta]", names(s.Users))
	}
	if s := c.list("sort=-expire&limit=1"); strings.Join(names(s.Users), ",") != "shop_full" {
		t.Errorf("sort=-expire&limit=1: %v, want [shop_full]", names(s.Users))
	}
	c.mustFail("GET", "/api/users?status=sleeping", nil, 422)

	// Get one.
	var got mzUser
	c.must("GET", "/api/user/shop_full", nil, &got)
	checkUserShape(t, "GET shop_full", got, map[string]string{"expire": jNumber, "data_limit": jNumber})
	// The token carries the second it was issued in, so the same user's
	// link may differ from one answer to the next; its user and base may not.
	gotURL, _ := got["subscription_url"].(string)
	gotBase, _, _ := strings.Cut(gotURL, "/sub/")
	fullBase, _, _ := strings.Cut(full["subscription_url"].(string), "/sub/")
	if subTokenUser(t, gotURL) != "shop_full" || gotBase != fullBase {
		t.Errorf("GET shop_full: subscription_url %v, created with %v", got["subscription_url"], full["subscription_url"])
	}
	if status, body := c.do("GET", subPath(t, gotURL), nil); status != 200 {
		t.Errorf("GET shop_full: its subscription_url answers HTTP %d %s", status, body)
	}
	c.mustFail("GET", "/api/user/nobody_here", nil, 404)

	// Modify: only the sent fields change; 0 turns a limit off (null again).
	var mod mzUser
	c.must("PUT", "/api/user/shop_full", map[string]any{"data_limit": 0, "note": "renewed", "data_limit_reset_strategy": "no_reset"}, &mod)
	checkUserShape(t, "modified shop_full", mod, map[string]string{"expire": jNumber})
	if mod["note"] != "renewed" || mod["data_limit_reset_strategy"] != "no_reset" || num(t, mod, "expire") != now+30*86400 {
		t.Errorf("modified shop_full: note %v strategy %v expire %v", mod["note"], mod["data_limit_reset_strategy"], mod["expire"])
	}
	c.must("PUT", "/api/user/bot_beta", map[string]any{"status": "disabled"}, &mod)
	if mod["status"] != "disabled" {
		t.Errorf("disabling bot_beta: status %v", mod["status"])
	}
	if s := c.list("status=disabled"); strings.Join(names(s.Users), ",") != "bot_beta" {
		t.Errorf("status=disabled: %v, want [bot_beta]", names(s.Users))
	}
	c.mustFail("PUT", "/api/user/nobody_here", map[string]any{"note": "x"}, 404)

	// Reset usage answers the user with used_traffic 0.
	var reset mzUser
	c.must("POST", "/api/user/shop_full/reset", nil, &reset)
	if num(t, reset, "used_traffic") != 0 || reset["username"] != "shop_full" {
		t.Errorf("reset: %v", reset)
	}

	// Usage per node over a range: {"username","usages":[...]}.
	var usage map[string]any
	c.must("GET", "/api/user/shop_full/usage?start="+url.QueryEscape(time.Now().Add(-24*time.Hour).UTC().Format("2006-01-02T15:04:05")), nil, &usage)
	if usage["username"] != "shop_full" || jsonKind(usage["usages"]) != jArray {
		t.Errorf("user usage: %v, want username and a usages list", usage)
	}

	// revoke_sub: new credentials and a new subscription link; the old one
	// stops working.
	oldURL := full["subscription_url"].(string)
	oldPath := subPath(t, oldURL)
	if status, body := c.do("GET", oldPath, nil); status != 200 {
		t.Fatalf("old subscription link before revoke: HTTP %d %s", status, body)
	}
	// Marzban tokens carry a unix-second timestamp; a revoke in the same
	// second as the link's issue could not be told apart from it.
	waitFor(t, 5*time.Second, "a new second", func() bool { return time.Now().Unix() > now+1 })
	var revoked mzUser
	c.must("POST", "/api/user/shop_full/revoke_sub", nil, &revoked)
	newURL, _ := revoked["subscription_url"].(string)
	if newURL == "" || newURL == oldURL {
		t.Fatalf("revoke_sub: subscription_url %q, was %q: want a new one", newURL, oldURL)
	}
	rp, _ := revoked["proxies"].(map[string]any)
	rv, _ := rp["vless"].(map[string]any)
	if rv["id"] == vless["id"] {
		t.Errorf("revoke_sub: vless id %v unchanged", rv["id"])
	}
	if status, _ := c.do("GET", oldPath, nil); status != 404 {
		t.Errorf("old subscription link after revoke: HTTP %d, want 404", status)
	}
	if status, body := c.do("GET", subPath(t, newURL), nil); status != 200 {
		t.Errorf("new subscription link: HTTP %d %s", status, body)
	}

	// active-next applies next_plan now.
	var planned mzUser
	c.must("PUT", "/api/user/bot_gamma", map[string]any{"data_limit": 1 << 30,
		"next_plan": map[string]any{"data_limit": 5 << 30, "expire": 86400, "add_remaining_traffic": false, "fire_on_either": true}}, &planned)
	np, ok := planned["next_plan"].(map[string]any)
	if !ok {
		t.Fatalf("bot_gamma next_plan = %v, want an object", planned["next_plan"])
	}
	for field, kind := range map[string]string{"data_limit": jNumber, "expire": jNumber, "add_remaining_traffic": jBool, "fire_on_either": jBool} {
		if jsonKind(np[field]) != kind {
			t.Errorf("next_plan.%s = %v, want JSON %s", field, np[field], kind)
		}
	}
	var next mzUser
	c.must("POST", "/api/user/bot_gamma/active-next", nil, &next)
	if num(t, next, "data_limit") != 5<<30 || next["next_plan"] != nil || next["status"] != "active" {
		t.Errorf("active-next: data_limit %v next_plan %v status %v", next["data_limit"], next["next_plan"], next["status"])
	}
	if e := num(t, next, "expire"); e < now+86400 || e > time.Now().Unix()+86400+5 {
		t.Errorf("active-next: expire %d, want a day from now", e)
	}
	c.mustFail("POST", "/api/user/bot_alpha/active-next", nil, 404)

	// set-owner to a regular admin, who then sees only that user.
	c.must("POST", "/api/admin", map[string]any{"username": "reseller", "password": "reseller-pass-123", "is_sudo": false}, nil)
	var owned mzUser
	c.must("PUT", "/api/user/vip_delta/set-owner?admin_username=reseller", nil, &owned)
	if a, _ := owned["admin"].(map[string]any); a == nil || a["username"] != "reseller" {
		t.Errorf("set-owner: admin %v, want reseller", owned["admin"])
	}
	c.mustFail("PUT", "/api/user/vip_delta/set-owner?admin_username=ghost", nil, 404)
	reseller := mzLogin(t, p.url(), "reseller", "reseller-pass-123")
	if s := reseller.list(""); strings.Join(names(s.Users), ",") != "vip_delta" || *s.Total != 1 {
		t.Errorf("reseller's list: %v total %d, want only vip_delta", names(s.Users), *s.Total)
	}
	reseller.mustFail("GET", "/api/user/bot_alpha", nil, 403)
	reseller.mustFail("PUT", "/api/user/vip_delta/set-owner?admin_username=reseller", nil, 403)

	// Expired users: one about to expire, which the review job marks.
	goneAt := time.Now().Unix() + 2
	create(map[string]any{"username": "gone_soon", "proxies": map[string]any{"vmess": map[string]any{}},
		"expire": goneAt})
	waitFor(t, 30*time.Second, "gone_soon to expire", func() bool {
		var u mzUser
		c.must("GET", "/api/user/gone_soon", nil, &u)
		return u["status"] == "expired"
	})
	// An explicit end past the expiry: Marzban's range is inclusive at both
	// ends, Outpost's default end (now) is exclusive, which only differs
	// within the second the user expired.
	rng := "?expired_after=" + url.QueryEscape(time.Unix(goneAt-3600, 0).UTC().Format("2006-01-02T15:04:05")) +
		"&expired_before=" + url.QueryEscape(time.Unix(goneAt+1, 0).UTC().Format("2006-01-02T15:04:05"))
	var expired []any
	c.must("GET", "/api/users/expired"+rng, nil, &expired)
	if len(expired) != 1 || expired[0] != "gone_soon" {
		t.Errorf("GET /api/users/expired = %v, want [gone_soon]", expired)
	}
	var deleted []any
	c.must("DELETE", "/api/users/expired"+rng, nil, &deleted)
	if len(deleted) != 1 || deleted[0] != "gone_soon" {
		t.Errorf("DELETE /api/users/expired = %v, want [gone_soon]", deleted)
	}
	c.mustFail("GET", "/api/user/gone_soon", nil, 404)
	c.mustFail("DELETE", "/api/users/expired"+rng, nil, 404)

	// Delete.
	status, raw := c.do("DELETE", "/api/user/bot_alpha", nil)
	if status != 200 {
		t.Fatalf("DELETE /api/user/bot_alpha: HTTP %d %s", status, raw)
	}
	c.mustFail("GET", "/api/user/bot_alpha", nil, 404)
	c.mustFail("DELETE", "/api/user/bot_alpha", nil, 404)
	if s := c.list(""); *s.Total != 5 {
		t.Errorf("after deleting: total %d, want 5", *s.Total)
	}
}

// subTokenUser is the username a subscription link's token names. Marzban's
// token is base64url("username,unix-seconds") followed by a 10-character
// signature (REFERENCE.md section 3).
func subTokenUser(t *testing.T, raw string) string {
	t.Helper()
	token := strings.TrimPrefix(subPath(t, raw), "/sub/")
	if len(token) <= 10 {
		t.Fatalf("subscription token %q too short", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(token[:len(token)-10], "="))
	name, _, ok := strings.Cut(string(payload), ",")
	if err != nil || !ok {
		t.Fatalf("subscription token %q: payload %q is not base64 of username,seconds (%v)", token, payload, err)
	}
	return name
}

// subPath is the path of a subscription_url, which may be absolute.
func subPath(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || !strings.HasPrefix(u.Path, "/sub/") {
		t.Fatalf("subscription_url %q is not a /sub/ link (%v)", raw, err)
	}
	return u.Path
}
