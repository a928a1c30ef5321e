package hub

import (
	"context"
	"testing"
	"time"
)

// TestLogsLostPerNode: batches the publish queue has no room for are
// counted against their own node and reported to that node's watchers
// with its next batch, not to another node's.
func TestLogsLostPerNode(t *testing.T) {
	h := &Hub{sessions: map[int64]*session{}, logs: logHub{subs: map[*logSub]struct{}{}, want: map[int64]time.Time{},
		out: make(chan LogEvent, 1), lost: map[int64]int64{}}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	one, two := h.WatchLogs(ctx, 1), h.WatchLogs(ctx, 2)
	all := h.WatchLogs(ctx, 0)

	h.publishLogs(LogEvent{NodeID: 2, Lines: []string{"fills the queue"}})
	h.publishLogs(LogEvent{NodeID: 1, Lines: []string{"a", "b", "c"}, Dropped: 2}) // lost: 5 lines of node 1
	h.publish(ctx, <-h.logs.out)                                                   // node 2's batch
	h.publish(ctx, LogEvent{NodeID: 1, Node: "one", Lines: []string{"d"}})

	next := func(c <-chan LogEvent) LogEvent {
		t.Helper()
		select {
		case ev := <-c:
			return ev
		case <-time.After(5 * time.Second):
			t.Fatal("no batch")
			return LogEvent{}
		}
	}
	if ev := next(two); ev.NodeID != 2 || ev.Dropped != 0 {
		t.Errorf("node 2's watcher got %+v", ev)
	}
	if ev := next(one); ev.NodeID != 1 || ev.Dropped != 5 || len(ev.Lines) != 1 {
		t.Errorf("node 1's watcher got %+v, want its line and 5 dropped", ev)
	}
	if a, b := next(all), next(all); a.Dropped+b.Dropped != 5 {
		t.Errorf("the every-node watcher got %+v and %+v", a, b)
	}
}
