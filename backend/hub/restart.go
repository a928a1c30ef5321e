package hub

import (
	"context"
	"strconv"

	"github.com/outpost-panel/outpost/nodes/protocol"
)

// restartTopic carries restart requests between replicas: "all" for every
// node, or one node's id.
const restartTopic = "core-restart"

// RestartCores asks every connected node, on every replica, to restart its
// Xray core. Nodes start the new instance before closing the old one, so
// open connections are not cut; nothing else about the nodes changes.
func (h *Hub) RestartCores(ctx context.Context) int {
	if h.opts.Signals != nil {
		if err := h.opts.Signals.Send(ctx, restartTopic, []byte("all")); err == nil {
			// Every replica, this one included, hears the signal.
			return h.count()
		}
	}
	return h.restartLocal()
}

// RestartCore asks one node to restart its Xray core, as RestartCores does
// for all of them. A session this replica holds gets the request at once;
// one held by another replica gets it through that replica. False when no
// replica holds a live session for the node (nothing was asked).
func (h *Hub) RestartCore(ctx context.Context, nodeID int64) bool {
	// The session is copied out of h.mu before anything is sent to it.
	h.mu.Lock()
	s := h.sessions[nodeID]
	h.mu.Unlock()
	if s != nil {
		return s.send(protocol.Message{Type: protocol.TypeRestart})
	}
	if h.opts.Signals == nil || !h.Connected(nodeID) {
		return false
	}
	return h.opts.Signals.Send(ctx, restartTopic, []byte(strconv.FormatInt(nodeID, 10))) == nil
}

func (h *Hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

func (h *Hub) restartLocal() int {
	sessions := h.liveSessions()
	for _, s := range sessions {
		s.send(protocol.Message{Type: protocol.TypeRestart})
	}
	return len(sessions)
}

func (h *Hub) listenRestarts(ctx context.Context) {
	for msg := range h.opts.Signals.Listen(ctx, restartTopic) {
		if string(msg) == "all" {
			h.restartLocal()
			continue
		}
		id, err := strconv.ParseInt(string(msg), 10, 64)
		if err != nil {
			continue
		}
		h.mu.Lock()
		s := h.sessions[id]
		h.mu.Unlock()
		if s != nil {
			s.send(protocol.Message{Type: protocol.TypeRestart})
		}
	}
}
