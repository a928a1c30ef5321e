package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/alerts"
	"github.com/outpost-panel/outpost/backend/model"
)

// GET /api/alerts lists what the evaluator fired, to sudo admins only;
// PUT /api/alerts/settings refuses a threshold out of range and changes
// nothing.
func TestAlertsAPI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sudo, alice := e.token(e.sudo), e.token(e.alice)

	e.expect(e.do("GET", "/api/alerts", alice, nil), 403, "a regular admin listing alerts")
	e.expect(e.do("PUT", "/api/alerts/settings", alice, map[string]any{"node_offline_seconds": 60}), 403, "a regular admin changing thresholds")

	for body, want := range map[string]string{
		`{"node_offline_seconds": 9}`:                       "node_offline_seconds: 0 (off) or between 10 and",
		`{"cert_expiry_days": 400, "backlog_reports": 1}`:   "backlog_reports: 0 (off) or between 2 and 1000; cert_expiry_days",
		`{"revision_lag_revisions": -1}`:                    "revision_lag_revisions",
		`{"node_offline_seconds": 99999999999999999999999}`: "",
		`{"unknown_threshold": 5}`:                          "",
	} {
		r := e.do("PUT", "/api/alerts/settings", sudo, []byte(body))
		if r.status != 400 && r.status != 422 || !strings.Contains(r.detail(), want) {
			t.Errorf("PUT %s: HTTP %d %q, want 400/422 naming %q", body, r.status, r.detail(), want)
		}
	}
	var set map[string]int64
	e.do("GET", "/api/alerts/settings", sudo, nil).decode(t, &set)
	if set["node_offline_seconds"] != 300 || set["cert_expiry_days"] != 14 || set["backlog_reports"] != 5 {
		t.Fatalf("refused changes were stored: %v", set)
	}
	r := e.do("PUT", "/api/alerts/settings", sudo, map[string]any{"node_offline_seconds": 60})
	e.expect(r, 200, "setting the offline threshold")

	n := &model.Node{Name: "edge-9"}
	if _, err := e.st.CreateNode(ctx, n); err != nil {
		t.Fatal(err)
	}
	fence, _, err := e.st.NodeSessionStart(ctx, n.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.NodeSetStatus(ctx, n.ID, fence, model.NodeConnecting, "disconnected", "", ""); err != nil {
		t.Fatal(err)
	}
	ev := alerts.New(e.st, hubAtRevision{e.hub}, alerts.Options{Now: e.clock.Now})
	var list struct {
		Alerts []map[string]any `json:"alerts"`
	}
	if _, _, err := ev.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	e.do("GET", "/api/alerts", sudo, nil).decode(t, &list)
	if len(list.Alerts) != 0 {
		t.Fatalf("pending alert listed: %v", list.Alerts)
	}
	e.clock.Advance(2 * time.Minute)
	if _, _, err := ev.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	e.do("GET", "/api/alerts", sudo, nil).decode(t, &list)
	if len(list.Alerts) != 1 || list.Alerts[0]["rule"] != "node_offline" || list.Alerts[0]["target"] != "node edge-9" ||
		list.Alerts[0]["threshold"] != 60.0 || list.Alerts[0]["value"] != 120.0 {
		t.Fatalf("GET /api/alerts: %v", list.Alerts)
	}
}

// hubAtRevision is the test hub with the revision nodes are brought to
// (nothing here: the lag rule stays quiet).
type hubAtRevision struct{ *recordingHub }

func (hubAtRevision) DesiredRevision() int64 { return 0 }
