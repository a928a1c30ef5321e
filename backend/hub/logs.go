package hub

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Live Xray logs (Marzban's WS /api/core/logs and /api/node/{id}/logs).
//
// Nodes stream their log lines only while somebody watches: a watcher on
// any replica announces what it watches (a node id, or 0 for every node)
// every logWantEvery; the replica holding a node's session turns the
// node's stream on while an announcement for it is fresher than
// logWantTTL, and off after. Lines go from the session's replica to the
// watchers of every replica through the signals topic (or directly, with
// one replica). Nothing here can slow a node session or the node: a
// watcher that does not keep up loses lines, and is told how many.

const (
	logTopic     = "node-logs"
	logWantTopic = "node-logs-want"
	logWantEvery = 2 * time.Second
	logWantTTL   = 3*logWantEvery + time.Second
	logSubBuffer = 256
)

// LogEvent is one batch of a node's log lines.
type LogEvent struct {
	NodeID  int64    `json:"node_id"`
	Node    string   `json:"node"`
	Lines   []string `json:"lines"`
	Dropped int64    `json:"dropped,omitempty"`
}

type logSub struct {
	nodeID  int64 // 0: every node
	c       chan LogEvent
	dropped atomic.Int64
}

type logHub struct {
	mu   sync.Mutex
	subs map[*logSub]struct{}
	want map[int64]time.Time // node id (0 = all) -> last announcement
	// out queues sessions' batches for the publisher goroutine, so a slow
	// or absent Redis never holds up a session's read loop (acks, usage).
	out chan LogEvent
	// lost counts, per node, the lines of batches out had no room for;
	// guarded by mu.
	lost map[int64]int64
}

const logPublishQueue = 256

// WatchLogs streams the log lines of node nodeID (0: every node) until ctx
// ends. The channel is closed then. A batch the watcher could not take in
// time is dropped and its lines counted in the next batch's Dropped.
func (h *Hub) WatchLogs(ctx context.Context, nodeID int64) <-chan LogEvent {
	sub := &logSub{nodeID: nodeID, c: make(chan LogEvent, logSubBuffer)}
	out := make(chan LogEvent)
	h.logs.mu.Lock()
	h.logs.subs[sub] = struct{}{}
	h.logs.mu.Unlock()
	h.announceLogWants(ctx)
	go func() {
		defer close(out)
		defer func() {
			h.logs.mu.Lock()
			delete(h.logs.subs, sub)
			h.logs.mu.Unlock()
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-sub.c:
				ev.Dropped += sub.dropped.Swap(0)
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}

// logLoop announces this replica's watchers and turns its sessions' log
// streams on and off.
func (h *Hub) logLoop(ctx context.Context) {
	if h.opts.Signals != nil {
		go h.listenLogs(ctx)
		go h.listenLogWants(ctx)
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-h.logs.out:
				h.publish(ctx, ev)
			}
		}
	}()
	tick := time.NewTicker(logWantEvery / 2)
	defer tick.Stop()
	announced := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if time.Since(announced) >= logWantEvery {
			h.announceLogWants(ctx)
			announced = time.Now()
		}
		h.syncLogStreams()
	}
}

// announceLogWants tells every replica (this one included) which nodes
// this replica's watchers watch, then updates this replica's sessions.
func (h *Hub) announceLogWants(ctx context.Context) {
	h.logs.mu.Lock()
	ids := map[int64]bool{}
	for sub := range h.logs.subs {
		ids[sub.nodeID] = true
	}
	h.logs.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	parts := make([]string, 0, len(ids))
	for id := range ids {
		parts = append(parts, strconv.FormatInt(id, 10))
	}
	payload := strings.Join(parts, ",")
	if h.opts.Signals == nil || h.opts.Signals.Send(ctx, logWantTopic, []byte(payload)) != nil {
		h.noteLogWants(payload)
	}
	h.syncLogStreams()
}

func (h *Hub) noteLogWants(payload string) {
	now := time.Now()
	h.logs.mu.Lock()
	defer h.logs.mu.Unlock()
	for _, p := range strings.Split(payload, ",") {
		if id, err := strconv.ParseInt(p, 10, 64); err == nil && id >= 0 {
			h.logs.want[id] = now
		}
	}
}

func (h *Hub) listenLogWants(ctx context.Context) {
	for payload := range h.opts.Signals.Listen(ctx, logWantTopic) {
		h.noteLogWants(string(payload))
		h.syncLogStreams()
	}
}

// syncLogStreams asks each of this replica's sessions to stream logs if
// anybody watches its node, and to stop if nobody does any more.
func (h *Hub) syncLogStreams() {
	now := time.Now()
	h.logs.mu.Lock()
	want := make(map[int64]bool, len(h.logs.want))
	for id, t := range h.logs.want {
		if now.Sub(t) >= logWantTTL {
			delete(h.logs.want, id)
			continue
		}
		want[id] = true
	}
	h.logs.mu.Unlock()
	// The hub's lock only to copy the sessions: each session's lock is
	// taken after it is released (see the lock order on Hub).
	for _, s := range h.liveSessions() {
		on := want[0] || want[s.node.ID]
		s.mu.Lock()
		change := s.hello != nil && s.logsOn != on
		if change {
			s.logsOn = on
		}
		s.mu.Unlock()
		if change {
			s.askLogs()
		}
	}
}

// publishLogs queues a session's log lines for the watchers of every
// replica; it never waits. A batch that finds the queue full is lost
// (watchers are told when the next batch gets through: Dropped).
func (h *Hub) publishLogs(ev LogEvent) {
	select {
	case h.logs.out <- ev:
	default:
		h.logs.mu.Lock()
		h.logs.lost[ev.NodeID] += int64(len(ev.Lines)) + ev.Dropped
		h.logs.mu.Unlock()
	}
}

func (h *Hub) publish(ctx context.Context, ev LogEvent) {
	h.logs.mu.Lock()
	ev.Dropped += h.logs.lost[ev.NodeID]
	delete(h.logs.lost, ev.NodeID)
	h.logs.mu.Unlock()
	if h.opts.Signals != nil {
		if raw, err := json.Marshal(ev); err == nil && h.opts.Signals.Send(ctx, logTopic, raw) == nil {
			return // every replica, this one included, hears it
		}
	}
	h.deliverLogs(ev)
}

func (h *Hub) listenLogs(ctx context.Context) {
	for payload := range h.opts.Signals.Listen(ctx, logTopic) {
		var ev LogEvent
		if json.Unmarshal(payload, &ev) == nil {
			h.deliverLogs(ev)
		}
	}
}

func (h *Hub) deliverLogs(ev LogEvent) {
	h.logs.mu.Lock()
	defer h.logs.mu.Unlock()
	for sub := range h.logs.subs {
		if sub.nodeID != 0 && sub.nodeID != ev.NodeID {
			continue
		}
		select {
		case sub.c <- ev:
		default:
			sub.dropped.Add(int64(len(ev.Lines)) + ev.Dropped)
		}
	}
}
