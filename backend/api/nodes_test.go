package api_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/hub"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/nodes/protocol"
)

func TestNodes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tok := e.token(e.sudo)

	r := e.do("POST", "/api/node", tok, map[string]any{
		"name": "fra-1", "address": "fra.example.net", "port": 62050, "api_port": 62051,
		"usage_coefficient": 1.5, "add_as_new_host": true,
	})
	e.expect(r, 200, "create node")
	var created map[string]any
	r.decode(t, &created)
	token, _ := created["token"].(string)
	id := int64(created["id"].(float64))
	if token == "" || created["name"] != "fra-1" || created["usage_coefficient"] != 1.5 || created["status"] != "connecting" {
		t.Fatalf("created %s", r.body)
	}
	if n, err := e.st.NodeByToken(ctx, token); err != nil || n.ID != id {
		t.Fatalf("the returned token does not authenticate node %d: %v", id, err)
	}

	// The token is shown once: reads never carry it.
	r = e.do("GET", fmt.Sprintf("/api/node/%d", id), tok, nil)
	e.expect(r, 200, "get node")
	var got map[string]any
	r.decode(t, &got)
	if _, ok := got["token"]; ok {
		t.Fatalf("GET shows the token: %s", r.body)
	}
	for _, k := range []string{"id", "name", "address", "port", "api_port", "usage_coefficient", "xray_version", "status", "message", "last_seen", "applied_revision"} {
		if _, ok := got[k]; !ok {
			t.Errorf("node lacks %q: %s", k, r.body)
		}
	}

	// A session held by this replica shows as connected.
	e.hub.mu.Lock()
	e.hub.connected[id] = true
	e.hub.mu.Unlock()
	r = e.do("GET", "/api/nodes", tok, nil)
	e.expect(r, 200, "list nodes")
	var list []map[string]any
	r.decode(t, &list)
	if len(list) != 1 || list[0]["status"] != "connected" || list[0]["token"] != nil {
		t.Fatalf("list %s", r.body)
	}

	r = e.do("PUT", fmt.Sprintf("/api/node/%d", id), tok, map[string]any{"name": "fra-2", "usage_coefficient": 2})
	e.expect(r, 200, "modify node")
	r.decode(t, &got)
	if got["name"] != "fra-2" || got["usage_coefficient"] != float64(2) || got["address"] != "fra.example.net" {
		t.Fatalf("after modify %s", r.body)
	}

	// Rotation: the new token works, the old one does not, the session is cut.
	r = e.do("POST", fmt.Sprintf("/api/node/%d/token", id), tok, nil)
	e.expect(r, 200, "rotate token")
	var rotated struct {
		Token string `json:"token"`
	}
	r.decode(t, &rotated)
	if rotated.Token == "" || rotated.Token == token {
		t.Fatalf("rotate: %s", r.body)
	}
	if _, err := e.st.NodeByToken(ctx, token); !errors.Is(err, model.ErrUnauthorized) {
		t.Fatalf("old token still authenticates: %v", err)
	}
	if _, err := e.st.NodeByToken(ctx, rotated.Token); err != nil {
		t.Fatalf("new token: %v", err)
	}
	if !slices.Equal(e.hub.Disconnects(), []int64{id}) {
		t.Fatalf("disconnects after rotation %v", e.hub.Disconnects())
	}

	r = e.do("GET", "/api/node/settings", tok, nil)
	e.expect(r, 200, "node settings")
	var settings map[string]any
	r.decode(t, &settings)
	if settings["certificate"] != "" || settings["min_node_version"] == "" || settings["protocol_version"] != float64(protocol.Version) {
		t.Fatalf("settings %s", r.body)
	}

	e.expect(e.do("DELETE", fmt.Sprintf("/api/node/%d", id), tok, nil), 200, "delete node")
	if !slices.Equal(e.hub.Disconnects(), []int64{id, id}) {
		t.Fatalf("disconnects after delete %v", e.hub.Disconnects())
	}
	e.expect(e.do("GET", fmt.Sprintf("/api/node/%d", id), tok, nil), 404, "get deleted node")
}

func TestNodesBadInput(t *testing.T) {
	e := newEnv(t)
	tok := e.token(e.sudo)
	r := e.do("POST", "/api/node", tok, map[string]any{"name": "taken"})
	e.expect(r, 200, "create node")
	var n map[string]any
	r.decode(t, &n)
	id := int64(n["id"].(float64))
	path := fmt.Sprintf("/api/node/%d", id)

	for _, tc := range []struct {
		name, method, path, body string
		status                   int
	}{
		{"malformed JSON", "POST", "/api/node", `{"name":`, 422},
		{"name number", "POST", "/api/node", `{"name":1}`, 422},
		{"port string", "POST", "/api/node", `{"name":"x","port":"80"}`, 422},
		{"unknown field", "POST", "/api/node", `{"name":"x","secret":"y"}`, 422},
		{"missing name", "POST", "/api/node", `{"address":"a.example"}`, 400},
		{"empty name", "POST", "/api/node", `{"name":"  "}`, 400},
		{"long name", "POST", "/api/node", `{"name":"` + strings.Repeat("n", 65) + `"}`, 400},
		{"port out of range", "POST", "/api/node", `{"name":"x","port":70000}`, 422},
		{"zero coefficient", "POST", "/api/node", `{"name":"x","usage_coefficient":0}`, 400},
		{"negative coefficient", "POST", "/api/node", `{"name":"x","usage_coefficient":-1}`, 422},
		{"address with a space", "POST", "/api/node", `{"name":"x","address":"a b"}`, 400},
		{"duplicate name", "POST", "/api/node", `{"name":"taken"}`, 409},
		{"unknown id", "GET", "/api/node/999999", "", 404},
		{"zero id", "GET", "/api/node/0", "", 404},
		{"non-numeric id", "GET", "/api/node/abc", "", 422},
		{"unknown id modify", "PUT", "/api/node/999999", `{"name":"y"}`, 404},
		{"non-numeric id modify", "PUT", "/api/node/1x", `{"name":"y"}`, 422},
		{"modify malformed", "PUT", path, `{"name"`, 422},
		{"modify negative coefficient", "PUT", path, `{"usage_coefficient":-2}`, 422},
		{"modify empty name", "PUT", path, `{"name":""}`, 400},
		{"modify unknown field", "PUT", path, `{"status":"disabled","name":"z"}`, 422},
		{"unknown id delete", "DELETE", "/api/node/999999", "", 404},
		{"non-numeric id delete", "DELETE", "/api/node/x", "", 422},
		{"unknown id rotate", "POST", "/api/node/999999/token", "", 404},
		{"non-numeric id rotate", "POST", "/api/node/x/token", "", 422},
	} {
		before := e.snapshot()
		var body any
		if tc.body != "" {
			body = tc.body
		}
		e.expect(e.do(tc.method, tc.path, tok, body), tc.status, tc.name)
		e.assertUnchanged(before, tc.name)
	}
	if d := e.hub.Disconnects(); len(d) != 0 {
		t.Fatalf("refused requests disconnected nodes %v", d)
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

// TestNodeCoreRestart: POST /api/node/{id}/restart reaches the hub for a
// connected node only; an unknown node is 404, a bad id 422, a node no
// replica holds a session for 409, and refusals ask the hub nothing.
func TestNodeCoreRestart(t *testing.T) {
	e := newEnv(t)
	sudo := e.token(e.sudo)
	r := e.do("POST", "/api/node", sudo, map[string]any{"name": "ams-1"})
	e.expect(r, 200, "create node")
	var created struct {
		ID int64 `json:"id"`
	}
	r.decode(t, &created)
	path := fmt.Sprintf("/api/node/%d/restart", created.ID)

	e.expect(e.do("POST", path, "", nil), 401, "anonymous")
	e.expect(e.do("POST", path, e.token(e.alice), nil), 403, "regular admin")
	e.expect(e.do("POST", "/api/node/999/restart", sudo, nil), 404, "unknown node")
	e.expect(e.do("POST", "/api/node/x/restart", sudo, nil), 422, "bad id")
	r = e.do("POST", path, sudo, nil)
	e.expect(r, 409, "node not connected")
	if d := r.detail(); d != "Node is not connected" {
		t.Fatalf("409 detail %q", d)
	}
	e.hub.mu.Lock()
	asked := len(e.hub.restarted)
	e.hub.connected[created.ID] = true
	e.hub.mu.Unlock()
	if asked != 0 {
		t.Fatalf("refused restarts reached the hub %d times", asked)
	}
	e.expect(e.do("POST", path, sudo, nil), 200, "restart")
	e.hub.mu.Lock()
	defer e.hub.mu.Unlock()
	if !slices.Equal(e.hub.restarted, []int64{created.ID}) || e.hub.restarts != 0 {
		t.Fatalf("hub asked to restart %v (all: %d); want only node %d", e.hub.restarted, e.hub.restarts, created.ID)
	}
}

// TestNodeHealthAndPanelRevision: a node reads with the panel's current
// revision and, once its agent reported, with users, journal backlog,
// inbound errors and core restarts; null health before any report.
func TestNodeHealthAndPanelRevision(t *testing.T) {
	e := newEnv(t)
	sudo := e.token(e.sudo)
	r := e.do("POST", "/api/node", sudo, map[string]any{"name": "ams-1"})
	e.expect(r, 200, "create node")
	type health struct {
		Users          int               `json:"users"`
		JournalBacklog int               `json:"journal_backlog"`
		InboundErrors  map[string]string `json:"inbound_errors"`
		CoreRestarts   int               `json:"core_restarts"`
		ReportedAt     string            `json:"reported_at"`
	}
	type node struct {
		ID            int64   `json:"id"`
		PanelRevision int64   `json:"panel_revision"`
		Health        *health `json:"health"`
	}
	var n node
	r.decode(t, &n)
	rev, err := e.st.Revision(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n.Health != nil || n.PanelRevision != rev || rev == 0 {
		t.Fatalf("new node %s; want null health and panel_revision %d", r.body, rev)
	}
	e.createUser(e.alice, "usr_h1")
	at := time.Date(2026, 5, 4, 3, 2, 1, 0, time.UTC)
	e.hub.mu.Lock()
	e.hub.health = map[int64]hub.NodeHealth{n.ID: {NodeID: n.ID, Users: 7, JournalBacklog: 3,
		InboundErrors: map[string]string{"vless-in": "port taken"}, CoreRestarts: 2, ReportedAt: at}}
	e.hub.mu.Unlock()

	r = e.do("GET", "/api/nodes", sudo, nil)
	e.expect(r, 200, "list")
	var list []node
	r.decode(t, &list)
	r = e.do("GET", fmt.Sprintf("/api/node/%d", n.ID), sudo, nil)
	e.expect(r, 200, "get")
	var one node
	r.decode(t, &one)
	for _, got := range []node{list[0], one} {
		h := got.Health
		if got.PanelRevision != rev+1 || h == nil || h.Users != 7 || h.JournalBacklog != 3 || h.CoreRestarts != 2 ||
			h.InboundErrors["vless-in"] != "port taken" || h.ReportedAt != "2026-05-04T03:02:01" {
			t.Fatalf("node %+v health %+v; want panel_revision %d and the reported health", got, h, rev+1)
		}
	}
}
