package agent

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/nodes/protocol"
	"github.com/outpost-panel/outpost/nodes/xraycore/xraytest"
)

// TestJournalIntervalIsTheShorter: the panel's welcome says 10 s (its
// default); a node on its default flag still journals every second, so a
// kill -9 loses at most one second of counted traffic.
func TestJournalIntervalIsTheShorter(t *testing.T) {
	clock := &movableClock{now: time.Unix(1_800_000_000, 0)}
	a := newTestAgent(t, t.TempDir(), clock)
	defer a.close()
	if got := a.journalEvery(); got != time.Second {
		t.Fatalf("default journal interval %v, want 1s", got)
	}
	a.usageEvery.Store(int64(10 * time.Second)) // what welcome{usage_seconds: 10} does
	if got := a.journalEvery(); got != time.Second {
		t.Fatalf("with the panel at 10s the node journals every %v, want its own 1s", got)
	}
	a.usageEvery.Store(int64(200 * time.Millisecond))
	if got := a.journalEvery(); got != 200*time.Millisecond {
		t.Fatalf("with the panel at 200ms the node journals every %v, want the panel's", got)
	}
	a.usageEvery.Store(int64(10 * time.Second))

	cfg, ports := testConfig(t)
	alice := xraytest.TestUser(1, "alice")
	if ack := a.applySnapshot(1, "", cfg, []protocol.User{alice}); ack.Error != "" {
		t.Fatal(ack.Error)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); a.usageLoop(ctx) }()
	defer func() { cancel(); wg.Wait() }()

	echo := xraytest.StartEcho(t)
	socks := vlessClient(t, alice, ports)
	// Two rounds: the second checks that the panel's longer interval did
	// not take over after the first tick. 5 s is half the panel's interval.
	for round := 1; round <= 2; round++ {
		if err := xraytest.RoundTrip(socks, echo, xraytest.Payload(64<<10)); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			n, err := a.store.JournalBacklog()
			if err != nil {
				t.Fatal(err)
			}
			if n >= round {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: traffic not journaled within half the panel's interval (backlog %d)", round, n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
