package hub

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"sort"
	"sync"

	"github.com/outpost-panel/outpost/backend/change"
	"github.com/outpost-panel/outpost/backend/feed"
	"github.com/outpost-panel/outpost/nodes/protocol"
)

// desired is this replica's in-memory copy of the desired state, kept in
// step with the change feed. Snapshots are cut from it, so a hundred nodes
// reconnecting after a panel restart cost no database queries, and its
// incrementally kept hash lets every delta carry the state hash the node must
// reach.
type desired struct {
	mu     sync.RWMutex
	rev    int64
	config []byte
	users  map[string]protocol.User
	hash   protocol.StateHash
}

func newDesired(rev int64, config []byte, users []protocol.User) *desired {
	d := &desired{rev: rev, config: config, users: make(map[string]protocol.User, len(users))}
	d.hash.ToggleConfig(config)
	for _, u := range users {
		d.users[u.Email] = u
		d.hash.AddUser(u)
	}
	return d
}

// applyChange folds one feed change in; changes must come in order.
func (d *desired) applyChange(c feed.Change) error {
	return d.applyChangeCached(c, nil)
}

// applyChangeCached is applyChange decoding through dec (nil: none).
func (d *desired) applyChangeCached(c feed.Change, dec *decodedChanges) error {
	ch, err := dec.decode(c)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if c.Revision <= d.rev {
		return nil
	}
	ch.Apply(d)
	d.rev = c.Revision
	return nil
}

// ReplaceConfig, UpsertUser and RemoveUser make desired a change.Target
// that keeps its hash in step. The caller holds d.mu.
func (d *desired) ReplaceConfig(config []byte) {
	d.hash.ToggleConfig(d.config)
	d.config = config
	d.hash.ToggleConfig(d.config)
}

func (d *desired) UpsertUser(u protocol.User) {
	if old, ok := d.users[u.Email]; ok {
		d.hash.RemoveUser(old)
	}
	d.users[u.Email] = u
	d.hash.AddUser(u)
}

func (d *desired) RemoveUser(email string) {
	if old, ok := d.users[email]; ok {
		d.hash.RemoveUser(old)
		delete(d.users, email)
	}
}

func (d *desired) head() (int64, protocol.StateHash) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.rev, d.hash
}

// snapshot copies the state at its current revision, users ordered by id.
func (d *desired) snapshot() (int64, protocol.StateHash, []byte, []protocol.User) {
	d.mu.RLock()
	users := make([]protocol.User, 0, len(d.users))
	for _, u := range d.users {
		users = append(users, u)
	}
	rev, hash, cfg := d.rev, d.hash, d.config
	d.mu.RUnlock()
	sort.Slice(users, func(i, j int) bool { return users[i].ID < users[j].ID })
	return rev, hash, cfg, users
}

// sinceFunc reads ordered changes after a revision (feed.Feed.Since's shape).
type sinceFunc func(ctx context.Context, after int64, limit int) ([]feed.Change, error)

// errNeedSnapshot means a delta cannot be built (the feed no longer holds
// the node's revision).
var errNeedSnapshot = errors.New("delta unavailable; snapshot needed")

// deltaFrom merges the feed's changes in (from, to] with change.Merge (the
// last operation on each user wins, so a user created and deleted in
// between costs nothing) and converts the result to the wire's delta.
func deltaFrom(ctx context.Context, since sinceFunc, from, to int64) (protocol.Delta, error) {
	return deltaFromCached(ctx, since, nil, from, to)
}

// deltaFromCached is deltaFrom decoding the changes through dec (nil:
// none): the deltas from a thousand nodes' different revisions merge the
// same changes, decoded once.
func deltaFromCached(ctx context.Context, since sinceFunc, dec *decodedChanges, from, to int64) (protocol.Delta, error) {
	var merged change.Change
	after := from
	for after < to {
		changes, err := since(ctx, after, 2000)
		if errors.Is(err, feed.ErrTrimmed) {
			return protocol.Delta{}, errNeedSnapshot
		}
		if err != nil {
			return protocol.Delta{}, err
		}
		if len(changes) == 0 {
			break
		}
		page := make([]change.Change, 0, len(changes)+1)
		page = append(page, merged)
		for _, c := range changes {
			if c.Revision > to {
				after = to
				break
			}
			ch, err := dec.decode(c)
			if err != nil {
				return protocol.Delta{}, err
			}
			page = append(page, ch)
			after = c.Revision
		}
		merged = change.Merge(page...)
	}
	return wireDelta(merged, from, to), nil
}

// wireDelta is the one place a change becomes a protocol.Delta; the state
// hash is set by the sender, which knows the head it is sending.
func wireDelta(c change.Change, from, to int64) protocol.Delta {
	return protocol.Delta{FromRevision: from, Revision: to, Config: c.Config, Upserts: c.Upserts, Removes: c.Removes}
}

// decodedChanges keeps the feed's changes decoded, by revision, for the
// desired state and every delta build (issue 12: decoding the same
// changes again for each delta's starting revision was a tenth of the
// panel's CPU while 1,000 nodes took 100 changes a second). An entry is
// used only if the change's bytes are the ones it was decoded from (their
// length and CRC-32), so a revision reused after a restored database is
// decoded afresh. Decoded changes are shared read-only: change.Merge and
// the desired state copy what they keep and modify nothing.
type decodedChanges struct {
	mu   sync.RWMutex // a leaf: nothing else is taken while it is held
	byRv map[int64]decodedChange
	top  int64 // the newest revision kept
}

type decodedChange struct {
	size int
	crc  uint32
	ch   change.Change
}

// decodedKeep is how many revisions behind the newest are kept.
const decodedKeep = 4096

// decode returns c decoded, from the cache when it holds it.
func (dc *decodedChanges) decode(c feed.Change) (change.Change, error) {
	if dc == nil {
		ch, err := change.Decode(c.Data)
		if err != nil {
			return change.Change{}, fmt.Errorf("change %d: %w", c.Revision, err)
		}
		return ch, nil
	}
	sum := crc32.ChecksumIEEE(c.Data)
	dc.mu.RLock()
	e, ok := dc.byRv[c.Revision]
	dc.mu.RUnlock()
	if ok && e.size == len(c.Data) && e.crc == sum {
		return e.ch, nil
	}
	ch, err := change.Decode(c.Data)
	if err != nil {
		return change.Change{}, fmt.Errorf("change %d: %w", c.Revision, err)
	}
	dc.mu.Lock()
	defer dc.mu.Unlock()
	if c.Revision < dc.top-decodedKeep {
		return ch, nil // too old to keep
	}
	if dc.byRv == nil {
		dc.byRv = make(map[int64]decodedChange)
	}
	dc.byRv[c.Revision] = decodedChange{size: len(c.Data), crc: sum, ch: ch}
	if c.Revision > dc.top {
		dc.top = c.Revision
		if len(dc.byRv) > 2*decodedKeep {
			for rev := range dc.byRv {
				if rev < dc.top-decodedKeep {
					delete(dc.byRv, rev)
				}
			}
		}
	}
	return ch, nil
}
