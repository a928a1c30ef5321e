package hub

import (
	"context"

	"github.com/outpost-panel/outpost/nodes/protocol"
)

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
	for range h.opts.Signals.Listen(ctx, restartTopic) {
		h.restartLocal()
	}
}
