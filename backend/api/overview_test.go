package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/store"
)

func TestOverview(t *testing.T) {
	e := newEnv(t)
	tok := e.token(e.sudo)
	e.createUser(e.alice, "ov_user")
	e.createUser(e.bob, "ov_other")
	r := e.do("POST", "/api/node", tok, map[string]any{"name": "ov-node", "address": "192.0.2.9"})
	e.expect(r, 200, "creating node")
	var n struct {
		ID int64 `json:"id"`
	}
	r.decode(t, &n)

	// Traffic: two batches this hour, one yesterday, one 40 days ago
	// (outside every span).
	ctx := context.Background()
	fence, _, err := e.db.NodeSessionStart(ctx, n.ID)
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	var uid int64
	if err := e.db.Read(ctx, func(tx *store.Tx) error {
		u, err := tx.UserByUsername("ov_user")
		if u != nil {
			uid = u.ID
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	seq := int64(0)
	apply := func(at time.Time, up, down int64) {
		t.Helper()
		seq++
		if _, err := e.db.ApplyUsage(ctx, n.ID, fence, seq-1, seq, at, []store.UserTraffic{{UserID: uid, Up: up, Down: down}}); err != nil {
			t.Fatal(err)
		}
	}
	apply(now, 100, 1000)
	apply(now, 10, 100)
	apply(now.Add(-24*time.Hour), 5, 50)
	apply(now.Add(-40*24*time.Hour), 7, 70)

	type point struct {
		At       string `json:"at"`
		Uplink   int64  `json:"uplink"`
		Downlink int64  `json:"downlink"`
	}
	var ov struct {
		Version  string `json:"version"`
		Revision int64  `json:"revision"`
		Replicas *int   `json:"replicas"`
		Users    struct {
			Total  int `json:"total"`
			Active int `json:"active"`
		} `json:"users"`
		Traffic struct {
			Today []point `json:"today"`
			Week  []point `json:"week"`
			Month []point `json:"month"`
		} `json:"traffic"`
		Nodes *struct {
			Up, Down int
			Nodes    []struct {
				ID          int64  `json:"id"`
				Status      string `json:"status"`
				RevisionLag int64  `json:"revision_lag"`
				Backlog     *int   `json:"journal_backlog"`
			} `json:"nodes"`
		} `json:"nodes"`
	}
	r = e.do("GET", "/api/overview", tok, nil)
	e.expect(r, 200, "overview")
	r.decode(t, &ov)
	// The test clock is 01:02 UTC: today has the hours 00:00 and 01:00.
	if len(ov.Traffic.Today) != 2 || len(ov.Traffic.Week) != 7 || len(ov.Traffic.Month) != 30 {
		t.Fatalf("spans of %d, %d, %d points", len(ov.Traffic.Today), len(ov.Traffic.Week), len(ov.Traffic.Month))
	}
	if p := ov.Traffic.Today[1]; p.Uplink != 110 || p.Downlink != 1100 || p.At != "2026-11-26T01:00:00" {
		t.Fatalf("this hour: %+v", p)
	}
	if p := ov.Traffic.Week[6]; p.Uplink != 110 || p.At != "2026-11-26T00:00:00" {
		t.Fatalf("today in the week: %+v", p)
	}
	if p := ov.Traffic.Week[5]; p.Uplink != 5 || p.Downlink != 50 {
		t.Fatalf("yesterday in the week: %+v", p)
	}
	var monthUp int64
	for _, p := range ov.Traffic.Month {
		monthUp += p.Uplink
	}
	if monthUp != 115 {
		t.Fatalf("month uplink %d, want 115 (the batch 40 days ago is outside)", monthUp)
	}
	if ov.Users.Total != 2 || ov.Replicas == nil || *ov.Replicas != 1 || ov.Version == "" || ov.Revision == 0 {
		t.Fatalf("overview: %+v", ov)
	}
	if ov.Nodes == nil || len(ov.Nodes.Nodes) != 1 || ov.Nodes.Down != 1 || ov.Nodes.Nodes[0].RevisionLag != ov.Revision {
		t.Fatalf("nodes: %+v (revision %d)", ov.Nodes, ov.Revision)
	}
	if b := ov.Nodes.Nodes[0].Backlog; b != nil {
		t.Fatalf("journal backlog %d of a node that never reported", *b)
	}
	// A node whose session reported 3 unsent journal entries shows them.
	e.hub.mu.Lock()
	e.hub.backlog = map[int64]int{n.ID: 3}
	e.hub.mu.Unlock()
	r = e.do("GET", "/api/overview", tok, nil)
	e.expect(r, 200, "overview")
	r.decode(t, &ov)
	if b := ov.Nodes.Nodes[0].Backlog; b == nil || *b != 3 {
		t.Fatalf("journal backlog %v, want 3", b)
	}

	// A reseller: its own users, the same traffic, no nodes.
	var res struct {
		Users struct {
			Total int `json:"total"`
		} `json:"users"`
		Nodes any `json:"nodes"`
	}
	r = e.do("GET", "/api/overview", e.token(e.alice), nil)
	e.expect(r, 200, "reseller overview")
	r.decode(t, &res)
	if res.Users.Total != 1 || res.Nodes != nil {
		t.Fatalf("reseller overview: %s", r.body)
	}
}
