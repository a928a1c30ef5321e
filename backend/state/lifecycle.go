package state

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/outpost-panel/outpost/backend/change"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
)

// The user lifecycle: the review tick (periodic usage resets, on-hold
// starts, limits, next plans), auto-delete, and the admin actions on one
// user's lifecycle (reset, revoke, next plan now, owner).
//
// Next plans. Marzban fires a plan with fire_on_either when the user is
// limited or expired, and otherwise only when it is both. A user without a
// data limit can never be "limited" (nor one without expire "expired"), so
// in Marzban such a plan never fires at all; here a limit the user does not
// have counts as reached, so "both" means "every limit the user has". When
// a plan fires: data_limit = plan.data_limit, plus the bytes the user had
// left when add_remaining_traffic is set (Marzban applies that flag
// inverted); expire = now + plan.expire seconds (0: never); the usage is
// logged and reset; the plan is cleared; the user is active.

// ErrNoNextPlan is returned by ActivateNextPlan for a user without one.
var ErrNoNextPlan = fmt.Errorf("user has no next plan: %w", model.ErrNotFound)

// planFires reports whether u's next plan fires at now.
func planFires(u *model.User, now time.Time) bool {
	if u.NextPlan == nil {
		return false
	}
	limited := u.DataLimit > 0 && u.UsedTraffic >= u.DataLimit
	expired := u.Expire > 0 && u.Expire <= now.Unix()
	if !limited && !expired {
		return false
	}
	if u.NextPlan.FireOnEither {
		return true
	}
	return (limited || u.DataLimit <= 0) && (expired || u.Expire <= 0)
}

// applyNextPlan sets u's limits from its next plan at now and clears it; the
// caller resets the usage (after logging it) and sets the status.
func applyNextPlan(u *model.User, now time.Time) store.PlanUpdate {
	p := u.NextPlan
	limit := p.DataLimit
	// Remaining bytes exist only under a limit, and adding them to an
	// unlimited plan would turn it into a limited one. Saturating: a plan
	// of MaxBytes plus what is left stays a valid limit.
	if p.AddRemainingTraffic && p.DataLimit > 0 && u.DataLimit > 0 && u.UsedTraffic < u.DataLimit {
		limit = model.ClampBytes(model.SatAdd(limit, u.DataLimit-u.UsedTraffic))
	}
	var expire int64
	if p.Expire > 0 {
		expire = model.ExpireAfter(now, p.Expire)
	}
	u.DataLimit, u.Expire, u.NextPlan = limit, expire, nil
	u.UsedTraffic = 0
	t := now
	u.UsageResetAt = &t
	return store.PlanUpdate{UserID: u.ID, DataLimit: limit, Expire: expire}
}

// holdOver reports whether an on-hold user's clock starts at now: it timed
// out, or a node reported it online since the hold was set.
func holdOver(u *model.User, now time.Time) bool {
	if u.Status != model.StatusOnHold {
		return false
	}
	if u.OnHoldTimeout != nil && !u.OnHoldTimeout.After(now) {
		return true
	}
	since := u.CreatedAt
	if u.EditAt != nil {
		since = *u.EditAt
	}
	return u.OnlineAt != nil && !u.OnlineAt.Before(since)
}

// startHold starts an on-hold user's clock.
func startHold(u *model.User, now time.Time) {
	// Saturating, as store.StartOnHold computes it.
	u.Expire = model.ExpireAfter(now, u.OnHoldExpireDuration)
	u.OnHoldExpireDuration = 0
	u.OnHoldTimeout = nil
	u.Status = model.StatusActive
}

// limitStatus recomputes an active, limited or expired user's status from
// its limits; other statuses are kept.
func limitStatus(u *model.User, now time.Time) model.Status {
	switch u.Status {
	case model.StatusLimited, model.StatusExpired:
		v := *u
		v.Status = model.StatusActive
		return model.ComputeStatus(&v, now)
	}
	return model.ComputeStatus(u, now)
}

// tickPlan is what one review tick does, worked out from reads only.
type tickPlan struct {
	before, after map[int64]*model.User
	resetIDs      []int64 // periodic resets read in full (users whose plan fires are reset by ApplyPlans)
	resetsDue     int64   // every due periodic reset, read or only counted
	resetsByPlan  int64   // due resets done by a plan instead
	holdIDs       []int64
	plans         []store.PlanUpdate
	// skip are the users left out of this tick: those asked for and the
	// rows read with a value outside its range (bad, with the reason).
	skip map[int64]bool
	bad  map[int64]error
}

func (p *tickPlan) changed() []int64 {
	ids := make([]int64, 0, len(p.after))
	for id, a := range p.after {
		b := p.before[id]
		if a.Status != b.Status || a.UsedTraffic != b.UsedTraffic || a.Expire != b.Expire ||
			a.DataLimit != b.DataLimit || (a.NextPlan == nil) != (b.NextPlan == nil) {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// planTick reads the candidates of one tick (each an index range scan) and
// decides every transition in memory. withResets leaves out the users due
// for a periodic reset when false. The users in skip, and those whose
// stored values are out of range (model.SaneUser), are left as they are.
func planTick(tx *store.Tx, now time.Time, withResets bool, skip map[int64]bool) (*tickPlan, error) {
	p := &tickPlan{before: map[int64]*model.User{}, after: map[int64]*model.User{},
		skip: make(map[int64]bool, len(skip)), bad: map[int64]error{}}
	for id := range skip {
		p.skip[id] = true
	}
	add := func(users []model.User) {
		for i := range users {
			u := &users[i]
			if _, ok := p.before[u.ID]; ok || p.skip[u.ID] {
				continue
			}
			if err := model.SaneUser(u); err != nil {
				p.skip[u.ID], p.bad[u.ID] = true, err
				continue
			}
			a := *u
			p.before[u.ID], p.after[u.ID] = u, &a
		}
	}
	var due []model.User
	if withResets {
		var err error
		if due, err = tx.UsersDueForReset(now); err != nil {
			return nil, err
		}
		if p.resetsDue, err = tx.CountResetsDue(now); err != nil {
			return nil, err
		}
	}
	add(due)
	due = slices.DeleteFunc(due, func(u model.User) bool { return p.skip[u.ID] })
	for i := range due {
		a := p.after[due[i].ID]
		a.UsedTraffic = 0
		t := now
		a.UsageResetAt = &t
	}
	review, err := tx.UsersToReview(now)
	if err != nil {
		return nil, err
	}
	add(review)
	pending, err := tx.UsersWithPendingPlan()
	if err != nil {
		return nil, err
	}
	add(pending)

	isDue := make(map[int64]bool, len(due))
	for i := range due {
		isDue[due[i].ID] = true
	}
	ids := make([]int64, 0, len(p.after))
	for id := range p.after {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		u := p.after[id]
		if holdOver(u, now) {
			startHold(u, now)
			p.holdIDs = append(p.holdIDs, id)
		}
		switch u.Status {
		case model.StatusActive, model.StatusLimited, model.StatusExpired:
		default:
			continue
		}
		u.Status = limitStatus(u, now)
		if (u.Status == model.StatusLimited || u.Status == model.StatusExpired) && planFires(u, now) {
			if withResets && resetDue(p.before[id], now) {
				p.resetsByPlan++
			}
			p.plans = append(p.plans, applyNextPlan(u, now))
			u.Status = limitStatus(u, now)
			continue
		}
		if isDue[id] {
			p.resetIDs = append(p.resetIDs, id)
		}
	}
	return p, nil
}

// countedResetsIn are the users of ids whose periodic reset at now the
// tick only counted (planTick did not read them as due: no data limit),
// found among the users it read for other reasons.
func countedResetsIn(p *tickPlan, ids []int64, now time.Time) []int64 {
	read := make(map[int64]bool, len(p.resetIDs)+len(p.plans))
	for _, id := range p.resetIDs {
		read[id] = true
	}
	for _, pl := range p.plans {
		read[pl.UserID] = true // reset by its plan, not by the periodic reset
	}
	var out []int64
	for _, id := range ids {
		if b := p.before[id]; !read[id] && b.DataLimit <= 0 && resetDue(b, now) {
			out = append(out, id)
		}
	}
	return out
}

// resetDue mirrors store.CountResetsDue for one user.
func resetDue(u *model.User, now time.Time) bool {
	period, ok := store.ResetPeriod[u.DataLimitReset]
	if !ok || (u.Status != model.StatusActive && u.Status != model.StatusLimited) {
		return false
	}
	since := u.CreatedAt
	if u.UsageResetAt != nil {
		since = *u.UsageResetAt
	}
	return since.Unix() <= now.Add(-period).Unix()
}

// Review is one tick of the user lifecycle, in one transaction and one
// revision for the whole batch: periodic usage resets (logged), on-hold
// users whose clock starts, users moving between active and
// limited/expired, and next plans that fire. Nodes get one change with the
// users they gain, lose or must update. Every step is an indexed query or a
// bulk statement; nothing runs per user. It returns how many users changed.
//
// One user cannot stop the tick for everyone (see isolateBadRow): a row
// with a value out of range is logged and skipped; when the batch fails
// anyway, the failing row is found by bisecting the batch (the halves that
// succeed commit), logged and skipped for quarantineFor, and the rest of the
// batch is run again.
func (s *State) Review(ctx context.Context) (int, error) {
	skip := s.quarantined.active(s.now())
	changed, cands, err := s.review(ctx, skip)
	for isolated := 0; err != nil && len(cands) > 0 && ctx.Err() == nil; isolated++ {
		if isolated == maxIsolatedPerTick {
			return changed, fmt.Errorf("review: %d users skipped and still failing: %w", isolated, err)
		}
		s.log.Warn("review batch failed; looking for the user that fails it", "users", len(cands), "err", err)
		bad, n, ierr := s.isolateBadRow(ctx, skip, cands)
		changed += n
		if ierr != nil {
			return changed, fmt.Errorf("review: %w (isolating it: %v)", err, ierr)
		}
		s.log.Error("review: skipping a user whose update fails", "user_id", bad, "err", err, "retry_in", quarantineFor)
		s.quarantined.add(bad, s.now().Add(quarantineFor))
		skip[bad] = true
		n, cands, err = s.review(ctx, skip)
		changed += n
	}
	return changed, err
}

// isolateBadRow bisects cands (the users a failed tick would have
// changed) for one whose change fails the tick: each step runs a tick
// without half of them; a tick that succeeds commits and clears its half.
// The last suspect is confirmed alone before it is named.
func (s *State) isolateBadRow(ctx context.Context, skip map[int64]bool, cands []int64) (int64, int, error) {
	changed := 0
	without := func(out []int64) map[int64]bool {
		m := make(map[int64]bool, len(skip)+len(out))
		for id := range skip {
			m[id] = true
		}
		for _, id := range out {
			m[id] = true
		}
		return m
	}
	for len(cands) > 1 {
		half, rest := cands[:len(cands)/2], cands[len(cands)/2:]
		n, _, err := s.review(ctx, without(rest))
		if ctx.Err() != nil {
			return 0, changed, ctx.Err()
		}
		if err == nil {
			changed += n
			cands = rest
		} else {
			cands = half
		}
	}
	suspect := cands[0]
	others := make([]int64, 0)
	n, all, err := s.review(ctx, skip)
	if err == nil {
		// The whole batch went through this time: nothing to skip.
		return 0, changed + n, fmt.Errorf("the failure did not recur")
	}
	for _, id := range all {
		if id != suspect {
			others = append(others, id)
		}
	}
	n, _, err = s.review(ctx, without(others))
	if err == nil {
		return 0, changed + n, fmt.Errorf("user %d alone does not fail", suspect)
	}
	return suspect, changed, nil
}

// quarantineFor is how long the review skips a user whose update failed
// before it tries it again (a row fixed by hand is picked up then).
const quarantineFor = 30 * time.Minute

// maxIsolatedPerTick bounds the bisections of one tick: each costs about
// log2(users in the batch) transactions.
const maxIsolatedPerTick = 8

// quarantine are users the review skips until a time.
type quarantine struct {
	mu    sync.Mutex
	until map[int64]time.Time
}

func (q *quarantine) add(id int64, until time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.until == nil {
		q.until = map[int64]time.Time{}
	}
	q.until[id] = until
}

// active returns the users still skipped at now, dropping the others.
func (q *quarantine) active(now time.Time) map[int64]bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make(map[int64]bool, len(q.until))
	for id, t := range q.until {
		if now.Before(t) {
			out[id] = true
		} else {
			delete(q.until, id)
		}
	}
	return out
}

// review runs one tick without the users in skip. On a failure after the
// planning reads it also returns the users the tick would have changed,
// for isolating the one that fails it.
func (s *State) review(ctx context.Context, skip map[int64]bool) (int, []int64, error) {
	now := s.now().UTC().Truncate(time.Second)
	// An idle tick reads and takes no revision. Due resets are only counted
	// here: a month's boundary may hold many of them, read once below.
	var pending bool
	var bad map[int64]error
	if err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		n, err := tx.CountResetsDue(now)
		if pending = n > 0; err != nil || pending {
			return err
		}
		p, err := planTick(tx, now, false, skip)
		if err != nil {
			return err
		}
		bad = p.bad
		pending = len(p.changed()) > 0
		return nil
	}); err != nil {
		return 0, nil, fmt.Errorf("planning review: %w", err)
	}
	s.skipBadRows(bad, now)
	if !pending {
		return 0, nil, nil
	}
	var (
		changed int
		resets  int64
		plan    *tickPlan
		cands   []int64
	)
	_, err := s.change(ctx, func(tx *store.Tx, rev int64) (change.Change, error) {
		// Usage batches wait until the commit, so the bytes logged by the
		// resets are the bytes read here.
		if err := tx.LockUsage(); err != nil {
			return change.Change{}, err
		}
		// Again inside the revision lock: fresh rows.
		p, err := planTick(tx, now, true, skip)
		if err != nil {
			return change.Change{}, err
		}
		plan = p
		cands = cands[:0]
		for id := range p.after {
			cands = append(cands, id)
		}
		// Before the resets: the due condition reads usage_reset_at.
		unread, err := s.unreadResetEvents(tx, p, now)
		if err != nil {
			return change.Change{}, err
		}
		// Plans first: they stamp usage_reset_at, which takes their users
		// out of the due resets; the resets before any status change, which
		// could make more users due than were read.
		if err := tx.ApplyPlans(p.plans, now, rev); err != nil {
			return change.Change{}, err
		}
		due, err := tx.DueResetIDs(now)
		if err != nil {
			return change.Change{}, err
		}
		if want := p.resetsDue - p.resetsByPlan; int64(len(due)) != want {
			return change.Change{}, fmt.Errorf("periodic resets: %d users due, %d planned", len(due), want)
		}
		due = slices.DeleteFunc(due, func(id int64) bool { return p.skip[id] })
		for _, id := range due {
			if _, read := p.after[id]; !read {
				cands = append(cands, id)
			}
		}
		if err := tx.ResetUsersUsage(due, now, rev); err != nil {
			return change.Change{}, fmt.Errorf("doing due usage resets: %w", err)
		}
		resets = int64(len(due))
		if err := tx.StartOnHold(p.holdIDs, now, rev); err != nil {
			return change.Change{}, err
		}
		ids := p.changed()
		groups := map[model.Status][]int64{}
		var d change.Change
		for _, id := range ids {
			b, a := p.before[id], p.after[id]
			a.Revision = rev
			if a.Status != b.Status {
				groups[a.Status] = append(groups[a.Status], id)
				t := now
				a.LastStatusChange = &t
			}
			nd := nodeDiff(b, a)
			d.Upserts = append(d.Upserts, nd.Upserts...)
			d.Removes = append(d.Removes, nd.Removes...)
		}
		for _, status := range []model.Status{model.StatusActive, model.StatusLimited, model.StatusExpired} {
			if err := tx.SetUsersStatus(groups[status], status, rev, now); err != nil {
				return change.Change{}, fmt.Errorf("setting %d users %s: %w", len(groups[status]), status, err)
			}
		}
		if err := s.enqueueEvents(tx, reviewEvents(p, unread)...); err != nil {
			return change.Change{}, err
		}
		var sum usersSummary
		for _, id := range ids {
			sum.add(p.before[id], p.after[id])
		}
		if err := sum.write(tx, "review", "/api/users", map[string]any{
			"usage_resets": resets, "holds_started": len(p.holdIDs), "next_plans": len(p.plans)}); err != nil {
			return change.Change{}, err
		}
		changed = len(ids)
		// Every reset counts, those that changed no field compared above
		// (nothing used) and those only counted (no limit) included.
		changed += int(resets) - len(p.resetIDs)
		inIDs := make(map[int64]bool, len(ids))
		for _, id := range ids {
			inIDs[id] = true
		}
		for _, id := range p.resetIDs {
			if !inIDs[id] {
				changed++
			}
		}
		// An only-counted reset of a user read for another reason (its
		// expiry, say) that changed is in ids already: once is enough.
		changed -= len(countedResetsIn(p, ids, now))
		return d, nil
	})
	if plan != nil {
		s.skipBadRows(plan.bad, now)
	}
	if err != nil {
		slices.Sort(cands)
		return 0, cands, err
	}
	if changed > 0 {
		s.log.Info("review", "changed", changed, "usage_resets", resets,
			"holds_started", len(plan.holdIDs), "next_plans", len(plan.plans))
	}
	return changed, nil, nil
}

// skipBadRows logs the users a tick skipped for a stored value out of
// range, once per quarantine period each.
func (s *State) skipBadRows(bad map[int64]error, now time.Time) {
	if len(bad) == 0 {
		return
	}
	active := s.quarantined.active(now)
	for id, err := range bad {
		if active[id] {
			continue
		}
		s.log.Error("review: skipping a user with a stored value out of range", "user_id", id, "err", err, "retry_in", quarantineFor)
		s.quarantined.add(id, now.Add(quarantineFor))
	}
}

// AutoDeleteUsers deletes the limited and expired users whose
// auto_delete_in_days have passed since they became so, in one transaction.
// It returns the usernames deleted.
func (s *State) AutoDeleteUsers(ctx context.Context) ([]string, error) {
	now := s.now().UTC()
	var names []string
	_, err := s.change(ctx, func(tx *store.Tx, rev int64) (change.Change, error) {
		users, err := tx.UsersToAutoDelete(now)
		if err != nil {
			return change.Change{}, err
		}
		if len(users) == 0 {
			tx.Bookkeeping() // a run that deleted nothing leaves no entry
		}
		if names, err = deleteUsers(tx, users); err == nil {
			err = s.enqueueEvents(tx, deletedEvents(nil, users)...)
		}
		if err == nil && len(users) > 0 {
			err = auditDeletedUsers(tx, "users.auto_delete", "/api/users", users)
		}
		return removals(users), err
	})
	if err != nil {
		return nil, fmt.Errorf("auto-deleting users: %w", err)
	}
	if len(names) > 0 {
		s.log.Info("auto-deleted users", "count", len(names))
	}
	return names, nil
}

func deleteUsers(tx *store.Tx, users []model.User) ([]string, error) {
	ids := make([]int64, len(users))
	names := make([]string, len(users))
	for i := range users {
		ids[i], names[i] = users[i].ID, users[i].Username
	}
	if err := tx.DeleteUsers(ids); err != nil {
		return nil, err
	}
	return names, nil
}

// removals is the node change for deleting users (those on nodes only).
func removals(users []model.User) change.Change {
	var d change.Change
	for i := range users {
		d.Removes = append(d.Removes, nodeDiff(&users[i], nil).Removes...)
	}
	return d
}

// ownedAdminID is the admin filter for admin's view: nil for sudo (and the
// system), its own id for a regular admin.
func ownedAdminID(admin *model.Admin) *int64 {
	if admin == nil || admin.IsSudo {
		return nil
	}
	id := admin.ID
	return &id
}

// lockOwned loads and (on PostgreSQL) row-locks a user the admin may change.
func lockOwned(tx *store.Tx, admin *model.Admin, username string) (*model.User, error) {
	u, err := tx.UserByUsername(username)
	if err != nil {
		return nil, fmt.Errorf("loading user %q: %w", username, err)
	}
	if !canSee(admin, u) {
		return nil, fmt.Errorf("user %q: %w", username, model.ErrForbidden)
	}
	if u, err = tx.LockUser(u.ID); err != nil {
		return nil, fmt.Errorf("locking user %q: %w", username, err)
	}
	return u, nil
}

// userChange runs a read-modify-write of one user the admin may change in
// one revision. mutate edits the user in place and does any store work
// beyond UpdateUser; status changes are recorded.
func (s *State) userChange(ctx context.Context, admin *model.Admin, username string,
	mutate func(tx *store.Tx, u *model.User, now time.Time, rev int64) error) (*model.User, error) {
	cfg, err := s.core(ctx)
	if err != nil {
		return nil, err
	}
	var after *model.User
	_, err = s.change(ctx, func(tx *store.Tx, rev int64) (change.Change, error) {
		before, err := lockOwned(tx, admin, username)
		if err != nil {
			return change.Change{}, err
		}
		caps, err := lockCaps(tx, admin)
		if err != nil {
			return change.Change{}, err
		}
		now := s.now().UTC().Truncate(time.Second)
		u := *before
		if err := mutate(tx, &u, now, rev); err != nil {
			return change.Change{}, err
		}
		if u.Status != before.Status {
			u.LastStatusChange = &now
		}
		u.Revision = rev
		if err := tx.UpdateUser(&u); err != nil {
			return change.Change{}, fmt.Errorf("saving user %q: %w", username, err)
		}
		if err := caps.check(tx, grantsMore(before, &u)); err != nil {
			return change.Change{}, err
		}
		if err := s.enqueueEvents(tx, userEvents(webhookAction(ctx), admin, before.Status, &u)...); err != nil {
			return change.Change{}, err
		}
		if err := auditUser(tx, "user.change", before, &u); err != nil {
			return change.Change{}, err
		}
		after = &u
		return nodeDiff(before, &u), nil
	})
	if err != nil {
		return nil, err
	}
	after.Inbounds = inboundsOf(cfg, after)
	return after, nil
}

// ResetUserUsage zeroes a user's used_traffic after logging it; lifetime
// usage is kept. A limited user becomes active again (Marzban's rule);
// other statuses stay.
func (s *State) ResetUserUsage(ctx context.Context, admin *model.Admin, username string) (*model.User, error) {
	return s.userChange(withWebhookAction(ctx, ActionDataUsageReset), admin, username, func(tx *store.Tx, u *model.User, now time.Time, rev int64) error {
		if err := tx.ResetUsersUsage([]int64{u.ID}, now, rev); err != nil {
			return err
		}
		u.UsedTraffic = 0
		u.UsageResetAt = &now
		if u.Status == model.StatusLimited {
			u.Status = limitStatus(u, now)
		}
		return nil
	})
}

// RevokeSubscription gives every proxy of the user new credentials (vless
// flow and shadowsocks method kept) and stamps sub_revoked_at, so links and
// subscription tokens issued before stop working.
func (s *State) RevokeSubscription(ctx context.Context, admin *model.Admin, username string) (*model.User, error) {
	return s.userChange(withWebhookAction(ctx, ActionSubscriptionRevoked), admin, username, func(tx *store.Tx, u *model.User, now time.Time, rev int64) error {
		fresh := make(map[string]model.ProxySettings, len(u.Proxies))
		for proto, p := range u.Proxies {
			fresh[proto] = model.ProxySettings{Flow: p.Flow, Method: p.Method}
		}
		proxies, err := normalizeProxies(fresh, nil)
		if err != nil {
			return err
		}
		u.Proxies = proxies
		u.SubRevokedAt = &now
		return nil
	})
}

// ActivateNextPlan applies the user's next plan now, whatever its limits
// (POST /api/user/{u}/active-next). A disabled user stays disabled.
func (s *State) ActivateNextPlan(ctx context.Context, admin *model.Admin, username string) (*model.User, error) {
	return s.userChange(withWebhookAction(ctx, ActionDataResetByNext), admin, username, func(tx *store.Tx, u *model.User, now time.Time, rev int64) error {
		if u.NextPlan == nil {
			return fmt.Errorf("user %q: %w", username, ErrNoNextPlan)
		}
		p := applyNextPlan(u, now)
		if err := tx.ApplyPlans([]store.PlanUpdate{p}, now, rev); err != nil {
			return err
		}
		if u.Status != model.StatusDisabled {
			u.Status = model.StatusActive
			u.OnHoldExpireDuration, u.OnHoldTimeout = 0, nil
			u.Status = model.ComputeStatus(u, now)
		}
		return nil
	})
}

// SetOwner gives a user to another admin (sudo only: the API checks).
func (s *State) SetOwner(ctx context.Context, username, adminUsername string) (*model.User, error) {
	cfg, err := s.core(ctx)
	if err != nil {
		return nil, err
	}
	var u *model.User
	// Nodes do not see owners (the delta is empty, so no outbox entry); the
	// revision is taken for the user directories of all replicas, which
	// find changed users by it.
	_, err = s.change(ctx, func(tx *store.Tx, rev int64) (change.Change, error) {
		a, err := tx.AdminByUsername(adminUsername)
		if err != nil {
			return change.Change{}, fmt.Errorf("admin %q: %w", adminUsername, err)
		}
		if u, err = tx.UserByUsername(username); err != nil {
			return change.Change{}, fmt.Errorf("loading user %q: %w", username, err)
		}
		if u, err = tx.LockUser(u.ID); err != nil {
			return change.Change{}, fmt.Errorf("locking user %q: %w", username, err)
		}
		before := *u
		u.AdminID, u.AdminUsername = a.ID, a.Username
		u.Revision = rev
		if err := tx.UpdateUser(u); err != nil {
			return change.Change{}, err
		}
		return change.Change{}, recordOwnerMoves(tx, rev, "user.set_owner", []*model.User{&before}, u.AdminID, u.AdminUsername,
			func() error { return auditUser(tx, "user.set_owner", &before, u) })
	})
	if err != nil {
		return nil, err
	}
	u.Inbounds = inboundsOf(cfg, u)
	return u, nil
}

// ResetAllUsage resets every user's usage (POST /api/users/reset), logging
// each, in one transaction and one revision; lifetime usage is kept.
// Limited users become active; nodes get the new bytes left of every user
// with a limit. With webhooks configured every user reset gets the
// data_usage_reset event a single reset sends (and user_enabled when it
// was limited), by admin, stored in the same transaction: the users are
// read back in one query after the reset and the events written in
// multi-row inserts, never a statement per user. It returns how many users
// were reset.
func (s *State) ResetAllUsage(ctx context.Context, admin *model.Admin) (int64, error) {
	var n int64
	_, err := s.change(ctx, func(tx *store.Tx, rev int64) (change.Change, error) {
		now := s.now().UTC().Truncate(time.Second)
		limited, err := tx.UsersWithLimits(nil)
		if err != nil {
			return change.Change{}, err
		}
		if n, err = tx.ResetAllUsersUsage(nil, now, rev); err != nil {
			return change.Change{}, err
		}
		var (
			d     change.Change
			lifts []int64
		)
		for i := range limited {
			b := &limited[i]
			a := *b
			a.UsedTraffic = 0
			if a.Status == model.StatusLimited {
				if a.Status = limitStatus(&a, now); a.Status == model.StatusActive {
					lifts = append(lifts, a.ID)
				}
			}
			nd := nodeDiff(b, &a)
			d.Upserts = append(d.Upserts, nd.Upserts...)
			d.Removes = append(d.Removes, nd.Removes...)
		}
		if err := tx.SetUsersStatus(lifts, model.StatusActive, rev, now); err != nil {
			return change.Change{}, err
		}
		if err := s.enqueueBulkResetEvents(tx, admin, n, lifts); err != nil {
			return change.Change{}, err
		}
		// One entry: how many were reset, and the limited users it lifted.
		return d, tx.AuditWhole(opAction(tx, "users.reset"), "/api/users/reset", 0,
			map[string]any{"status": map[string]int{string(model.StatusLimited): len(lifts)}},
			map[string]any{"status": map[string]int{string(model.StatusActive): len(lifts)}, "used_traffic": 0, "reset": n})
	})
	if err != nil {
		return 0, fmt.Errorf("resetting all users' usage: %w", err)
	}
	s.log.Info("reset all users' usage", "users", n)
	return n, nil
}

// UsageLogs returns a user's usage resets, oldest first.
func (s *State) UsageLogs(ctx context.Context, userID int64) ([]model.UsageLog, error) {
	var out []model.UsageLog
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		out, err = tx.UsageLogs(userID)
		return err
	})
	return out, err
}

// UserResets is one page of the usage resets of a user the admin may see,
// newest first, and how many resets the user has in all.
func (s *State) UserResets(ctx context.Context, admin *model.Admin, username string, offset, limit int) (*model.User, []model.UsageLog, int, error) {
	var (
		u     *model.User
		logs  []model.UsageLog
		total int
	)
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		if u, err = visibleUser(tx, admin, username); err != nil {
			return err
		}
		logs, total, err = tx.UsageLogPage(u.ID, offset, limit)
		return err
	})
	if err != nil {
		return nil, nil, 0, err
	}
	return u, logs, total, nil
}

// NodeUsage is bytes one user (or many) used through one node.
type NodeUsage struct {
	NodeID   int64
	NodeName string
	Used     int64
}

func nodeUsages(tx *store.Tx, totals []store.NodeTotal) ([]NodeUsage, error) {
	nodes, err := tx.ListNodes()
	if err != nil {
		return nil, err
	}
	names := make(map[int64]string, len(nodes))
	for _, n := range nodes {
		names[n.ID] = n.Name
	}
	out := make([]NodeUsage, 0, len(totals))
	for _, t := range totals {
		name, ok := names[t.NodeID]
		if !ok {
			name = fmt.Sprintf("deleted node %d", t.NodeID)
		}
		out = append(out, NodeUsage{NodeID: t.NodeID, NodeName: name, Used: t.Used})
	}
	return out, nil
}

// visibleUser loads a user that admin may see (nil admin: any).
func visibleUser(tx *store.Tx, admin *model.Admin, username string) (*model.User, error) {
	u, err := tx.UserByUsername(username)
	if err != nil {
		return nil, fmt.Errorf("loading user %q: %w", username, err)
	}
	if !canSee(admin, u) {
		return nil, fmt.Errorf("user %q: %w", username, model.ErrForbidden)
	}
	return u, nil
}

// UserUsage is a user's usage per node over [start, end).
func (s *State) UserUsage(ctx context.Context, admin *model.Admin, username string, start, end time.Time) (*model.User, []NodeUsage, error) {
	var (
		u   *model.User
		out []NodeUsage
	)
	// Batches wait in the usage journal until folded into the hourly rows.
	if err := s.store.FoldAllUsage(ctx); err != nil {
		return nil, nil, err
	}
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		if u, err = visibleUser(tx, admin, username); err != nil {
			return err
		}
		totals, err := tx.UserUsageByNode(u.ID, start, end)
		if err != nil {
			return err
		}
		out, err = nodeUsages(tx, totals)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return u, out, nil
}

// UserUsageDaily is the user's usage per UTC day over [start, end), days
// without traffic left out, for an admin that may see the user.
func (s *State) UserUsageDaily(ctx context.Context, admin *model.Admin, username string, start, end time.Time) (*model.User, []model.DayTotal, error) {
	if err := s.store.FoldAllUsage(ctx); err != nil {
		return nil, nil, err
	}
	var (
		u    *model.User
		days []model.DayTotal
	)
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		if u, err = visibleUser(tx, admin, username); err != nil {
			return err
		}
		days, err = tx.UserUsageByDay(u.ID, start, end)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return u, days, nil
}

// UsersUsage is the usage per node over [start, end) of the users of the
// named admins (sudo; empty: everyone's) or of the caller's own users (a
// regular admin, whatever it names). Unknown admin names match nobody.
func (s *State) UsersUsage(ctx context.Context, admin *model.Admin, adminNames []string, start, end time.Time) ([]NodeUsage, error) {
	var out []NodeUsage
	// Batches wait in the usage journal until folded into the hourly rows.
	if err := s.store.FoldAllUsage(ctx); err != nil {
		return nil, err
	}
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var ids []int64
		if own := ownedAdminID(admin); own != nil {
			ids = []int64{*own}
		} else if len(adminNames) > 0 {
			for _, name := range adminNames {
				a, err := tx.AdminByUsername(name)
				if errors.Is(err, model.ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				ids = append(ids, a.ID)
			}
			if len(ids) == 0 {
				out = []NodeUsage{}
				return nil
			}
		}
		totals, err := tx.UsersUsageByNode(start, end, ids)
		if err != nil {
			return err
		}
		out, err = nodeUsages(tx, totals)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ExpiredUsers names the expired users whose expire is in [after, before)
// and the limited users who became limited then, that admin owns (all for
// sudo).
func (s *State) ExpiredUsers(ctx context.Context, admin *model.Admin, after, before time.Time) ([]string, error) {
	var names []string
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		users, err := tx.ExpiredUsers(after, before, ownedAdminID(admin))
		if err != nil {
			return err
		}
		names = make([]string, len(users))
		for i := range users {
			names[i] = users[i].Username
		}
		return nil
	})
	return names, err
}

// DeleteExpiredUsers deletes what ExpiredUsers lists, in one transaction,
// and returns the usernames deleted.
func (s *State) DeleteExpiredUsers(ctx context.Context, admin *model.Admin, after, before time.Time) ([]string, error) {
	var names []string
	_, err := s.change(ctx, func(tx *store.Tx, rev int64) (change.Change, error) {
		users, err := tx.ExpiredUsers(after, before, ownedAdminID(admin))
		if err != nil {
			return change.Change{}, err
		}
		if names, err = deleteUsers(tx, users); err == nil {
			err = s.enqueueEvents(tx, deletedEvents(admin, users)...)
		}
		if err == nil {
			err = auditDeletedUsers(tx, "users.delete_expired", "/api/users/expired", users)
		}
		return removals(users), err
	})
	if err != nil {
		return nil, fmt.Errorf("deleting expired users: %w", err)
	}
	return names, nil
}
