package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/internal/fleet"
)

// alertReceiver is a webhook receiver that keeps every alert notification.
type alertReceiver struct {
	mu     sync.Mutex
	got    []map[string]any
	secret []string
}

func (r *alertReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	raw, _ := io.ReadAll(req.Body)
	var batch []map[string]any
	if err := json.Unmarshal(raw, &batch); err != nil {
		http.Error(w, "not a JSON array", 400)
		return
	}
	r.mu.Lock()
	r.secret = append(r.secret, req.Header.Get("x-webhook-secret"))
	for _, n := range batch {
		if a, _ := n["action"].(string); a == "alert.fired" || a == "alert.resolved" {
			r.got = append(r.got, n)
		}
	}
	r.mu.Unlock()
}

// count is how many notifications of action about rule and subject came.
func (r *alertReceiver) count(action, rule, subject string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.got {
		if m["action"] == action && m["rule"] == rule && m["subject"] == subject {
			n++
		}
	}
	return n
}

// TestNodeOfflineAlert: a real panel with a webhook, one node (the
// protocol-simulated agent of backend/internal/fleet). The node goes away:
// after the offline threshold the webhook gets alert.fired, once, and
// GET /api/alerts lists it; the node comes back: alert.resolved, once, and
// the list is empty.
func TestNodeOfflineAlert(t *testing.T) {
	recv := &alertReceiver{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: recv, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	p := startPanelWith(t, t.TempDir(), "", nil,
		"--alert-interval", "500ms",
		"--webhook-address", "http://"+ln.Addr().String()+"/hook", "--webhook-secret", "s3cret")

	// Bad thresholds: 400 naming the field, nothing stored.
	var before map[string]int64
	p.mustCall(t, "GET", "/api/alerts/settings", nil, &before)
	if before["node_offline_seconds"] != 300 || before["cert_expiry_days"] != 14 {
		t.Fatalf("default settings %v", before)
	}
	if code := p.call(t, "PUT", "/api/alerts/settings", map[string]any{"node_offline_seconds": 3}, nil); code != 400 {
		t.Fatalf("offline threshold of 3 s: HTTP %d, want 400", code)
	}
	if code := p.call(t, "PUT", "/api/alerts/settings", map[string]any{"backlog_size": "lots"}, nil); code != 422 {
		t.Fatalf("a string threshold: HTTP %d, want 422", code)
	}
	var after map[string]int64
	p.mustCall(t, "GET", "/api/alerts/settings", nil, &after)
	if after["node_offline_seconds"] != 300 {
		t.Fatalf("a refused change was stored: %v", after)
	}
	const threshold = 10 * time.Second
	p.mustCall(t, "PUT", "/api/alerts/settings", map[string]any{"node_offline_seconds": int(threshold.Seconds())}, &after)
	if after["node_offline_seconds"] != 10 || after["backlog_size"] != 500 {
		t.Fatalf("after PUT: %v (fields left out keep their values)", after)
	}

	n := p.createNode(t, "edge-1")
	subject := "node:" + jsonNumber(n.ID)
	fl, err := fleet.New(fleet.Config{PanelURLs: []string{p.url()}, Tokens: []string{n.Token},
		MinBackoff: 100 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fl.Start(ctx, 0)
	t.Cleanup(fl.Stop)
	waitFor(t, 30*time.Second, "node to connect", func() bool { return p.node(t, n.ID).Status == "connected" })

	type alertList struct {
		Alerts []struct {
			Rule, Subject, Target, Message string
			Value, Threshold               float64
		} `json:"alerts"`
	}
	var list alertList
	p.mustCall(t, "GET", "/api/alerts", nil, &list)
	if len(list.Alerts) != 0 {
		t.Fatalf("alerts with every node up: %+v", list.Alerts)
	}

	fl.Stop()
	gone := time.Now()
	waitFor(t, 30*time.Second, "node to go offline", func() bool { return p.node(t, n.ID).Status != "connected" })
	waitFor(t, threshold+45*time.Second, "alert.fired for the offline node", func() bool {
		return recv.count("alert.fired", "node_offline", subject) > 0
	})
	if waited := time.Since(gone); waited < threshold {
		t.Fatalf("alert.fired %s after the node left, before the %s threshold", waited, threshold)
	}
	p.mustCall(t, "GET", "/api/alerts", nil, &list)
	if len(list.Alerts) != 1 || list.Alerts[0].Rule != "node_offline" || list.Alerts[0].Target != "node edge-1" ||
		list.Alerts[0].Threshold != threshold.Seconds() || list.Alerts[0].Value < threshold.Seconds() {
		t.Fatalf("GET /api/alerts while offline: %+v", list.Alerts)
	}
	recv.mu.Lock()
	fired := recv.got[0]
	secrets := append([]string(nil), recv.secret...)
	recv.mu.Unlock()
	if fired["target"] != "node edge-1" || fired["threshold"] != threshold.Seconds() || secrets[0] != "s3cret" {
		t.Fatalf("alert.fired payload %v (secret %q)", fired, secrets[0])
	}

	// Several evaluations later, still offline: nothing more.
	time.Sleep(3 * time.Second)
	fl.Start(ctx, 0)
	waitFor(t, 30*time.Second, "node to reconnect", func() bool { return p.node(t, n.ID).Status == "connected" })
	waitFor(t, 30*time.Second, "alert.resolved for the node", func() bool {
		return recv.count("alert.resolved", "node_offline", subject) > 0
	})
	time.Sleep(2 * time.Second)
	if f, r := recv.count("alert.fired", "node_offline", subject), recv.count("alert.resolved", "node_offline", subject); f != 1 || r != 1 {
		t.Fatalf("fired %d and resolved %d times, want once each", f, r)
	}
	p.mustCall(t, "GET", "/api/alerts", nil, &list)
	if len(list.Alerts) != 0 {
		t.Fatalf("GET /api/alerts after the node returned: %+v", list.Alerts)
	}
}

func jsonNumber(id int64) string {
	b, _ := json.Marshal(id)
	return string(b)
}
