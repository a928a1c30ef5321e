package hub

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/coord"
	"github.com/outpost-panel/outpost/backend/feed"
	"github.com/outpost-panel/outpost/nodes/protocol"
)

// TestRestartCoreReachesOneNode: RestartCore sends a restart to the node's
// live session and reports it; for a node without a session (never
// connected, or gone) it sends nothing and says false. The node's next
// status report is kept as its health.
func TestRestartCoreReachesOneNode(t *testing.T) {
	e := newPanelEnv(t)
	ctx := context.Background()
	if e.h.RestartCore(ctx, e.node.ID) {
		t.Fatal("RestartCore said yes for a node with no session")
	}
	n := e.dial()
	e.hello(n, false)
	deadline := time.Now().Add(20 * time.Second)
	for !e.h.Connected(e.node.ID) {
		if time.Now().After(deadline) {
			t.Fatal("session never registered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if e.h.RestartCore(ctx, e.node.ID+1) {
		t.Fatal("RestartCore said yes for another node's id")
	}
	if !e.h.RestartCore(ctx, e.node.ID) {
		t.Fatal("RestartCore said no for a connected node")
	}
	n.until(protocol.TypeRestart)

	if _, ok := e.h.Health(e.node.ID); ok {
		t.Fatal("health before any status report")
	}
	n.send(protocol.Message{Type: protocol.TypeStatus, Status: &protocol.Status{Users: 3, JournalBacklog: 2,
		InboundErrors: map[string]string{"vless": "bind: address in use"}, CoreRestarts: 1}})
	for {
		h, ok := e.h.Health(e.node.ID)
		if ok {
			if h.Users != 3 || h.JournalBacklog != 2 || h.CoreRestarts != 1 || h.InboundErrors["vless"] != "bind: address in use" || h.ReportedAt.IsZero() {
				t.Fatalf("health %+v", h)
			}
			h.InboundErrors["vless"] = "changed by the caller"
			if again, _ := e.h.Health(e.node.ID); again.InboundErrors["vless"] != "bind: address in use" {
				t.Fatal("Health hands out the hub's own map")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("status report never recorded")
		}
		time.Sleep(10 * time.Millisecond)
	}

	n.c.Close()
	for e.h.Connected(e.node.ID) {
		if time.Now().After(deadline) {
			t.Fatal("session never ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if e.h.RestartCore(ctx, e.node.ID) {
		t.Fatal("RestartCore said yes after the session ended")
	}
}

// TestRestartCoreAcrossReplicas: a replica that does not hold the node's
// session (it knows the node is live from the shared presence) passes the
// restart to the one that does, and hears the node's health from it.
func TestRestartCoreAcrossReplicas(t *testing.T) {
	presence := coord.NewMemory(time.Now)
	var signals *feed.Memory
	e := newPanelEnvWith(t, Options{}, func(m *feed.Memory) Options {
		signals = m
		return Options{PingInterval: time.Second, Replica: "a", Signals: m, Presence: presence}
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	other := New(e.st, slog.New(slog.DiscardHandler), Options{PingInterval: time.Second, Replica: "b", Signals: signals, Presence: presence})
	go func() { _ = other.Run(ctx) }()

	n := e.dial()
	e.hello(n, false)
	deadline := time.Now().Add(20 * time.Second)
	for !other.Connected(e.node.ID) {
		if time.Now().After(deadline) {
			t.Fatal("the other replica never saw the session's presence")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Both replicas run their listeners once Run has loaded the state.
	<-other.ready
	if !other.RestartCore(ctx, e.node.ID) {
		t.Fatal("RestartCore on the replica without the session said no for a live node")
	}
	n.until(protocol.TypeRestart)

	n.send(protocol.Message{Type: protocol.TypeStatus, Status: &protocol.Status{Users: 5, CoreRestarts: 2}})
	for {
		if h, ok := other.Health(e.node.ID); ok {
			if h.Users != 5 || h.CoreRestarts != 2 {
				t.Fatalf("health on the other replica %+v", h)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other replica never heard the node's health")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
