package hub

import (
	"context"
	"sync"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/nodes/protocol"
)

// Write-behind of node acks and statuses (issue 12). A thousand nodes each
// acking a delta and sending a status after it were two SQLite
// transactions per node per delta, on the one writer the API's changes
// also wait for, and each session's reader waited for its own write before
// it read the node's next frame (and before the next delta went out). Now
// a session only records what its node said in nodeWriter, which keeps the
// latest ack and status per node and writes every node's in one
// transaction per nodeWriteInterval. What the database holds of a node
// (applied revision, hash, status, message, last seen) is at most one
// interval old; the session's own state, which decides what is sent, is
// current. Usage is not batched here: a usage batch is committed before
// its usage_ack, as the accounting requires.

// nodeWriteInterval is how often pending node writes are committed.
const nodeWriteInterval = 250 * time.Millisecond

// nodeWriter holds each node's pending write, newest fence wins.
type nodeWriter struct {
	mu      sync.Mutex // a leaf: see the lock order on Hub
	pending map[int64]*pendingWrite
	order   []int64 // node ids in pending, in the order they were first put
	kick    chan struct{}
}

type pendingWrite struct {
	w     model.NodeWrite
	flush []chan struct{} // closed once the write committed (or was dropped)
}

func newNodeWriter() nodeWriter {
	return nodeWriter{pending: map[int64]*pendingWrite{}, kick: make(chan struct{}, 1)}
}

// put merges w into the node's pending write: a later ack or status of
// the same session replaces the earlier one (versions left empty keep the
// pending ones), a newer session's write replaces an older session's (which
// its fence would refuse anyway), and an older session's write is dropped.
// done, when not nil, is closed once the write is committed or dropped.
func (nw *nodeWriter) put(w model.NodeWrite, done chan struct{}) {
	nw.mu.Lock()
	p := nw.pending[w.ID]
	switch {
	case p == nil:
		p = &pendingWrite{w: w}
		nw.pending[w.ID] = p
		nw.order = append(nw.order, w.ID)
	case w.Fence > p.w.Fence:
		p.w = w
	case w.Fence < p.w.Fence:
		nw.mu.Unlock()
		if done != nil {
			close(done)
		}
		return
	default:
		if w.Ack {
			p.w.Ack, p.w.Revision, p.w.StateHash = true, w.Revision, w.StateHash
		}
		if w.Status {
			agent, xray := p.w.AgentVersion, p.w.XrayVersion
			p.w.Status, p.w.NodeStatus, p.w.Message, p.w.Seen = true, w.NodeStatus, w.Message, w.Seen
			p.w.AgentVersion, p.w.XrayVersion = w.AgentVersion, w.XrayVersion
			if p.w.AgentVersion == "" {
				p.w.AgentVersion = agent
			}
			if p.w.XrayVersion == "" {
				p.w.XrayVersion = xray
			}
		}
	}
	if done != nil {
		p.flush = append(p.flush, done)
	}
	nw.mu.Unlock()
	if done != nil {
		select {
		case nw.kick <- struct{}{}:
		default:
		}
	}
}

// take empties the pending writes, in the order they came.
func (nw *nodeWriter) take() []*pendingWrite {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	out := make([]*pendingWrite, 0, len(nw.order))
	for _, id := range nw.order {
		out = append(out, nw.pending[id])
	}
	clear(nw.pending)
	nw.order = nw.order[:0]
	return out
}

// putBack returns writes a failed commit left pending, unless a newer one
// for the node came meanwhile (it is merged over them).
func (nw *nodeWriter) putBack(ps []*pendingWrite) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	for _, p := range ps {
		newer := nw.pending[p.w.ID]
		if newer == nil {
			nw.pending[p.w.ID] = p
			nw.order = append(nw.order, p.w.ID)
			continue
		}
		if newer.w.Fence == p.w.Fence {
			if !newer.w.Ack && p.w.Ack {
				newer.w.Ack, newer.w.Revision, newer.w.StateHash = true, p.w.Revision, p.w.StateHash
			}
			if !newer.w.Status && p.w.Status {
				newer.w.Status, newer.w.NodeStatus, newer.w.Message, newer.w.Seen = true, p.w.NodeStatus, p.w.Message, p.w.Seen
				newer.w.AgentVersion, newer.w.XrayVersion = p.w.AgentVersion, p.w.XrayVersion
			}
		}
		newer.flush = append(newer.flush, p.flush...)
	}
}

// runNodeWrites commits pending node writes every nodeWriteInterval (at
// once when a caller waits for one) until ctx ends, then commits what is
// left.
func (h *Hub) runNodeWrites(ctx context.Context) {
	defer close(h.writesStopped)
	t := time.NewTicker(nodeWriteInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			h.flushNodeWrites(fctx)
			cancel()
			return
		case <-t.C:
		case <-h.writes.kick:
		}
		// A commit under way when ctx ends still completes: it holds the
		// disconnects of sessions a drain just moved.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		h.flushNodeWrites(fctx)
		cancel()
	}
}

// flushNodeWrites commits what is pending in one transaction. A write a
// newer session fenced closes its session, if it is still live here, as
// a fenced synchronous write did. A failed commit leaves the writes
// pending for the next round.
func (h *Hub) flushNodeWrites(ctx context.Context) {
	ps := h.writes.take()
	if len(ps) == 0 {
		return
	}
	ws := make([]model.NodeWrite, len(ps))
	for i, p := range ps {
		ws[i] = p.w
	}
	fenced, err := h.st.NodeWriteBatch(ctx, ws)
	if err != nil {
		h.log.Warn("recording node acks and statuses", "nodes", len(ws), "err", err)
		h.writes.putBack(ps) // the next round tries again
		return
	}
	for _, i := range fenced {
		w := ws[i]
		h.mu.Lock()
		s := h.sessions[w.ID]
		h.mu.Unlock()
		if s != nil && s.fence == w.Fence {
			s.close(protocol.ErrCodeFenced, "fenced by a newer session")
		}
	}
	for _, p := range ps {
		for _, c := range p.flush {
			close(c)
		}
	}
}

// recordAck and recordStatus queue what the session's node said.
func (s *session) recordAck(rev int64, hash string) {
	s.h.writes.put(model.NodeWrite{ID: s.node.ID, Fence: s.fence, Ack: true, Revision: rev, StateHash: hash}, nil)
}

func (s *session) recordStatus(status model.NodeStatus, msg, agentVersion, xrayVersion string) {
	s.h.writes.put(model.NodeWrite{ID: s.node.ID, Fence: s.fence, Status: true, NodeStatus: status, Message: msg,
		AgentVersion: agentVersion, XrayVersion: xrayVersion, Seen: s.h.st.Now()}, nil)
}
