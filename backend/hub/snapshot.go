package hub

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"

	fastws "github.com/fasthttp/websocket"

	"github.com/outpost-panel/outpost/backend/metrics"
	"github.com/outpost-panel/outpost/nodes/protocol"
)

// Snapshots at scale (issue 12): a thousand nodes that connect with empty
// state all need the same revision whole. Its chunks are encoded once, as
// WebSocket prepared messages (snapCache), and every session writes those
// same bytes; a prepared message also deflates itself once for all the
// sessions that negotiated permessage-deflate. At most Options.SnapshotWriters
// sessions write one at a time (writeGate, first come first served), so a
// thousand concurrent 30 MB writes do not starve each other, and the
// sessions' pings, acks and usage keep flowing meanwhile (session.go).

// snapEntry is one revision's snapshot, encoded.
type snapEntry struct {
	// keyRev and keyHash are the head the entry was asked for; rev and
	// hash, set before ready closes, the state it holds, which may be
	// newer (the desired state moved between the two reads).
	keyRev  int64
	keyHash protocol.StateHash

	ready  chan struct{}
	rev    int64
	hash   protocol.StateHash
	users  int
	bytes  int64
	chunks []*fastws.PreparedMessage
	err    error
}

// snapCache holds the snapshot of the newest revision asked for. A new
// revision replaces it, so the cache holds one entry; sessions still
// writing a superseded one keep it alive until they finish, which bounds
// the encoded snapshots in memory by the writers plus one.
type snapCache struct {
	mu      sync.Mutex // a leaf: see the lock order on Hub
	cur     *snapEntry
	encodes atomic.Int64
}

// get returns the encoded snapshot of d's head, encoding it only if no
// session asked for that head before; concurrent callers wait for one
// encode.
func (c *snapCache) get(d *desired, chunk int) *snapEntry {
	rev, hash := d.head()
	c.mu.Lock()
	if e := c.cur; e != nil && e.keyRev == rev && e.keyHash == hash {
		c.mu.Unlock()
		<-e.ready
		return e
	}
	e := &snapEntry{keyRev: rev, keyHash: hash, ready: make(chan struct{})}
	c.cur = e
	c.mu.Unlock()
	c.encodes.Add(1)
	metrics.SnapshotEncodes.Inc()
	e.encode(d, chunk)
	close(e.ready)
	return e
}

// forget drops the cached snapshot once the state moved past it, so an
// idle hub does not hold a superseded revision's bytes; sessions still
// writing it keep their reference until they finish.
func (c *snapCache) forget(head int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != nil && c.cur.keyRev < head {
		c.cur = nil
	}
}

func (e *snapEntry) encode(d *desired, chunk int) {
	rev, hash, cfg, users := d.snapshot()
	e.rev, e.hash, e.users = rev, hash, len(users)
	hs := hash.String()
	for i := 0; ; i++ {
		lo := i * chunk
		hi := min(lo+chunk, len(users))
		msg := &protocol.Snapshot{Revision: rev, StateHash: hs, Chunk: i, Users: users[lo:hi], Last: hi == len(users)}
		if i == 0 {
			msg.Config = json.RawMessage(cfg)
		}
		b, err := json.Marshal(protocol.Message{Type: protocol.TypeSnapshot, Snapshot: msg})
		if err != nil {
			e.err = fmt.Errorf("encoding snapshot %d chunk %d: %w", rev, i, err)
			return
		}
		pm, err := fastws.NewPreparedMessage(fastws.TextMessage, b)
		if err != nil {
			e.err = fmt.Errorf("preparing snapshot %d chunk %d: %w", rev, i, err)
			return
		}
		e.chunks = append(e.chunks, pm)
		e.bytes += int64(len(b))
		if msg.Last {
			return
		}
	}
}

// writeGate lets at most n holders in at once and the others in, in the
// order they asked, as holders leave.
type writeGate struct {
	mu      sync.Mutex // a leaf
	n, busy int
	waiting []chan struct{}
	peak    int // the most holders seen at once, for tests
}

func newWriteGate(n int) *writeGate { return &writeGate{n: n} }

// acquire waits for a turn; false if abort closed first (the session
// ended), in which case the caller holds nothing.
func (g *writeGate) acquire(abort <-chan struct{}) bool {
	g.mu.Lock()
	if g.busy < g.n && len(g.waiting) == 0 {
		g.take()
		g.mu.Unlock()
		return true
	}
	turn := make(chan struct{})
	g.waiting = append(g.waiting, turn)
	metrics.SnapshotQueued.Inc()
	g.mu.Unlock()
	select {
	case <-turn:
		return true
	case <-abort:
		g.mu.Lock()
		defer g.mu.Unlock()
		for i, w := range g.waiting {
			if w == turn {
				g.waiting = append(g.waiting[:i], g.waiting[i+1:]...)
				metrics.SnapshotQueued.Dec()
				return false
			}
		}
		// Handed a turn as the session ended: pass it on.
		g.releaseLocked()
		return false
	}
}

// take counts a holder in; the caller holds g.mu.
func (g *writeGate) take() {
	g.busy++
	g.peak = max(g.peak, g.busy)
	metrics.SnapshotWriting.Inc()
}

func (g *writeGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.releaseLocked()
}

// releaseLocked counts a holder out and lets the longest waiter in.
func (g *writeGate) releaseLocked() {
	g.busy--
	metrics.SnapshotWriting.Dec()
	if len(g.waiting) > 0 && g.busy < g.n {
		next := g.waiting[0]
		g.waiting = g.waiting[1:]
		metrics.SnapshotQueued.Dec()
		g.take()
		close(next)
	}
}

// queued is how many wait; peakHolders the most that held a turn at once.
func (g *writeGate) queued() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.waiting)
}

func (g *writeGate) peakHolders() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.peak
}
