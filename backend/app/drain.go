package app

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/hub"
	"github.com/outpost-panel/outpost/backend/state"
)

// DrainTimeout bounds the graceful part of a shutdown (SIGTERM): in-flight
// requests, moving node sessions, the last outbox pump. cmd/panel exits
// hard at ShutdownCap whatever is left, so a rolling upgrade never waits
// on a stuck replica.
const (
	DrainTimeout = 8 * time.Second
	ShutdownCap  = 10 * time.Second
)

// notifyListener tells when it was closed: the HTTP server closes it first
// thing on shutdown, and only then may node sessions be told to move (a
// balancer in front must not send them back to this replica).
type notifyListener struct {
	net.Listener
	once   sync.Once
	closed chan struct{}
}

func newNotifyListener(ln net.Listener) *notifyListener {
	return &notifyListener{Listener: ln, closed: make(chan struct{})}
}

func (l *notifyListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() { close(l.closed) })
	return err
}

// drain is the graceful shutdown, in order: stop accepting connections,
// let in-flight requests finish, tell every node session to move to
// another replica (close code 4005) and wait for them to end, then pump
// what the outbox holds into the change feed so other replicas see every
// committed change at once. Usage needs no flush: a batch is recorded in
// its own transaction before it is acknowledged, and a node resends what
// was not acknowledged (counted once).
func drain(s *state.State, h *hub.Hub, srv *fiber.App, ln *notifyListener, log *slog.Logger) {
	started := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), DrainTimeout)
	defer cancel()
	httpDone := make(chan error, 1)
	go func() { httpDone <- srv.ShutdownWithContext(ctx) }()
	select {
	case <-ln.closed:
	case <-ctx.Done():
	}
	moved := h.Drain(ctx)
	if err := <-httpDone; err != nil {
		log.Warn("shutdown: in-flight requests at the deadline", "err", err)
	}
	if err := s.Pump(ctx); err != nil {
		log.Warn("shutdown: last outbox pump", "err", err)
	}
	log.Info("drained", "node_sessions_moved", moved, "took", time.Since(started).Round(time.Millisecond))
}
