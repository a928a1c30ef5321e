package agent

import (
	"context"
	"time"

	"github.com/outpost-panel/outpost/nodes/protocol"
	"github.com/outpost-panel/outpost/nodes/state"
)

// usageLoop reads Xray's counters on every tick and journals them (fsync)
// before anything else; the session sends the journal when it can. What a
// kill -9 can lose is what was counted since the last tick, so the tick is
// the shorter of the node's own interval and the panel's (journalEvery).
func (a *Agent) usageLoop(ctx context.Context) {
	every := a.journalEvery()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.journalUsage()
			a.sampleOnline(a.cfg.Clock())
			// The panel's welcome may ask for a shorter interval.
			if d := a.journalEvery(); d != every {
				every = d
				t.Reset(every)
			}
		}
	}
}

// journalEvery is how often counters are journaled: the node's
// --usage-interval, or the panel's usage_seconds when that is shorter. The
// panel may ask for more durability, never for less.
func (a *Agent) journalEvery() time.Duration {
	every := a.cfg.UsageInterval
	if d := time.Duration(a.usageEvery.Load()); d > 0 && d < every {
		every = d
	}
	return every
}

// journalUsage swaps the counters to zero and appends what they held.
func (a *Agent) journalUsage() {
	traffic := a.eng.CollectUsage()
	if len(traffic) == 0 {
		return
	}
	// The journal keeps identities apart (the panel counts per device);
	// limits are the user's, so the candidates are owners, each once.
	entry := make(map[string]state.Traffic, len(traffic))
	cands := make([]protocol.User, 0, len(traffic))
	var seen map[string]bool
	for email, t := range traffic {
		entry[email] = state.Traffic{Up: t.Up, Down: t.Down}
		owner := protocol.OwnerEmail(email)
		if owner != email {
			if seen == nil {
				seen = map[string]bool{}
			}
			if seen[owner] {
				continue
			}
			seen[owner] = true
		}
		cands = append(cands, protocol.User{Email: owner})
	}
	if _, err := a.store.AppendUsage(a.cfg.Clock(), entry); err != nil {
		// The counters were already swapped: keep the bytes in memory by
		// logging loudly; this only happens when the disk fails.
		a.log.Error("journaling usage failed; traffic of this tick is lost", "users", len(entry), "err", err)
		return
	}
	a.mu.Lock()
	a.enforceNowLocked(cands)
	a.mu.Unlock()
	select {
	case a.usageWake <- struct{}{}:
	default:
	}
}

// nextUsageBatch merges pending journal entries after acked into one batch.
func (a *Agent) nextUsageBatch(acked int64) (*protocol.Usage, error) {
	entries, err := a.store.PendingUsage(acked, protocol.UsageBatchEntries)
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	sum := map[string]*protocol.UserTraffic{}
	for i, e := range entries {
		traffic := e.Traffic
		if len(traffic) > protocol.MaxUsageUsers {
			traffic = a.foldDevices(e)
		}
		// Keep the batch within the panel's bounds: stop before an entry
		// that would take it past MaxUsageUsers (the first entry always goes).
		if i > 0 && len(sum)+len(traffic) > protocol.MaxUsageUsers {
			entries = entries[:i]
			break
		}
		for email, t := range traffic {
			ut := sum[email]
			if ut == nil {
				ut = &protocol.UserTraffic{Email: email}
				sum[email] = ut
			}
			ut.Uplink = protocol.AddSaturating(ut.Uplink, t.Up)
			ut.Downlink = protocol.AddSaturating(ut.Downlink, t.Down)
		}
	}
	u := &protocol.Usage{FromSeq: acked, ToSeq: entries[len(entries)-1].Seq, At: entries[len(entries)-1].At.Unix(), Users: make([]protocol.UserTraffic, 0, len(sum))}
	for _, t := range sum {
		u.Users = append(u.Users, *t)
	}
	u.Online = a.takeOnline()
	return u, nil
}

// foldDevices is e's traffic with every device identity counted under its
// user's email: an entry naming more identities than the panel takes in one
// batch (MaxUsageUsers) would be refused forever, so for that entry the
// per-device split is given up and the user totals stay exact.
func (a *Agent) foldDevices(e state.JournalEntry) map[string]state.Traffic {
	out := make(map[string]state.Traffic, protocol.MaxUsageUsers)
	for email, t := range e.Traffic {
		owner := protocol.OwnerEmail(email)
		sum := out[owner]
		sum.Up = protocol.AddSaturating(sum.Up, t.Up)
		sum.Down = protocol.AddSaturating(sum.Down, t.Down)
		out[owner] = sum
	}
	if !a.foldLogged.Swap(true) {
		a.log.Warn("a usage reading names more identities than one batch may carry; its device traffic is reported per user",
			"seq", e.Seq, "identities", len(e.Traffic), "users", len(out), "max", protocol.MaxUsageUsers)
	}
	return out
}
