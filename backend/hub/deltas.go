package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	fastws "github.com/fasthttp/websocket"

	"github.com/outpost-panel/outpost/backend/metrics"
	"github.com/outpost-panel/outpost/nodes/protocol"
)

// Deltas at scale (issue 12). After a change every session wakes and
// needs the delta from the revision its node acknowledged to the head; a
// thousand sessions mostly share a handful of (from, to) pairs. Each pair
// is built once (the feed read, every change decoded and merged) and
// encoded once as a prepared WebSocket message (deflated once for all the
// sessions that negotiated it when it is big), and every session with
// that pair writes the same bytes. A session that fell behind by several
// revisions still gets one delta covering all of them (deltaFrom); the
// cache only stops a thousand sessions from each doing that work.

// deltaCacheEntries bounds the pairs kept; deltaCacheMaxBytes bounds one
// kept delta's size (a bigger one is shared by the sessions that asked for
// it while it was built, then dropped: a lagging node's huge delta is not
// worth holding).
const (
	deltaCacheEntries  = 64
	deltaCacheMaxBytes = 1 << 20
)

type deltaKey struct{ from, to int64 }

// deltaEntry is one encoded delta; ready closes when pm (or err) is set.
type deltaEntry struct {
	key   deltaKey
	hash  protocol.StateHash
	ready chan struct{}
	pm    *fastws.PreparedMessage
	big   bool // over compressAbove: deflated for nodes that asked
	users int
	bytes int
	err   error // errNeedSnapshot when the feed no longer holds from
}

type deltaCache struct {
	// mu is a leaf: see the lock order on Hub. After a change a thousand
	// sessions look up the same few pairs at once; with a plain mutex
	// most of them queued on it (651 of 1,000 in a goroutine profile of
	// the fleet's change phase), so lookups share a read lock.
	mu      sync.RWMutex
	entries map[deltaKey]*deltaEntry
	builds  atomic.Int64
	// decoded is shared with the hub's desired state (follow).
	decoded decodedChanges
}

// get returns the delta from..to that reaches hash, building it unless
// another session did or does; concurrent callers wait for one build. A
// build that failed for a reason other than a trimmed feed is not kept,
// so the next caller tries again.
func (c *deltaCache) get(since sinceFunc, from, to int64, hash protocol.StateHash) *deltaEntry {
	e, created := c.entry(deltaKey{from, to}, hash)
	if created {
		c.finish(e, since)
	} else {
		<-e.ready
	}
	return e
}

// prime starts building from..to in the background unless it is built or
// being built. The hub primes the pair most sessions need (the previous
// head to the new one) before it wakes them, so that they find the entry
// under the read lock instead of queueing on the write lock to create it
// (682 of 1,000 sessions were queued there, in a goroutine profile of the
// fleet's change phase, with a read-locked lookup only).
func (c *deltaCache) prime(since sinceFunc, from, to int64, hash protocol.StateHash) {
	if e, created := c.entry(deltaKey{from, to}, hash); created {
		go c.finish(e, since)
	}
}

// entry finds the entry for k reaching hash, or creates it; created says
// the caller must build it (finish).
func (c *deltaCache) entry(k deltaKey, hash protocol.StateHash) (e *deltaEntry, created bool) {
	c.mu.RLock()
	e = c.entries[k]
	c.mu.RUnlock()
	if e != nil && e.hash == hash {
		return e, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[k]; e != nil && e.hash == hash {
		return e, false
	}
	if c.entries == nil {
		c.entries = map[deltaKey]*deltaEntry{}
	}
	if len(c.entries) >= deltaCacheEntries {
		c.evictLocked()
	}
	e = &deltaEntry{key: k, hash: hash, ready: make(chan struct{})}
	c.entries[k] = e
	return e, true
}

// finish builds e and releases its waiters.
func (c *deltaCache) finish(e *deltaEntry, since sinceFunc) {
	c.builds.Add(1)
	e.build(since, &c.decoded)
	close(e.ready)
	if (e.err != nil && !errors.Is(e.err, errNeedSnapshot)) || e.bytes > deltaCacheMaxBytes {
		c.mu.Lock()
		if c.entries[e.key] == e {
			delete(c.entries, e.key)
		}
		c.mu.Unlock()
	}
}

// evictLocked drops the quarter of the entries that end earliest: those
// are the revisions nodes have moved past.
func (c *deltaCache) evictLocked() {
	for n := len(c.entries) / 4; n > 0; n-- {
		var oldest *deltaEntry
		for _, e := range c.entries {
			if oldest == nil || e.key.to < oldest.key.to || (e.key.to == oldest.key.to && e.key.from < oldest.key.from) {
				oldest = e
			}
		}
		delete(c.entries, oldest.key)
	}
}

// build reads and merges the changes with its own deadline: the build is
// shared, so the session that happened to start it must not cut it short
// for the others by ending.
func (e *deltaEntry) build(since sinceFunc, dec *decodedChanges) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := deltaFromCached(ctx, since, dec, e.key.from, e.key.to)
	if err != nil {
		e.err = err
		return
	}
	metrics.DeltaEncodes.Inc()
	d.StateHash = e.hash.String()
	b, err := json.Marshal(protocol.Message{Type: protocol.TypeDelta, Delta: &d})
	if err != nil {
		e.err = fmt.Errorf("encoding delta %d..%d: %w", e.key.from, e.key.to, err)
		return
	}
	pm, err := fastws.NewPreparedMessage(fastws.TextMessage, b)
	if err != nil {
		e.err = fmt.Errorf("preparing delta %d..%d: %w", e.key.from, e.key.to, err)
		return
	}
	e.pm, e.big, e.users = pm, len(b) > compressAbove, len(d.Upserts)+len(d.Removes)
	e.bytes = len(b)
}
