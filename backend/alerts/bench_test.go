package alerts

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
)

// BenchmarkTick1000Nodes is one evaluation over 1,000 nodes on SQLite, a
// tenth of them offline past the threshold (their alerts fired already, as
// in the steady state of an outage): what the jobs leader pays every
// --alert-interval. Users do not enter into it.
func BenchmarkTick1000Nodes(b *testing.B) {
	ctx := context.Background()
	clock := &testClock{now: t0}
	s := openState(b, "sqlite", clock)
	s.SetWebhookAddresses([]string{"http://127.0.0.1:9/hook"})
	fleet := &fakeFleet{connected: map[int64]bool{}}
	head, err := s.Revision(ctx)
	if err != nil {
		b.Fatal(err)
	}
	fleet.head = head
	for i := range 1000 {
		n := &model.Node{Name: fmt.Sprintf("node-%04d", i)}
		if _, err := s.CreateNode(ctx, n); err != nil {
			b.Fatal(err)
		}
		fence, _, err := s.NodeSessionStart(ctx, n.ID)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.NodeSetStatus(ctx, n.ID, fence, model.NodeConnected, "", "", ""); err != nil {
			b.Fatal(err)
		}
		if err := s.NodeRecordAck(ctx, n.ID, fence, head, "h"); err != nil {
			b.Fatal(err)
		}
		fleet.set(n.ID, i%10 != 0)
	}
	if err := s.SetAlertSettings(ctx, state.DefaultAlertSettings()); err != nil {
		b.Fatal(err)
	}
	e := New(s, fleet, Options{Now: clock.Now})
	clock.Add(10 * time.Minute)
	fired, _, err := e.Tick(ctx)
	if err != nil || len(fired) != 100 {
		b.Fatalf("first tick fired %d alerts (%v), want 100", len(fired), err)
	}
	b.ResetTimer()
	for range b.N {
		clock.Add(30 * time.Second)
		if f, r, err := e.Tick(ctx); err != nil || len(f)+len(r) != 0 {
			b.Fatalf("steady tick: fired %d resolved %d (%v)", len(f), len(r), err)
		}
	}
}
