package coord

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

// minSweep is the map size below which expired rate-limit windows are left
// alone; above it they are swept whenever the map has doubled, which keeps
// the cost per Allow constant however many keys come and go.
const minSweep = 1024

// Memory coordinates the goroutines of a single panel process.
type Memory struct {
	clock func() time.Time

	mu        sync.Mutex
	leases    map[string]lease
	windows   map[string]rateWindow
	nextSweep int
	presence  map[int64]presenceRecord
}

type lease struct {
	owner string
	until time.Time
}

type rateWindow struct {
	hits int
	ends time.Time
}

type presenceRecord struct {
	replica   string // of the highest fence
	fence     int64  // highest ever claimed
	liveUntil time.Time
}

var (
	_ Locker      = (*Memory)(nil)
	_ RateLimiter = (*Memory)(nil)
	_ Presence    = (*Memory)(nil)
)

// NewMemory returns in-process coordination reading time from clock
// (time.Now if nil), so tests move time instead of sleeping.
func NewMemory(clock func() time.Time) *Memory {
	if clock == nil {
		clock = time.Now
	}
	return &Memory{
		clock:     clock,
		leases:    make(map[string]lease),
		windows:   make(map[string]rateWindow),
		nextSweep: minSweep,
		presence:  make(map[int64]presenceRecord),
	}
}

func (m *Memory) TryLock(_ context.Context, name, owner string, ttl time.Duration) (bool, error) {
	if err := validateLock(name, owner, ttl); err != nil {
		return false, err
	}
	now := m.clock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.leases[name]; ok && l.owner != owner && now.Before(l.until) {
		return false, nil
	}
	m.leases[name] = lease{owner: owner, until: now.Add(ttl)}
	return true, nil
}

func (m *Memory) Unlock(_ context.Context, name, owner string) error {
	now := m.clock()
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.leases[name]
	if !ok || l.owner != owner || !now.Before(l.until) {
		return fmt.Errorf("unlocking %q as %q: %w", name, owner, ErrNotHeld)
	}
	delete(m.leases, name)
	return nil
}

func (m *Memory) Allow(_ context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	if err := validateRate(key, limit, window); err != nil {
		return false, 0, err
	}
	now := m.clock()
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.windows[key]
	if !ok || !now.Before(w.ends) {
		w = rateWindow{ends: now.Add(window)}
	}
	w.hits++
	m.windows[key] = w
	if len(m.windows) >= m.nextSweep {
		m.sweepWindows(now)
	}
	if w.hits <= limit {
		return true, 0, nil
	}
	return false, w.ends.Sub(now), nil
}

func (m *Memory) Reset(_ context.Context, key string) error {
	if key == "" {
		return fmt.Errorf("rate limit key is empty: %w", model.ErrInvalid)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.windows, key)
	return nil
}

func (m *Memory) sweepWindows(now time.Time) {
	for key, w := range m.windows {
		if !now.Before(w.ends) {
			delete(m.windows, key)
		}
	}
	m.nextSweep = max(minSweep, 2*len(m.windows))
}

func (m *Memory) Claim(_ context.Context, nodeID int64, replica string, fence int64, ttl time.Duration) (string, bool, error) {
	if err := validateClaim(nodeID, replica, fence, ttl); err != nil {
		return "", false, err
	}
	now := m.clock()
	m.mu.Lock()
	defer m.mu.Unlock()
	rec := m.presence[nodeID]
	prev := ""
	if now.Before(rec.liveUntil) {
		prev = rec.replica
	}
	if fence > rec.fence || (fence == rec.fence && replica == rec.replica) {
		m.presence[nodeID] = presenceRecord{replica: replica, fence: fence, liveUntil: now.Add(ttl)}
		return prev, true, nil
	}
	return prev, false, nil
}

func (m *Memory) Holder(_ context.Context, nodeID int64) (string, int64, error) {
	now := m.clock()
	m.mu.Lock()
	defer m.mu.Unlock()
	rec := m.presence[nodeID]
	if now.Before(rec.liveUntil) {
		return rec.replica, rec.fence, nil
	}
	return "", rec.fence, nil
}

func (m *Memory) Release(_ context.Context, nodeID int64, replica string, fence int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.presence[nodeID]
	if !ok || rec.replica != replica || rec.fence != fence {
		return fmt.Errorf("releasing node %d as %q with fence %d: %w", nodeID, replica, fence, ErrNotHeld)
	}
	rec.liveUntil = time.Time{}
	m.presence[nodeID] = rec
	return nil
}
