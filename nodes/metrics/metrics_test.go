package metrics

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/outpost-panel/outpost/nodes/agent"
)

// The node's /metrics serves every family, read from the agent's Health at
// scrape time, so they move with it.
func TestNodeMetricsFollowHealth(t *testing.T) {
	var mu sync.Mutex
	h := agent.Health{Connected: true, AppliedRevision: 7, Users: 3, JournalBacklog: 2, Snapshots: 1}
	health := func() agent.Health { mu.Lock(); defer mu.Unlock(); return h }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := Listen(ctx, "127.0.0.1:0", health)
	if err != nil {
		t.Fatal(err)
	}
	scrape := func() string {
		t.Helper()
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return string(raw)
	}
	first := scrape()
	for _, want := range []string{
		"outpost_agent_connected 1", "outpost_agent_applied_revision 7", "outpost_agent_users 3",
		"outpost_agent_journal_backlog 2", "outpost_agent_snapshots_applied_total 1", "outpost_agent_deltas_applied_total 0", "outpost_agent_panel_moves_total 0",
		"outpost_agent_enforced_users 0", "outpost_agent_inbound_errors 0", "outpost_agent_core_restarts_total 0",
		"go_goroutines", "process_resident_memory_bytes",
	} {
		if !strings.Contains(first, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	mu.Lock()
	h.Connected, h.AppliedRevision, h.Deltas, h.JournalBacklog = false, 9, 2, 0
	mu.Unlock()
	second := scrape()
	for _, want := range []string{"outpost_agent_connected 0", "outpost_agent_applied_revision 9", "outpost_agent_deltas_applied_total 2", "outpost_agent_journal_backlog 0"} {
		if !strings.Contains(second, want) {
			t.Errorf("after a change /metrics lacks %q", want)
		}
	}
}
