package coord

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

type coordinator interface {
	Locker
	RateLimiter
	Presence
}

// coordEnv is one shared coordination space, like one Redis that several
// replicas use.
type coordEnv struct {
	// open returns another replica's view of the space.
	open func() coordinator
	// shortTTL is a lease short enough to wait out.
	shortTTL time.Duration
	// advance moves the clock; nil where time passes for real (Redis), and
	// the tests poll instead.
	advance func(time.Duration)
}

type newCoordEnv func(t *testing.T) coordEnv

// waitLimit bounds every poll. It is a liveness bound far above what any
// healthy run needs; nothing asserts durations.
const waitLimit = 15 * time.Second

// passShortTTL makes every lease of shortTTL taken so far lapse: at once
// with a movable clock, otherwise by the time eventually's condition holds.
func (e coordEnv) passShortTTL() {
	if e.advance != nil {
		e.advance(e.shortTTL + time.Millisecond)
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

const longTTL = time.Hour

func tryLock(t *testing.T, l Locker, name, owner string, ttl time.Duration) bool {
	t.Helper()
	ok, err := l.TryLock(context.Background(), name, owner, ttl)
	if err != nil {
		t.Fatalf("TryLock(%q, %q): %v", name, owner, err)
	}
	return ok
}

func testLocker(t *testing.T, newEnv newCoordEnv) {
	ctx := context.Background()

	t.Run("one owner at a time, renewable", func(t *testing.T) {
		env := newEnv(t)
		a, b := env.open(), env.open()
		if !tryLock(t, a, "jobs", "A", longTTL) {
			t.Fatal("A could not take a free lock")
		}
		if tryLock(t, b, "jobs", "B", longTTL) {
			t.Fatal("B took a lock A holds")
		}
		if !tryLock(t, a, "jobs", "A", longTTL) {
			t.Fatal("A could not renew its own lock")
		}
		if !tryLock(t, b, "other", "B", longTTL) {
			t.Fatal("B could not take a different lock")
		}
	})

	t.Run("exactly one of racing owners wins", func(t *testing.T) {
		env := newEnv(t)
		const racers = 8
		var winners atomic.Int32
		var wg sync.WaitGroup
		for i := range racers {
			l := env.open()
			wg.Go(func() {
				ok, err := l.TryLock(ctx, "jobs", fmt.Sprintf("replica-%d", i), longTTL)
				if err != nil {
					t.Errorf("TryLock: %v", err)
				}
				if ok {
					winners.Add(1)
				}
			})
		}
		wg.Wait()
		if n := winners.Load(); n != 1 {
			t.Fatalf("%d owners hold the lock, want 1", n)
		}
	})

	t.Run("an expired lease can be taken", func(t *testing.T) {
		env := newEnv(t)
		a, b := env.open(), env.open()
		if !tryLock(t, a, "jobs", "A", env.shortTTL) {
			t.Fatal("A could not take a free lock")
		}
		env.passShortTTL()
		eventually(t, "B takes the lock after A's lease lapsed", func() bool {
			return tryLock(t, b, "jobs", "B", longTTL)
		})
		if tryLock(t, a, "jobs", "A", longTTL) {
			t.Fatal("A took the lock back from B")
		}
	})

	t.Run("renewal outlives the first lease", func(t *testing.T) {
		env := newEnv(t)
		a, b := env.open(), env.open()
		tryLock(t, a, "jobs", "A", env.shortTTL)
		if !tryLock(t, a, "jobs", "A", longTTL) {
			t.Fatal("A could not renew")
		}
		// A witness lease taken after A's first one: once it has lapsed, so
		// has A's first lease.
		if !tryLock(t, a, "witness", "W", env.shortTTL) {
			t.Fatal("could not take the witness lock")
		}
		env.passShortTTL()
		eventually(t, "witness lease lapses", func() bool {
			return tryLock(t, b, "witness", "X", longTTL)
		})
		if tryLock(t, b, "jobs", "B", longTTL) {
			t.Fatal("B took a lock A had renewed")
		}
	})

	t.Run("only the owner can unlock", func(t *testing.T) {
		env := newEnv(t)
		a, b := env.open(), env.open()
		tryLock(t, a, "jobs", "A", longTTL)
		if err := b.Unlock(ctx, "jobs", "B"); !errors.Is(err, ErrNotHeld) {
			t.Fatalf("B unlocking A's lock = %v, want ErrNotHeld", err)
		}
		if tryLock(t, b, "jobs", "B", longTTL) {
			t.Fatal("B took the lock after its refused unlock")
		}
		if err := a.Unlock(ctx, "jobs", "A"); err != nil {
			t.Fatalf("A unlocking its lock: %v", err)
		}
		if !tryLock(t, b, "jobs", "B", longTTL) {
			t.Fatal("B could not take the lock A released")
		}
		if err := a.Unlock(ctx, "jobs", "A"); !errors.Is(err, ErrNotHeld) {
			t.Fatalf("A unlocking B's lock = %v, want ErrNotHeld", err)
		}
		if err := a.Unlock(ctx, "never-taken", "A"); !errors.Is(err, ErrNotHeld) {
			t.Fatalf("unlocking a free lock = %v, want ErrNotHeld", err)
		}
	})

	t.Run("invalid arguments", func(t *testing.T) {
		l := newEnv(t).open()
		tests := []struct {
			name, lock, owner string
			ttl               time.Duration
		}{
			{"empty name", "", "A", time.Second},
			{"empty owner", "jobs", "", time.Second},
			{"zero ttl", "jobs", "A", 0},
			{"sub-millisecond ttl", "jobs", "A", time.Microsecond},
		}
		for _, tc := range tests {
			if _, err := l.TryLock(ctx, tc.lock, tc.owner, tc.ttl); !errors.Is(err, model.ErrInvalid) {
				t.Errorf("%s: err = %v, want ErrInvalid", tc.name, err)
			}
		}
	})
}

func allow(t *testing.T, r RateLimiter, key string, limit int, window time.Duration) (bool, time.Duration) {
	t.Helper()
	ok, retry, err := r.Allow(context.Background(), key, limit, window)
	if err != nil {
		t.Fatalf("Allow(%q): %v", key, err)
	}
	return ok, retry
}

func testRateLimiter(t *testing.T, newEnv newCoordEnv) {
	ctx := context.Background()

	t.Run("counts hits within the window", func(t *testing.T) {
		env := newEnv(t)
		a, b := env.open(), env.open()
		for i := range 3 {
			ok, retry := allow(t, []RateLimiter{a, b}[i%2], "login:alice", 3, longTTL)
			if !ok || retry != 0 {
				t.Fatalf("hit %d = %v, %s; want allowed with no wait", i+1, ok, retry)
			}
		}
		for i := range 2 {
			ok, retry := allow(t, a, "login:alice", 3, longTTL)
			if ok {
				t.Fatalf("hit %d over the limit of 3 was allowed", 4+i)
			}
			if retry <= 0 || retry > longTTL {
				t.Fatalf("retryAfter = %s, want within (0, %s]", retry, longTTL)
			}
		}
		if ok, _ := allow(t, b, "login:bob", 3, longTTL); !ok {
			t.Fatal("another key was limited by alice's hits")
		}
	})

	t.Run("a new window starts from zero", func(t *testing.T) {
		env := newEnv(t)
		r := env.open()
		allow(t, r, "k", 2, env.shortTTL)
		allow(t, r, "k", 2, env.shortTTL)
		if ok, _ := allow(t, r, "k", 2, env.shortTTL); ok {
			t.Fatal("third hit over a limit of 2 was allowed")
		}
		env.passShortTTL()
		eventually(t, "a hit is allowed once the window ended", func() bool {
			ok, _ := allow(t, r, "k", 2, env.shortTTL)
			return ok
		})
		if env.advance != nil { // only a frozen clock keeps the new window open
			if ok, _ := allow(t, r, "k", 2, env.shortTTL); !ok {
				t.Fatal("second hit of the new window refused")
			}
			if ok, _ := allow(t, r, "k", 2, env.shortTTL); ok {
				t.Fatal("third hit of the new window allowed")
			}
		}
	})

	t.Run("concurrent hits from replicas are counted exactly", func(t *testing.T) {
		env := newEnv(t)
		const replicas, hitsEach, limit = 4, 25, 50
		var allowed atomic.Int32
		var wg sync.WaitGroup
		for range replicas {
			r := env.open()
			wg.Go(func() {
				for range hitsEach {
					ok, _, err := r.Allow(ctx, "login:shared", limit, longTTL)
					if err != nil {
						t.Errorf("Allow: %v", err)
						return
					}
					if ok {
						allowed.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if n := allowed.Load(); n != limit {
			t.Fatalf("%d of %d hits allowed, want exactly %d", n, replicas*hitsEach, limit)
		}
	})

	t.Run("reset forgets one key only, on every replica", func(t *testing.T) {
		env := newEnv(t)
		a, b := env.open(), env.open()
		for _, key := range []string{"login:ipuser:203.0.113.7|alice", "login:ip:203.0.113.7"} {
			for range 2 {
				allow(t, a, key, 2, longTTL)
			}
			if ok, _ := allow(t, a, key, 2, longTTL); ok {
				t.Fatalf("%s: third hit over a limit of 2 was allowed", key)
			}
		}
		if err := b.Reset(ctx, "login:ipuser:203.0.113.7|alice"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := allow(t, a, "login:ipuser:203.0.113.7|alice", 2, longTTL); !ok {
			t.Fatal("a reset key still refuses")
		}
		if ok, _ := allow(t, a, "login:ipuser:203.0.113.7|alice", 2, longTTL); !ok {
			t.Fatal("the reset key's new window refused its second hit")
		}
		if ok, _ := allow(t, b, "login:ip:203.0.113.7", 2, longTTL); ok {
			t.Fatal("resetting one key reset another")
		}
		if err := a.Reset(ctx, "never-hit"); err != nil {
			t.Fatalf("resetting a key without a window: %v", err)
		}
		if err := a.Reset(ctx, ""); !errors.Is(err, model.ErrInvalid) {
			t.Fatalf("empty key: err = %v, want ErrInvalid", err)
		}
	})

	t.Run("invalid arguments", func(t *testing.T) {
		r := newEnv(t).open()
		tests := []struct {
			name   string
			key    string
			limit  int
			window time.Duration
		}{
			{"empty key", "", 1, time.Second},
			{"zero limit", "k", 0, time.Second},
			{"negative limit", "k", -1, time.Second},
			{"zero window", "k", 1, 0},
		}
		for _, tc := range tests {
			if _, _, err := r.Allow(ctx, tc.key, tc.limit, tc.window); !errors.Is(err, model.ErrInvalid) {
				t.Errorf("%s: err = %v, want ErrInvalid", tc.name, err)
			}
		}
	})
}

func claim(t *testing.T, p Presence, node int64, replica string, fence int64, ttl time.Duration) (string, bool) {
	t.Helper()
	prev, ok, err := p.Claim(context.Background(), node, replica, fence, ttl)
	if err != nil {
		t.Fatalf("Claim(%d, %q, %d): %v", node, replica, fence, err)
	}
	return prev, ok
}

func assertHolder(t *testing.T, p Presence, node int64, wantReplica string, wantFence int64) {
	t.Helper()
	replica, fence, err := p.Holder(context.Background(), node)
	if err != nil {
		t.Fatalf("Holder(%d): %v", node, err)
	}
	if replica != wantReplica || fence != wantFence {
		t.Fatalf("Holder(%d) = %q, %d; want %q, %d", node, replica, fence, wantReplica, wantFence)
	}
}

func testPresence(t *testing.T, newEnv newCoordEnv) {
	ctx := context.Background()

	t.Run("a greater fence takes over, a lower one is refused", func(t *testing.T) {
		env := newEnv(t)
		a, b := env.open(), env.open()
		assertHolder(t, a, 1, "", 0)

		steps := []struct {
			p        Presence
			replica  string
			fence    int64
			wantPrev string
			wantOK   bool
		}{
			{a, "A", 5, "", true},
			{b, "B", 3, "A", false}, // stale session
			{b, "B", 5, "A", false}, // equal fence, other replica
			{a, "A", 5, "A", true},  // renewal
			{b, "B", 6, "A", true},  // newer session
			{a, "A", 5, "B", false}, // the fenced-off session cannot come back
		}
		for i, s := range steps {
			prev, ok := claim(t, s.p, 1, s.replica, s.fence, longTTL)
			if prev != s.wantPrev || ok != s.wantOK {
				t.Fatalf("step %d: Claim(%q, fence %d) = %q, %v; want %q, %v", i, s.replica, s.fence, prev, ok, s.wantPrev, s.wantOK)
			}
		}
		assertHolder(t, a, 1, "B", 6)
		assertHolder(t, b, 2, "", 0)
	})

	t.Run("racing claims leave the greatest fence", func(t *testing.T) {
		env := newEnv(t)
		const sessions = 8
		for node := int64(1); node <= 5; node++ {
			fences := rand.Perm(sessions)
			var wg sync.WaitGroup
			for _, f := range fences {
				p := env.open()
				wg.Go(func() {
					if _, _, err := p.Claim(ctx, node, fmt.Sprintf("r%d", f+1), int64(f+1), longTTL); err != nil {
						t.Errorf("Claim: %v", err)
					}
				})
			}
			wg.Wait()
			assertHolder(t, env.open(), node, fmt.Sprintf("r%d", sessions), sessions)
		}
	})

	t.Run("an expired claim keeps its fence", func(t *testing.T) {
		env := newEnv(t)
		a, b := env.open(), env.open()
		claim(t, a, 1, "A", 3, env.shortTTL)
		env.passShortTTL()
		eventually(t, "claim lapses", func() bool {
			replica, _, err := a.Holder(ctx, 1)
			return err == nil && replica == ""
		})
		assertHolder(t, a, 1, "", 3)
		if prev, ok := claim(t, b, 1, "B", 2, longTTL); ok || prev != "" {
			t.Fatalf("claim below the lapsed fence = %q, %v; want refused, no holder", prev, ok)
		}
		if prev, ok := claim(t, b, 1, "B", 4, longTTL); !ok || prev != "" {
			t.Fatalf("claim above the lapsed fence = %q, %v; want taken, no previous holder", prev, ok)
		}
	})

	t.Run("renewal outlives the first claim", func(t *testing.T) {
		env := newEnv(t)
		a := env.open()
		claim(t, a, 1, "A", 1, env.shortTTL)
		if _, ok := claim(t, a, 1, "A", 1, longTTL); !ok {
			t.Fatal("renewal refused")
		}
		claim(t, a, 99, "W", 1, env.shortTTL) // witness, taken after the first claim
		env.passShortTTL()
		eventually(t, "witness claim lapses", func() bool {
			replica, _, err := a.Holder(ctx, 99)
			return err == nil && replica == ""
		})
		assertHolder(t, a, 1, "A", 1)
	})

	t.Run("release only by the current claim", func(t *testing.T) {
		env := newEnv(t)
		a, b := env.open(), env.open()
		claim(t, a, 1, "A", 1, longTTL)
		claim(t, b, 1, "B", 2, longTTL)
		if err := a.Release(ctx, 1, "A", 1); !errors.Is(err, ErrNotHeld) {
			t.Fatalf("fenced-off release = %v, want ErrNotHeld", err)
		}
		if err := b.Release(ctx, 1, "B", 1); !errors.Is(err, ErrNotHeld) {
			t.Fatalf("release with the wrong fence = %v, want ErrNotHeld", err)
		}
		assertHolder(t, a, 1, "B", 2)
		if err := b.Release(ctx, 1, "B", 2); err != nil {
			t.Fatalf("release by the holder: %v", err)
		}
		assertHolder(t, a, 1, "", 2)
		if _, ok := claim(t, a, 1, "A", 1, longTTL); ok {
			t.Fatal("a stale fence claimed a released node")
		}
		if err := a.Release(ctx, 7, "A", 1); !errors.Is(err, ErrNotHeld) {
			t.Fatalf("releasing a never-claimed node = %v, want ErrNotHeld", err)
		}
	})

	t.Run("invalid arguments", func(t *testing.T) {
		p := newEnv(t).open()
		tests := []struct {
			name    string
			replica string
			fence   int64
			ttl     time.Duration
		}{
			{"empty replica", "", 1, time.Second},
			{"zero fence", "A", 0, time.Second},
			{"negative fence", "A", -1, time.Second},
			{"fence too large", "A", MaxFence + 1, time.Second},
			{"zero ttl", "A", 1, 0},
		}
		for _, tc := range tests {
			if _, _, err := p.Claim(ctx, 1, tc.replica, tc.fence, tc.ttl); !errors.Is(err, model.ErrInvalid) {
				t.Errorf("%s: err = %v, want ErrInvalid", tc.name, err)
			}
		}
		assertHolder(t, p, 1, "", 0)
	})
}
