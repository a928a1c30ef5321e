// Package state is the one door to the panel's data: every mutation that
// nodes must see runs here, inside one transaction that takes the next
// revision, writes the rows and appends the change to the outbox; after the
// commit the outbox is pumped into the change feed. HTTP handlers, jobs,
// webhooks, the CLI and the node hub call State's named methods; no other
// package imports backend/store (backend/internal/arch's
// TestOnlyStateImportsStore fails when one does). Read models that cache
// what the database holds (the user directory, backend/directory) are
// wired here and fed by the store's revisions and usage batches.
package state

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outpost-panel/outpost/backend/change"
	"github.com/outpost-panel/outpost/backend/directory"
	"github.com/outpost-panel/outpost/backend/feed"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
	"github.com/outpost-panel/outpost/nodes/protocol"
)

// Clock returns the current time; tests pass a movable one.
type Clock func() time.Time

// State is the panel's domain service.
type State struct {
	store *store.Store
	// ownsStore is set by Open: Close closes the store.
	ownsStore bool
	// users is the users list's read model, fed by the store's revisions
	// and usage batches (backend/directory).
	users *directory.Directory
	feed  feed.Feed
	log   *slog.Logger
	now   Clock

	pumpMu   sync.Mutex
	pumpKick chan struct{}
	pumping  atomic.Bool // RunPump is running: publish after commit off the request path

	// committed counts revisions this process committed. Caches of what
	// users look like (subscription views) compare it so a change made
	// here is seen by the very next read here, not after a feed round trip.
	committed atomic.Int64

	cfgMu  sync.RWMutex
	cfgRev int64
	cfg    *coreConfig

	// quarantined are users the review tick skips for a while (lifecycle.go).
	quarantined quarantine
}

// New wires a State over an open store; the caller keeps closing it.
// clock may be nil for time.Now.
func New(st *store.Store, fd feed.Feed, log *slog.Logger, clock Clock) *State {
	if clock == nil {
		clock = time.Now
	}
	users := directory.New(st, log)
	st.ObserveUsage(users.BeginUsage)
	st.OnClose(users.Close)
	st.SetClock(clock)
	return &State{store: st, feed: fd, log: log, now: clock, users: users, pumpKick: make(chan struct{}, 1)}
}

// Open opens the panel database (SQLite in dataDir, or PostgreSQL when
// databaseURL names it), applies its migrations and wires a State over it;
// Close closes the database. clock may be nil for time.Now.
func Open(ctx context.Context, databaseURL, dataDir string, fd feed.Feed, log *slog.Logger, clock Clock) (*State, error) {
	st, err := store.Open(ctx, databaseURL, dataDir, log)
	if err != nil {
		return nil, err
	}
	s := New(st, fd, log, clock)
	s.ownsStore = true
	return s, nil
}

// Close closes the database if Open opened it; a State from New leaves
// the store to its caller.
func (s *State) Close() error {
	if !s.ownsStore {
		return nil
	}
	return s.store.Close()
}

// SetDBMaxConns sets the PostgreSQL pool's size (store.SetMaxConns).
func (s *State) SetDBMaxConns(n int) { s.store.SetMaxConns(n) }

// DBPools are the database's connection pools by role (store.Pools).
func (s *State) DBPools() map[string]*sql.DB { return s.store.Pools() }

// Feed exposes the change feed.
func (s *State) Feed() feed.Feed { return s.feed }

// Now is the state's clock.
func (s *State) Now() time.Time { return s.now() }

// change runs fn in one transaction that first takes the next revision (the
// row lock serializes writers, so commits land in revision order), then
// stores the node-visible change fn returns in the outbox, in the change
// package's versioned encoding. An empty change stores nothing; the
// revision is simply skipped. After the commit the feed
// is pumped; a failed pump is retried by the background pump loop.
func (s *State) change(ctx context.Context, fn func(tx *store.Tx, rev int64) (change.Change, error)) (int64, error) {
	return s.changeLate(ctx, func(tx *store.Tx) (func(rev int64) (change.Change, error), error) {
		return func(rev int64) (change.Change, error) { return fn(tx, rev) }, nil
	})
}

// changeLate is change with a first step, prepare, that runs in the same
// transaction before the revision is taken. Every change waits for the
// revision row of the one before it until that one commits, so the
// statements run while holding it set how many changes per second the
// database takes (metrics.RevisionHoldSeconds). prepare does what it can
// without the revision: reads, and inserts nobody else locks (audit
// entries, notifications). It must not write a row that another change
// may write (that would take the row before the revision, the reverse of
// the lock order in store.BumpRevision). A row it read and commit writes
// is written with a compare on the revision it was read at
// (store.Tx.UpdateUserFrom): a change in between is store.ErrRaced and the
// whole transaction runs again. prepare returns the step that runs with
// the revision taken (the fn of change).
func (s *State) changeLate(ctx context.Context, prepare func(tx *store.Tx) (commit func(rev int64) (change.Change, error), err error)) (int64, error) {
	var rev int64
	var wrote bool
	err := s.store.Tx(ctx, func(tx *store.Tx) error {
		commit, err := prepare(tx)
		if err != nil {
			return err
		}
		r, err := tx.BumpRevision()
		if err != nil {
			return fmt.Errorf("taking revision: %w", err)
		}
		c, err := commit(r)
		if err != nil {
			return err
		}
		rev = r
		wrote = false
		if c.IsEmpty() {
			return nil
		}
		if err := recordBytesLeft(tx, c.Upserts); err != nil {
			return err
		}
		data, err := change.Encode(r, c)
		if err != nil {
			return fmt.Errorf("encoding change %d: %w", r, err)
		}
		wrote = true
		return tx.AppendChange(r, data)
	})
	if err != nil {
		return 0, err
	}
	s.committed.Add(1)
	if wrote {
		if s.pumping.Load() {
			// The pump loop publishes at once; a slow or absent Redis must
			// not hold up the request that made the change.
			select {
			case s.pumpKick <- struct{}{}:
			default:
			}
		} else if err := s.Pump(ctx); err != nil {
			s.log.Warn("publishing change to feed failed; the pump loop retries", "revision", rev, "err", err)
		}
	}
	return rev, nil
}

// Pump publishes every outbox change after the feed's last revision. It is
// idempotent and safe to run from several replicas at once.
func (s *State) Pump(ctx context.Context) error {
	s.pumpMu.Lock()
	defer s.pumpMu.Unlock()
	last, err := s.feed.Last(ctx)
	if err != nil {
		return fmt.Errorf("reading feed position: %w", err)
	}
	for {
		changes, err := s.store.ChangesSince(ctx, last, 1000)
		if err != nil {
			return fmt.Errorf("reading outbox after %d: %w", last, err)
		}
		if len(changes) == 0 {
			return nil
		}
		fc := make([]feed.Change, len(changes))
		for i, c := range changes {
			fc[i] = feed.Change{Revision: c.Revision, Data: c.Data}
		}
		if err := s.feed.Publish(ctx, fc...); err != nil {
			return fmt.Errorf("publishing %d changes: %w", len(fc), err)
		}
		last = changes[len(changes)-1].Revision
	}
}

// RunPump keeps the feed caught up with the outbox until ctx ends: it covers
// a publish that failed after its commit (Redis away, process killed).
// While it runs, commits only kick it instead of publishing themselves.
func (s *State) RunPump(ctx context.Context, every time.Duration) {
	s.pumping.Store(true)
	defer s.pumping.Store(false)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.pumpKick:
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := s.Pump(pctx); err != nil && ctx.Err() == nil {
			s.log.Warn("feed pump", "err", err)
		}
		cancel()
	}
}

// The outbox, for the hub when the change feed no longer holds what a node
// needs.

// OldestChange is the oldest revision the outbox still holds; ok is false
// when it holds none.
func (s *State) OldestChange(ctx context.Context) (rev int64, ok bool, err error) {
	return s.store.OldestChange(ctx)
}

// ChangesSince reads up to limit outbox changes after revision after, in
// revision order, as the change feed carries them.
func (s *State) ChangesSince(ctx context.Context, after int64, limit int) ([]feed.Change, error) {
	rows, err := s.store.ChangesSince(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]feed.Change, len(rows))
	for i, r := range rows {
		out[i] = feed.Change{Revision: r.Revision, Data: r.Data}
	}
	return out, nil
}

// Revision is the database's current revision.
func (s *State) Revision(ctx context.Context) (int64, error) {
	var rev int64
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		rev, err = tx.CurrentRevision()
		return err
	})
	return rev, err
}

// NodeUser is the user as nodes see it. Only users whose status is on nodes
// (active, on_hold) are ever sent.
func NodeUser(u *model.User) protocol.User {
	pu := protocol.User{ID: u.ID, Email: u.Email(), Expire: u.Expire}
	if u.Status == model.StatusOnHold {
		// The clock of an on-hold user has not started: nothing to expire yet.
		pu.Expire = 0
	}
	for _, tags := range u.ExcludedInbounds {
		pu.Excluded = append(pu.Excluded, tags...)
	}
	sort.Strings(pu.Excluded)
	for proto, p := range u.Proxies {
		switch proto {
		case model.ProtoVLESS:
			pu.VLESS = &protocol.VLESS{ID: p.ID, Flow: p.Flow}
		case model.ProtoVMess:
			pu.VMess = &protocol.VMess{ID: p.ID}
		case model.ProtoTrojan:
			pu.Trojan = &protocol.Trojan{Password: p.Password}
		case model.ProtoShadowsocks:
			pu.Shadowsocks = &protocol.Shadowsocks{Password: p.Password, Method: p.Method}
		}
	}
	if u.DataLimit > 0 {
		left := u.DataLimit - u.UsedTraffic
		if left < 0 {
			left = 0
		}
		pu.BytesLeft = &left
	}
	if u.PerDevice {
		// One identity per admitted device; the user's own credentials
		// run nowhere (they are the key the devices' are derived from).
		pu.PerDevice = true
		if n := len(u.DeviceIDs); n > 0 {
			pu.Devices = slices.Clone(u.DeviceIDs[:min(n, protocol.MaxUserDevices)])
		}
	}
	return pu
}

// recordBytesLeft stores the bytes_left each upsert carries, so the desired
// state rebuilt from the database (DesiredUsers) names the same users, and
// hashes the same, as the changes did at that revision.
func recordBytesLeft(tx *store.Tx, upserts []protocol.User) error {
	var ids, left []int64
	for _, u := range upserts {
		if u.BytesLeft != nil {
			ids, left = append(ids, u.ID), append(left, *u.BytesLeft)
		}
	}
	return tx.SetNodeBytesLeft(ids, left)
}

// desiredNodeUser is the user as the change that last put it on the nodes
// sent it: NodeUser, with the bytes_left that change carried rather than
// one recomputed from the traffic counted since.
func desiredNodeUser(u *model.User) protocol.User {
	pu := NodeUser(u)
	if pu.BytesLeft != nil && u.NodeBytesLeft != nil {
		left := *u.NodeBytesLeft
		pu.BytesLeft = &left
	}
	return pu
}

// nodeDiff is the change nodes need when a user goes from before to after
// (either may be nil: created or deleted).
func nodeDiff(before, after *model.User) change.Change {
	wasOn := before != nil && before.Status.OnNodes()
	isOn := after != nil && after.Status.OnNodes()
	switch {
	case isOn:
		nu := NodeUser(after)
		if wasOn && protocol.UserDigest(NodeUser(before)) == protocol.UserDigest(nu) {
			return change.Change{}
		}
		return change.UserUpserted(nu)
	case wasOn:
		return change.UserRemoved(before.Email())
	}
	return change.Change{}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

// HashToken is how node tokens are stored.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// invalid wraps a validation message so the API answers 4xx with it.
// checkTexts runs model.CheckText over named strings, in name order.
func checkTexts(fields map[string]string) error {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := model.CheckText(n, fields[n]); err != nil {
			return err
		}
	}
	return nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", model.ErrInvalid, fmt.Sprintf(format, args...))
}

// IsInvalid reports whether err is a validation error.
func IsInvalid(err error) bool { return errors.Is(err, model.ErrInvalid) }

// Engine is the database engine: store.EngineSQLite or store.EnginePostgres.
func (s *State) Engine() string { return s.store.Engine() }
