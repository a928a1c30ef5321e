package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/outpost-panel/outpost/backend/change"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
)

// Who is online from where, and the IP limit (issue 14, item 3).
//
// Nodes report the source addresses of each user's live connections with
// their usage batches (protocol.Usage.Online); RecordOnline keeps the
// distinct addresses per user (at most model.MaxUserIPs, the most recent)
// with the node that saw each last, and a job prunes those older than
// UserIPsRetention. The IP limit job (IPLimiter.Tick) counts, per user,
// the addresses seen within a short window (two report intervals): a user
// over its limit at every tick for the whole grace window is acted on
// (notified, or disabled for some minutes and enabled again by the same
// job). One sample never acts: an episode needs two observations at least
// grace apart, and ends the first tick the user is back within its limit.

// UserIPsRetention is how long an address stays listed after it was seen.
const UserIPsRetention = 24 * time.Hour

// IPLimitAction is what the IP limit does to a user over it.
type IPLimitAction string

// IP limit actions.
const (
	IPLimitNotify  IPLimitAction = "notify"
	IPLimitDisable IPLimitAction = "disable"
)

// IPLimitSettings are the sudo-editable settings of the IP limit
// (GET|PUT /api/users/ip_limit).
type IPLimitSettings struct {
	// DefaultIPLimit applies to users whose ip_limit is null; 0 is unlimited.
	DefaultIPLimit int64 `json:"default_ip_limit" limit:"ip_limit"`
	// GraceSeconds is how long a user must stay over its limit before the
	// action is taken.
	GraceSeconds int64 `json:"grace_seconds" limit:"ip_grace"`
	// Action is notify (an ip_limit_exceeded notification) or disable
	// (the same, and the user disabled for DisableMinutes).
	Action IPLimitAction `json:"action"`
	// DisableMinutes is how long the disable action holds the user.
	DisableMinutes int64 `json:"disable_minutes" limit:"minutes"`
}

// DefaultIPLimitSettings are used until a sudo admin saves some.
func DefaultIPLimitSettings() IPLimitSettings {
	return IPLimitSettings{GraceSeconds: 120, Action: IPLimitNotify, DisableMinutes: 10}
}

// Validate checks every field against its range.
func (ls *IPLimitSettings) Validate() error {
	for _, c := range []struct {
		field, rng string
		v          int64
	}{
		{"default_ip_limit", "ip_limit", ls.DefaultIPLimit},
		{"grace_seconds", "ip_grace", ls.GraceSeconds},
		{"disable_minutes", "minutes", ls.DisableMinutes},
	} {
		if err := model.CheckInt(c.field, c.rng, c.v); err != nil {
			return err
		}
	}
	if ls.Action != IPLimitNotify && ls.Action != IPLimitDisable {
		return invalid("action: must be notify or disable")
	}
	return nil
}

const ipLimitSettingKey = "ip_limit"

// IPLimitSettings returns the stored settings, or the defaults.
func (s *State) IPLimitSettings(ctx context.Context) (IPLimitSettings, error) {
	set := DefaultIPLimitSettings()
	var (
		data string
		ok   bool
	)
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		data, ok, err = tx.Setting(ipLimitSettingKey)
		return err
	})
	if err != nil || !ok {
		return set, err
	}
	if err := json.Unmarshal([]byte(data), &set); err != nil {
		return DefaultIPLimitSettings(), fmt.Errorf("decoding stored IP limit settings: %w", err)
	}
	return set, nil
}

// SetIPLimitSettings validates and stores the settings.
func (s *State) SetIPLimitSettings(ctx context.Context, set IPLimitSettings) error {
	if err := set.Validate(); err != nil {
		return err
	}
	data, err := json.Marshal(set)
	if err != nil {
		return fmt.Errorf("encoding IP limit settings: %w", err)
	}
	return s.store.Tx(ctx, func(tx *store.Tx) error {
		before := DefaultIPLimitSettings()
		v, ok, err := tx.Setting(ipLimitSettingKey)
		if err != nil {
			return err
		}
		if ok {
			if err := json.Unmarshal([]byte(v), &before); err != nil {
				return fmt.Errorf("decoding stored IP limit settings: %w", err)
			}
		}
		if err := tx.SetSetting(ipLimitSettingKey, string(data)); err != nil {
			return err
		}
		return auditRow(tx, "users.ip_limit", "/api/users/ip_limit", 0, before, set)
	})
}

// RecordOnline keeps the addresses a node saw at at. It is its own
// transaction, after the usage batch's: a failure here costs addresses,
// never counted traffic.
func (s *State) RecordOnline(ctx context.Context, nodeID int64, at time.Time, seen []model.UserIPs) error {
	if len(seen) == 0 {
		return nil
	}
	return s.store.Tx(ctx, func(tx *store.Tx) error { return tx.RecordUserIPs(nodeID, at, seen) })
}

// UserIPs lists the addresses a user the admin may see was seen from in
// the last UserIPsRetention, newest first.
func (s *State) UserIPs(ctx context.Context, admin *model.Admin, username string) ([]model.UserIP, error) {
	var out []model.UserIP
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		u, err := tx.UserByUsername(username)
		if err != nil {
			return err
		}
		if !canSee(admin, u) {
			return fmt.Errorf("user %q: %w", username, model.ErrForbidden)
		}
		out, err = tx.UserIPs(u.ID, s.now().Add(-UserIPsRetention))
		return err
	})
	return out, err
}

// PruneUserIPs forgets addresses not seen for UserIPsRetention.
func (s *State) PruneUserIPs(ctx context.Context) error {
	return s.store.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.PruneUserIPs(s.now().Add(-UserIPsRetention))
		return err
	})
}

// ipEpisode is one stretch of ticks a user was over its limit at.
type ipEpisode struct {
	since   time.Time
	samples int
	acted   bool
}

// ipGrace decides when a user over its limit has been so for long enough.
// It holds only the users over their limit at the last tick.
type ipGrace struct {
	mu       sync.Mutex
	episodes map[int64]*ipEpisode
}

// observe takes the users over their limit at now and returns those whose
// episode has lasted grace (with at least two observations) and was not
// acted on yet; they are marked acted. Users not in over end their episode.
func (g *ipGrace) observe(now time.Time, over []int64, grace time.Duration) []int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	next := make(map[int64]*ipEpisode, len(over))
	var due []int64
	for _, id := range over {
		ep := g.episodes[id]
		if ep == nil {
			ep = &ipEpisode{since: now}
		}
		ep.samples++
		if !ep.acted && ep.samples >= 2 && now.Sub(ep.since) >= grace {
			ep.acted = true
			due = append(due, id)
		}
		next[id] = ep
	}
	g.episodes = next
	return due
}

// IPLimiter runs the IP limit: one per scheduler, on the replica holding
// the jobs lease. A new leader starts with no episodes, which only delays
// an action, never hastens it.
type IPLimiter struct {
	st     *State
	window time.Duration
	grace  ipGrace
}

// NewIPLimiter counts the addresses seen within window (two of the nodes'
// report intervals is right: one report may come late).
func (s *State) NewIPLimiter(window time.Duration) *IPLimiter {
	return &IPLimiter{st: s, window: window}
}

// IPLimitResult is what one tick did.
type IPLimitResult struct {
	Over, Notified, Disabled, Enabled []int64
}

// Tick enables the users whose IP limit hold is over, then counts who is
// over its limit now and acts on those over it for the grace window.
func (l *IPLimiter) Tick(ctx context.Context) (IPLimitResult, error) {
	var res IPLimitResult
	s := l.st
	now := s.now().UTC().Truncate(time.Second)
	var due []int64
	if err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		due, err = tx.UsersIPLimitDue(now)
		return err
	}); err != nil {
		return res, err
	}
	var errs []error
	for _, id := range due {
		ok, err := s.liftIPLimitHold(ctx, id)
		if err != nil {
			errs = append(errs, err)
		} else if ok {
			res.Enabled = append(res.Enabled, id)
		}
	}
	set, err := s.IPLimitSettings(ctx)
	if err != nil {
		return res, errors.Join(append(errs, err)...)
	}
	var counts []store.IPCount
	if err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		counts, err = tx.UsersOverIPLimit(now.Add(-l.window), set.DefaultIPLimit)
		return err
	}); err != nil {
		return res, errors.Join(append(errs, err)...)
	}
	byID := make(map[int64]store.IPCount, len(counts))
	for _, c := range counts {
		res.Over = append(res.Over, c.UserID)
		byID[c.UserID] = c
	}
	for _, id := range l.grace.observe(now, res.Over, time.Duration(set.GraceSeconds)*time.Second) {
		c := byID[id]
		var acted bool
		if set.Action == IPLimitDisable {
			acted, err = s.holdForIPLimit(ctx, c, now.Add(time.Duration(set.DisableMinutes)*time.Minute))
			if acted {
				res.Disabled = append(res.Disabled, id)
			}
		} else {
			acted, err = s.notifyIPLimit(ctx, c)
			if acted {
				res.Notified = append(res.Notified, id)
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return res, errors.Join(errs...)
}

func ipLimitEvent(u *model.User, c store.IPCount) Event {
	n, limit := c.Count, c.Limit
	return Event{Action: ActionIPLimitExceeded, User: u, IPCount: &n, IPLimit: &limit}
}

// notifyIPLimit sends ip_limit_exceeded about the user.
func (s *State) notifyIPLimit(ctx context.Context, c store.IPCount) (bool, error) {
	var found bool
	err := s.store.Tx(ctx, func(tx *store.Tx) error {
		u, err := tx.UserByID(c.UserID)
		if errors.Is(err, model.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		return s.enqueueEvents(tx, ipLimitEvent(u, c))
	})
	if err != nil {
		return false, fmt.Errorf("notifying the IP limit of user %d: %w", c.UserID, err)
	}
	return found, nil
}

// holdForIPLimit disables an active or on-hold user until until, in one
// revision: the nodes cut it as they cut any disabled user.
func (s *State) holdForIPLimit(ctx context.Context, c store.IPCount, until time.Time) (bool, error) {
	var acted bool
	_, err := s.change(ctx, func(tx *store.Tx, rev int64) (change.Change, error) {
		before, err := tx.LockUser(c.UserID)
		if errors.Is(err, model.ErrNotFound) {
			return change.Change{}, nil
		}
		if err != nil {
			return change.Change{}, err
		}
		if before.Status != model.StatusActive && before.Status != model.StatusOnHold {
			return change.Change{}, nil
		}
		now := s.now().UTC().Truncate(time.Second)
		u := *before
		u.Status = model.StatusDisabled
		u.IPLimitUntil = &until
		u.LastStatusChange = &now
		u.Revision = rev
		if err := tx.UpdateUser(&u); err != nil {
			return change.Change{}, fmt.Errorf("disabling user %d for its IP limit: %w", u.ID, err)
		}
		events := append([]Event{ipLimitEvent(&u, c)}, userEvents("", nil, before.Status, &u)...)
		if err := s.enqueueEvents(tx, events...); err != nil {
			return change.Change{}, err
		}
		acted = true
		return nodeDiff(before, &u), nil
	})
	if err != nil {
		return false, fmt.Errorf("disabling user %d for its IP limit: %w", c.UserID, err)
	}
	return acted, nil
}

// liftIPLimitHold enables a user the IP limit disabled, in one revision.
// A user an admin changed the status of meanwhile has no hold any more
// (ModifyUser and the bulk status changes clear it).
func (s *State) liftIPLimitHold(ctx context.Context, id int64) (bool, error) {
	var lifted bool
	_, err := s.change(ctx, func(tx *store.Tx, rev int64) (change.Change, error) {
		before, err := tx.LockUser(id)
		if errors.Is(err, model.ErrNotFound) {
			return change.Change{}, nil
		}
		if err != nil {
			return change.Change{}, err
		}
		now := s.now().UTC().Truncate(time.Second)
		if before.IPLimitUntil == nil || before.IPLimitUntil.After(now) {
			return change.Change{}, nil
		}
		u := *before
		u.IPLimitUntil = nil
		if u.Status == model.StatusDisabled {
			u.Status = model.StatusActive
			u.Status = model.ComputeStatus(&u, now)
			u.LastStatusChange = &now
			lifted = true
		}
		u.Revision = rev
		if err := tx.UpdateUser(&u); err != nil {
			return change.Change{}, fmt.Errorf("enabling user %d after its IP limit hold: %w", u.ID, err)
		}
		if err := s.enqueueEvents(tx, userEvents("", nil, before.Status, &u)...); err != nil {
			return change.Change{}, err
		}
		return nodeDiff(before, &u), nil
	})
	if err != nil {
		return false, fmt.Errorf("enabling user %d after its IP limit hold: %w", id, err)
	}
	return lifted, nil
}
