package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/outpost-panel/outpost/backend/config"
	"github.com/outpost-panel/outpost/backend/internal/fleet"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// scrape reads every metric family the panel serves on /metrics.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scraping: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("scraping: HTTP %d", resp.StatusCode)
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// sum adds the values (or histogram counts) of a family's series whose
// labels include match.
func sum(fams map[string]*dto.MetricFamily, name string, match map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	var total float64
next:
	for _, m := range f.Metric {
		for k, v := range match {
			found := false
			for _, l := range m.Label {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Histogram != nil:
			total += float64(m.Histogram.GetSampleCount())
		}
	}
	return total
}

// The panel's /metrics (on --metrics-listen) has every family the fleet
// dashboard reads, and they move when nodes connect, acknowledge a delta
// and send usage, and when the API answers a request.
func TestMetricsFamiliesExistAndMove(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	seeded, err := fleet.Seed(ctx, "", dir, "root_admin", 50, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Defaults()
	cfg.Listen, cfg.MetricsListen, cfg.DataDir = freeAddr(t), freeAddr(t), dir
	cfg.SudoUsername, cfg.SudoPassword = "root_admin", "correct-horse-battery"
	cfg.PingInterval, cfg.UsageInterval = time.Second, time.Second
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Run(rctx, cfg, slog.New(slog.DiscardHandler), nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("panel: %v", err)
		}
	})
	base := "http://" + cfg.Listen
	waitUntil(t, "panel /healthz", func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	before := scrape(t, cfg.MetricsListen)
	for _, name := range []string{
		"outpost_node_sessions", "outpost_hub_revision", "outpost_feed_revision", "outpost_feed_lag_revisions",
		"outpost_replica_leader", "outpost_http_request_duration_seconds", "go_goroutines", "process_resident_memory_bytes",
		"go_sql_open_connections", "go_sql_wait_duration_seconds_total", "outpost_revision_hold_seconds",
	} {
		if before[name] == nil {
			t.Errorf("/metrics has no %s", name)
		}
	}
	// One series per alert rule, each 0 with every node fine.
	if got := before["outpost_alerts_active"].GetMetric(); len(got) != 4 || sum(before, "outpost_alerts_active", nil) != 0 ||
		sum(before, "outpost_alerts_active", map[string]string{"rule": "node_offline"}) != 0 {
		t.Errorf("outpost_alerts_active: %v, want 4 rules at 0", got)
	}

	fl, err := fleet.New(fleet.Config{PanelURLs: []string{base}, Tokens: seeded.Tokens, VerifyEvery: 1,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		UsageEvery: 200 * time.Millisecond, UsageEmails: seeded.Emails[:2]})
	if err != nil {
		t.Fatal(err)
	}
	fl.Start(ctx, 0)
	t.Cleanup(fl.Stop)
	hubRevision := func() int64 { return int64(sum(scrape(t, cfg.MetricsListen), "outpost_hub_revision", nil)) }
	waitUntil(t, "the fleet to converge", func() bool { ok, _ := fl.Converged(hubRevision()); return ok })

	// One change through the API: a delta to each node, acknowledged.
	token := login(t, base, cfg.SudoUsername, cfg.SudoPassword)
	revBefore := hubRevision()
	req, _ := http.NewRequest("PUT", base+"/api/user/"+fleet.UserName(1), strings.NewReader(`{"data_limit":1073741824}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("modifying a user: %v %v", err, resp)
	}
	resp.Body.Close()
	waitUntil(t, "the fleet to ack the change", func() bool {
		rev := hubRevision()
		ok, _ := fl.Converged(rev)
		return ok && rev > revBefore
	})
	waitUntil(t, "usage batches", func() bool { return fl.Stats().UsageBatches >= 3 })

	after := scrape(t, cfg.MetricsListen)
	moved := []struct {
		name  string
		match map[string]string
		by    float64
	}{
		{"outpost_node_sessions", nil, 3},
		{"outpost_node_sessions_opened_total", nil, 3},
		{"outpost_node_snapshots_sent_total", nil, 3},
		{"outpost_node_deltas_sent_total", nil, 3},
		{"outpost_node_ack_seconds", map[string]string{"kind": "snapshot"}, 3},
		{"outpost_node_ack_seconds", map[string]string{"kind": "delta"}, 3},
		{"outpost_node_usage_batches_total", map[string]string{"result": "applied"}, 3},
		{"outpost_http_request_duration_seconds", map[string]string{"route": "/api/user/:username", "method": "PUT", "code": "200"}, 1},
		// The change took and released the revision row.
		{"outpost_revision_hold_seconds", nil, 1},
		{"outpost_revision_hold_statements", nil, 1},
	}
	for _, m := range moved {
		if d := sum(after, m.name, m.match) - sum(before, m.name, m.match); d < m.by {
			t.Errorf("%s%v moved by %v, want at least %v", m.name, m.match, d, m.by)
		}
	}
	if got := len(after["outpost_node_revision_lag"].GetMetric()); got != 3 {
		t.Errorf("outpost_node_revision_lag has %d series, want one per node (3)", got)
	}
	if sum(after, "outpost_replica_leader", nil) != 1 {
		t.Errorf("the only replica is not the jobs leader")
	}
	for _, m := range after["outpost_http_request_duration_seconds"].GetMetric() {
		for _, l := range m.Label {
			if l.GetName() == "route" && strings.Contains(l.GetValue(), fleet.UserName(1)) {
				t.Errorf("HTTP latency labelled by the raw URL %q", l.GetValue())
			}
		}
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func login(t *testing.T, base, user, pass string) string {
	t.Helper()
	resp, err := http.PostForm(base+"/api/admin/token", url.Values{"username": {user}, "password": {pass}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := jsonDecode(resp, &out); err != nil || out.AccessToken == "" {
		t.Fatalf("login: HTTP %d, %v", resp.StatusCode, err)
	}
	return out.AccessToken
}

func jsonDecode(resp *http.Response, out any) error {
	if resp.StatusCode != 200 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
