package hub

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	fastws "github.com/fasthttp/websocket"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
	"github.com/outpost-panel/outpost/nodes/protocol"
)

// TestDeltaSharedAndAcksWrittenBehind: twelve nodes at the head get one
// change; the delta is built once for all of them and carries the head's
// hash; their acks reach the database through the write-behind (each
// node's stored revision and hash become the head's), and a node whose
// session ends reads as disconnected, not as the "connected" its hello
// queued before.
func TestDeltaSharedAndAcksWrittenBehind(t *testing.T) {
	const nodes = 12
	e := newFleetEnv(t, nodes, 50, Options{PingInterval: time.Second})
	ctx := context.Background()
	<-e.h.ready
	rev0, hash0 := e.h.current().head()
	conns := make([]*fastws.Conn, nodes)
	for i := range conns {
		c := e.dial(i, i%2 == 0)
		if err := sendJSON(c, protocol.Message{Type: protocol.TypeHello, Hello: &protocol.Hello{Protocol: protocol.Version,
			AppliedRevision: rev0, StateHash: hash0.String(), AgentVersion: "a1"}}); err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	for i, c := range conns { // each welcome, before the change
		if m := readType(t, c, protocol.TypeWelcome); m.Welcome == nil {
			t.Fatalf("node %d: no welcome", i)
		}
	}
	limit := int64(1 << 30)
	if _, err := e.st.ModifyUser(ctx, nil, "user_00007", state.UserInput{DataLimit: &limit}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	deltas := make([]*protocol.Delta, nodes)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deltas[i] = readType(t, c, protocol.TypeDelta).Delta
		}()
	}
	wg.Wait()
	rev, hash := e.h.current().head()
	for i, d := range deltas {
		if d == nil {
			t.Fatalf("node %d got no delta", i)
		}
		if d.FromRevision != rev0 || d.Revision != rev || d.StateHash != hash.String() || len(d.Upserts) != 1 || !strings.HasSuffix(d.Upserts[0].Email, ".user_00007") {
			t.Fatalf("node %d: delta %d..%d to %s with %d upserts; want %d..%d to %s with user_00007", i,
				d.FromRevision, d.Revision, d.StateHash, len(d.Upserts), rev0, rev, hash)
		}
	}
	if n := e.h.deltas.builds.Load(); n != 1 {
		t.Errorf("%d sessions at one revision cost %d delta builds; want 1", nodes, n)
	}
	for _, c := range conns {
		if err := sendJSON(c, protocol.Message{Type: protocol.TypeAck, Ack: &protocol.Ack{Revision: rev, StateHash: hash.String()}}); err != nil {
			t.Fatal(err)
		}
	}
	node := func(i int) *model.Node {
		n, err := e.st.NodeByName(ctx, fmt.Sprintf("n%d", i))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for i := range conns {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			n := node(i)
			if n.AppliedRevision == rev && n.StateHash == hash.String() && n.Status == model.NodeConnected && n.AgentVersion == "a1" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d stored at %d %s, %s, agent %q; want %d %s, connected, a1", i, n.AppliedRevision, n.StateHash, n.Status, n.AgentVersion, rev, hash)
			}
		}
	}

	// A session that ends: its disconnect is committed after what it
	// queued (a status right before it), so the node reads as disconnected.
	if err := sendJSON(conns[3], protocol.Message{Type: protocol.TypeStatus, Status: &protocol.Status{AppliedRevision: rev, Message: "fine"}}); err != nil {
		t.Fatal(err)
	}
	conns[3].Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		n := node(3)
		if n.Status == model.NodeConnecting && strings.HasPrefix(n.Message, "disconnected") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 3 after its session ended: %s %q; want connecting, disconnected", n.Status, n.Message)
		}
	}
}

// TestNodeWriterMerges: the latest ack and status of a session win, empty
// versions keep the pending ones, a newer session's write replaces an
// older one's and an older one's is dropped.
func TestNodeWriterMerges(t *testing.T) {
	nw := newNodeWriter()
	nw.put(model.NodeWrite{ID: 1, Fence: 2, Status: true, NodeStatus: model.NodeConnected, AgentVersion: "a1", XrayVersion: "x1"}, nil)
	nw.put(model.NodeWrite{ID: 1, Fence: 2, Ack: true, Revision: 5, StateHash: "h5"}, nil)
	nw.put(model.NodeWrite{ID: 1, Fence: 2, Ack: true, Revision: 6, StateHash: "h6"}, nil)
	nw.put(model.NodeWrite{ID: 1, Fence: 2, Status: true, NodeStatus: model.NodeConnected, Message: "m", XrayVersion: "x2"}, nil)
	dropped := make(chan struct{})
	nw.put(model.NodeWrite{ID: 1, Fence: 1, Ack: true, Revision: 9}, dropped)
	<-dropped // an older session's write is dropped at once
	nw.put(model.NodeWrite{ID: 2, Fence: 1, Ack: true, Revision: 3}, nil)
	nw.put(model.NodeWrite{ID: 2, Fence: 4, Status: true, NodeStatus: model.NodeConnecting}, nil)
	ps := nw.take()
	if len(ps) != 2 {
		t.Fatalf("%d pending; want 2", len(ps))
	}
	w := ps[0].w
	if !w.Ack || w.Revision != 6 || w.StateHash != "h6" || !w.Status || w.Message != "m" || w.AgentVersion != "a1" || w.XrayVersion != "x2" {
		t.Errorf("node 1 merged to %+v", w)
	}
	if w := ps[1].w; w.Fence != 4 || w.Ack || !w.Status || w.NodeStatus != model.NodeConnecting {
		t.Errorf("node 2 merged to %+v; want fence 4's status alone", w)
	}
	if left := nw.take(); len(left) != 0 {
		t.Errorf("take left %d pending", len(left))
	}
}

// readType reads frames until one of type typ (for 10 s at most).
func readType(t *testing.T, c *fastws.Conn, typ string) protocol.Message {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var m protocol.Message
		if err := c.ReadJSON(&m); err != nil {
			t.Errorf("waiting for %s: %v", typ, err)
			return m
		}
		if m.Type == typ {
			return m
		}
	}
}
