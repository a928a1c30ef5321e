package agent

import (
	"fmt"
	"runtime/debug"
	"slices"
	"time"

	"github.com/outpost-panel/outpost/nodes/protocol"
	"github.com/outpost-panel/outpost/nodes/state"
	"github.com/outpost-panel/outpost/nodes/xraycore"
)

// applySnapshot makes the snapshot the node's state the way Caddy replaces
// a config: validate, run it in Xray (diffed against what runs: identical
// state restarts nothing), and only once Xray runs it persist it as
// last-known-good and make it the desired state, then ack. A snapshot the
// engine refuses, or one that cannot be persisted, changes nothing: Xray,
// memory and disk keep the old state and the ack carries the old hash.
func (a *Agent) applySnapshot(rev int64, wantHash string, config []byte, users []protocol.User) protocol.Ack {
	if len(users) >= bulkUsers {
		// A big snapshot holds the decoded message, the new state and
		// Xray's accounts at once; a tighter GC for the duration keeps the
		// node's peak memory near what it keeps, for a little more CPU. The
		// session is already up, so the extra CPU costs no serving time.
		defer debug.SetGCPercent(debug.SetGCPercent(60))
	}
	got := protocol.ComputeStateHash(config, users)
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := a.desired.Revision
	if wantHash != "" && got.String() != wantHash {
		return a.refuseBadState(cur, fmt.Sprintf("snapshot %d hashes to %s, panel says %s", rev, got, wantHash))
	}
	if err := xraycore.Validate(config); err != nil {
		return a.refuse(cur, err.Error())
	}
	if err := validateDevices(users); err != nil {
		return a.refuse(cur, err.Error())
	}
	// Who the new state runs: the store keeps a local removal only for a
	// user whose record did not change (state.SameUser), and gives everyone
	// a fresh usage counter, so a user is left out when still enforced,
	// expired, or without a byte left.
	now := a.cfg.Clock()
	run := make([]protocol.User, 0, len(users))
	for _, u := range users {
		if a.enforced[u.Email] {
			if old, ok := a.desired.Users[u.Email]; ok && state.SameUser(old, u) {
				continue
			}
		}
		if enforceable(u, now) {
			continue
		}
		run = append(run, u)
	}
	res, err := a.eng.Apply(config, run)
	if err != nil {
		return a.refuse(cur, err.Error())
	}
	if err := a.store.SaveSnapshot(rev, got, config, users); err != nil {
		a.rollbackEngine(nil, true)
		return a.refuse(cur, "persisting snapshot: "+err.Error())
	}
	m := make(map[string]protocol.User, len(users))
	for _, u := range users {
		m[u.Email] = u
	}
	a.desired = state.Desired{Revision: rev, Hash: got, Config: config, Users: m}
	clear(a.enforced)
	if still, err := a.store.Enforced(); err == nil {
		for _, e := range still {
			a.enforced[e.Email] = true
		}
	}
	a.rebuildExpiry()
	// Records the removals the run list already made (Xray never had
	// those users) and reports them.
	a.enforceNowLocked(users)
	a.inErrs, a.lastErr = res.InboundErrors, ""
	a.snapshots.Add(1)
	a.log.Info("snapshot applied", "revision", rev, "users", len(users), "core_restarted", res.Restarted, "inbounds_rebuilt", res.InboundsRebuilt)
	return protocol.Ack{Revision: rev, StateHash: got.String(), InboundErrors: res.InboundErrors}
}

// applyDelta moves the node from its revision to d.Revision in O(changed
// users) (O(users) when the config changes), in the same order as
// applySnapshot: Xray first, then disk, then memory; a refusal changes
// nothing.
func (a *Agent) applyDelta(d *protocol.Delta) protocol.Ack {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := a.desired.Revision
	if d.FromRevision != cur {
		return a.refuseBadState(cur, fmt.Sprintf("delta starts at %d, node is at %d", d.FromRevision, cur))
	}
	h := a.desired.Hash
	config := a.desired.Config
	if d.Config != nil {
		if err := xraycore.Validate(d.Config); err != nil {
			return a.refuse(cur, err.Error())
		}
		h.ToggleConfig(config)
		h.ToggleConfig(d.Config)
		config = d.Config
	}
	for _, u := range d.Upserts {
		if old, ok := a.desired.Users[u.Email]; ok {
			h.RemoveUser(old)
		}
		h.AddUser(u)
	}
	for _, e := range d.Removes {
		// The panel merges a delta so each email appears once.
		if old, ok := a.desired.Users[e]; ok {
			h.RemoveUser(old)
		}
	}
	if d.StateHash != "" && h.String() != d.StateHash {
		return a.refuseBadState(cur, fmt.Sprintf("delta to %d leads to hash %s, panel says %s", d.Revision, h, d.StateHash))
	}
	if err := validateDevices(d.Upserts); err != nil {
		return a.refuse(cur, err.Error())
	}

	// An upserted user loses its local removal and gets a fresh usage
	// counter, so it runs unless it is already expired or has no byte left.
	now := a.cfg.Clock()
	var add []protocol.User
	out := slices.Clone(d.Removes)
	for _, u := range d.Upserts {
		if enforceable(u, now) {
			out = append(out, u.Email) // an older version may be running
		} else {
			add = append(add, u)
		}
	}
	var inErrs map[string]string
	if d.Config != nil {
		changed := make(map[string]bool, len(d.Upserts)+len(d.Removes))
		for _, u := range d.Upserts {
			changed[u.Email] = true
		}
		for _, e := range d.Removes {
			changed[e] = true
		}
		run := make([]protocol.User, 0, len(a.desired.Users)+len(add))
		for email, u := range a.desired.Users {
			if !changed[email] && !a.enforced[email] {
				run = append(run, u)
			}
		}
		run = append(run, add...)
		res, err := a.eng.Apply(config, run)
		if err != nil {
			return a.refuse(cur, err.Error())
		}
		inErrs = res.InboundErrors
		a.log.Info("config changed", "revision", d.Revision, "core_restarted", res.Restarted, "inbounds_rebuilt", res.InboundsRebuilt)
	} else {
		if len(out) > 0 {
			a.eng.RemoveUsers(out)
		}
		if len(add) > 0 {
			if err := a.eng.UpsertUsers(add); err != nil {
				a.rollbackEngine(d, false)
				return a.refuse(cur, "adding users to xray: "+err.Error())
			}
		}
		inErrs = a.eng.InboundErrors()
	}

	var newConfig []byte
	if d.Config != nil {
		newConfig = d.Config
	}
	if err := a.store.ApplyDelta(d.Revision, h, newConfig, d.Upserts, d.Removes); err != nil {
		a.rollbackEngine(d, d.Config != nil)
		return a.refuse(cur, "persisting delta: "+err.Error())
	}
	for _, u := range d.Upserts {
		a.desired.Users[u.Email] = u
		delete(a.enforced, u.Email) // a new version comes with new limits
		a.expiry.push(u.Expire, u.Email)
	}
	for _, e := range d.Removes {
		delete(a.desired.Users, e)
		delete(a.enforced, e)
	}
	a.desired.Revision, a.desired.Hash, a.desired.Config = d.Revision, h, config
	// Records the removals made above (Xray never got those versions).
	a.enforceNowLocked(d.Upserts)
	a.inErrs, a.lastErr = inErrs, ""
	a.deltas.Add(1)
	return protocol.Ack{Revision: d.Revision, StateHash: h.String(), InboundErrors: inErrs}
}

// validateDevices refuses a state with a user whose device list breaks the
// protocol's bounds (protocol.User.ValidateDevices): the node keeps its
// last-known-good state rather than run part of it.
func validateDevices(users []protocol.User) error {
	for i := range users {
		if err := users[i].ValidateDevices(); err != nil {
			return err
		}
	}
	return nil
}

// enforceable reports whether a user that has just arrived with a fresh
// usage counter would be removed by enforceNowLocked at once.
func enforceable(u protocol.User, now time.Time) bool {
	return (u.Expire > 0 && u.Expire <= now.Unix()) || (u.BytesLeft != nil && *u.BytesLeft <= 0)
}

// rollbackEngine puts Xray back to the desired state in memory (still the
// old one) after the new one ran but could not be persisted: the whole
// state when full, else the users d touched. Caller holds mu.
func (a *Agent) rollbackEngine(d *protocol.Delta, full bool) {
	if full || d == nil {
		if a.desired.Config == nil {
			a.log.Error("new state runs in xray but was not persisted, and there is no older state to go back to")
			return
		}
		if _, err := a.eng.Apply(a.desired.Config, a.effectiveUsers()); err != nil {
			a.log.Error("putting xray back to the last-known-good state", "revision", a.desired.Revision, "err", err)
		}
		return
	}
	var back []protocol.User
	var gone []string
	touched := slices.Clone(d.Removes)
	for _, u := range d.Upserts {
		touched = append(touched, u.Email)
	}
	for _, email := range touched {
		if old, ok := a.desired.Users[email]; ok && !a.enforced[email] {
			back = append(back, old)
		} else {
			gone = append(gone, email)
		}
	}
	a.eng.RemoveUsers(gone)
	if err := a.eng.UpsertUsers(back); err != nil {
		a.log.Error("putting users back into xray", "err", err)
	}
}

// refuse keeps the last-known-good state and tells the panel why. Caller holds mu.
func (a *Agent) refuse(cur int64, why string) protocol.Ack {
	a.lastErr = why
	a.log.Warn("state refused; keeping last-known-good", "revision", cur, "why", why)
	return protocol.Ack{Revision: cur, StateHash: a.desired.Hash.String(), Error: why, Code: protocol.ErrCodeRefused}
}

// refuseBadState refuses a state the node cannot reach from where it is:
// the panel answers with a snapshot. The code is typed; the message keeps
// its "bad_state: " prefix for panels that predate ack.code.
func (a *Agent) refuseBadState(cur int64, why string) protocol.Ack {
	ack := a.refuse(cur, string(protocol.ErrCodeBadState)+": "+why)
	ack.Code = protocol.ErrCodeBadState
	return ack
}

// restartCore restarts Xray on the admin's request with the state it runs.
// Counters of the old instance are still collected, so no traffic is lost.
func (a *Agent) restartCore() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.desired.Config == nil {
		return
	}
	res, err := a.eng.Restart(a.desired.Config, a.effectiveUsers())
	if err != nil {
		a.lastErr = "core restart: " + err.Error()
		a.log.Warn("core restart refused; the running core keeps serving", "err", err)
		return
	}
	a.inErrs = res.InboundErrors
	a.log.Info("xray core restarted on the panel's request")
}

// bulkUsers is where a snapshot counts as big for memory purposes.
const bulkUsers = 20000
