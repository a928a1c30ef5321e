package hub

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
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

// fleetEnv is a real hub over a real SQLite store with many nodes.
type fleetEnv struct {
	t      *testing.T
	st     *state.State
	h      *Hub
	url    string
	tokens []string
}

func newFleetEnv(t *testing.T, nodes, users int, opts Options) *fleetEnv {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := store.Open(ctx, "", t.TempDir(), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st := state.New(db, feed.NewMemory(1000), log, time.Now)
	if _, err := st.Bootstrap(ctx, false); err != nil {
		t.Fatal(err)
	}
	in := make([]state.UserInput, users)
	for i := range in {
		name := fmt.Sprintf("user_%05d", i)
		in[i] = state.UserInput{Username: &name, Proxies: map[string]model.ProxySettings{"vless": {}, "trojan": {}}}
	}
	if _, err := st.ImportUsers(ctx, nil, in); err != nil {
		t.Fatal(err)
	}
	e := &fleetEnv{t: t, st: st}
	for i := 0; i < nodes; i++ {
		token, err := st.CreateNode(ctx, &model.Node{Name: fmt.Sprintf("n%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		e.tokens = append(e.tokens, token)
	}
	e.h = New(st, log, opts)
	go func() { _ = e.h.Run(ctx) }()
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get(protocol.WSPath, e.h.Handler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	e.url = "ws://" + ln.Addr().String() + protocol.WSPath
	return e
}

// dial opens node i's session; compress asks for permessage-deflate.
func (e *fleetEnv) dial(i int, compress bool) *fastws.Conn {
	e.t.Helper()
	hdr := http.Header{}
	hdr.Set("Authorization", "Bearer "+e.tokens[i])
	d := *fastws.DefaultDialer
	d.EnableCompression = compress
	c, _, err := d.Dial(e.url, hdr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// readSnapshot reads frames until a snapshot's last chunk, pausing
// between frames, and returns its revision, the hash its users compute
// to and the hash it names. It returns an error instead of failing, so
// goroutines can call it.
func readSnapshot(c *fastws.Conn, pause time.Duration) (rev int64, got, named string, err error) {
	var users []protocol.User
	var cfg []byte
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		var m protocol.Message
		if err := c.ReadJSON(&m); err != nil {
			return 0, "", "", err
		}
		if m.Type != protocol.TypeSnapshot {
			continue
		}
		sn := m.Snapshot
		if sn.Chunk == 0 {
			cfg = sn.Config
		}
		users = append(users, sn.Users...)
		if sn.Last {
			return sn.Revision, protocol.ComputeStateHash(cfg, users).String(), sn.StateHash, nil
		}
		time.Sleep(pause)
	}
}

func sendJSON(c *fastws.Conn, m protocol.Message) error {
	_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.WriteJSON(m)
}

func hello(c *fastws.Conn) error {
	return sendJSON(c, protocol.Message{Type: protocol.TypeHello, Hello: &protocol.Hello{Protocol: protocol.Version}})
}

// TestSnapshotIsEncodedOncePerRevision: twelve empty nodes, half asking
// for permessage-deflate, connect at once; each gets the whole state (its
// users hash to what the snapshot names), the revision was encoded once,
// and never more than SnapshotWriters sessions were written at a time.
func TestSnapshotIsEncodedOncePerRevision(t *testing.T) {
	const nodes, writers = 12, 3
	e := newFleetEnv(t, nodes, 600, Options{PingInterval: time.Second, SnapshotChunk: 50, SnapshotWriters: writers})
	var wg sync.WaitGroup
	errs := make(chan error, nodes)
	for i := 0; i < nodes; i++ {
		c := e.dial(i, i%2 == 0)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := hello(c); err != nil {
				errs <- err
				return
			}
			rev, got, named, err := readSnapshot(c, time.Millisecond)
			if err != nil {
				errs <- fmt.Errorf("node %d: %w", i, err)
				return
			}
			if got != named {
				errs <- fmt.Errorf("node %d: snapshot %d hashes to %s, names %s", i, rev, got, named)
				return
			}
			errs <- sendJSON(c, protocol.Message{Type: protocol.TypeAck, Ack: &protocol.Ack{Revision: rev, StateHash: got}})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := e.h.snaps.encodes.Load(); n != 1 {
		t.Errorf("%d sessions needing one revision cost %d encodes, want 1", nodes, n)
	}
	if p := e.h.gate.peakHolders(); p < 1 || p > writers {
		t.Errorf("%d snapshots written at once, want 1..%d", p, writers)
	}
	if q := e.h.gate.queued(); q != 0 {
		t.Errorf("%d sessions still queued for a writer", q)
	}

	// A node already at the head, with its hash, is sent nothing.
	rev, hash := e.h.current().head()
	c := e.dial(0, true)
	if err := sendJSON(c, protocol.Message{Type: protocol.TypeHello, Hello: &protocol.Hello{Protocol: protocol.Version, AppliedRevision: rev, StateHash: hash.String()}}); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
	for {
		var m protocol.Message
		if err := c.ReadJSON(&m); err != nil {
			break // the deadline: nothing but the welcome came
		}
		if m.Type == protocol.TypeSnapshot || m.Type == protocol.TypeDelta {
			t.Fatalf("a current node was sent a %s", m.Type)
		}
	}
	if n := e.h.snaps.encodes.Load(); n != 1 {
		t.Errorf("encodes after a current node's hello: %d", n)
	}

	// A change supersedes the cached snapshot: the hub lets it go.
	limit := int64(1 << 30)
	if _, err := e.st.ModifyUser(context.Background(), nil, "user_00001", state.UserInput{DataLimit: &limit}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		e.h.snaps.mu.Lock()
		cached := e.h.snaps.cur != nil
		e.h.snaps.mu.Unlock()
		if !cached {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the superseded snapshot is still cached")
		}
	}
}

// TestWriteGateIsBoundedAndFIFO: waiters get their turn in the order
// they asked, one that gives up leaves the queue, and many holders at once
// never exceed n.
func TestWriteGateIsBoundedAndFIFO(t *testing.T) {
	g := newWriteGate(1)
	never := make(chan struct{})
	if !g.acquire(never) {
		t.Fatal("the first holder waited")
	}
	var order []int
	var wg sync.WaitGroup
	gaveUp := make(chan struct{})
	for i := 0; i < 5; i++ {
		abort := never
		if i == 2 {
			abort = gaveUp
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !g.acquire(abort) {
				return
			}
			order = append(order, i) // one holder at a time
			g.release()
		}()
		for g.queued() != i+1 { // each asks after the one before
			time.Sleep(time.Millisecond)
		}
	}
	close(gaveUp)
	for g.queued() != 4 {
		time.Sleep(time.Millisecond)
	}
	g.release()
	wg.Wait()
	if fmt.Sprint(order) != "[0 1 3 4]" {
		t.Errorf("turns taken in order %v, want [0 1 3 4] (2 gave up)", order)
	}

	g = newWriteGate(3)
	var mu sync.Mutex
	in, most := 0, 0
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.acquire(never)
			mu.Lock()
			in++
			most = max(most, in)
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			in--
			mu.Unlock()
			g.release()
		}()
	}
	wg.Wait()
	if most > 3 || g.peakHolders() > 3 || g.queued() != 0 {
		t.Errorf("at most %d holders seen (gate says %d), %d left queued; want at most 3, none", most, g.peakHolders(), g.queued())
	}
}

// TestSlowSnapshotReaderClosesNoSession: with one snapshot writer and a
// 300 ms ping (a 900 ms read deadline), a node that takes ~3 s to read its
// snapshot holds the writer, and its pings wait behind the chunks in the
// socket buffers. No session is closed: the slow node gets its snapshot
// and acks; the nodes queued behind it keep answering pings, have their
// usage acknowledged while they wait, and get theirs after.
func TestSlowSnapshotReaderClosesNoSession(t *testing.T) {
	e := newFleetEnv(t, 3, 3000, Options{PingInterval: 300 * time.Millisecond, SnapshotChunk: 100, SnapshotWriters: 1})
	slow := e.dial(0, false)
	if err := hello(slow); err != nil {
		t.Fatal(err)
	}
	// The slow node holds the writer before the others ask.
	for e.h.gate.peakHolders() == 0 {
		time.Sleep(time.Millisecond)
	}
	type result struct {
		who int
		err error
	}
	done := make(chan result, 3)
	closed := make(chan result, 3)
	// keepReading answers the panel's pings (the reads do) until the end.
	keepReading := func(who int, c *fastws.Conn) {
		for {
			_ = c.SetReadDeadline(time.Now().Add(time.Minute))
			if _, _, err := c.NextReader(); err != nil {
				closed <- result{who, err}
				return
			}
		}
	}
	go func() {
		rev, got, _, err := readSnapshot(slow, 100*time.Millisecond)
		if err == nil {
			err = sendJSON(slow, protocol.Message{Type: protocol.TypeAck, Ack: &protocol.Ack{Revision: rev, StateHash: got}})
		}
		done <- result{0, err}
		if err == nil {
			keepReading(0, slow)
		}
	}()
	for i := 1; i < 3; i++ {
		c := e.dial(i, true)
		if err := hello(c); err != nil {
			t.Fatal(err)
		}
		// Usage is acknowledged whether or not the snapshot is being
		// written (and pings are answered by the reads below).
		if err := sendJSON(c, protocol.Message{Type: protocol.TypeUsage, Usage: &protocol.Usage{FromSeq: 0, ToSeq: 1, At: time.Now().Unix()}}); err != nil {
			t.Fatal(err)
		}
		go func() {
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
			acked, snapped := false, false
			var users []protocol.User
			var cfg []byte
			for {
				var m protocol.Message
				if err := c.ReadJSON(&m); err != nil {
					done <- result{i, err}
					return
				}
				switch m.Type {
				case protocol.TypeUsageAck:
					acked = true
				case protocol.TypeSnapshot:
					if m.Snapshot.Chunk == 0 {
						cfg = m.Snapshot.Config
					}
					users = append(users, m.Snapshot.Users...)
					if m.Snapshot.Last {
						h := protocol.ComputeStateHash(cfg, users).String()
						if err := sendJSON(c, protocol.Message{Type: protocol.TypeAck, Ack: &protocol.Ack{Revision: m.Snapshot.Revision, StateHash: h}}); err != nil {
							done <- result{i, err}
							return
						}
						snapped = true
					}
				}
				if acked && snapped {
					done <- result{i, nil}
					keepReading(i, c)
					return
				}
			}
		}()
	}
	for range 3 {
		r := <-done
		if r.err != nil {
			t.Fatalf("node %d: %v", r.who, r.err)
		}
	}
	// Every session outlives a few more read deadlines once acked.
	select {
	case r := <-closed:
		t.Fatalf("node %d's session ended: %v", r.who, r.err)
	case <-time.After(2 * time.Second):
	}
	if n := len(e.h.liveSessions()); n != 3 {
		t.Errorf("%d sessions alive, want 3", n)
	}
	if n := e.h.snaps.encodes.Load(); n != 1 {
		t.Errorf("%d encodes, want 1", n)
	}
}
