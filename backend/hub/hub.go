// Package hub holds the panel's side of node sessions: one WebSocket per
// node, authenticated by the node's token, fenced so that only the newest
// session per node is live, fed with deltas (batched, one in flight, in
// order) or chunked snapshots, and the receiver of the node's journaled
// usage, which it records exactly once.
package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/websocket/v2"

	"github.com/outpost-panel/outpost/backend/coord"
	"github.com/outpost-panel/outpost/backend/feed"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
	"github.com/outpost-panel/outpost/nodes/protocol"
)

// Options tune the hub; zero values take the defaults.
type Options struct {
	// PingInterval is how often the panel pings; three silent intervals end a session.
	PingInterval time.Duration
	// UsageInterval is what nodes are told to use for reading counters.
	UsageInterval time.Duration
	// SnapshotChunk is how many users one snapshot message carries.
	SnapshotChunk int
	// SnapshotWriters is how many sessions are written a snapshot at
	// once; the others wait in order (snapshot.go).
	SnapshotWriters int
	// Replica names this panel process in logs and presence records.
	Replica string
	// Signals, when set, carries fence notices to other replicas.
	Signals feed.Signals
	// Presence, when set, records which replica holds each node's session,
	// renewed every ping, so every replica can tell a live node from one
	// whose replica died without a word.
	Presence coord.Presence
}

func (o *Options) defaults() {
	if o.PingInterval <= 0 {
		o.PingInterval = 10 * time.Second
	}
	if o.UsageInterval <= 0 {
		o.UsageInterval = 10 * time.Second
	}
	if o.SnapshotChunk <= 0 {
		o.SnapshotChunk = 5000
	}
	if o.SnapshotWriters <= 0 {
		o.SnapshotWriters = 8
	}
	if o.Replica == "" {
		o.Replica = "panel"
	}
}

// Hub tracks live node sessions on this replica.
type Hub struct {
	st   *state.State
	feed feed.Feed
	log  *slog.Logger
	opts Options

	ready chan struct{}
	// desired is swapped whole on a reload and read without a lock, so
	// no path needs the hub's mutex to see the desired state.
	desired atomic.Pointer[desired]

	// Lock order. Every mutex in this package is a leaf: Hub.mu,
	// Hub.healthMu, session.mu, session.dlMu, logHub.mu, desired.mu,
	// snapCache.mu, writeGate.mu, nodeWriter.mu and deltaCache.mu are
	// each taken alone, and no
	// code calls out (to another lock, the store, a channel send that can
	// wait) while holding one. A path that needs data behind two of them
	// copies what it needs under the first, releases it, then takes the
	// second. TestLogLoopAndPushesDoNotDeadlock covers the paths that
	// touch two.
	mu       sync.Mutex
	sessions map[int64]*session

	logs logHub // logs.go

	// healthSent is each node's health as last sent to the other
	// replicas; guarded by healthMu (health.go).
	healthSent map[int64]NodeHealth

	healthMu sync.Mutex
	health   map[int64]NodeHealth // health.go
	snaps    snapCache            // snapshot.go: each revision's snapshot, encoded once
	gate     *writeGate           // snapshot.go: at most SnapshotWriters written at once
	draining atomic.Bool          // drain.go: no new sessions, live ones moved
	writes   nodeWriter           // nodewrites.go: acks and statuses, written behind
	deltas   deltaCache           // deltas.go: each (from, to) delta, encoded once
	usageq   chan *usageReq       // usage.go: batches for the group commit
	// usageStopped and writesStopped close when the usage committer and
	// the node writer stopped.
	usageStopped, writesStopped chan struct{}
}

// New creates a hub; call Run before serving sessions.
func New(st *state.State, log *slog.Logger, opts Options) *Hub {
	opts.defaults()
	return &Hub{st: st, feed: st.Feed(), log: log, opts: opts, ready: make(chan struct{}), sessions: map[int64]*session{},
		health: map[int64]NodeHealth{}, healthSent: map[int64]NodeHealth{},
		gate:   newWriteGate(opts.SnapshotWriters),
		writes: newNodeWriter(), usageq: make(chan *usageReq, 1024), usageStopped: make(chan struct{}), writesStopped: make(chan struct{}),
		logs: logHub{subs: map[*logSub]struct{}{}, want: map[int64]time.Time{},
			out: make(chan LogEvent, logPublishQueue), lost: map[int64]int64{}}}
}

// Run loads the desired state and follows the feed until ctx ends.
func (h *Hub) Run(ctx context.Context) error {
	if err := h.reload(ctx); err != nil {
		return err
	}
	close(h.ready)
	wake := h.feed.Wake(ctx)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	if h.opts.Signals != nil {
		go h.listenFences(ctx)
		go h.listenRestarts(ctx)
		go h.listenHealth(ctx)
	}
	go h.logLoop(ctx)
	go h.runNodeWrites(ctx)
	go h.runUsage(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-tick.C:
		}
		if err := h.follow(ctx); err != nil && ctx.Err() == nil {
			h.log.Warn("following change feed", "err", err)
		}
	}
}

func (h *Hub) reload(ctx context.Context) error {
	rev, cfg, users, err := h.st.DesiredUsers(ctx)
	if err != nil {
		return err
	}
	h.setDesired(newDesired(rev, cfg, users))
	h.log.Info("desired state loaded", "revision", rev, "users", len(users))
	return nil
}

// follow folds new feed changes into the desired state and wakes sessions.
func (h *Hub) follow(ctx context.Context) error {
	d := h.current()
	from, _ := d.head()
	moved, reloaded := false, false
	for {
		rev, _ := d.head()
		changes, err := h.changesSince(ctx, rev, 2000)
		if errors.Is(err, feed.ErrTrimmed) {
			h.log.Warn("change feed trimmed past the hub's revision; reloading", "revision", rev)
			if err := h.reload(ctx); err != nil {
				return err
			}
			d, moved, reloaded = h.current(), true, true
			continue
		}
		if err != nil {
			return err
		}
		if len(changes) == 0 {
			break
		}
		for _, c := range changes {
			if err := d.applyChangeCached(c, &h.deltas.decoded); err != nil {
				return err
			}
		}
		moved = true
	}
	if moved {
		rev, hash := h.current().head()
		h.snaps.forget(rev)
		if !reloaded && from < rev {
			// The delta the sessions at the previous head need, before
			// they wake and ask for it (deltas.go).
			h.deltas.prime(h.changesSince, from, rev, hash)
		}
		for _, s := range h.liveSessions() {
			s.kick()
		}
	}
	return nil
}

// changesSince reads the feed and falls back to the database outbox, which
// the feed is pumped from, when the feed cannot answer (Redis away, or a
// Redis that came back empty): a replica keeps serving its nodes' changes
// without Redis, just with one query more.
func (h *Hub) changesSince(ctx context.Context, after int64, limit int) ([]feed.Change, error) {
	// A Redis that is away must not hold a replica's nodes: give the feed a
	// short while, then read the database.
	fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	cs, feedErr := h.feed.Since(fctx, after, limit)
	if feedErr == nil && len(cs) > 0 {
		return cs, nil
	}
	if feedErr == nil {
		// Nothing new, or a feed that lost what it had (a Redis restarted
		// empty and not yet refilled by the pump): only the second is
		// behind us.
		last, err := h.feed.Last(fctx)
		if err == nil && last >= after {
			return nil, nil
		}
		feedErr = fmt.Errorf("feed is behind (at %d, asked after %d)", last, after)
		if err != nil {
			feedErr = err
		}
	}
	oldest, ok, err := h.st.OldestChange(ctx)
	if err != nil {
		return nil, fmt.Errorf("feed: %v; outbox: %w", feedErr, err)
	}
	if !ok {
		if errors.Is(feedErr, feed.ErrTrimmed) {
			return nil, feed.ErrTrimmed
		}
		return nil, nil
	}
	if after < oldest-1 {
		return nil, feed.ErrTrimmed
	}
	out, err := h.st.ChangesSince(ctx, after, limit)
	if err != nil {
		return nil, fmt.Errorf("feed: %v; outbox: %w", feedErr, err)
	}
	return out, nil
}

// storedRevision is the database's current revision.
func (h *Hub) storedRevision(ctx context.Context) (int64, error) {
	return h.st.Revision(ctx)
}

func (h *Hub) current() *desired { return h.desired.Load() }

func (h *Hub) setDesired(d *desired) { h.desired.Store(d) }

// liveSessions copies this replica's sessions, so callers act on them
// without holding the hub's lock.
func (h *Hub) liveSessions() []*session {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*session, 0, len(h.sessions))
	for _, s := range h.sessions {
		out = append(out, s)
	}
	return out
}

// DesiredRevision is the revision of the desired state this replica's hub
// holds, what nodes are brought to; 0 before the hub loaded it. A revision
// taken for something nodes never see (a usage reset, an admin deleted)
// moves the database's revision but not this one, so a node's lag is
// measured against it.
func (h *Hub) DesiredRevision() int64 {
	d := h.current()
	if d == nil {
		return 0
	}
	rev, _ := d.head()
	return rev
}

// Connected reports whether any replica holds a live session for the node.
func (h *Hub) Connected(nodeID int64) bool {
	h.mu.Lock()
	_, ok := h.sessions[nodeID]
	h.mu.Unlock()
	if ok || h.opts.Presence == nil {
		return ok
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	holder, _, err := h.opts.Presence.Holder(ctx, nodeID)
	return err == nil && holder != ""
}

// JournalBacklog is how many usage journal entries the node held unsent in
// its last status report, when this replica holds its session and it has
// reported; ok is false otherwise (another replica's node, or none yet).
func (h *Hub) JournalBacklog(nodeID int64) (n int, ok bool) {
	h.mu.Lock()
	s := h.sessions[nodeID]
	h.mu.Unlock()
	if s == nil {
		return 0, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.backlog, s.backlog >= 0
}

// presenceTTL is how long a claim outlives its last renewal.
func (h *Hub) presenceTTL() time.Duration { return 3 * h.opts.PingInterval }

// holdPresence claims the node for this replica and renews the claim every
// ping until the session ends, then releases it.
func (h *Hub) holdPresence(ctx context.Context, s *session) {
	p := h.opts.Presence
	if p == nil {
		return
	}
	claim := func() {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if _, ok, err := p.Claim(cctx, s.node.ID, h.opts.Replica, s.fence, h.presenceTTL()); err != nil {
			s.log.Debug("presence claim", "err", err)
		} else if !ok {
			s.close(protocol.ErrCodeFenced, "fenced by a newer session")
		}
	}
	claim()
	t := time.NewTicker(h.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = p.Release(rctx, s.node.ID, h.opts.Replica, s.fence)
			cancel()
			return
		case <-t.C:
			claim()
		}
	}
}

// Disconnect ends the node's session (token rotated, node deleted).
func (h *Hub) Disconnect(nodeID int64) {
	h.mu.Lock()
	s := h.sessions[nodeID]
	h.mu.Unlock()
	if s != nil {
		s.close(protocol.ErrCodeClosed, "disconnected by the panel")
	}
	if h.opts.Signals != nil {
		_ = h.opts.Signals.Send(context.Background(), "node-fence", []byte(fmt.Sprintf("%d:%d", nodeID, int64(1)<<62)))
	}
}

// listenFences closes sessions that a newer session on another replica fenced.
func (h *Hub) listenFences(ctx context.Context) {
	for msg := range h.opts.Signals.Listen(ctx, "node-fence") {
		var id, fence int64
		if _, err := fmt.Sscanf(string(msg), "%d:%d", &id, &fence); err != nil {
			continue
		}
		h.mu.Lock()
		s := h.sessions[id]
		h.mu.Unlock()
		if s != nil && s.fence < fence {
			s.close(protocol.ErrCodeFenced, "fenced by a newer session")
		}
	}
}

// Handler is the WebSocket endpoint nodes dial. The token check runs before
// the upgrade so a bad token is a plain 401.
func (h *Hub) Handler() fiber.Handler {
	ws := websocket.New(func(c *websocket.Conn) {
		n, _ := c.Locals("node").(*model.Node)
		if n == nil {
			return
		}
		h.serve(c, n)
	}, websocket.Config{ReadBufferSize: 64 << 10, WriteBufferSize: 64 << 10,
		// permessage-deflate, when the node asks for it (agents since
		// 2026-12-06 do): snapshots go compressed, deflated once per
		// revision for every session (snapshot.go). Older agents do not
		// ask and get the same frames uncompressed.
		EnableCompression: true})
	return func(c *fiber.Ctx) error {
		token, ok := protocol.TokenFromValue(c.Get(protocol.TokenHeader))
		if !ok {
			return fmt.Errorf("node token: %w", model.ErrUnauthorized)
		}
		n, err := h.st.NodeByToken(c.UserContext(), token)
		if err != nil {
			return fmt.Errorf("node token: %w", err)
		}
		if !websocket.IsWebSocketUpgrade(c) {
			return fiber.NewError(fiber.StatusUpgradeRequired, "node sessions are WebSocket only")
		}
		if h.draining.Load() {
			return fiber.NewError(fiber.StatusServiceUnavailable, "panel shutting down: dial another replica")
		}
		c.Locals("node", n)
		return ws(c)
	}
}

func (h *Hub) serve(c *websocket.Conn, n *model.Node) {
	select {
	case <-h.ready:
	case <-time.After(30 * time.Second):
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fence, node, err := h.st.NodeSessionStart(ctx, n.ID)
	if err != nil {
		h.log.Warn("starting node session", "node", n.ID, "err", err)
		return
	}
	s := newSession(h, c, node, fence)
	h.mu.Lock()
	old := h.sessions[n.ID]
	h.sessions[n.ID] = s
	h.mu.Unlock()
	if h.draining.Load() { // opened while the panel began to drain (drain.go)
		s.close(protocol.ErrCodeMove, drainReason)
	}
	if old != nil {
		old.close(protocol.ErrCodeFenced, "fenced by a newer session")
	}
	if h.opts.Signals != nil {
		_ = h.opts.Signals.Send(ctx, "node-fence", []byte(fmt.Sprintf("%d:%d", n.ID, fence)))
	}
	log := h.log.With("node", n.ID, "name", n.Name, "fence", fence)
	log.Info("node session opened")
	sessionOpened()
	presenceDone := make(chan struct{})
	go func() { defer close(presenceDone); h.holdPresence(ctx, s) }()
	reason := s.run(ctx)
	<-presenceDone
	h.mu.Lock()
	if h.sessions[n.ID] == s {
		delete(h.sessions, n.ID)
	}
	h.mu.Unlock()
	// The disconnect goes behind the session's pending writes (nodewrites.go),
	// so a queued "connected" cannot land after it; wait for its commit, so
	// the node reads as disconnected once the session is gone.
	committed := make(chan struct{})
	h.writes.put(model.NodeWrite{ID: n.ID, Fence: fence, Status: true, NodeStatus: model.NodeConnecting,
		Message: "disconnected: " + reason, Seen: h.st.Now()}, committed)
	select {
	case <-committed:
	case <-h.writesStopped: // the hub stopped (the panel drains): write it here
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		h.flushNodeWrites(fctx)
		cancel()
	case <-time.After(10 * time.Second):
		log.Debug("recording disconnect: still pending")
	}
	log.Info("node session closed", "reason", reason)
	sessionClosed(n.ID, reason)
}
