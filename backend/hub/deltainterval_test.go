package hub

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/state"
	"github.com/outpost-panel/outpost/nodes/protocol"
)

// TestDeltaIntervalFoldsABurst: with DeltaInterval, a burst of changes
// reaches a node in fewer deltas than changes (the hub follows the feed
// at most once per interval), and together they carry every change. The
// bound is worked out from how long the burst took, not from a clock
// budget: at most one delta per started interval, plus the one in flight.
func TestDeltaIntervalFoldsABurst(t *testing.T) {
	const interval = time.Second
	const burst = 10
	e := newFleetEnv(t, 1, burst+1, Options{PingInterval: time.Second, DeltaInterval: interval})
	ctx := context.Background()
	<-e.h.ready
	rev0, hash0 := e.h.current().head()
	c := e.dial(0, false)
	if err := sendJSON(c, protocol.Message{Type: protocol.TypeHello, Hello: &protocol.Hello{Protocol: protocol.Version,
		AppliedRevision: rev0, StateHash: hash0.String(), AgentVersion: "a1"}}); err != nil {
		t.Fatal(err)
	}
	readType(t, c, protocol.TypeWelcome)

	// The changes come 30 ms apart: without the interval each would be a
	// delta of its own (the node acks at once).
	start := time.Now()
	for i := range burst {
		time.Sleep(30 * time.Millisecond)
		limit := int64(1<<30) + int64(i)
		if _, err := e.st.ModifyUser(ctx, nil, fmt.Sprintf("user_%05d", i), state.UserInput{DataLimit: &limit}); err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(start)
	head, err := e.st.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}

	upserted := map[string]bool{}
	deltas := 0
	for applied := rev0; applied < head; {
		d := readType(t, c, protocol.TypeDelta).Delta
		if d == nil {
			t.Fatalf("no delta after %d; %d of %d users so far", applied, len(upserted), burst)
		}
		deltas++
		for _, u := range d.Upserts {
			upserted[u.Email[strings.IndexByte(u.Email, '.')+1:]] = true
		}
		applied = d.Revision
		if err := sendJSON(c, protocol.Message{Type: protocol.TypeAck, Ack: &protocol.Ack{Revision: d.Revision, StateHash: d.StateHash}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range burst {
		if name := fmt.Sprintf("user_%05d", i); !upserted[name] {
			t.Errorf("%s's change reached the node in no delta", name)
		}
	}
	bound := int(took/interval) + 2
	if deltas > bound || (bound < burst && deltas >= burst) {
		t.Fatalf("%d changes in %s came in %d deltas; want at most %d (one per interval of %s, and the first)", burst, took, deltas, bound, interval)
	}
	t.Logf("%d changes in %s: %d deltas", burst, took.Round(time.Millisecond), deltas)
}
