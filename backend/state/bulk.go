package state

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/outpost-panel/outpost/backend/audit"
	"github.com/outpost-panel/outpost/backend/change"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
)

// Bulk actions on many users at once (POST /api/users/bulk): one request,
// one transaction, one revision, and the webhook events each single-user
// route sends for each user changed.

// BulkAction names what a bulk request does.
type BulkAction string

const (
	BulkEnable       BulkAction = "enable"
	BulkDisable      BulkAction = "disable"
	BulkDelete       BulkAction = "delete"
	BulkResetUsage   BulkAction = "reset_usage"
	BulkRevokeSub    BulkAction = "revoke_sub"
	BulkExtendExpiry BulkAction = "extend_expiry"
	BulkAddData      BulkAction = "add_data"
	BulkSetInbounds  BulkAction = "set_inbounds"
	BulkSetOwner     BulkAction = "set_owner"
)

// BulkActions lists every action, for validation and the API document.
var BulkActions = []BulkAction{BulkEnable, BulkDisable, BulkDelete, BulkResetUsage, BulkRevokeSub,
	BulkExtendExpiry, BulkAddData, BulkSetInbounds, BulkSetOwner}

// Bulk limits.
const (
	MaxBulkUsers = 1000
	// MaxBulkDays is the most an expiry may be extended by at once (100
	// years): more is surely a typo.
	MaxBulkDays = 36500
)

// BulkInput is one bulk request.
type BulkInput struct {
	Action    BulkAction
	Usernames []string
	// Days for extend_expiry, Bytes for add_data, Inbounds (protocol ->
	// tags to be in) for set_inbounds, AdminUsername for set_owner.
	Days          int64
	Bytes         int64
	Inbounds      map[string][]string
	AdminUsername string
}

// BulkSkip is a user a bulk request left alone, and why.
type BulkSkip struct {
	Username string
	Reason   string
}

// BulkResult is what a bulk request did.
type BulkResult struct {
	Changed  int
	Revision int64
	Skipped  []BulkSkip
}

func validateBulk(cfg *coreConfig, admin *model.Admin, in *BulkInput) error {
	if !slices.Contains(BulkActions, in.Action) {
		names := make([]string, len(BulkActions))
		for i, a := range BulkActions {
			names[i] = string(a)
		}
		return invalid("action: must be one of %s", strings.Join(names, ", "))
	}
	if len(in.Usernames) == 0 {
		return invalid("usernames: at least one is required")
	}
	if len(in.Usernames) > MaxBulkUsers {
		return invalid("usernames: at most %d in one request", MaxBulkUsers)
	}
	switch in.Action {
	case BulkExtendExpiry:
		if in.Days <= 0 || in.Days > MaxBulkDays {
			return invalid("days: must be 1 to %d for extend_expiry", MaxBulkDays)
		}
	case BulkAddData:
		if in.Bytes <= 0 || in.Bytes > model.MaxBytes {
			return invalid("bytes: must be a positive number of bytes up to 2^62 for add_data")
		}
	case BulkSetInbounds:
		if len(in.Inbounds) == 0 {
			return invalid("inbounds: required for set_inbounds (protocol -> tags to be in)")
		}
		for proto, tags := range in.Inbounds {
			for _, t := range tags {
				if cfg.tags[t] != proto {
					return invalid("inbounds.%s: %q is not a %s inbound of the core config", proto, t, proto)
				}
			}
		}
	case BulkSetOwner:
		if admin != nil && !admin.IsSudo {
			return fmt.Errorf("set_owner: %w", model.ErrForbidden)
		}
		if in.AdminUsername == "" {
			return invalid("admin_username: required for set_owner")
		}
	}
	return nil
}

// BulkUsers applies one action to many users of admin. Unknown usernames
// are skipped and reported, as are users the action does not apply to (an
// enabled user to enable, an unlimited one to add data to). A username
// owned by another admin refuses the whole request with ErrForbidden
// naming it, and nothing changes: a reseller acting on a list that holds
// someone else's user has a wrong list.
func (s *State) BulkUsers(ctx context.Context, admin *model.Admin, in BulkInput) (BulkResult, error) {
	cfg, err := s.core(ctx)
	if err != nil {
		return BulkResult{}, err
	}
	if err := validateBulk(cfg, admin, &in); err != nil {
		return BulkResult{}, err
	}
	var res BulkResult
	rev, err := s.change(ctx, func(tx *store.Tx, rev int64) (change.Change, error) {
		res = BulkResult{}
		now := s.now().UTC().Truncate(time.Second)
		var owner *model.Admin
		if in.Action == BulkSetOwner {
			a, err := tx.AdminByUsername(in.AdminUsername)
			if err != nil {
				return change.Change{}, fmt.Errorf("admin %q: %w", in.AdminUsername, err)
			}
			owner = a
		}
		var (
			befores []*model.User
			seen    = map[string]bool{}
		)
		for _, name := range in.Usernames {
			key := strings.ToLower(name)
			if seen[key] {
				continue
			}
			seen[key] = true
			u, err := tx.UserByUsername(name)
			if errors.Is(err, model.ErrNotFound) {
				res.Skipped = append(res.Skipped, BulkSkip{Username: name, Reason: "not found"})
				continue
			}
			if err != nil {
				return change.Change{}, fmt.Errorf("loading user %q: %w", name, err)
			}
			if !canSee(admin, u) {
				return change.Change{}, &ForeignUserError{Username: u.Username}
			}
			if u, err = tx.LockUser(u.ID); err != nil {
				return change.Change{}, fmt.Errorf("locking user %q: %w", name, err)
			}
			befores = append(befores, u)
		}
		var (
			d       change.Change
			events  []Event
			deleted []model.User
			resets  []int64
			grants  bool
			// How many of each status the changed users were and are.
			statusBefore, statusAfter = map[string]int{}, map[string]int{}
		)
		caps, err := lockCaps(tx, admin)
		if err != nil {
			return change.Change{}, err
		}
		for _, before := range befores {
			u := *before
			action, reason := bulkApply(cfg, &in, &u, owner, now)
			if reason != "" {
				res.Skipped = append(res.Skipped, BulkSkip{Username: u.Username, Reason: reason})
				continue
			}
			res.Changed++
			grants = grants || grantsMore(before, &u)
			if in.Action == BulkDelete {
				deleted = append(deleted, *before)
				statusBefore[string(before.Status)]++
				continue
			}
			statusBefore[string(before.Status)]++
			statusAfter[string(u.Status)]++
			if in.Action == BulkResetUsage {
				resets = append(resets, u.ID)
			}
			if u.Status != before.Status {
				u.LastStatusChange = &now
			}
			u.Revision = rev
			after := u
			if in.Action != BulkSetOwner {
				// Owners are not news to webhooks (SetOwner sends none).
				events = append(events, userEvents(action, admin, before.Status, &after)...)
			}
			nd := nodeDiff(before, &after)
			d.Upserts = append(d.Upserts, nd.Upserts...)
			d.Removes = append(d.Removes, nd.Removes...)
			if in.Action == BulkResetUsage {
				continue // saved after the reset below
			}
			if err := tx.UpdateUser(&after); err != nil {
				return change.Change{}, fmt.Errorf("saving user %q: %w", u.Username, err)
			}
		}
		if len(resets) > 0 {
			if err := tx.ResetUsersUsage(resets, now, rev); err != nil {
				return change.Change{}, err
			}
			for _, e := range events {
				if e.Action == ActionDataUsageReset {
					if err := tx.UpdateUser(e.User); err != nil {
						return change.Change{}, fmt.Errorf("saving user %q: %w", e.User.Username, err)
					}
				}
			}
		}
		if len(deleted) > 0 {
			ids := make([]int64, len(deleted))
			for i := range deleted {
				ids[i] = deleted[i].ID
			}
			if err := tx.DeleteUsers(ids); err != nil {
				return change.Change{}, err
			}
			d.Removes = append(d.Removes, removals(deleted).Removes...)
			events = append(events, deletedEvents(admin, deleted)...)
		}
		// The whole batch against the caps: all of it or none.
		if err := caps.check(tx, grants); err != nil {
			return change.Change{}, err
		}
		if err := s.enqueueEvents(tx, events...); err != nil {
			return change.Change{}, err
		}
		// One entry for the batch: the action, how many changed and the
		// usernames asked for (the first audit.MaxNames of them).
		extra := map[string]any{"action": in.Action, "changed": res.Changed, "skipped": len(res.Skipped)}
		if in.AdminUsername != "" {
			extra["admin_username"] = in.AdminUsername
		}
		extra["status"] = statusAfter
		entry := func() error {
			return tx.AuditWhole(opAction(tx, "users.bulk"), "/api/users/bulk", 0,
				map[string]any{"status": statusBefore}, audit.Bulk(in.Usernames, extra))
		}
		if in.Action == BulkSetOwner {
			// The previous owners are told: see recordOwnerMoves.
			err = recordOwnerMoves(tx, rev, "users.bulk", befores, owner.ID, owner.Username, entry)
		} else {
			err = entry()
		}
		if err != nil {
			return change.Change{}, err
		}
		return d, nil
	})
	if err != nil {
		return BulkResult{}, err
	}
	res.Revision = rev
	return res, nil
}

// ForeignUserError refuses a bulk request that names a user of another
// admin; it is a model.ErrForbidden.
type ForeignUserError struct{ Username string }

func (e *ForeignUserError) Error() string {
	return fmt.Sprintf("user %q is owned by another admin: %v", e.Username, model.ErrForbidden)
}

func (e *ForeignUserError) Unwrap() error { return model.ErrForbidden }

// bulkApply changes u as the action says and returns the webhook action of
// the change, or a reason to leave u alone.
func bulkApply(cfg *coreConfig, in *BulkInput, u *model.User, owner *model.Admin, now time.Time) (action, skip string) {
	recompute := func() {
		if u.Status == model.StatusLimited || u.Status == model.StatusExpired {
			u.Status = model.StatusActive // new limits may lift it, as ModifyUser does
		}
		u.Status = model.ComputeStatus(u, now)
	}
	switch in.Action {
	case BulkEnable:
		if u.Status != model.StatusDisabled {
			return "", "not disabled"
		}
		u.Status = model.StatusActive
		u.Status = model.ComputeStatus(u, now)
		u.EditAt = &now
		return ActionUserUpdated, ""
	case BulkDisable:
		if u.Status == model.StatusDisabled {
			return "", "already disabled"
		}
		u.Status = model.StatusDisabled
		u.EditAt = &now
		return ActionUserUpdated, ""
	case BulkDelete:
		return ActionUserDeleted, ""
	case BulkResetUsage:
		u.UsedTraffic = 0
		u.UsageResetAt = &now
		if u.Status == model.StatusLimited {
			u.Status = limitStatus(u, now)
		}
		return ActionDataUsageReset, ""
	case BulkRevokeSub:
		fresh := make(map[string]model.ProxySettings, len(u.Proxies))
		for proto, p := range u.Proxies {
			fresh[proto] = model.ProxySettings{Flow: p.Flow, Method: p.Method}
		}
		proxies, err := normalizeProxies(fresh, nil)
		if err != nil {
			return "", "cannot revoke: " + err.Error()
		}
		u.Proxies = proxies
		u.SubRevokedAt = &now
		return ActionSubscriptionRevoked, ""
	case BulkExtendExpiry:
		add := in.Days * 86400
		switch {
		case u.Status == model.StatusOnHold && u.Expire == 0:
			// The clock has not started: the hold's duration grows.
			u.OnHoldExpireDuration = min(model.SatAdd(u.OnHoldExpireDuration, add), model.MaxDuration)
		case u.Expire == 0:
			return "", "never expires"
		default:
			// From now for a user already past its expiry, so the days
			// given are days it gets.
			u.Expire = model.ClampExpire(model.SatAdd(max(u.Expire, now.Unix()), add))
		}
		recompute()
		u.EditAt = &now
		return ActionUserUpdated, ""
	case BulkAddData:
		if u.DataLimit == 0 {
			return "", "no data limit"
		}
		u.DataLimit = model.ClampBytes(model.SatAdd(u.DataLimit, in.Bytes))
		recompute()
		u.EditAt = &now
		return ActionUserUpdated, ""
	case BulkSetInbounds:
		req := map[string][]string{}
		for proto, tags := range in.Inbounds {
			if _, ok := u.Proxies[proto]; ok {
				req[proto] = tags
			}
		}
		if len(req) == 0 {
			return "", "has none of these protocols"
		}
		// Protocols the request does not name keep their inbounds.
		for proto, tags := range inboundsOf(cfg, u) {
			if _, ok := req[proto]; !ok {
				req[proto] = tags
			}
		}
		ex, err := exclusions(cfg, u.Proxies, req)
		if err != nil {
			return "", err.Error()
		}
		u.ExcludedInbounds = ex
		u.EditAt = &now
		return ActionUserUpdated, ""
	case BulkSetOwner:
		if u.AdminID == owner.ID {
			return "", "already owned by " + owner.Username
		}
		u.AdminID, u.AdminUsername = owner.ID, owner.Username
		return "", ""
	}
	return "", "unknown action"
}
