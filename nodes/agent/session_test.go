package agent

import (
	"context"
	"errors"
	"fmt"
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
	a.redial(ctx, func(context.Context, string) (bool, error) {
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

// TestRotationPolicy: with three addresses, a dial that fails moves to the
// next address at once; only a full round of failures waits, with the
// capped backoff; a session that ended after a stable while starts a new
// round (and resets the backoff); sessions that end soon after welcome
// still count within the round, so replicas cannot bounce a node without
// a wait; a move (close 4005) goes to the next address at once whatever
// came before; a fence waits the longest.
func TestRotationPolicy(t *testing.T) {
	most := func(n int64) int64 { return n - 1 }
	r := newRotation(3, newBackoff(time.Second, 4*time.Second, most))
	down := errors.New("dialing panel: connection refused")
	eof := errors.New("reading from panel: EOF")
	invalid := &protocol.Error{Code: protocol.ErrCodeInvalid}
	move := fmt.Errorf("panel closed the session: %w", &protocol.Error{Code: protocol.ErrCodeMove, Message: "panel shutting down"})
	fence := &protocol.Error{Code: protocol.ErrCodeFenced}
	full := func(base time.Duration) time.Duration { return base/2 + base - 1 }
	for i, tc := range []struct {
		welcomed, stable bool
		err              error
		wait             time.Duration
		next             int
	}{
		{false, false, down, 0, 1},
		{false, false, down, 0, 2},
		{false, false, down, full(time.Second), 0}, // a whole round failed: back off
		{false, false, down, 0, 1},
		{false, false, down, 0, 2},
		{false, false, down, full(2 * time.Second), 0},
		{false, false, down, 0, 1},
		{false, false, down, 0, 2},
		{false, false, down, full(4 * time.Second), 0},
		{false, false, down, 0, 1},
		{false, false, down, 0, 2},
		{false, false, down, full(4 * time.Second), 0}, // capped
		{false, false, down, 0, 1},
		{true, true, eof, 0, 2},                    // a live session dropped: next at once, a new round
		{false, false, down, 0, 0},                 // (the failure before it does not count)
		{false, false, down, full(time.Second), 1}, // the backoff was reset by the welcome
		{false, false, move, 0, 2},                 // move: next at once, the round starts over
		{false, false, down, 0, 0},                 // ...so two more addresses are tried at once
		{false, false, down, 0, 1},
		{false, false, down, full(time.Second), 2}, // and the backoff starts again from min
		{true, false, invalid, 0, 0},               // sessions ending soon after welcome...
		{true, false, invalid, 0, 1},
		{true, false, invalid, full(time.Second), 2}, // ...wait once a round
		{true, false, move, 0, 0},                    // a welcomed session told to move
		{false, false, fence, 4 * time.Second, 0},    // fenced: the longest, same address
	} {
		wait := r.next(tc.welcomed, tc.stable, tc.err)
		if wait != tc.wait || r.cur != tc.next {
			t.Fatalf("step %d (welcomed %v, stable %v, %v): wait %v then address %d; want %v then %d", i, tc.welcomed, tc.stable, tc.err, wait, r.cur, tc.wait, tc.next)
		}
	}
	// The panel's close status alone (its error frame lost) is a move too.
	s := &panelSession{writeErr: make(chan error, 1)}
	if err := s.readFailed(&websocket.CloseError{Code: 4005, Text: "panel shutting down"}); !isMove(err) {
		t.Fatalf("close status 4005 read as %v; want move", err)
	}
}

// TestRedialRotatesAddresses drives the loop with two addresses: it dials
// them in turn without waiting while a round is incomplete, and a move
// sends it to the other address at once.
func TestRedialRotatesAddresses(t *testing.T) {
	var waits []time.Duration
	after := func(d time.Duration) <-chan time.Time {
		waits = append(waits, d)
		c := make(chan time.Time, 1)
		c <- time.Time{}
		return c
	}
	a := &Agent{cfg: Config{PanelURLs: []string{"http://a", "http://b"}, MinBackoff: time.Second, MaxBackoff: 8 * time.Second, After: after},
		log: slog.New(slog.DiscardHandler)}
	down := errors.New("dialing panel: connection refused")
	move := &protocol.Error{Code: protocol.ErrCodeMove}
	script := []struct {
		welcomed bool
		err      error
	}{{true, move}, {true, move}, {false, down}, {false, down}, {true, errors.New("EOF")}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var dialed []string
	a.redial(ctx, func(_ context.Context, addr string) (bool, error) {
		dialed = append(dialed, addr)
		if len(dialed) > len(script) {
			cancel()
			return false, ctx.Err()
		}
		s := script[len(dialed)-1]
		return s.welcomed, s.err
	})
	if want := []string{"http://a", "http://b", "http://a", "http://b", "http://a", "http://b"}; !slices.Equal(dialed, want) {
		t.Fatalf("dialed %v; want %v", dialed, want)
	}
	if len(waits) != 1 || waits[0] < 500*time.Millisecond || waits[0] >= 1500*time.Millisecond {
		t.Fatalf("waits %v; want one backoff of about 1s, after the round of two failures", waits)
	}
}
