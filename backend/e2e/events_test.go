package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/outpost-panel/outpost/nodes/xraycore/xraytest"
)

// eventStream reads a dashboard's events socket in the background.
type eventStream struct {
	msgs chan map[string]any
}

func openEvents(t testing.TB, p *panel, token string) *eventStream {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial("ws://"+p.addr+"/api/events?token="+url.QueryEscape(token), nil)
	if err != nil {
		t.Fatalf("dialing %s events: %v", p.name, err)
	}
	t.Cleanup(func() { c.Close() })
	s := &eventStream{msgs: make(chan map[string]any, 1024)}
	go func() {
		defer close(s.msgs)
		for {
			_, data, err := c.ReadMessage()
			if err != nil {
				return
			}
			var m map[string]any
			if json.Unmarshal(data, &m) == nil {
				s.msgs <- m
			}
		}
	}()
	return s
}

// await returns the first message that satisfies match, failing the test
// after within.
func (s *eventStream) await(t testing.TB, within time.Duration, what string, match func(m map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				t.Fatalf("events socket closed waiting for %s", what)
			}
			if match(m) {
				return m
			}
		case <-deadline:
			t.Fatalf("no event within %s: %s", within, what)
		}
	}
}

func eventNames(m map[string]any) []string {
	var out []string
	if list, ok := m["usernames"].([]any); ok {
		for _, v := range list {
			out = append(out, v.(string))
		}
	}
	return out
}

func loginAs(t testing.TB, p *panel, user, pass string) string {
	t.Helper()
	resp, err := http.PostForm(p.url()+"/api/admin/token", url.Values{"username": {user}, "password": {pass}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var login struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&login); err != nil || login.AccessToken == "" {
		t.Fatalf("%s login: HTTP %d, %v", user, resp.StatusCode, err)
	}
	return login.AccessToken
}

// TestEventsAcrossReplicas: two replicas on one PostgreSQL and one Redis.
// Dashboards connected to B see a user created through A, a reseller's
// dashboard sees only its own users, and a node held by A going offline
// shows on B's socket.
func TestEventsAcrossReplicas(t *testing.T) {
	be := newSharedBackends(t)
	a, b := be.replica(t, "A"), be.replica(t, "B")
	a.mustCall(t, "PUT", "/api/core/config", xraytest.ServerConfig(testPorts(t)), nil)
	a.mustCall(t, "POST", "/api/admin", map[string]any{"username": "reseller", "password": "reseller-pass-1", "is_sudo": false}, nil)
	resellerTok := loginAs(t, a, "reseller", "reseller-pass-1")

	sudo := openEvents(t, b, b.token)
	reseller := openEvents(t, b, resellerTok)
	isType := func(typ string) func(map[string]any) bool {
		return func(m map[string]any) bool { return m["type"] == typ }
	}
	sudo.await(t, 10*time.Second, "hello on B (sudo)", isType("hello"))
	reseller.await(t, 10*time.Second, "hello on B (reseller)", isType("hello"))

	created := time.Now()
	a.createUser(t, "ev_by_sudo", nil)
	sudo.await(t, 10*time.Second, "B's sudo socket to name the user created through A", func(m map[string]any) bool {
		return m["type"] == "users" && slices.Contains(eventNames(m), "ev_by_sudo")
	})
	t.Logf("user created through A reached B's socket %s later", time.Since(created).Round(time.Millisecond))

	// The reseller creates a user through A: the first users event its
	// socket on B gets names that user alone, never the sudo's.
	req, _ := http.NewRequest("POST", a.url()+"/api/user", jsonBody(t, map[string]any{
		"username": "ev_by_reseller", "proxies": map[string]any{"vless": map[string]any{}},
	}))
	req.Header.Set("Authorization", "Bearer "+resellerTok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("reseller creating a user: %v, %v", resp, err)
	}
	resp.Body.Close()
	m := reseller.await(t, 10*time.Second, "the reseller's users event", func(m map[string]any) bool {
		if m["type"] == "node" {
			t.Errorf("a reseller's socket got a node event: %v", m)
		}
		return m["type"] == "users"
	})
	if got := eventNames(m); !slices.Equal(got, []string{"ev_by_reseller"}) {
		t.Fatalf("the reseller's socket got users %v, want only its own ev_by_reseller", got)
	}

	// A node held by A connects, then stops: B's sudo socket sees both.
	n := a.createNode(t, "edge-events")
	nd := startNode(t, a.url(), n.Token, t.TempDir())
	isNode := func(pred func(status string) bool) func(map[string]any) bool {
		return func(m map[string]any) bool {
			id, _ := m["id"].(float64)
			status, _ := m["status"].(string)
			return m["type"] == "node" && int64(id) == n.ID && pred(status)
		}
	}
	sudo.await(t, 30*time.Second, "B's socket to report the node connected", isNode(func(s string) bool { return s == "connected" }))
	nd.stop()
	stopped := time.Now()
	m = sudo.await(t, 20*time.Second, "B's socket to report the stopped node offline", isNode(func(s string) bool { return s != "connected" }))
	t.Logf("node stopped: B's socket reported %q %s later (message %v)", m["status"], time.Since(stopped).Round(time.Millisecond), m["message"])
}

func jsonBody(t testing.TB, v any) *bytes.Reader {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(data)
}
