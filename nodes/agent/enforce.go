package agent

import (
	"container/heap"
	"context"
	"time"

	"github.com/outpost-panel/outpost/nodes/protocol"
)

// expiryQueue is a min-heap of (expire, email) so the once-a-second expiry
// check costs O(log n) per expiring user, not a scan of 100,000 users.
// Entries go stale when a user changes; they are checked against the current
// user when popped.
type expiryQueue []expiryItem

type expiryItem struct {
	at    int64
	email string
}

func (q expiryQueue) Len() int           { return len(q) }
func (q expiryQueue) Less(i, j int) bool { return q[i].at < q[j].at }
func (q expiryQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *expiryQueue) Push(x any)        { *q = append(*q, x.(expiryItem)) }
func (q *expiryQueue) Pop() any          { o := *q; it := o[len(o)-1]; *q = o[:len(o)-1]; return it }
func (q *expiryQueue) push(at int64, e string) {
	if at > 0 {
		heap.Push(q, expiryItem{at, e})
	}
}

// rebuildExpiry indexes every user's expiry. Caller holds mu.
func (a *Agent) rebuildExpiry() {
	q := make(expiryQueue, 0, len(a.desired.Users))
	for e, u := range a.desired.Users {
		if u.Expire > 0 {
			q = append(q, expiryItem{u.Expire, e})
		}
	}
	heap.Init(&q)
	a.expiry = q
}

// enforceNowLocked removes users whose expiry passed, and those of
// candidates that used up their bytes. Caller holds mu.
func (a *Agent) enforceNowLocked(candidates []protocol.User) {
	now := a.cfg.Clock()
	var removed []protocol.EnforcedUser
	for a.expiry.Len() > 0 && a.expiry[0].at <= now.Unix() {
		it := heap.Pop(&a.expiry).(expiryItem)
		u, ok := a.desired.Users[it.email]
		if !ok || u.Expire != it.at || a.enforced[it.email] {
			continue // stale entry
		}
		removed = append(removed, protocol.EnforcedUser{Email: it.email, Reason: "expired", At: now.Unix()})
	}
	for _, c := range candidates {
		u, ok := a.desired.Users[c.Email]
		if !ok || u.BytesLeft == nil || a.enforced[c.Email] {
			continue
		}
		used, err := a.store.LocalUsed(c.Email)
		if err != nil {
			a.log.Warn("reading local usage", "email", c.Email, "err", err)
			continue
		}
		if used >= *u.BytesLeft {
			removed = append(removed, protocol.EnforcedUser{Email: c.Email, Reason: "limited", At: now.Unix()})
		}
	}
	if len(removed) == 0 {
		return
	}
	emails := make([]string, 0, len(removed))
	for _, r := range removed {
		if err := a.store.MarkEnforced(r); err != nil {
			a.log.Warn("recording enforcement", "email", r.Email, "err", err)
		}
		a.enforced[r.Email] = true
		emails = append(emails, r.Email)
	}
	a.eng.RemoveUsers(emails)
	a.log.Info("enforced limits locally", "users", len(removed))
	a.reportEnforced()
}

// reportEnforced sends unreported local removals if a session is up.
func (a *Agent) reportEnforced() {
	link := a.sessionUsage.Load()
	if link == nil {
		return
	}
	pending, err := a.store.Unreported()
	if err != nil || len(pending) == 0 {
		return
	}
	if link.send(protocol.Message{Type: protocol.TypeEnforced, Enforced: &protocol.Enforced{Users: pending}}) {
		emails := make([]string, len(pending))
		for i, p := range pending {
			emails[i] = p.Email
		}
		if err := a.store.MarkReported(emails); err != nil {
			a.log.Warn("marking enforcement reported", "err", err)
		}
	}
}

// enforceLoop checks expiry every EnforceInterval, panel or no panel.
func (a *Agent) enforceLoop(ctx context.Context) {
	t := time.NewTicker(a.cfg.EnforceInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.mu.Lock()
			a.enforceNowLocked(nil)
			a.mu.Unlock()
		}
	}
}
