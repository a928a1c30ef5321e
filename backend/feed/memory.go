package feed

import (
	"context"
	"sort"
	"sync"
)

// Memory is the single-process feed: a ring of the newest changes. All of a
// process's hubs share one Memory, so it is its own "other replica".
type Memory struct {
	mu     sync.Mutex
	ring   []Change // capacity retain; ring[head] is the oldest retained
	head   int
	count  int
	last   int64
	closed bool

	bus *fanout
}

var (
	_ Feed    = (*Memory)(nil)
	_ Signals = (*Memory)(nil)
)

// NewMemory returns a feed that keeps the newest retain changes (at least
// one).
func NewMemory(retain int) *Memory {
	retain = max(retain, 1)
	bus := newFanout()
	bus.wakeReady = true
	return &Memory{ring: make([]Change, retain), bus: bus}
}

// at returns the i-th oldest retained change.
func (m *Memory) at(i int) *Change {
	return &m.ring[(m.head+i)%len(m.ring)]
}

func (m *Memory) Publish(_ context.Context, changes ...Change) error {
	if err := validateBatch(changes); err != nil {
		return err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	stored := 0
	for _, c := range changes {
		if c.Revision <= m.last {
			continue
		}
		// Copied because the caller may reuse its buffer, while readers keep
		// what Since gave them.
		c.Data = append(make([]byte, 0, len(c.Data)), c.Data...)
		if m.count < len(m.ring) {
			*m.at(m.count) = c
			m.count++
		} else {
			m.ring[m.head] = c
			m.head = (m.head + 1) % len(m.ring)
		}
		m.last = c.Revision
		stored++
	}
	m.mu.Unlock()
	if stored > 0 {
		m.bus.wake()
	}
	return nil
}

func (m *Memory) Last(context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrClosed
	}
	return m.last, nil
}

func (m *Memory) Since(_ context.Context, after int64, limit int) ([]Change, error) {
	if err := validateSince(after, limit); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if after >= m.last {
		return nil, nil
	}
	// Revisions may have gaps, so the only thing known to be complete is
	// everything from the oldest retained one on.
	if after < m.at(0).Revision-1 {
		return nil, ErrTrimmed
	}
	start := sort.Search(m.count, func(i int) bool { return m.at(i).Revision > after })
	n := min(limit, m.count-start)
	out := make([]Change, n)
	for i := range n {
		out[i] = *m.at(start + i)
	}
	return out, nil
}

func (m *Memory) Wake(ctx context.Context) <-chan struct{} {
	return m.bus.addWaker(ctx)
}

func (m *Memory) Send(_ context.Context, topic string, payload []byte) error {
	if err := validateTopic(topic); err != nil {
		return err
	}
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return ErrClosed
	}
	m.bus.deliver(topic, payload)
	return nil
}

func (m *Memory) Listen(ctx context.Context, topic string) <-chan []byte {
	return m.bus.listen(ctx, topic)
}

// Close is idempotent.
func (m *Memory) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.bus.close()
	return nil
}
