package hub

import (
	"context"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	fastws "github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/feed"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
	"github.com/outpost-panel/outpost/backend/store"
	"github.com/outpost-panel/outpost/nodes/protocol"
)

// panelEnv is a real hub over a real SQLite store, serving node sessions
// on a loopback socket.
type panelEnv struct {
	t     *testing.T
	h     *Hub
	st    *state.State
	url   string
	node  *model.Node
	token string
	user  *model.User
	db    *store.Store
}

func newPanelEnv(t *testing.T) *panelEnv {
	t.Helper()
	return newPanelEnvWith(t, Options{PingInterval: time.Second})
}

// newPanelEnvWith is newPanelEnv with the hub's options; the state's feed
// is a memory feed, which opts may also use as Signals.
func newPanelEnvWith(t *testing.T, opts Options, withFeed ...func(*feed.Memory) Options) *panelEnv {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := store.Open(ctx, "", t.TempDir(), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	mem := feed.NewMemory(1000)
	for _, f := range withFeed {
		opts = f(mem)
	}
	st := state.New(db, mem, log, time.Now)
	if _, err := st.Bootstrap(ctx, false); err != nil {
		t.Fatal(err)
	}
	name := "alice"
	u, err := st.CreateUser(ctx, nil, state.UserInput{Username: &name, Proxies: map[string]model.ProxySettings{"vless": {}}})
	if err != nil {
		t.Fatal(err)
	}
	n := &model.Node{Name: "n1"}
	token, err := st.CreateNode(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	h := New(st, log, opts)
	go func() { _ = h.Run(ctx) }()
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get(protocol.WSPath, h.Handler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	return &panelEnv{t: t, h: h, st: st, url: "ws://" + ln.Addr().String() + protocol.WSPath, node: n, token: token, user: u, db: db}
}

type nodeConn struct {
	t *testing.T
	c *fastws.Conn
}

func (e *panelEnv) dial() *nodeConn {
	e.t.Helper()
	hdr := http.Header{}
	hdr.Set("Authorization", "Bearer "+e.token)
	c, _, err := fastws.DefaultDialer.Dial(e.url, hdr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return &nodeConn{t: e.t, c: c}
}

func (n *nodeConn) send(m protocol.Message) {
	n.t.Helper()
	if err := n.c.WriteJSON(m); err != nil {
		n.t.Fatal(err)
	}
}

// until reads frames until one of type typ; it fails on a deadline.
func (n *nodeConn) until(typ string) protocol.Message {
	n.t.Helper()
	_ = n.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		var m protocol.Message
		if err := n.c.ReadJSON(&m); err != nil {
			n.t.Fatalf("waiting for %s: %v", typ, err)
		}
		if m.Type == typ {
			return m
		}
	}
}

// refused waits for the panel's error frame and checks its code.
func (n *nodeConn) refused(why string) {
	n.t.Helper()
	m := n.until(protocol.TypeError)
	if m.Error.Code != protocol.ErrCodeInvalid {
		n.t.Fatalf("%s: error %+v, want code %s", why, m.Error, protocol.ErrCodeInvalid)
	}
}

func (e *panelEnv) hello(n *nodeConn, fenced bool) protocol.Welcome {
	n.send(protocol.Message{Type: protocol.TypeHello, Hello: &protocol.Hello{Protocol: protocol.Version, Fenced: fenced}})
	return *n.until(protocol.TypeWelcome).Welcome
}

func (e *panelEnv) usage(from, to, up, down int64) protocol.Message {
	return protocol.Message{Type: protocol.TypeUsage, Usage: &protocol.Usage{FromSeq: from, ToSeq: to, At: time.Now().Unix(),
		Users: []protocol.UserTraffic{{Email: e.user.Email(), Uplink: up, Downlink: down}}}}
}

// recorded is what the panel holds: the user's traffic and the node's sequence.
func (e *panelEnv) recorded() (used, seq int64) {
	e.t.Helper()
	ctx := context.Background()
	u, err := e.st.User(ctx, nil, e.user.Username)
	if err != nil {
		e.t.Fatal(err)
	}
	n, err := e.st.Node(ctx, e.node.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return u.UsedTraffic, n.UsageSeq
}

// TestNodeFramesAreBounded: what a node token can send is bounded and
// sequenced; a frame that breaks the protocol ends the session with an
// invalid_message error and changes nothing, and legitimate batches count.
func TestNodeFramesAreBounded(t *testing.T) {
	e := newPanelEnv(t)

	// Usage before hello is refused.
	n := e.dial()
	n.send(e.usage(0, 1, 100, 100))
	n.refused("usage before hello")
	if used, seq := e.recorded(); used != 0 || seq != 0 {
		t.Fatalf("usage before hello recorded: used %d, seq %d", used, seq)
	}

	// A legitimate batch counts and is acked.
	n = e.dial()
	w := e.hello(n, false)
	n.send(e.usage(w.UsageAckedSeq, w.UsageAckedSeq+3, 1000, 500))
	if ack := n.until(protocol.TypeUsageAck); ack.UsageAck.Seq != 3 {
		t.Fatalf("usage_ack %+v", ack.UsageAck)
	}
	if used, seq := e.recorded(); used != 1500 || seq != 3 {
		t.Fatalf("after one batch: used %d, seq %d; want 1500, 3", used, seq)
	}
	// A resent batch is acked again and counted once.
	n.send(e.usage(0, 3, 1000, 500))
	n.until(protocol.TypeUsageAck)

	cases := []struct {
		name string
		msg  protocol.Message
	}{
		{"traffic at 2^63-1", e.usage(3, 4, math.MaxInt64, math.MaxInt64)},
		{"to_seq at 2^63-1", e.usage(3, math.MaxInt64, 1, 1)},
		{"a sequence gap", e.usage(10, 11, 1, 1)},
		{"negative traffic", e.usage(3, 4, -5, 1)},
		{"a log line over the bound", protocol.Message{Type: protocol.TypeLogLines, LogLines: &protocol.LogLines{Lines: []string{strings.Repeat("x", protocol.MaxLogLineBytes+1)}}}},
		{"a panel-only type", protocol.Message{Type: protocol.TypeSnapshot, Snapshot: &protocol.Snapshot{}}},
	}
	for _, c := range cases {
		n := e.dial()
		e.hello(n, false)
		n.send(c.msg)
		n.refused(c.name)
		if used, seq := e.recorded(); used != 1500 || seq != 3 {
			t.Fatalf("%s changed the record: used %d, seq %d", c.name, used, seq)
		}
	}

	// A frame over the node frame limit is cut before it is read whole.
	n = e.dial()
	e.hello(n, false)
	big := `{"type":"log_lines","log_lines":{"lines":["` + strings.Repeat("x", protocol.MaxNodeFrameBytes) + `"]}}`
	_ = n.c.WriteMessage(fastws.TextMessage, []byte(big))
	_ = n.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		var m protocol.Message
		if err := n.c.ReadJSON(&m); err != nil {
			break // closed: the panel refused the frame
		}
		if m.Type == protocol.TypeError && m.Error.Code != protocol.ErrCodeInvalid {
			t.Fatalf("oversized frame: error %+v", m.Error)
		}
	}

	// And the panel still counts the next legitimate batch.
	n = e.dial()
	w = e.hello(n, false)
	n.send(e.usage(w.UsageAckedSeq, w.UsageAckedSeq+1, 1, 1))
	n.until(protocol.TypeUsageAck)
	if used, seq := e.recorded(); used != 1502 || seq != 4 {
		t.Fatalf("after the refusals: used %d, seq %d; want 1502, 4", used, seq)
	}
}

// TestSharedTokenIsShown: an agent fenced by another agent with its token
// says so in its next hello, and the node's message says so until the
// session ends, status reports included.
func TestSharedTokenIsShown(t *testing.T) {
	e := newPanelEnv(t)
	n := e.dial()
	e.hello(n, true)
	n.send(protocol.Message{Type: protocol.TypeStatus, Status: &protocol.Status{Message: "ok"}})
	deadline := time.Now().Add(20 * time.Second)
	for {
		node, err := e.st.Node(context.Background(), e.node.ID)
		if err != nil {
			t.Fatal(err)
		}
		if node.Status == model.NodeConnected && strings.Contains(node.Message, "two agents share this token") && strings.HasSuffix(node.Message, "; ok") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node status %q, message %q", node.Status, node.Message)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestJournalBacklogReported: the backlog of a node's last status report
// is what the hub tells the overview, unknown before any report and after
// the session ends.
func TestJournalBacklogReported(t *testing.T) {
	e := newPanelEnv(t)
	if _, ok := e.h.JournalBacklog(e.node.ID); ok {
		t.Fatal("backlog known before any session")
	}
	n := e.dial()
	e.hello(n, false)
	if b, ok := e.h.JournalBacklog(e.node.ID); ok {
		t.Fatalf("backlog %d known before any status", b)
	}
	for _, want := range []int{7, 0} {
		n.send(protocol.Message{Type: protocol.TypeStatus, Status: &protocol.Status{JournalBacklog: want}})
		deadline := time.Now().Add(20 * time.Second)
		for {
			if b, ok := e.h.JournalBacklog(e.node.ID); ok && b == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("backlog never became %d", want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	n.c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, ok := e.h.JournalBacklog(e.node.ID); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("backlog still known after the session ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBadStateAckGetsSnapshot: a refusal typed bad_state gets a snapshot;
// so does one from an agent that predates ack.code (prefix in error).
func TestBadStateAckGetsSnapshot(t *testing.T) {
	e := newPanelEnv(t)
	for _, ack := range []protocol.Ack{{Code: protocol.ErrCodeBadState, Error: "hash differs"}, {Error: "bad_state: hash differs"}} {
		n := e.dial()
		n.send(protocol.Message{Type: protocol.TypeHello, Hello: &protocol.Hello{Protocol: protocol.Version}})
		snap := n.until(protocol.TypeSnapshot).Snapshot
		for !snap.Last {
			snap = n.until(protocol.TypeSnapshot).Snapshot
		}
		ack.Revision = 0
		n.send(protocol.Message{Type: protocol.TypeAck, Ack: &ack})
		if again := n.until(protocol.TypeSnapshot).Snapshot; again.Chunk != 0 {
			t.Fatalf("after %+v: snapshot chunk %d", ack, again.Chunk)
		}
	}
}

// holdWriter holds the database's one writer in an open transaction until
// the returned channel is closed.
func (e *panelEnv) holdWriter() chan struct{} {
	held, release := make(chan struct{}), make(chan struct{})
	go func() {
		_ = e.db.Tx(context.Background(), func(*store.Tx) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	return release
}

// TestFramesFlowWhileUsageCommits: a usage batch waiting for the database
// (here: its one writer held by another transaction) does not stop the
// session from reading the node's next frames, such as the acks every
// change waits for; the batch is acked once it is recorded, and a node
// that sends another batch before that ack breaks the protocol.
func TestFramesFlowWhileUsageCommits(t *testing.T) {
	e := newPanelEnv(t)
	n := e.dial()
	w := e.hello(n, false)

	release := e.holdWriter()
	n.send(e.usage(w.UsageAckedSeq, w.UsageAckedSeq+1, 700, 300))
	n.send(protocol.Message{Type: protocol.TypeStatus, Status: &protocol.Status{JournalBacklog: 7}})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if h, ok := e.h.Health(e.node.ID); ok && h.JournalBacklog == 7 {
			break
		}
		if time.Now().After(deadline) {
			close(release)
			t.Fatal("the status sent after a usage batch was not read while the batch waited for the database")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if used, _ := e.recorded(); used != 0 {
		t.Fatalf("usage recorded while the writer was held: %d", used)
	}
	close(release)
	if ack := n.until(protocol.TypeUsageAck); ack.UsageAck.Seq != w.UsageAckedSeq+1 {
		t.Fatalf("usage_ack %+v", ack.UsageAck)
	}
	if used, seq := e.recorded(); used != 1000 || seq != w.UsageAckedSeq+1 {
		t.Fatalf("after the commit: used %d, seq %d", used, seq)
	}

	// Two batches in flight at once: the second is refused, the first
	// counted once.
	n2 := e.dial()
	w = e.hello(n2, false)
	release = e.holdWriter()
	n2.send(e.usage(w.UsageAckedSeq, w.UsageAckedSeq+1, 1, 1))
	n2.send(e.usage(w.UsageAckedSeq+1, w.UsageAckedSeq+2, 1, 1))
	n2.refused("a second usage batch before the first's ack")
	close(release)
	// The first batch was recorded, or (its session ended before it
	// reached the committer) is resent by the node's next session: either
	// way it counts once and the second never.
	n3 := e.dial()
	w3 := e.hello(n3, false)
	if w3.UsageAckedSeq == w.UsageAckedSeq {
		n3.send(e.usage(w.UsageAckedSeq, w.UsageAckedSeq+1, 1, 1))
		n3.until(protocol.TypeUsageAck)
	}
	if used, seq := e.recorded(); used != 1002 || seq != w.UsageAckedSeq+1 {
		t.Fatalf("after the refused pipelining: used %d, seq %d; want 1002, %d", used, seq, w.UsageAckedSeq+1)
	}
}
