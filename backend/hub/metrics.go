package hub

import (
	"context"
	"strings"
	"time"

	"github.com/outpost-panel/outpost/backend/metrics"
)

// The hub's side of backend/metrics: counters are bumped where things
// happen (session.go, hub.go); per-node revision lag and feed lag are read
// at scrape time from MetricsSnapshot.

// MetricsSnapshot implements metrics.HubSource.
func (h *Hub) MetricsSnapshot(ctx context.Context) (head, feedLast int64, feedOK bool, applied map[int64]int64) {
	if d := h.current(); d != nil {
		head, _ = d.head()
	}
	last, err := h.feed.Last(ctx)
	applied = map[int64]int64{}
	for _, s := range h.liveSessions() {
		s.mu.Lock()
		rev, hello := s.applied, s.hello != nil
		s.mu.Unlock()
		if hello {
			applied[s.node.ID] = rev
		}
	}
	return head, last, err == nil, applied
}

func sessionOpened() {
	metrics.NodeSessions.Inc()
	metrics.NodeSessionsOpened.Inc()
}

func sessionClosed(nodeID int64, reason string) {
	metrics.NodeSessions.Dec()
	metrics.NodeSessionsClosed.WithLabelValues(closedBy(reason)).Inc()
	metrics.JournalBacklog.DeleteLabelValues(metrics.NodeLabel(nodeID))
}

// closedBy tells who ended a session from its reason: a read that failed
// other than by our own deadline, or a plain close, is the node's doing
// (or the network's); everything else (fence, protocol error, read
// deadline, failed write or ping, node deleted) is the panel's.
func closedBy(reason string) string {
	switch {
	case reason == "connection closed":
		return "node"
	case strings.HasPrefix(reason, "read: ") && !strings.Contains(reason, "timeout"):
		return "node"
	default:
		return "panel"
	}
}

func observeAck(kind string, sent time.Time) {
	if kind != "" && !sent.IsZero() {
		metrics.AckSeconds.WithLabelValues(kind).Observe(time.Since(sent).Seconds())
	}
}

func countUsageBatch(applied bool) {
	result := "duplicate"
	if applied {
		result = "applied"
	}
	metrics.UsageBatches.WithLabelValues(result).Inc()
}
