package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/outpost-panel/outpost/nodes/xraycore/xraytest"
)

// TestLiveLogs watches a real node's Xray access log through Marzban's WS
// /api/core/logs and /api/node/{id}/logs while a real client connects, and
// checks the refusals Marzban's clients expect (close codes 4401, 4403,
// 4400, 4404).
func TestLiveLogs(t *testing.T) {
	p := startPanel(t, t.TempDir(), "")
	ports := testPorts(t)
	p.mustCall(t, "PUT", "/api/core/config", accessLogConfig(t, ports), nil)
	n := p.createNode(t, "edge-logs")
	nd := startNode(t, p.url(), n.Token, t.TempDir())
	waitFor(t, 15*time.Second, "node connected", func() bool { return p.node(t, n.ID).Status == "connected" })
	u := p.createUser(t, "grace", nil)
	socks := client(t, u, "vless", ports["vless-tcp"], nil)
	echo := xraytest.StartEcho(t)
	waitFor(t, 15*time.Second, "grace connected", func() bool { return roundTrip(socks, echo, []byte("hi")) == nil })

	dial := func(path string, q url.Values) (*websocket.Conn, error) { return dialLogs(p, path, q) }
	watch := func(c *websocket.Conn, want string) string {
		t.Helper()
		return watchLogs(t, c, want, func() { _ = roundTrip(socks, echo, []byte("log me")) })
	}

	if nd.health(t).LogsStreaming {
		t.Fatal("the node streams logs with nobody watching")
	}
	all, err := dial("/api/core/logs", url.Values{"token": {p.token}})
	if err != nil {
		t.Fatal(err)
	}
	msg := watch(all, ".grace")
	if !strings.HasPrefix(msg, "[edge-logs] ") || !strings.Contains(msg, "accepted") {
		t.Errorf("core log line %q: want the node's name first and Xray's access log line", msg)
	}
	if !nd.health(t).LogsStreaming {
		t.Error("the node's health does not say it streams logs while watched")
	}
	all.Close()

	one, err := dial(fmt.Sprintf("/api/node/%d/logs", n.ID), url.Values{"token": {p.token}, "interval": {"0.5"}})
	if err != nil {
		t.Fatal(err)
	}
	msg = watch(one, ".grace")
	if strings.HasPrefix(msg, "[edge-logs]") {
		t.Errorf("node log line %q carries a node prefix", msg)
	}
	one.Close()
	// Nobody watches any more: the node stops within the announcement's
	// lifetime (about 7 s).
	waitFor(t, 20*time.Second, "the node to stop streaming logs", func() bool { return !nd.health(t).LogsStreaming })

	// Refusals: accepted, then closed with Marzban's codes.
	p.mustCall(t, "POST", "/api/admin", map[string]any{"username": "helper", "password": "helper-pass-1", "is_sudo": false}, nil)
	resp, err := http.PostForm(p.url()+"/api/admin/token", url.Values{"username": {"helper"}, "password": {"helper-pass-1"}})
	if err != nil {
		t.Fatal(err)
	}
	var login struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	if err != nil || login.AccessToken == "" {
		t.Fatalf("helper login: HTTP %d, %v", resp.StatusCode, err)
	}
	tok := login.AccessToken
	for _, tc := range []struct {
		name string
		path string
		q    url.Values
		code int
	}{
		{"no token", "/api/core/logs", url.Values{}, 4401},
		{"bad token", "/api/core/logs", url.Values{"token": {"nope"}}, 4401},
		{"not sudo", "/api/core/logs", url.Values{"token": {tok}}, 4403},
		{"interval too long", "/api/core/logs", url.Values{"token": {p.token}, "interval": {"11"}}, 4400},
		{"interval not a number", "/api/core/logs", url.Values{"token": {p.token}, "interval": {"soon"}}, 4400},
		{"unknown node", "/api/node/999999/logs", url.Values{"token": {p.token}}, 4404},
	} {
		c, err := dial(tc.path, tc.q)
		if err != nil {
			t.Fatalf("%s: dial: %v", tc.name, err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err = c.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != tc.code {
			t.Errorf("%s: %v, want close code %d", tc.name, err, tc.code)
		}
		c.Close()
	}
	var core struct {
		LogsWebsocket string `json:"logs_websocket"`
	}
	p.mustCall(t, "GET", "/api/core", nil, &core)
	if core.LogsWebsocket != "/api/core/logs" {
		t.Errorf("GET /api/core logs_websocket = %q", core.LogsWebsocket)
	}
}

// TestLiveLogsAcrossReplicas: the node's session is on replica A, the
// admin watches on replica B; the lines travel through Redis.
func TestLiveLogsAcrossReplicas(t *testing.T) {
	be := newSharedBackends(t)
	a, b := be.replica(t, "A"), be.replica(t, "B")
	ports := testPorts(t)
	a.mustCall(t, "PUT", "/api/core/config", accessLogConfig(t, ports), nil)
	n := a.createNode(t, "edge-far")
	nd := startNode(t, a.url(), n.Token, t.TempDir())
	waitFor(t, 20*time.Second, "node connected to A", func() bool { return nd.health(t).Connected })
	u := b.createUser(t, "heidi", nil)
	socks := client(t, u, "vless", ports["vless-tcp"], nil)
	echo := xraytest.StartEcho(t)
	waitFor(t, 15*time.Second, "heidi connected", func() bool { return roundTrip(socks, echo, []byte("hi")) == nil })
	c, err := dialLogs(b, "/api/core/logs", url.Values{"token": {b.token}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := watchLogs(t, c, ".heidi", func() { _ = roundTrip(socks, echo, []byte("log me")) })
	if !strings.HasPrefix(msg, "[edge-far] ") {
		t.Errorf("line %q", msg)
	}
}

// accessLogConfig is the test server config with Xray's access log on
// (the test config turns it off; Xray's default, and most operators'
// configs, have it on).
func accessLogConfig(t testing.TB, ports map[string]int) []byte {
	t.Helper()
	var cfg map[string]any
	if err := json.Unmarshal(xraytest.ServerConfig(ports), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["log"] = map[string]any{"loglevel": "warning"}
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func dialLogs(p *panel, path string, q url.Values) (*websocket.Conn, error) {
	c, _, err := websocket.DefaultDialer.Dial("ws://"+p.addr+path+"?"+q.Encode(), nil)
	return c, err
}

// watchLogs reads messages until one contains want, calling poke every
// 300 ms meanwhile (a new connection makes a new access log line); it
// fails the test after 20 s.
func watchLogs(t testing.TB, c *websocket.Conn, want string, poke func()) string {
	t.Helper()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
				poke()
			}
		}
	}()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("no log message with %q: %v", want, err)
		}
		if strings.Contains(string(msg), want) {
			return string(msg)
		}
	}
}
