package hub

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/feed"
	"github.com/outpost-panel/outpost/nodes/protocol"
)

// TestHealthSentToReplicasWhenItChanges: a node reports after every apply;
// the other replicas hear a report that says something new (or that is
// healthResend past the last one sent), not every identical copy, while
// this replica keeps the newest.
func TestHealthSentToReplicasWhenItChanges(t *testing.T) {
	var signals *feed.Memory
	e := newPanelEnvWith(t, Options{}, func(m *feed.Memory) Options {
		signals = m
		return Options{PingInterval: time.Second, Replica: "a", Signals: m}
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	heard := signals.Listen(ctx, healthTopic)

	n := e.dial()
	e.hello(n, false)
	for _, users := range []int{5, 5, 5, 6} {
		n.send(protocol.Message{Type: protocol.TypeStatus, Status: &protocol.Status{Users: users}})
	}
	var got []int
	deadline := time.After(20 * time.Second)
	for len(got) == 0 || got[len(got)-1] != 6 {
		select {
		case b := <-heard:
			var r NodeHealth
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatal(err)
			}
			got = append(got, r.Users)
		case <-deadline:
			t.Fatalf("the reports heard so far: %v; never the one with 6 users", got)
		}
	}
	if len(got) != 2 || got[0] != 5 {
		t.Fatalf("reports sent to the other replicas: %v, want [5 6]", got)
	}
	if h, ok := e.h.Health(e.node.ID); !ok || h.Users != 6 {
		t.Fatalf("this replica's own record: %+v, %v", h, ok)
	}

	// An unchanged report goes again once the last one sent is old.
	e.h.healthMu.Lock()
	last := e.h.healthSent[e.node.ID]
	e.h.healthMu.Unlock()
	if e.h.shouldSendHealth(NodeHealth{NodeID: e.node.ID, Users: 6, InboundErrors: map[string]string{}, ReportedAt: last.ReportedAt.Add(time.Second)}) {
		t.Error("an identical report a second later was sent")
	}
	if !e.h.shouldSendHealth(NodeHealth{NodeID: e.node.ID, Users: 6, InboundErrors: map[string]string{}, ReportedAt: last.ReportedAt.Add(healthResend)}) {
		t.Error("an identical report healthResend later was not sent")
	}
	if !e.h.shouldSendHealth(NodeHealth{NodeID: e.node.ID, Users: 6, InboundErrors: map[string]string{"vless": "bind"}, ReportedAt: last.ReportedAt.Add(healthResend + time.Second)}) {
		t.Error("a report with a new inbound error was not sent")
	}
}
