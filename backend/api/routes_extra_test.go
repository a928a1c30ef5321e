package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/api"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
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

func TestSystemRoute(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, name := range []string{"usr_a1", "usr_a2", "usr_a3"} {
		e.createUser(e.alice, name)
	}
	e.createUser(e.bob, "usr_b1")
	e.expect(e.do("PUT", "/api/user/usr_a2", e.token(e.alice), map[string]any{"status": "disabled"}), 200, "disable")
	e.expect(e.do("PUT", "/api/user/usr_a3", e.token(e.alice), map[string]any{"data_limit": 100}), 200, "limit")
	e.lcUse("n1", "usr_a3", 150)
	// Seen online a minute ago: counts; usr_b1 was seen 3 minutes ago: does not.
	err := e.db.Tx(ctx, func(tx *store.Tx) error {
		for name, ago := range map[string]time.Duration{"usr_a1": time.Minute, "usr_b1": 3 * time.Minute} {
			u, err := tx.UserByUsername(name)
			if err != nil {
				return err
			}
			at := e.clock.Now().Add(-ago)
			u.OnlineAt = &at
			if err := tx.UpdateUser(u); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Review(ctx); err != nil {
		t.Fatal(err)
	}
	type stats struct {
		Version           string
		MemTotal, MemUsed uint64
		CPUCores          int     `json:"cpu_cores"`
		CPUUsage          float64 `json:"cpu_usage"`
		TotalUser         int     `json:"total_user"`
		OnlineUsers       int     `json:"online_users"`
		UsersActive       int     `json:"users_active"`
		UsersOnHold       int     `json:"users_on_hold"`
		UsersDisabled     int     `json:"users_disabled"`
		UsersExpired      int     `json:"users_expired"`
		UsersLimited      int     `json:"users_limited"`
		IncomingBandwidth int64   `json:"incoming_bandwidth"`
		OutgoingBandwidth int64   `json:"outgoing_bandwidth"`
		IncomingSpeed     *int64  `json:"incoming_bandwidth_speed"`
	}
	get := func(a *model.Admin) stats {
		r := e.do("GET", "/api/system", e.token(a), nil)
		e.expect(r, 200, "system")
		var s stats
		r.decode(t, &s)
		return s
	}
	s := get(e.sudo)
	if s.TotalUser != 4 || s.UsersActive != 2 || s.UsersDisabled != 1 || s.UsersLimited != 1 || s.OnlineUsers != 1 ||
		s.OutgoingBandwidth != 150 || s.IncomingBandwidth != 0 || s.CPUCores < 1 || s.Version == "" || s.IncomingSpeed == nil {
		t.Fatalf("sudo stats %+v", s)
	}
	if a := get(e.alice); a.TotalUser != 3 || a.UsersActive != 1 || a.UsersDisabled != 1 || a.UsersLimited != 1 || a.OnlineUsers != 1 {
		t.Fatalf("alice's stats %+v", a)
	}
	if b := get(e.bob); b.TotalUser != 1 || b.UsersActive != 1 || b.OnlineUsers != 0 {
		t.Fatalf("bob's stats %+v", b)
	}
}

func TestNodeReconnectAndUsage(t *testing.T) {
	e := newEnv(t)
	sudo := e.token(e.sudo)
	e.createUser(e.alice, "usr_u1")
	n1 := e.lcUse("n1", "usr_u1", 300)
	r := e.do("POST", "/api/node/"+itoa(n1)+"/reconnect", sudo, nil)
	e.expect(r, 200, "reconnect")
	if d := e.hub.Disconnects(); len(d) != 1 || d[0] != n1 {
		t.Fatalf("disconnects %v, want [%d]", d, n1)
	}
	before := e.snapshot()
	e.expect(e.do("POST", "/api/node/999/reconnect", sudo, nil), 404, "missing node")
	e.expect(e.do("POST", "/api/node/x/reconnect", sudo, nil), 422, "bad id")
	e.assertUnchanged(before, "refused reconnects")
	if d := e.hub.Disconnects(); len(d) != 1 {
		t.Fatalf("refused reconnect disconnected: %v", d)
	}

	var usage struct {
		Usages []struct {
			NodeID   *int64 `json:"node_id"`
			NodeName string `json:"node_name"`
			Uplink   int64  `json:"uplink"`
			Downlink int64  `json:"downlink"`
		} `json:"usages"`
	}
	r = e.do("GET", "/api/nodes/usage", sudo, nil)
	e.expect(r, 200, "nodes usage")
	r.decode(t, &usage)
	if len(usage.Usages) != 1 || usage.Usages[0].NodeID == nil || *usage.Usages[0].NodeID != n1 ||
		usage.Usages[0].NodeName != "n1" || usage.Usages[0].Downlink != 300 {
		t.Fatalf("usage %+v", usage)
	}
	future := e.clock.Now().Add(48 * time.Hour).Format("2006-01-02T15:04:05")
	r = e.do("GET", "/api/nodes/usage?start="+future, sudo, nil)
	e.expect(r, 400, "start after end")
	r = e.do("GET", "/api/nodes/usage?start=2020-01-01&end=2020-01-02", sudo, nil)
	e.expect(r, 200, "old range")
	r.decode(t, &usage)
	if len(usage.Usages) != 1 || usage.Usages[0].Downlink != 0 {
		t.Fatalf("old range %+v", usage)
	}
	e.expect(e.do("GET", "/api/nodes/usage?start=yesterday", sudo, nil), 400, "bad date")
}
