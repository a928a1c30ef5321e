package hub

import (
	"context"
	"errors"
	"fmt"
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
	ch, err := change.Decode(c.Data)
	if err != nil {
		return fmt.Errorf("change %d: %w", c.Revision, err)
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
			ch, err := change.Decode(c.Data)
			if err != nil {
				return protocol.Delta{}, fmt.Errorf("change %d: %w", c.Revision, err)
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
