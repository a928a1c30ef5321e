package hub

import (
	"context"
	"time"

	"github.com/outpost-panel/outpost/nodes/protocol"
)

// drainReason is what a draining panel tells its nodes.
const drainReason = "panel shutting down: move to another replica"

// Drain is the hub's part of a graceful shutdown (SIGTERM): it refuses new
// node sessions from now on (503 before the upgrade), ends every live
// session with the move code (close status 4005), which a node reads as
// "redial now, no backoff" (the next of several panel addresses first),
// and waits until every session has ended and released its presence, or
// ctx ends. It returns how many sessions it moved. A node keeps serving
// throughout; it resumes on another replica from its applied revision.
func (h *Hub) Drain(ctx context.Context) int {
	h.draining.Store(true)
	// A session registering after this store sees it and moves itself
	// (Hub.serve), so none is left behind.
	moved := h.liveSessions()
	for _, s := range moved {
		s.close(protocol.ErrCodeMove, drainReason)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		h.mu.Lock()
		left := len(h.sessions)
		h.mu.Unlock()
		if left == 0 {
			return len(moved)
		}
		select {
		case <-ctx.Done():
			h.log.Warn("drain: sessions still open at the deadline", "sessions", left)
			return len(moved)
		case <-tick.C:
		}
	}
}

// Draining reports whether Drain has begun.
func (h *Hub) Draining() bool { return h.draining.Load() }
