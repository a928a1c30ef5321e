package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"

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
	var delta protocol.Delta
	if err := json.Unmarshal(c.Data, &delta); err != nil {
		return fmt.Errorf("decoding change %d: %w", c.Revision, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if c.Revision <= d.rev {
		return nil
	}
	if delta.Config != nil {
		d.hash.ToggleConfig(d.config)
		d.config = delta.Config
		d.hash.ToggleConfig(d.config)
	}
	for _, u := range delta.Upserts {
		if old, ok := d.users[u.Email]; ok {
			d.hash.RemoveUser(old)
		}
		d.users[u.Email] = u
		d.hash.AddUser(u)
	}
	for _, email := range delta.Removes {
		if old, ok := d.users[email]; ok {
			d.hash.RemoveUser(old)
			delete(d.users, email)
		}
	}
	d.rev = c.Revision
	return nil
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

// deltaFrom merges the feed's changes in (from, to] into one delta: the last
// operation on each user wins, so a user created and deleted in between
// costs nothing.
func deltaFrom(ctx context.Context, since sinceFunc, from, to int64) (protocol.Delta, error) {
	d := protocol.Delta{FromRevision: from, Revision: to}
	ops := map[string]*protocol.User{} // nil = remove
	order := []string{}
	after := from
	for after < to {
		changes, err := since(ctx, after, 2000)
		if errors.Is(err, feed.ErrTrimmed) {
			return d, errNeedSnapshot
		}
		if err != nil {
			return d, err
		}
		if len(changes) == 0 {
			break
		}
		for _, c := range changes {
			if c.Revision > to {
				after = to
				break
			}
			var cd protocol.Delta
			if err := json.Unmarshal(c.Data, &cd); err != nil {
				return d, fmt.Errorf("decoding change %d: %w", c.Revision, err)
			}
			if cd.Config != nil {
				d.Config = cd.Config
			}
			for i := range cd.Upserts {
				u := cd.Upserts[i]
				if _, seen := ops[u.Email]; !seen {
					order = append(order, u.Email)
				}
				ops[u.Email] = &u
			}
			for _, e := range cd.Removes {
				if _, seen := ops[e]; !seen {
					order = append(order, e)
				}
				ops[e] = nil
			}
			after = c.Revision
		}
	}
	for _, e := range order {
		if u := ops[e]; u != nil {
			d.Upserts = append(d.Upserts, *u)
		} else {
			d.Removes = append(d.Removes, e)
		}
	}
	return d, nil
}
