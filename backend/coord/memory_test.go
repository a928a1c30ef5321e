package coord

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeClock is moved by tests; Memory reads it under its own lock, so it
// needs one too.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newMemoryEnv(t *testing.T) coordEnv {
	clock := &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	m := NewMemory(clock.Now)
	return coordEnv{
		open:     func() coordinator { return m },
		shortTTL: time.Second,
		advance:  clock.Advance,
	}
}

func TestMemoryLocker(t *testing.T)      { testLocker(t, newMemoryEnv) }
func TestMemoryRateLimiter(t *testing.T) { testRateLimiter(t, newMemoryEnv) }
func TestMemoryPresence(t *testing.T)    { testPresence(t, newMemoryEnv) }

func TestMemoryRetryAfterIsExact(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	m := NewMemory(clock.Now)
	allow(t, m, "k", 1, time.Minute)
	clock.Advance(20 * time.Second)
	ok, retry := allow(t, m, "k", 1, time.Minute)
	if ok || retry != 40*time.Second {
		t.Fatalf("second hit = %v, retry %s; want refused, retry 40s", ok, retry)
	}
	clock.Advance(retry)
	if ok, _ := allow(t, m, "k", 1, time.Minute); !ok {
		t.Fatal("hit after retryAfter refused")
	}
}

// Login keys come from the network (usernames, addresses); windows that
// ended must not pile up.
func TestMemoryForgetsEndedWindows(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	m := NewMemory(clock.Now)
	for i := range 5000 {
		allow(t, m, fmt.Sprintf("old-%d", i), 5, time.Minute)
	}
	clock.Advance(2 * time.Minute)
	for i := range 4000 {
		allow(t, m, fmt.Sprintf("new-%d", i), 5, time.Minute)
	}
	m.mu.Lock()
	n := len(m.windows)
	m.mu.Unlock()
	if n > 4000 {
		t.Fatalf("%d rate windows kept, want at most the 4000 open ones", n)
	}
}
