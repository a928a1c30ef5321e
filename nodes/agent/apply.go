package agent

import (
	"fmt"
	"runtime/debug"

	"github.com/outpost-panel/outpost/nodes/protocol"
	"github.com/outpost-panel/outpost/nodes/state"
	"github.com/outpost-panel/outpost/nodes/xraycore"
)

// applySnapshot makes the snapshot the node's state: validate, persist,
// apply (diffed against what runs: identical state restarts nothing), ack.
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
	if err := a.store.SaveSnapshot(rev, got, config, users); err != nil {
		return a.refuse(cur, "persisting snapshot: "+err.Error())
	}
	m := make(map[string]protocol.User, len(users))
	for _, u := range users {
		m[u.Email] = u
	}
	// The store keeps a local removal only for a user whose record did not
	// change; everyone else comes with fresh limits, checked again below.
	a.desired = state.Desired{Revision: rev, Hash: got, Config: config, Users: m}
	clear(a.enforced)
	if still, err := a.store.Enforced(); err == nil {
		for _, e := range still {
			a.enforced[e.Email] = true
		}
	}
	a.rebuildExpiry()
	a.enforceNowLocked(users)
	res, err := a.eng.Apply(config, a.effectiveUsers())
	if err != nil {
		return a.refuse(cur, err.Error())
	}
	a.inErrs, a.lastErr = res.InboundErrors, ""
	a.snapshots.Add(1)
	a.log.Info("snapshot applied", "revision", rev, "users", len(users), "core_restarted", res.Restarted, "inbounds_rebuilt", res.InboundsRebuilt)
	return protocol.Ack{Revision: rev, StateHash: got.String(), InboundErrors: res.InboundErrors}
}

// applyDelta moves the node from its revision to d.Revision in O(changed users).
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
	var newConfig []byte
	if d.Config != nil {
		newConfig = d.Config
	}
	if err := a.store.ApplyDelta(d.Revision, h, newConfig, d.Upserts, d.Removes); err != nil {
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
	a.enforceNowLocked(d.Upserts)
	var inErrs map[string]string
	if d.Config != nil {
		res, err := a.eng.Apply(config, a.effectiveUsers())
		if err != nil {
			return a.refuse(cur, err.Error())
		}
		inErrs = res.InboundErrors
		a.log.Info("config changed", "revision", d.Revision, "core_restarted", res.Restarted, "inbounds_rebuilt", res.InboundsRebuilt)
	} else {
		var add []protocol.User
		for _, u := range d.Upserts {
			if !a.enforced[u.Email] {
				add = append(add, u)
			}
		}
		if len(d.Removes) > 0 {
			a.eng.RemoveUsers(d.Removes)
		}
		if len(add) > 0 {
			if err := a.eng.UpsertUsers(add); err != nil {
				a.log.Warn("adding users to xray", "err", err)
			}
		}
		inErrs = a.eng.InboundErrors()
	}
	a.inErrs, a.lastErr = inErrs, ""
	a.deltas.Add(1)
	return protocol.Ack{Revision: d.Revision, StateHash: h.String(), InboundErrors: inErrs}
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
	ack := a.refuse(cur, protocol.ErrCodeBadState+": "+why)
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
