package hub

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/outpost-panel/outpost/nodes/protocol"
)

// healthTopic carries node health reports between replicas, so whichever
// replica answers GET /api/nodes knows what the session's replica heard.
const healthTopic = "node-health"

// NodeHealth is the last status report a node's agent sent: what it runs
// and what waits on it. It lives in memory only; a replica that started
// after a node's last report knows it from the next one (nodes report
// every 30 s and after each apply or core restart).
type NodeHealth struct {
	NodeID int64 `json:"node_id"`
	// Users is how many users the node's Xray serves.
	Users int `json:"users"`
	// JournalBacklog is how many usage batches the node holds unacknowledged.
	JournalBacklog int `json:"journal_backlog"`
	// InboundErrors: inbound tag -> why Xray could not start it.
	InboundErrors map[string]string `json:"inbound_errors"`
	// CoreRestarts counts the agent's Xray restarts since it started.
	CoreRestarts int `json:"core_restarts"`
	// Certs are the certificate files the node's inbounds read from its
	// own disk, with their expiry (the certificate alert watches them).
	Certs []protocol.CertExpiry `json:"certs,omitempty"`
	// ReportedAt is when the panel received the report.
	ReportedAt time.Time `json:"reported_at"`
}

// recordHealth keeps a status report and, with replicas, tells the others.
func (h *Hub) recordHealth(ctx context.Context, nodeID int64, st *protocol.Status) {
	r := NodeHealth{NodeID: nodeID, Users: st.Users, JournalBacklog: st.JournalBacklog,
		InboundErrors: maps.Clone(st.InboundErrors), CoreRestarts: st.CoreRestarts,
		Certs: slices.Clone(st.Certs), ReportedAt: time.Now().UTC()}
	if r.InboundErrors == nil {
		r.InboundErrors = map[string]string{}
	}
	h.storeHealth(r)
	if h.opts.Signals != nil && h.shouldSendHealth(r) {
		if b, err := json.Marshal(r); err == nil {
			_ = h.opts.Signals.Send(ctx, healthTopic, b)
		}
	}
}

// healthResend is how often an unchanged report still goes to the other
// replicas, so their reported_at stays this fresh.
const healthResend = 10 * time.Second

// shouldSendHealth says whether r goes to the other replicas: when it
// says something new, or the last one sent is healthResend old. Agents
// report after every apply; at 1,000 nodes and 100 changes a second that
// was a Redis publish (waited for in the session's reader) and a decode on
// every other replica for each of thousands of identical reports a second.
func (h *Hub) shouldSendHealth(r NodeHealth) bool {
	h.healthMu.Lock()
	defer h.healthMu.Unlock()
	last, ok := h.healthSent[r.NodeID]
	if ok && r.ReportedAt.Sub(last.ReportedAt) < healthResend && sameHealth(last, r) {
		return false
	}
	h.healthSent[r.NodeID] = r
	return true
}

func sameHealth(a, b NodeHealth) bool {
	return a.Users == b.Users && a.JournalBacklog == b.JournalBacklog && a.CoreRestarts == b.CoreRestarts &&
		maps.Equal(a.InboundErrors, b.InboundErrors)
}

func (h *Hub) storeHealth(r NodeHealth) {
	h.healthMu.Lock()
	defer h.healthMu.Unlock()
	if old, ok := h.health[r.NodeID]; ok && old.ReportedAt.After(r.ReportedAt) {
		return // a late copy from the feed of what this replica already has
	}
	h.health[r.NodeID] = r
}

// Health is the node's last status report, if this replica has heard one.
// The map of inbound errors is the caller's own.
func (h *Hub) Health(nodeID int64) (NodeHealth, bool) {
	h.healthMu.Lock()
	r, ok := h.health[nodeID]
	h.healthMu.Unlock()
	r.InboundErrors = maps.Clone(r.InboundErrors)
	return r, ok
}

func (h *Hub) listenHealth(ctx context.Context) {
	for msg := range h.opts.Signals.Listen(ctx, healthTopic) {
		var r NodeHealth
		if json.Unmarshal(msg, &r) != nil || r.NodeID <= 0 {
			continue
		}
		h.storeHealth(r)
	}
}
