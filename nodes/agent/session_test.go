package agent

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/outpost-panel/outpost/nodes/protocol"
)

func TestBackoffSteps(t *testing.T) {
	most := func(n int64) int64 { return n - 1 } // the longest jitter
	b := newBackoff(time.Second, 8*time.Second, most)
	for i, tc := range []struct {
		welcomed, fenced bool
		want             time.Duration
	}{
		{false, false, time.Second/2 + time.Second - 1},
		{false, false, time.Second + 2*time.Second - 1},
		{false, false, 2*time.Second + 4*time.Second - 1},
		{false, false, 4*time.Second + 8*time.Second - 1},
		{false, false, 4*time.Second + 8*time.Second - 1}, // capped
		{true, false, time.Second/2 + time.Second - 1},    // a welcome resets it
		{false, true, 8 * time.Second},                    // fenced: the longest, no jitter
		{false, false, 2*time.Second + 4*time.Second - 1},
	} {
		if got := b.next(tc.welcomed, tc.fenced); got != tc.want {
			t.Fatalf("step %d (welcomed %v, fenced %v): wait %v, want %v", i, tc.welcomed, tc.fenced, got, tc.want)
		}
	}
}

// TestRedialWaitsThroughTheClock drives the reconnect loop with a clock
// that fires at once: every wait it asks for is recorded, none is slept,
// and the waits follow the backoff (doubling, capped, reset by a welcome,
// longest after a fence, which the next hello reports).
func TestRedialWaitsThroughTheClock(t *testing.T) {
	var waits []time.Duration
	after := func(d time.Duration) <-chan time.Time {
		waits = append(waits, d)
		c := make(chan time.Time, 1)
		c <- time.Time{}
		return c
	}
	a := &Agent{cfg: Config{MinBackoff: time.Second, MaxBackoff: 8 * time.Second, After: after}, log: slog.New(slog.DiscardHandler)}
	down := errors.New("dialing panel: connection refused")
	script := []struct {
		welcomed bool
		err      error
	}{
		{false, down}, {false, down}, {false, down}, {false, down}, {false, down},
		{true, errors.New("reading from panel: EOF")},
		{false, &protocol.Error{Code: protocol.ErrCodeFenced, Message: "fenced by a newer session"}},
		{false, down},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var fencedAtHello []bool
	calls := 0
	a.redial(ctx, func(context.Context) (bool, error) {
		fencedAtHello = append(fencedAtHello, a.fenced.Load())
		if calls == len(script) {
			cancel()
			return false, ctx.Err()
		}
		s := script[calls]
		calls++
		return s.welcomed, s.err
	})
	if len(waits) != len(script) {
		t.Fatalf("%d waits for %d ended sessions: %v", len(waits), len(script), waits)
	}
	// [base/2, 3*base/2) with the jitter of each wait; a fence still
	// doubles the base, so the wait after it starts from 4s.
	bases := []time.Duration{1, 2, 4, 8, 8, 1, 0, 4}
	for i, base := range bases {
		w := waits[i]
		if base == 0 {
			if w != 8*time.Second {
				t.Errorf("wait %d after a fence: %v, want the maximum 8s", i, w)
			}
			continue
		}
		lo, hi := base*time.Second/2, 3*base*time.Second/2
		if w < lo || w >= hi {
			t.Errorf("wait %d: %v, want within [%v, %v)", i, w, lo, hi)
		}
	}
	if want := []bool{false, false, false, false, false, false, false, true, false}; !slices.Equal(fencedAtHello, want) {
		t.Errorf("fenced as the hellos would say it: %v, want %v", fencedAtHello, want)
	}
}

// TestCloseStatusCarriesTheCode: a session whose error frame was lost
// still learns the panel's reason from the close status.
func TestCloseStatusCarriesTheCode(t *testing.T) {
	s := &panelSession{writeErr: make(chan error, 1)}
	err := s.readFailed(&websocket.CloseError{Code: protocol.ErrCodeFenced.CloseStatus(), Text: "fenced by a newer session"})
	if !isFenced(err) {
		t.Fatalf("close status %d read as %v; want fenced", protocol.ErrCodeFenced.CloseStatus(), err)
	}
	if err := s.readFailed(&websocket.CloseError{Code: websocket.CloseNormalClosure}); isFenced(err) {
		t.Fatalf("a normal closure read as fenced: %v", err)
	}
	werr := errors.New("write: broken pipe")
	s.writeErr <- werr
	if err := s.readFailed(errors.New("use of closed connection")); err != werr {
		t.Fatalf("after a failed write the session ended with %v; want the write's error", err)
	}
}
