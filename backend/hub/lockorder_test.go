package hub

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/nodes/protocol"
)

// TestLogLoopAndPushesDoNotDeadlock is the regression test for the hub
// stopping for good under load: the log-stream loop went from the hub's
// lock to each session's, while a state push went from its session's lock
// to the hub's (to read the desired state). Many sessions pushing while the
// log loop turns their streams on and off made the inversion near certain.
// Run it with -race.
func TestLogLoopAndPushesDoNotDeadlock(t *testing.T) {
	const (
		sessions = 200
		pushes   = 300
		rounds   = 3000
	)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	users := []protocol.User{user(1, "1.a", 0)}
	h := &Hub{log: log, opts: Options{SnapshotChunk: 10, PingInterval: time.Second}, sessions: map[int64]*session{}, gate: newWriteGate(8),
		logs: logHub{subs: map[*logSub]struct{}{}, want: map[int64]time.Time{}, out: make(chan LogEvent, 1), lost: map[int64]int64{}}}
	h.setDesired(newDesired(5, []byte(`{}`), users))

	done := make(chan struct{})
	var all []*session
	for i := range sessions {
		id := int64(i + 1)
		s := &session{h: h, node: &model.Node{ID: id, Name: fmt.Sprint(id)}, log: log,
			out: make(chan protocol.Message, 64), snapc: make(chan *snapJob), wake: make(chan struct{}, 1), done: make(chan struct{}),
			hello: &protocol.Hello{Protocol: protocol.Version}, needSnapshot: true}
		h.sessions[id] = s
		all = append(all, s)
		go func() { // the node side: drain and acknowledge at once
			for {
				select {
				case <-done:
					return
				case <-s.out:
				case j := <-s.snapc: // the writer's part: the chunks went
					s.mu.Lock()
					s.inflight, s.needSnapshot = 0, true
					s.mu.Unlock()
					close(j.done)
				}
			}
		}()
	}

	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // the log loop, with a watcher coming and going
			defer wg.Done()
			for i := range rounds {
				h.logs.mu.Lock()
				if i%2 == 0 {
					h.logs.want[0] = time.Now()
				} else {
					delete(h.logs.want, 0)
				}
				h.logs.mu.Unlock()
				h.syncLogStreams()
			}
		}()
		for _, s := range all {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range pushes {
					if err := s.pushState(context.Background()); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}()
	defer close(done)
	select {
	case <-finished:
	case <-time.After(2 * time.Minute):
		t.Fatal("sessions and the log loop are stuck on each other's locks (lock-order inversion)")
	}
}
