package feed

import (
	"testing"
)

func openMemory(t *testing.T, retain int) (replicatedFeed, func() replicatedFeed) {
	m := NewMemory(retain)
	t.Cleanup(func() { _ = m.Close() })
	return m, func() replicatedFeed { return m }
}

func TestMemoryFeed(t *testing.T)    { testFeed(t, openMemory) }
func TestMemorySignals(t *testing.T) { testSignals(t, openMemory) }

// The ring keeps exactly retain changes, so the boundary is exact here.
func TestMemoryRetainsExactly(t *testing.T) {
	m := NewMemory(10)
	defer m.Close()
	mustPublish(t, m, changes(1, 25)...)
	assertContiguous(t, readAll(t, m, 15, 100), 16, 25)
	if _, err := m.Since(t.Context(), 14, 100); err == nil {
		t.Fatal("Since(14) with revisions 16..25 retained succeeded, want ErrTrimmed")
	}
}
