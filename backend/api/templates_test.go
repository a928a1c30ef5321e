package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/outpost-panel/outpost/backend/api"
	"github.com/outpost-panel/outpost/backend/model"
)

type extraRoute struct{ method, path string }

// needExtraSchema fails when migration 0004_extra.sql (user_templates) is
// missing.
func (e *env) needExtraSchema() {
	e.t.Helper()
	if v, err := e.db.SchemaVersion(context.Background()); err != nil || v < 4 {
		e.t.Fatalf("schema version %d (%v): migration 0004_extra.sql not applied", v, err)
	}
}

func TestExtraRoutesAuthorization(t *testing.T) {
	e := newEnv(t)
	e.needExtraSchema()
	n := &model.Node{Name: "n1", Address: "127.0.0.1"}
	if _, err := e.st.CreateNode(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	r := e.do("POST", "/api/user_template", e.token(e.sudo), map[string]any{"name": "t1"})
	e.expect(r, 200, "creating a template")
	anyAdmin := []extraRoute{{"GET", "/api/system"}, {"GET", "/api/user_template"}, {"GET", "/api/user_template/1"}}
	sudoOnly := []extraRoute{
		{"POST", "/api/user_template"}, {"PUT", "/api/user_template/1"}, {"DELETE", "/api/user_template/1"},
		{"POST", "/api/node/" + itoa(n.ID) + "/reconnect"}, {"GET", "/api/nodes/usage"},
	}
	before := e.snapshot()
	templates := e.do("GET", "/api/user_template", e.token(e.sudo), nil).body
	for _, r := range append(anyAdmin, sudoOnly...) {
		e.expect(e.do(r.method, r.path, "", nil), 401, "anonymous "+r.method+" "+r.path)
		e.expect(e.do(r.method, r.path, "not-a-token", nil), 401, "bad token "+r.method+" "+r.path)
	}
	for _, r := range sudoOnly {
		e.expect(e.do(r.method, r.path, e.token(e.alice), map[string]any{"name": "t2"}), 403, "regular admin "+r.method+" "+r.path)
	}
	for _, r := range anyAdmin {
		e.expect(e.do(r.method, r.path, e.token(e.alice), nil), 200, "regular admin "+r.method+" "+r.path)
	}
	e.assertUnchanged(before, "refused requests")
	if after := e.do("GET", "/api/user_template", e.token(e.sudo), nil).body; string(after) != string(templates) {
		t.Fatalf("templates changed: %s -> %s", templates, after)
	}
	if d := e.hub.Disconnects(); len(d) != 0 {
		t.Fatalf("refused reconnects disconnected %v", d)
	}
}

func itoa(n int64) string { return strings.TrimSuffix(model.EmailFor(n, ""), ".") }

func TestUserTemplatesRoutes(t *testing.T) {
	e := newEnv(t)
	e.needExtraSchema()
	sudo := e.token(e.sudo)
	body := map[string]any{
		"name": "monthly", "data_limit": 10 << 30, "expire_duration": 2592000,
		"username_prefix": "vip_", "inbounds": map[string][]string{"vless": {"VLESS TCP"}},
	}
	r := e.do("POST", "/api/user_template", sudo, body)
	e.expect(r, 200, "create")
	var tpl map[string]any
	r.decode(t, &tpl)
	if tpl["id"] != float64(1) || tpl["name"] != "monthly" || tpl["data_limit"] != float64(10<<30) ||
		tpl["expire_duration"] != float64(2592000) || tpl["username_prefix"] != "vip_" || tpl["username_suffix"] != nil {
		t.Fatalf("created %v", tpl)
	}
	e.expect(e.do("POST", "/api/user_template", sudo, map[string]any{"name": "monthly"}), 409, "duplicate name")
	e.expect(e.do("POST", "/api/user_template", sudo, map[string]any{"name": "trial", "data_limit": 1}), 200, "second")

	r = e.do("GET", "/api/user_template?offset=1&limit=5", e.token(e.alice), nil)
	e.expect(r, 200, "list page")
	var list []map[string]any
	r.decode(t, &list)
	if len(list) != 1 || list[0]["name"] != "trial" {
		t.Fatalf("page %v", list)
	}
	r = e.do("PUT", "/api/user_template/1", sudo, map[string]any{"username_suffix": "_m", "inbounds": map[string][]string{}})
	e.expect(r, 200, "modify")
	r.decode(t, &tpl)
	if tpl["username_suffix"] != "_m" || tpl["username_prefix"] != "vip_" || tpl["name"] != "monthly" {
		t.Fatalf("modified %v", tpl)
	}
	e.expect(e.do("PUT", "/api/user_template/2", sudo, map[string]any{"name": "monthly"}), 409, "rename onto taken")
	e.expect(e.do("DELETE", "/api/user_template/2", sudo, nil), 200, "delete")
	e.expect(e.do("GET", "/api/user_template/2", sudo, nil), 404, "deleted")
	e.expect(e.do("DELETE", "/api/user_template/2", sudo, nil), 404, "deleted twice")

	// Bad input: 4xx with a detail, nothing changed.
	before := e.do("GET", "/api/user_template", sudo, nil).body
	bad := []struct {
		name, method, path string
		body               any
		status             int
	}{
		{"malformed", "POST", "/api/user_template", `{"name":`, 422},
		{"not an object", "POST", "/api/user_template", `[1]`, 422},
		{"no name", "POST", "/api/user_template", map[string]any{"data_limit": 1}, 422},
		{"empty name", "POST", "/api/user_template", map[string]any{"name": " "}, 400},
		{"long name", "POST", "/api/user_template", map[string]any{"name": strings.Repeat("n", 65)}, 400},
		{"wrong type", "POST", "/api/user_template", map[string]any{"name": "x", "data_limit": "big"}, 422},
		{"negative limit", "POST", "/api/user_template", map[string]any{"name": "x", "data_limit": -1}, 422},
		{"negative duration", "POST", "/api/user_template", map[string]any{"name": "x", "expire_duration": -5}, 422},
		{"prefix with space", "POST", "/api/user_template", map[string]any{"name": "x", "username_prefix": "a b"}, 400},
		{"long suffix", "POST", "/api/user_template", map[string]any{"name": "x", "username_suffix": strings.Repeat("s", 21)}, 400},
		{"unicode prefix", "POST", "/api/user_template", map[string]any{"name": "x", "username_prefix": "ü"}, 400},
		{"unknown tag", "POST", "/api/user_template", map[string]any{"name": "x", "inbounds": map[string][]string{"vless": {"NOPE"}}}, 400},
		{"tag of another protocol", "POST", "/api/user_template", map[string]any{"name": "x", "inbounds": map[string][]string{"vless": {"Trojan TCP"}}}, 400},
		{"unknown protocol", "POST", "/api/user_template", map[string]any{"name": "x", "inbounds": map[string][]string{"wireguard": {}}}, 400},
		{"unknown field", "POST", "/api/user_template", map[string]any{"name": "x", "color": "red"}, 422},
		{"bad id", "PUT", "/api/user_template/abc", map[string]any{"name": "y"}, 422},
		{"missing id", "PUT", "/api/user_template/99", map[string]any{"name": "y"}, 404},
		{"modify bad tag", "PUT", "/api/user_template/1", map[string]any{"inbounds": map[string][]string{"vmess": {"VLESS TCP"}}}, 400},
		{"modify negative", "PUT", "/api/user_template/1", map[string]any{"data_limit": -1}, 422},
		{"negative offset", "GET", "/api/user_template?offset=-1", nil, 422},
		{"bad limit", "GET", "/api/user_template?limit=x", nil, 422},
		{"zero id", "GET", "/api/user_template/0", nil, 404},
	}
	for _, c := range bad {
		e.expect(e.do(c.method, c.path, sudo, c.body), c.status, c.name)
	}
	// An oversized body is refused by the server (a real listener).
	addr := e.listen()
	for _, path := range []string{"/api/user_template", "/api/user_template/1"} {
		method := map[bool]string{true: "POST", false: "PUT"}[path == "/api/user_template"]
		status, body := rawRequest(t, addr, method, path, sudo, `{"name":"`+strings.Repeat("a", api.DefaultBodyLimit)+`"}`)
		if status != 413 || !strings.Contains(body, `"detail"`) {
			t.Fatalf("%s %s oversized: %d %s", method, path, status, body)
		}
	}
	if after := e.do("GET", "/api/user_template", sudo, nil).body; string(after) != string(before) {
		t.Fatalf("bad input changed templates: %s -> %s", before, after)
	}
}
