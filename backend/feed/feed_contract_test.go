package feed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

// replicatedFeed is what both implementations offer a replica.
type replicatedFeed interface {
	Feed
	Signals
}

// openFeed returns a feed that keeps about retain changes, and a function
// opening another replica over the same storage (for Memory, the same feed).
type openFeed func(t *testing.T, retain int) (replicatedFeed, func() replicatedFeed)

// waitLimit bounds every wait for something asynchronous. It is a liveness
// bound, far above what any healthy run needs; nothing asserts durations.
const waitLimit = 15 * time.Second

func dataFor(rev int64) []byte { return fmt.Appendf(nil, "change-%d", rev) }

func changes(from, to int64) []Change {
	var out []Change
	for r := from; r <= to; r++ {
		out = append(out, Change{Revision: r, Data: dataFor(r)})
	}
	return out
}

func revisions(cs []Change) []int64 {
	out := make([]int64, len(cs))
	for i, c := range cs {
		out[i] = c.Revision
	}
	return out
}

func mustPublish(t *testing.T, f Feed, cs ...Change) {
	t.Helper()
	if err := f.Publish(context.Background(), cs...); err != nil {
		t.Fatalf("Publish(%v): %v", revisions(cs), err)
	}
}

func mustLast(t *testing.T, f Feed) int64 {
	t.Helper()
	last, err := f.Last(context.Background())
	if err != nil {
		t.Fatalf("Last: %v", err)
	}
	return last
}

// readAll pages through the feed after `after` the way a hub does.
func readAll(t *testing.T, f Feed, after int64, page int) []Change {
	t.Helper()
	var out []Change
	for {
		cs, err := f.Since(context.Background(), after, page)
		if err != nil {
			t.Fatalf("Since(%d, %d): %v", after, page, err)
		}
		if len(cs) == 0 {
			return out
		}
		out = append(out, cs...)
		after = cs[len(cs)-1].Revision
	}
}

// assertContiguous checks that cs is exactly from..to with each change's own
// data.
func assertContiguous(t *testing.T, cs []Change, from, to int64) {
	t.Helper()
	if int64(len(cs)) != to-from+1 {
		t.Fatalf("got %d changes %v, want revisions %d..%d", len(cs), revisions(cs), from, to)
	}
	for i, c := range cs {
		want := from + int64(i)
		if c.Revision != want || !bytes.Equal(c.Data, dataFor(want)) {
			t.Fatalf("change %d = {%d %q}, want {%d %q}", i, c.Revision, c.Data, want, dataFor(want))
		}
	}
}

func waitSignal(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatalf("%s: wake channel closed", what)
		}
	case <-time.After(waitLimit):
		t.Fatalf("%s: no wake signal within %s", what, waitLimit)
	}
}

func waitClosed[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("%s: channel not closed within %s", what, waitLimit)
		}
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %s", what, waitLimit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testFeed(t *testing.T, open openFeed) {
	ctx := context.Background()

	t.Run("empty", func(t *testing.T) {
		f, _ := open(t, 100)
		if last := mustLast(t, f); last != 0 {
			t.Fatalf("Last of empty feed = %d, want 0", last)
		}
		for _, after := range []int64{0, 5} {
			cs, err := f.Since(ctx, after, 10)
			if err != nil || len(cs) != 0 {
				t.Fatalf("Since(%d) on empty feed = %v, %v; want nothing", after, revisions(cs), err)
			}
		}
	})

	t.Run("publish last since", func(t *testing.T) {
		f, _ := open(t, 100)
		mustPublish(t, f, changes(1, 2)...)
		mustPublish(t, f, changes(3, 5)...)
		if last := mustLast(t, f); last != 5 {
			t.Fatalf("Last = %d, want 5", last)
		}
		tests := []struct {
			after    int64
			limit    int
			from, to int64 // to < from: empty
		}{
			{after: 0, limit: 10, from: 1, to: 5},
			{after: 0, limit: 2, from: 1, to: 2},
			{after: 2, limit: 2, from: 3, to: 4},
			{after: 4, limit: 10, from: 5, to: 5},
			{after: 5, limit: 10, from: 6, to: 5},
			{after: 9, limit: 10, from: 10, to: 9},
		}
		for _, tc := range tests {
			cs, err := f.Since(ctx, tc.after, tc.limit)
			if err != nil {
				t.Fatalf("Since(%d, %d): %v", tc.after, tc.limit, err)
			}
			assertContiguous(t, cs, tc.from, tc.to)
		}
	})

	t.Run("data round trips", func(t *testing.T) {
		f, _ := open(t, 100)
		payloads := [][]byte{{}, {0, 0xff, '\n', 0}, bytes.Repeat([]byte("x"), 64<<10)}
		for i, p := range payloads {
			mustPublish(t, f, Change{Revision: int64(i + 1), Data: p})
		}
		cs := readAll(t, f, 0, 10)
		if len(cs) != len(payloads) {
			t.Fatalf("got %d changes, want %d", len(cs), len(payloads))
		}
		for i, c := range cs {
			if !bytes.Equal(c.Data, payloads[i]) {
				t.Fatalf("revision %d: data of %d bytes differs from the %d published", c.Revision, len(c.Data), len(payloads[i]))
			}
		}
	})

	t.Run("publish keeps no reference to the caller's buffer", func(t *testing.T) {
		f, _ := open(t, 100)
		buf := []byte("original")
		mustPublish(t, f, Change{Revision: 1, Data: buf})
		copy(buf, "mutated!")
		cs := readAll(t, f, 0, 10)
		if len(cs) != 1 || string(cs[0].Data) != "original" {
			t.Fatalf("stored data = %q, want %q", cs[0].Data, "original")
		}
	})

	t.Run("invalid input stores nothing", func(t *testing.T) {
		f, _ := open(t, 100)
		mustPublish(t, f, changes(1, 3)...)
		bad := []struct {
			name  string
			batch []Change
		}{
			{"descending", []Change{{Revision: 6}, {Revision: 5}}},
			{"duplicate", []Change{{Revision: 6}, {Revision: 6}}},
			{"valid prefix then descending", []Change{{Revision: 6}, {Revision: 7}, {Revision: 4}}},
			{"zero", []Change{{Revision: 0}}},
			{"negative", []Change{{Revision: -4}}},
			{"too large", []Change{{Revision: MaxRevision + 1}}},
		}
		for _, tc := range bad {
			err := f.Publish(ctx, tc.batch...)
			if !errors.Is(err, model.ErrInvalid) {
				t.Errorf("%s: Publish error = %v, want ErrInvalid", tc.name, err)
			}
		}
		if last := mustLast(t, f); last != 3 {
			t.Fatalf("Last after rejected batches = %d, want 3", last)
		}
		for _, q := range []struct {
			after int64
			limit int
		}{{-1, 10}, {0, 0}, {0, -3}} {
			if _, err := f.Since(ctx, q.after, q.limit); !errors.Is(err, model.ErrInvalid) {
				t.Errorf("Since(%d, %d) error = %v, want ErrInvalid", q.after, q.limit, err)
			}
		}
		if err := f.Publish(ctx); err != nil {
			t.Errorf("empty Publish: %v", err)
		}
	})

	t.Run("overlapping publish skips known revisions", func(t *testing.T) {
		f, _ := open(t, 100)
		mustPublish(t, f, changes(1, 5)...)
		late := changes(3, 8)
		for i := range late {
			late[i].Data = []byte("second writer")
		}
		mustPublish(t, f, late...)
		mustPublish(t, f, changes(2, 4)...) // entirely old: a no-op
		cs := readAll(t, f, 0, 3)
		if got := revisions(cs); len(got) != 8 || got[0] != 1 || got[7] != 8 {
			t.Fatalf("revisions = %v, want 1..8", got)
		}
		for _, c := range cs {
			want := dataFor(c.Revision)
			if c.Revision > 5 {
				want = []byte("second writer")
			}
			if !bytes.Equal(c.Data, want) {
				t.Fatalf("revision %d data = %q, want %q", c.Revision, c.Data, want)
			}
		}
	})

	t.Run("replicas publishing the same range concurrently", func(t *testing.T) {
		const n = 600
		a, replica := open(t, 10*n)
		b := replica()
		pumps := []struct {
			feed  Feed
			batch int64
		}{{a, 7}, {b, 5}, {a, 13}, {b, 1}}
		var wg sync.WaitGroup
		errs := make(chan error, len(pumps))
		for _, p := range pumps {
			wg.Go(func() {
				// Like the pump: read the outbox from wherever the feed is.
				for from := int64(1); from <= n; from += p.batch {
					if err := p.feed.Publish(ctx, changes(from, min(from+p.batch-1, n))...); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("concurrent Publish: %v", err)
		}
		assertContiguous(t, readAll(t, b, 0, 64), 1, n)
		assertContiguous(t, readAll(t, a, 0, 1000), 1, n)
		if last := mustLast(t, b); last != n {
			t.Fatalf("Last = %d, want %d", last, n)
		}
	})

	t.Run("trimmed revisions are reported not skipped", func(t *testing.T) {
		const retain, n = 10, 300
		f, _ := open(t, retain)
		for from := int64(1); from <= n; from += 7 {
			mustPublish(t, f, changes(from, min(from+6, n))...)
		}
		if last := mustLast(t, f); last != n {
			t.Fatalf("Last = %d, want %d", last, n)
		}
		if _, err := f.Since(ctx, 0, 10); !errors.Is(err, ErrTrimmed) {
			t.Fatalf("Since(0) after trimming: err = %v, want ErrTrimmed", err)
		}
		// Find the oldest point a delta can start from; trimming may keep
		// more than retain, never fewer.
		boundary := int64(-1)
		for after := int64(0); after <= n; after++ {
			_, err := f.Since(ctx, after, 1)
			if err == nil {
				boundary = after
				break
			}
			if !errors.Is(err, ErrTrimmed) {
				t.Fatalf("Since(%d): %v", after, err)
			}
		}
		if boundary < 1 || boundary > n-retain {
			t.Fatalf("deltas start at revision %d, want within 1..%d", boundary, n-retain)
		}
		assertContiguous(t, readAll(t, f, boundary, 1000), boundary+1, n)
		for after := boundary; after <= n; after++ {
			if _, err := f.Since(ctx, after, 3); err != nil {
				t.Fatalf("Since(%d) above the boundary %d: %v", after, boundary, err)
			}
		}
	})

	t.Run("revisions before the first published are not retained", func(t *testing.T) {
		f, _ := open(t, 100)
		mustPublish(t, f, changes(100, 104)...)
		for _, after := range []int64{0, 50, 98} {
			if _, err := f.Since(ctx, after, 10); !errors.Is(err, ErrTrimmed) {
				t.Fatalf("Since(%d) = %v, want ErrTrimmed", after, err)
			}
		}
		assertContiguous(t, readAll(t, f, 99, 10), 100, 104)
	})

	t.Run("no silent gap while trimming concurrently", func(t *testing.T) {
		const retain, n = 20, 2000
		f, replica := open(t, retain)
		reader := replica()
		done := make(chan error, 1)
		go func() {
			for from := int64(1); from <= n; from += 3 {
				if err := f.Publish(ctx, changes(from, min(from+2, n))...); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		rng := rand.New(rand.NewPCG(1, 2))
		reads, trimmed := 0, 0
		for finished := false; !finished; {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Publish: %v", err)
				}
				finished = true
			default:
			}
			last := mustLast(t, reader)
			after := max(0, last-int64(rng.IntN(3*retain)))
			cs, err := reader.Since(ctx, after, 50)
			if errors.Is(err, ErrTrimmed) {
				trimmed++
				continue
			}
			if err != nil {
				t.Fatalf("Since(%d): %v", after, err)
			}
			reads++
			if len(cs) > 0 {
				assertContiguous(t, cs, after+1, cs[len(cs)-1].Revision)
			}
		}
		if reads == 0 {
			t.Fatalf("no read succeeded (%d trimmed): the test checked nothing", trimmed)
		}
	})

	t.Run("wake reaches other replicas", func(t *testing.T) {
		a, replica := open(t, 100)
		b := replica()
		wctx, cancel := context.WithCancel(ctx)
		wake := b.Wake(wctx)
		waitSignal(t, wake, "initial signal once listening")

		mustPublish(t, a, changes(1, 1)...)
		waitSignal(t, wake, "after replica A published revision 1")
		assertContiguous(t, readAll(t, b, 0, 10), 1, 1)

		// A reader that falls behind gets coalesced signals and still finds
		// everything by re-reading.
		for r := int64(2); r <= 30; r++ {
			mustPublish(t, a, changes(r, r)...)
		}
		seen := int64(1)
		eventually(t, "replica B catches up through wake signals", func() bool {
			select {
			case <-wake:
				cs := readAll(t, b, seen, 7)
				if len(cs) > 0 {
					assertContiguous(t, cs, seen+1, cs[len(cs)-1].Revision)
					seen = cs[len(cs)-1].Revision
				}
			default:
			}
			return seen == 30
		})

		cancel()
		waitClosed(t, wake, "wake after its context ended")
	})

	t.Run("close", func(t *testing.T) {
		f, _ := open(t, 100)
		mustPublish(t, f, changes(1, 2)...)
		wake := f.Wake(ctx)
		listen := f.Listen(ctx, "node:1")
		if err := f.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		waitClosed(t, wake, "wake after Close")
		waitClosed(t, listen, "listen after Close")
		if err := f.Publish(ctx, changes(3, 3)...); !errors.Is(err, ErrClosed) {
			t.Fatalf("Publish after Close = %v, want ErrClosed", err)
		}
		if _, err := f.Last(ctx); !errors.Is(err, ErrClosed) {
			t.Fatalf("Last after Close = %v, want ErrClosed", err)
		}
		if _, err := f.Since(ctx, 0, 1); !errors.Is(err, ErrClosed) {
			t.Fatalf("Since after Close = %v, want ErrClosed", err)
		}
		if err := f.Send(ctx, "node:1", nil); !errors.Is(err, ErrClosed) {
			t.Fatalf("Send after Close = %v, want ErrClosed", err)
		}
		waitClosed(t, f.Wake(ctx), "Wake called after Close")
		waitClosed(t, f.Listen(ctx, "node:1"), "Listen called after Close")
		if err := f.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

// sendUntilReceived resends, because a Redis subscription takes effect a
// moment after Listen returns and pub/sub does not queue for late joiners.
func sendUntilReceived(t *testing.T, s Signals, topic string, payload []byte, ch <-chan []byte) []byte {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		if err := s.Send(context.Background(), topic, payload); err != nil {
			t.Fatalf("Send(%q): %v", topic, err)
		}
		select {
		case got, ok := <-ch:
			if !ok {
				t.Fatalf("listener of %q closed", topic)
			}
			return got
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no signal on %q within %s", topic, waitLimit)
		}
	}
}

func drain(ch <-chan []byte) [][]byte {
	var out [][]byte
	for {
		select {
		case p, ok := <-ch:
			if !ok {
				return out
			}
			out = append(out, p)
		default:
			return out
		}
	}
}

func testSignals(t *testing.T, open openFeed) {
	ctx := context.Background()

	t.Run("delivered across replicas to every listener of the topic only", func(t *testing.T) {
		a, replica := open(t, 10)
		b := replica()
		lctx, cancel := context.WithCancel(ctx)
		defer cancel()
		first := b.Listen(lctx, "node:7")
		second := b.Listen(lctx, "node:7")
		other := b.Listen(lctx, "node:8")

		payload := []byte{'f', 'e', 'n', 'c', 'e', 0, 42}
		if got := sendUntilReceived(t, a, "node:7", payload, first); !bytes.Equal(got, payload) {
			t.Fatalf("payload = %q, want %q", got, payload)
		}
		select {
		case got := <-second:
			if !bytes.Equal(got, payload) {
				t.Fatalf("second listener payload = %q, want %q", got, payload)
			}
		case <-time.After(waitLimit):
			t.Fatal("second listener of the same topic got nothing")
		}
		// Signals are delivered in order on one connection, so once the
		// marker arrives anything misrouted to node:8 would have too.
		sendUntilReceived(t, a, "node:8", []byte("marker"), other)
		for _, p := range drain(other) {
			if string(p) != "marker" {
				t.Fatalf("listener of node:8 got %q sent to node:7", p)
			}
		}
	})

	t.Run("listen ends with its context", func(t *testing.T) {
		f, _ := open(t, 10)
		lctx, cancel := context.WithCancel(ctx)
		ch := f.Listen(lctx, "node:1")
		cancel()
		waitClosed(t, ch, "listen after cancel")
	})

	t.Run("a slow listener loses signals instead of blocking", func(t *testing.T) {
		a, replica := open(t, 10)
		b := replica()
		lctx, cancel := context.WithCancel(ctx)
		defer cancel()
		slow := b.Listen(lctx, "slow")
		marker := b.Listen(lctx, "marker")
		sendUntilReceived(t, a, "slow", []byte("x"), slow)
		drain(slow)
		for i := range 10 * listenerBuffer {
			if err := a.Send(ctx, "slow", fmt.Appendf(nil, "%d", i)); err != nil {
				t.Fatalf("Send: %v", err)
			}
		}
		sendUntilReceived(t, a, "marker", []byte("m"), marker)
		got := drain(slow)
		if len(got) == 0 || len(got) > listenerBuffer {
			t.Fatalf("slow listener holds %d signals, want 1..%d", len(got), listenerBuffer)
		}
		// Late copies of the "x" probe may be among them; the rest must be
		// the oldest of the burst, in order.
		next := 0
		for _, p := range got {
			if string(p) == "x" {
				continue
			}
			if string(p) != fmt.Sprint(next) {
				t.Fatalf("kept signals %q: want the oldest of the burst in order", got)
			}
			next++
		}
	})

	t.Run("empty topic is invalid", func(t *testing.T) {
		f, _ := open(t, 10)
		if err := f.Send(ctx, "", nil); !errors.Is(err, model.ErrInvalid) {
			t.Fatalf("Send to empty topic = %v, want ErrInvalid", err)
		}
	})
}
