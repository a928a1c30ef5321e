package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/api"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
)

var marzbanTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$`)

func TestUserLifecycle(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.PublicURL = "https://panel.example.com/" })
	tok := e.token(e.alice)

	r := e.do("POST", "/api/user", tok, map[string]any{
		"username":                  "Alice_1",
		"proxies":                   map[string]any{"vless": map[string]any{"flow": "xtls-rprx-vision"}, "shadowsocks": map[string]any{}},
		"inbounds":                  map[string]any{"vless": []string{"VLESS TCP"}},
		"expire":                    0,
		"data_limit":                5 << 30,
		"data_limit_reset_strategy": "month",
		"note":                      "first",
		"on_hold_timeout":           "2026-12-01T00:00:00",
		// Marzban's clients send these back; they are ignored.
		"sub_updated_at": nil, "online_at": nil, "sub_last_user_agent": nil,
	})
	e.expect(r, 200, "create")
	var u map[string]any
	r.decode(t, &u)

	if u["username"] != "alice_1" {
		t.Errorf("username %v, want lowercased alice_1", u["username"])
	}
	proxies := u["proxies"].(map[string]any)
	vless := proxies["vless"].(map[string]any)
	if id, _ := vless["id"].(string); len(id) != 36 || vless["flow"] != "xtls-rprx-vision" {
		t.Errorf("vless %v", vless)
	}
	ss := proxies["shadowsocks"].(map[string]any)
	if ss["password"] == "" || ss["method"] == "" {
		t.Errorf("shadowsocks %v", ss)
	}
	for k, want := range map[string]any{
		"expire": nil, "data_limit": float64(5 << 30), "data_limit_reset_strategy": "month",
		"status": "active", "used_traffic": float64(0), "lifetime_used_traffic": float64(0),
		"note": "first", "sub_updated_at": nil, "sub_last_user_agent": nil, "online_at": nil,
		"on_hold_expire_duration": nil, "on_hold_timeout": "2026-12-01T00:00:00",
		"auto_delete_in_days": nil, "next_plan": nil,
	} {
		got, ok := u[k]
		if !ok || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, want)
		}
	}
	if got := fmt.Sprint(u["inbounds"]); got != "map[shadowsocks:[Shadowsocks TCP] vless:[VLESS TCP]]" {
		t.Errorf("inbounds %s", got)
	}
	if ca, _ := u["created_at"].(string); !marzbanTime.MatchString(ca) || ca != "2026-11-26T01:02:03" {
		t.Errorf("created_at %q, want Marzban's zone-less ISO 8601", ca)
	}
	if a, _ := u["admin"].(map[string]any); a["username"] != "alice" || a["is_sudo"] != false {
		t.Errorf("admin %v", u["admin"])
	}
	links, _ := u["links"].([]any)
	if len(links) != 2 {
		t.Errorf("links %v, want one per inbound the user is in", u["links"])
	}
	for _, l := range links {
		if s := l.(string); !strings.Contains(s, "@panel.example.com:") {
			t.Errorf("link %q does not use the public host", s)
		}
	}
	subURL, _ := u["subscription_url"].(string)
	if !strings.HasPrefix(subURL, "https://panel.example.com/sub/") {
		t.Fatalf("subscription_url %q", subURL)
	}

	// The same user, read back.
	r = e.do("GET", "/api/user/ALICE_1", tok, nil)
	e.expect(r, 200, "get")
	var got map[string]any
	r.decode(t, &got)
	if got["username"] != "alice_1" || fmt.Sprint(got["proxies"]) != fmt.Sprint(u["proxies"]) {
		t.Errorf("get: %s", r.body)
	}

	// Modify: a limit already used up makes the user limited; lifting it
	// makes it active again. The username may be sent back unchanged.
	e.clock.Advance(time.Minute)
	r = e.do("PUT", "/api/user/alice_1", tok, map[string]any{"username": "alice_1", "expire": e.clock.Now().Add(-time.Second).Unix(), "note": "second"})
	e.expect(r, 200, "modify")
	r.decode(t, &got)
	if got["status"] != "expired" || got["note"] != "second" || got["data_limit"] != float64(5<<30) {
		t.Errorf("after modify: %s", r.body)
	}
	r = e.do("PUT", "/api/user/alice_1", tok, map[string]any{"expire": 0})
	e.expect(r, 200, "modify back")
	r.decode(t, &got)
	if got["status"] != "active" || got["expire"] != nil {
		t.Errorf("after lifting expire: %s", r.body)
	}
	if ea, _ := got["edit_at"].(string); ea != "2026-11-26T01:03:03" {
		t.Errorf("edit_at %v", got["edit_at"])
	}

	// Delete.
	e.expect(e.do("DELETE", "/api/user/alice_1", tok, nil), 200, "delete")
	e.expect(e.do("GET", "/api/user/alice_1", tok, nil), 404, "get after delete")
	e.expect(e.do("DELETE", "/api/user/alice_1", tok, nil), 404, "delete twice")
}

func TestSubscriptionURLFromRequest(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/api/user/"+e.createUser(e.alice, "bob_u")["username"].(string), e.token(e.alice), nil)
	var u map[string]any
	r.decode(t, &u)
	// httptest requests are addressed to example.com.
	if s, _ := u["subscription_url"].(string); !strings.HasPrefix(s, "http://example.com/sub/") {
		t.Fatalf("subscription_url %q", s)
	}
	for _, l := range u["links"].([]any) {
		if !strings.Contains(l.(string), "@example.com:") {
			t.Errorf("link %q does not use the request host", l)
		}
	}
}

func TestListUsers(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"a_one", "a_two", "a_three"} {
		e.createUser(e.alice, n)
	}
	e.createUser(e.bob, "b_one")
	e.createUser(e.sudo, "s_one")
	ctx := context.Background()
	if _, err := e.st.ModifyUser(ctx, nil, "a_two", stateInput(t, `{"status":"disabled","note":"VIP customer"}`)); err != nil {
		t.Fatal(err)
	}

	names := func(tok, query string) ([]string, int) {
		t.Helper()
		r := e.do("GET", "/api/users"+query, tok, nil)
		e.expect(r, 200, "list "+query)
		var page struct {
			Users []map[string]any `json:"users"`
			Total int              `json:"total"`
		}
		r.decode(t, &page)
		var out []string
		for _, u := range page.Users {
			out = append(out, u["username"].(string))
			if _, ok := u["links"]; !ok {
				t.Fatalf("listed user lacks links: %v", u)
			}
		}
		return out, page.Total
	}
	sudo, alice := e.token(e.sudo), e.token(e.alice)
	for _, tc := range []struct {
		tok, query string
		want       []string
		total      int
	}{
		{sudo, "", []string{"a_one", "a_two", "a_three", "b_one", "s_one"}, 5},
		{alice, "", []string{"a_one", "a_two", "a_three"}, 3},
		{sudo, "?sort=username", []string{"a_one", "a_three", "a_two", "b_one", "s_one"}, 5},
		{sudo, "?sort=-username&limit=2", []string{"s_one", "b_one"}, 5},
		{sudo, "?sort=username&offset=3&limit=10", []string{"b_one", "s_one"}, 5},
		{sudo, "?limit=0", []string{"a_one", "a_two", "a_three", "b_one", "s_one"}, 5},
		{sudo, "?username=a_one&username=B_ONE", []string{"a_one", "b_one"}, 2},
		{sudo, "?search=vip", []string{"a_two"}, 1},
		{sudo, "?search=one", []string{"a_one", "b_one", "s_one"}, 3},
		{sudo, "?status=disabled", []string{"a_two"}, 1},
		{sudo, "?admin=bob", []string{"b_one"}, 1},
		{sudo, "?admin=bob&admin=alice&sort=username", []string{"a_one", "a_three", "a_two", "b_one"}, 4},
		{sudo, "?admin=nobody", nil, 0},
		// A regular admin's admin filter is ignored: it sees its own users.
		{alice, "?admin=bob", []string{"a_one", "a_two", "a_three"}, 3},
		{alice, "?username=b_one", nil, 0},
	} {
		got, total := names(tc.tok, tc.query)
		if !slices.Equal(got, tc.want) || total != tc.total {
			t.Errorf("%s: %v total %d, want %v total %d", tc.query, got, total, tc.want, tc.total)
		}
	}

	many := "?" + strings.Repeat("username=x&", 101)
	for _, tc := range []struct {
		query  string
		status int
	}{
		{"?limit=1001", 422},
		{"?limit=-1", 422},
		{"?limit=ten", 422},
		{"?offset=-1", 422},
		{"?offset=1.5", 422},
		{"?status=sleeping", 422},
		{"?sort=password", 400},
		{"?sort=--username", 400},
		{"?search=" + url.QueryEscape(strings.Repeat("x", 65)), 400},
		{many, 400},
	} {
		e.expect(e.do("GET", "/api/users"+tc.query, sudo, nil), tc.status, "list "+tc.query)
	}
}

// badUserBodies are refused by POST /api/user (and mostly PUT): each must get
// its status with a detail and leave the store as it was. As in Marzban,
// whatever breaks the schema or a field's rule is 422 (pydantic's
// validation there), a taken username 409.
var badUserBodies = []struct {
	name   string
	body   string
	status int
}{
	{"malformed JSON", `{"username": "x1x",`, 422},
	{"not JSON", `username=abc`, 422},
	{"empty body", ``, 422},
	{"array body", `[{"username":"abc"}]`, 422},
	{"null body", `null`, 422},
	{"trailing data", `{"username":"abc","proxies":{"vless":{}}} {}`, 422},
	{"data_limit string", `{"username":"abc","proxies":{"vless":{}},"data_limit":"x"}`, 422},
	{"data_limit float", `{"username":"abc","proxies":{"vless":{}},"data_limit":1.5}`, 422},
	{"expire bool", `{"username":"abc","proxies":{"vless":{}},"expire":true}`, 422},
	{"proxies array", `{"username":"abc","proxies":["vless"]}`, 422},
	{"username number", `{"username":123,"proxies":{"vless":{}}}`, 422},
	{"on_hold_timeout garbage", `{"username":"abc","proxies":{"vless":{}},"on_hold_timeout":"tomorrow"}`, 422},
	{"unknown field", `{"username":"abc","proxies":{"vless":{}},"password":"x"}`, 422},
	{"unknown proxy field", `{"username":"abc","proxies":{"vless":{"uuid":"x"}}}`, 422},
	{"negative data_limit", `{"username":"abc","proxies":{"vless":{}},"data_limit":-1}`, 422},
	{"negative expire", `{"username":"abc","proxies":{"vless":{}},"expire":-5}`, 422},
	{"username with a space", `{"username":"ab c","proxies":{"vless":{}}}`, 422},
	{"unicode username", `{"username":"пользователь","proxies":{"vless":{}}}`, 422},
	{"33-char username", `{"username":"` + strings.Repeat("a", 33) + `","proxies":{"vless":{}}}`, 422},
	{"2-char username", `{"username":"ab","proxies":{"vless":{}}}`, 422},
	{"missing username", `{"proxies":{"vless":{}}}`, 422},
	{"no proxies", `{"username":"abc","proxies":{}}`, 422},
	{"unknown protocol", `{"username":"abc","proxies":{"wireguard":{}}}`, 422},
	{"bad vless id", `{"username":"abc","proxies":{"vless":{"id":"not-a-uuid"}}}`, 422},
	{"bad flow", `{"username":"abc","proxies":{"vless":{"flow":"xtls-rprx-direct"}}}`, 422},
	{"unknown inbound", `{"username":"abc","proxies":{"vless":{}},"inbounds":{"vless":["NOPE"]}}`, 422},
	{"unknown status", `{"username":"abc","proxies":{"vless":{}},"status":"sleeping"}`, 422},
	{"bad reset strategy", `{"username":"abc","proxies":{"vless":{}},"data_limit_reset_strategy":"hourly"}`, 422},
	{"on_hold without duration", `{"username":"abc","proxies":{"vless":{}},"status":"on_hold"}`, 422},
	{"empty username", `{"username":"","proxies":{"vless":{}}}`, 422},
	{"null username", `{"username":null,"proxies":{"vless":{}}}`, 422},
	{"username with a dash", `{"username":"ab-c","proxies":{"vless":{}}}`, 422},
	{"username with a dot", `{"username":"a.bc","proxies":{"vless":{}}}`, 422},
	{"username with a newline", `{"username":"abc\n","proxies":{"vless":{}}}`, 422},
	{"username with an emoji", `{"username":"abc😀","proxies":{"vless":{}}}`, 422},
	{"username with a NUL", `{"username":"ab\u0000c","proxies":{"vless":{}}}`, 422},
	{"note over 500 characters", `{"username":"abc","proxies":{"vless":{}},"note":"` + strings.Repeat("n", 501) + `"}`, 422},
	{"negative on_hold_expire_duration", `{"username":"abc","proxies":{"vless":{}},"on_hold_expire_duration":-1}`, 422},
	{"negative next_plan", `{"username":"abc","proxies":{"vless":{}},"next_plan":{"data_limit":-1}}`, 422},
	{"new user disabled", `{"username":"abc","proxies":{"vless":{}},"status":"disabled"}`, 422},
	{"bad shadowsocks method", `{"username":"abc","proxies":{"shadowsocks":{"method":"rc4-md5"}}}`, 422},
	{"duplicate username", `{"username":"taken","proxies":{"vless":{}}}`, 409},
	{"duplicate username, other case", `{"username":"TAKEN","proxies":{"vless":{}}}`, 409},
}

func TestCreateUserBadInput(t *testing.T) {
	e := newEnv(t)
	e.createUser(e.bob, "taken")
	tok := e.token(e.alice)
	for _, tc := range badUserBodies {
		before := e.snapshot()
		r := e.do("POST", "/api/user", tok, tc.body)
		e.expect(r, tc.status, tc.name)
		e.assertUnchanged(before, tc.name)
	}
	// The 422 details say which field and type went wrong.
	for body, want := range map[string]string{
		`{"username":"abc","proxies":{"vless":{}},"data_limit":"x"}`: "data_limit: expected an integer, got string",
		`{"username":"abc","proxies":{"vless":{}},"expire":true}`:    "expire: expected an integer, got bool",
		`{"username":"abc","proxies":{"vless":{}},"password":"x"}`:   `unknown field "password"`,
		`{"username":"ab c","proxies":{"vless":{}}}`:                 "username: must be 3 to 32 characters of a-z, 0-9 and underscore",
		`{"username":"abc","proxies":{"wireguard":{}}}`:              `proxies: unknown protocol "wireguard"`,
	} {
		if d := e.do("POST", "/api/user", tok, body).detail(); !strings.Contains(d, want) {
			t.Errorf("%s: detail %q, want it to contain %q", body, d, want)
		}
	}
}

// A well-formed user with a protocol no inbound serves is Marzban's 400
// "Protocol X is disabled on your server", on create and modify alike;
// leaving that protocol out of a modify is fine.
func TestProtocolWithoutInbound(t *testing.T) {
	e := newEnv(t)
	sudo := e.token(e.sudo)
	e.createUser(e.alice, "before") // vless and trojan
	r := e.do("GET", "/api/core/config", sudo, nil)
	e.expect(r, 200, "GET config")
	var cfg map[string]any
	r.decode(t, &cfg)
	var kept []any
	for _, ib := range cfg["inbounds"].([]any) {
		if ib.(map[string]any)["protocol"] != "trojan" {
			kept = append(kept, ib)
		}
	}
	cfg["inbounds"] = kept
	e.expect(e.do("PUT", "/api/core/config", sudo, cfg), 200, "drop the trojan inbound")

	tok := e.token(e.alice)
	for _, tc := range []struct {
		method, path string
		body         string
	}{
		{"POST", "/api/user", `{"username":"newbie","proxies":{"vless":{},"trojan":{}}}`},
		{"PUT", "/api/user/before", `{"proxies":{"vless":{},"trojan":{}}}`},
	} {
		before := e.snapshot()
		r := e.do(tc.method, tc.path, tok, tc.body)
		e.expect(r, 400, tc.method+" with trojan")
		if d := r.detail(); d != "Protocol trojan is disabled on your server" {
			t.Errorf("%s %s: detail %q", tc.method, tc.path, d)
		}
		e.assertUnchanged(before, tc.method+" with trojan")
	}
	e.expect(e.do("POST", "/api/user", tok, `{"username":"newbie","proxies":{"vless":{}}}`), 200, "create with vless only")
	e.expect(e.do("PUT", "/api/user/before", tok, `{"note":"still here"}`), 200, "modify without proxies")
}

func TestModifyUserBadInput(t *testing.T) {
	e := newEnv(t)
	e.createUser(e.alice, "mine")
	tok := e.token(e.alice)
	for _, tc := range []struct {
		name, path, body string
		status           int
	}{
		{"malformed JSON", "/api/user/mine", `{"note":`, 422},
		{"data_limit string", "/api/user/mine", `{"data_limit":"x"}`, 422},
		{"expire bool", "/api/user/mine", `{"expire":true}`, 422},
		{"unknown field", "/api/user/mine", `{"nickname":"x"}`, 422},
		{"negative data_limit", "/api/user/mine", `{"data_limit":-1}`, 422},
		{"rename", "/api/user/mine", `{"username":"yours"}`, 422},
		{"empty proxies", "/api/user/mine", `{"proxies":{}}`, 422},
		{"unknown protocol", "/api/user/mine", `{"proxies":{"wireguard":{}}}`, 422},
		{"status limited", "/api/user/mine", `{"status":"limited"}`, 422},
		{"unknown status", "/api/user/mine", `{"status":"sleeping"}`, 422},
		{"inbound of a missing protocol", "/api/user/mine", `{"inbounds":{"vmess":["VMess WS"]}}`, 422},
		{"note too long", "/api/user/mine", `{"note":"` + strings.Repeat("n", 501) + `"}`, 422},
		{"unknown user", "/api/user/nobody", `{"note":"x"}`, 404},
		{"invalid username in path", "/api/user/a%20b", `{"note":"x"}`, 404},
	} {
		before := e.snapshot()
		e.expect(e.do("PUT", tc.path, tok, tc.body), tc.status, tc.name)
		e.assertUnchanged(before, tc.name)
	}
}

// TestBodyLimit runs on a real listener: an oversized body is refused by
// the HTTP server before any handler runs, which app.Test reports as an error
// instead of a response.
func TestBodyLimit(t *testing.T) {
	e := newEnv(t)
	addr := e.listen()
	tok := e.token(e.sudo)
	big := `{"username":"abc","proxies":{"vless":{}},"note":"` + strings.Repeat("x", api.DefaultBodyLimit) + `"}`
	for _, rt := range []struct{ method, path string }{
		{"POST", "/api/user"},
		{"PUT", "/api/core/config"},
		{"POST", "/api/node"},
		{"PUT", "/api/user/abc"},
	} {
		before := e.snapshot()
		status, body := rawRequest(t, addr, rt.method, rt.path, tok, big)
		if status != 413 || !strings.Contains(body, `"detail"`) {
			t.Fatalf("%s %s over the limit: %d %s", rt.method, rt.path, status, body)
		}
		e.assertUnchanged(before, "oversized "+rt.path)
	}
	// Just under the limit is read (and refused for its content, not its size).
	under := `{"username":"abc","proxies":{"vless":{}},"note":"` + strings.Repeat("x", api.DefaultBodyLimit-100) + `"}`
	if status, body := rawRequest(t, addr, "POST", "/api/user", tok, under); status != 422 {
		t.Fatalf("body under the limit: %d %s", status, body)
	}
}

// rawRequest writes one request on its own connection and reads the answer,
// even when the server answers before the body is fully sent.
func rawRequest(t *testing.T, addr, method, path, token, body string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go func() {
		// The server may close while the body is still going out; the
		// answer is what counts.
		fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", method, path, token, len(body))
		_, _ = io.WriteString(conn, body)
	}()
	if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// FuzzUserInput throws arbitrary bodies at POST /api/user: whatever comes in,
// the answer is never a server error, and a refusal always says why.
func FuzzUserInput(f *testing.F) {
	for _, tc := range badUserBodies {
		f.Add([]byte(tc.body))
	}
	for _, s := range []string{
		`{"username":"fuzz_ok","proxies":{"vless":{},"vmess":{},"trojan":{},"shadowsocks":{"method":"2022-blake3-aes-128-gcm"}}}`,
		`{"username":"abc","proxies":{"vless":{}},"next_plan":{"data_limit":1,"expire":2,"add_remaining_traffic":true}}`,
		`{"username":"abc","proxies":{"vless":{}},"status":"on_hold","on_hold_expire_duration":86400,"on_hold_timeout":"2027-01-01 00:00:00"}`,
		`{"username":"abc","proxies":{"vless":{}},"data_limit":9223372036854775807,"expire":9223372036854775807}`,
		`{"username":"abc","proxies":{"vless":{}},"data_limit":1e400}`,
		`{"username":"abc","proxies":{"shadowsocks":{"method":"none","password":"` + strings.Repeat("p", 200) + `"}}}`,
		`{"username":"abc","proxies":{"vless":null},"inbounds":{"vless":null}}`,
		"{\"username\":\"a\u0000b\",\"proxies\":{\"vless\":{}}}",
	} {
		f.Add([]byte(s))
	}
	e := newEnv(f)
	tok := e.token(e.sudo)
	f.Fuzz(func(t *testing.T, body []byte) {
		te := *e
		te.t = t // failures belong to this input, not to the F
		r := te.do("POST", "/api/user", tok, body)
		if r.status >= 500 {
			t.Fatalf("status %d for %q: %s", r.status, body, r.body)
		}
		if r.status != 200 && r.detail() == "" {
			t.Fatalf("status %d without a detail for %q: %s", r.status, body, r.body)
		}
	})
}

func stateInput(t *testing.T, js string) state.UserInput {
	t.Helper()
	var in state.UserInput
	if err := json.Unmarshal([]byte(js), &in); err != nil {
		t.Fatal(err)
	}
	return in
}

// The environment's sudo admin (SUDO_USERNAME) has no row in the admins
// table, so the users it creates have no owner, as in Marzban: admin is
// null in every answer about them, the create answer included. A database
// admin's users keep theirs.
func TestEnvSudoUsersHaveNoOwner(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.EnvSudoUser, o.EnvSudoPassword = "root", "env-secret" })
	root := e.token(&model.Admin{Username: "root", IsSudo: true})
	body := map[string]any{"username": "by_root", "proxies": map[string]any{"vless": map[string]any{}}}
	owner := func(r *response, what string) any {
		t.Helper()
		e.expect(r, 200, what)
		var u map[string]any
		r.decode(t, &u)
		if _, ok := u["admin"]; !ok {
			t.Fatalf("%s: no admin field: %s", what, r.body)
		}
		return u["admin"]
	}
	for _, step := range []struct {
		what string
		r    *response
	}{
		{"create", e.do("POST", "/api/user", root, body)},
		{"get by root", e.do("GET", "/api/user/by_root", root, nil)},
		{"get by a db sudo", e.do("GET", "/api/user/by_root", e.token(e.sudo), nil)},
		{"modify", e.do("PUT", "/api/user/by_root", root, map[string]any{"note": "x"})},
		{"reset", e.do("POST", "/api/user/by_root/reset", root, nil)},
		{"revoke", e.do("POST", "/api/user/by_root/revoke_sub", root, nil)},
	} {
		if a := owner(step.r, step.what); a != nil {
			t.Errorf("%s: admin %v, want null", step.what, a)
		}
	}
	var page struct {
		Users []map[string]any `json:"users"`
	}
	r := e.do("GET", "/api/users?username=by_root", root, nil)
	e.expect(r, 200, "list")
	r.decode(t, &page)
	if len(page.Users) != 1 || page.Users[0]["admin"] != nil {
		t.Fatalf("list: %v", page.Users)
	}
	// A database sudo's user names its owner, in the create answer too.
	if a, _ := owner(e.do("POST", "/api/user", e.token(e.sudo), map[string]any{
		"username": "by_db_sudo", "proxies": map[string]any{"vless": map[string]any{}}}), "create by a db sudo").(map[string]any); a["username"] != e.sudo.Username {
		t.Fatalf("db sudo's user: admin %v", a)
	}
}

// A modify that leaves auto_delete_in_days and next_plan out, or sends back
// the values it read, keeps them; an explicit null removes them.
func TestModifyUserClearsAutoDeleteAndNextPlanOnNull(t *testing.T) {
	e := newEnv(t)
	e.createUser(e.alice, "planned")
	tok := e.token(e.alice)
	plan := map[string]any{"data_limit": 5000, "expire": 86400, "add_remaining_traffic": true, "fire_on_either": false}
	e.expect(e.do("PUT", "/api/user/planned", tok, map[string]any{"auto_delete_in_days": 7, "next_plan": plan}), 200, "set both")

	check := func(step string, wantDays any, wantPlan bool) {
		t.Helper()
		var u map[string]any
		r := e.do("GET", "/api/user/planned", tok, nil)
		e.expect(r, 200, step)
		r.decode(t, &u)
		if u["auto_delete_in_days"] != wantDays {
			t.Errorf("%s: auto_delete_in_days %v, want %v", step, u["auto_delete_in_days"], wantDays)
		}
		if got := u["next_plan"] != nil; got != wantPlan {
			t.Errorf("%s: next_plan %v, want one: %v", step, u["next_plan"], wantPlan)
		}
		if wantPlan {
			if np := u["next_plan"].(map[string]any); np["data_limit"] != float64(5000) || np["add_remaining_traffic"] != true {
				t.Errorf("%s: next_plan %v, want %v", step, np, plan)
			}
		}
	}
	check("after setting", float64(7), true)

	e.expect(e.do("PUT", "/api/user/planned", tok, `{"note":"renewed"}`), 200, "note only")
	check("after a modify without them", float64(7), true)

	var read map[string]any
	r := e.do("GET", "/api/user/planned", tok, nil)
	r.decode(t, &read)
	e.expect(e.do("PUT", "/api/user/planned", tok, map[string]any{
		"note": "sent back", "auto_delete_in_days": read["auto_delete_in_days"], "next_plan": read["next_plan"],
	}), 200, "send back what was read")
	check("after sending back what was read", float64(7), true)

	e.expect(e.do("PUT", "/api/user/planned", tok, `{"next_plan":null}`), 200, "clear plan")
	check("after next_plan null", float64(7), false)
	e.expect(e.do("PUT", "/api/user/planned", tok, `{"auto_delete_in_days":null}`), 200, "clear auto-delete")
	check("after auto_delete_in_days null", nil, false)

	before := e.snapshot()
	e.expect(e.do("PUT", "/api/user/planned", tok, `{"next_plan":null,"auto_delete_in_days":-1}`), 422, "clear with a bad field")
	e.assertUnchanged(before, "clear with a bad field")
}
