package state

import (
	"context"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
)

// Reseller caps (issue 13, item 4). A request of a capped admin that
// changes its users runs, inside its one write transaction:
//
//	g, err := lockCaps(tx, admin) // before any write: locks the admin row
//	... the writes ...
//	err = g.check(tx, grants)     // after them: aggregates, compared
//
// so the caps are compared with what the transaction is about to commit,
// and two requests of the same admin cannot both pass a cap: on
// PostgreSQL the admin row stays locked (SELECT ... FOR UPDATE) until the
// commit, on SQLite there is one writer. A refusal rolls everything back.
// Sudo admins and the system (jobs, CLI: admin nil) are never capped.
type capGuard struct {
	caps   model.AdminCaps
	id     int64
	usage  int64 // admins.users_usage
	before model.CapsUse
}

// lockCaps locks the admin's row and reads its caps and use before the
// change; nil (no checks) for nil, sudo and uncapped admins.
func lockCaps(tx *store.Tx, admin *model.Admin) (*capGuard, error) {
	if admin == nil || admin.IsSudo || admin.ID == 0 {
		return nil, nil
	}
	caps, usage, err := tx.LockAdminCaps(admin.ID)
	if err != nil {
		return nil, err
	}
	if !caps.Capped() {
		return nil, nil
	}
	g := &capGuard{caps: caps, id: admin.ID, usage: usage}
	if g.before, err = tx.AdminCapsUse(admin.ID); err != nil {
		return nil, err
	}
	return g, nil
}

// check compares the admin's use after the change with its caps. A cap is
// passed only by a change that grows that use beyond it, so an admin over
// a cap lowered later may still shrink, edit and delete. grants says the
// change gives its users more (see grantsMore); an admin whose users_usage
// has reached max_used_traffic may make no such change.
func (g *capGuard) check(tx *store.Tx, grants bool) error {
	if g == nil {
		return nil
	}
	after, err := tx.AdminCapsUse(g.id)
	if err != nil {
		return err
	}
	c := g.caps
	switch {
	case c.MaxUsers != nil && after.Users > g.before.Users && after.Users > *c.MaxUsers:
		return &model.CapError{Cap: "max_users", Limit: *c.MaxUsers, Current: after.Users}
	case c.MaxDataLimit != nil && after.DataLimit > g.before.DataLimit && after.DataLimit > *c.MaxDataLimit:
		return &model.CapError{Cap: "max_data_limit", Limit: *c.MaxDataLimit, Current: after.DataLimit}
	case c.AllowUnlimited != nil && !*c.AllowUnlimited && after.UnlimitedUsers > g.before.UnlimitedUsers:
		return &model.CapError{Cap: "allow_unlimited", Limit: 0, Current: after.UnlimitedUsers}
	case c.MaxUsedTraffic != nil && grants && g.usage >= *c.MaxUsedTraffic:
		return &model.CapError{Cap: "max_used_traffic", Limit: *c.MaxUsedTraffic, Current: g.usage}
	}
	return nil
}

// grantsMore reports whether after gives the user more than before did: a
// new user, a higher or removed data limit or expiry, a longer on-hold
// duration, less used traffic (a reset) or a status back to active or on
// hold.
func grantsMore(before, after *model.User) bool {
	if before == nil {
		return true
	}
	more := func(old, cur int64) bool { return old > 0 && (cur == 0 || cur > old) }
	switch {
	case more(before.DataLimit, after.DataLimit), more(before.Expire, after.Expire),
		after.OnHoldExpireDuration > before.OnHoldExpireDuration,
		after.UsedTraffic < before.UsedTraffic:
		return true
	}
	live := func(s model.Status) bool { return s == model.StatusActive || s == model.StatusOnHold }
	return live(after.Status) && !live(before.Status)
}

// CapsUse is the admin's current use of its caps.
func (s *State) CapsUse(ctx context.Context, admin *model.Admin) (model.CapsUse, error) {
	var u model.CapsUse
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		if u, err = tx.AdminCapsUse(admin.ID); err != nil {
			return err
		}
		u.UsedTraffic = admin.UsersUsage
		return nil
	})
	return u, err
}

// AdminWithCaps reloads the admin behind a token (its caps may have
// changed since the token's admin was loaded) with its use of them; the
// env sudo (no row) is returned as it is.
func (s *State) AdminWithCaps(ctx context.Context, admin *model.Admin) (*model.AdminWithUse, error) {
	out := model.AdminWithUse{Admin: *admin}
	if admin.ID != 0 {
		a, err := s.AdminByID(ctx, admin.ID)
		if err != nil {
			return nil, err
		}
		out.Admin = *a
	}
	use, err := s.CapsUse(ctx, &out.Admin)
	if err != nil {
		return nil, err
	}
	out.CapsUse = use
	return &out, nil
}

// ListAdminsWithUse is ListAdmins with each admin's use of its caps, from
// one grouped aggregate over the users_admin_caps index.
func (s *State) ListAdminsWithUse(ctx context.Context, offset, limit int, username string) ([]model.AdminWithUse, error) {
	admins, err := s.ListAdmins(ctx, offset, limit, username)
	if err != nil {
		return nil, err
	}
	var uses map[int64]model.CapsUse
	err = s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		uses, err = tx.AdminsCapsUse()
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]model.AdminWithUse, len(admins))
	for i, a := range admins {
		u := uses[a.ID]
		u.UsedTraffic = a.UsersUsage
		out[i] = model.AdminWithUse{Admin: a, CapsUse: u}
	}
	return out, nil
}

// AdminByID loads an admin by id.
func (s *State) AdminByID(ctx context.Context, id int64) (*model.Admin, error) {
	var a *model.Admin
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		a, err = tx.AdminByID(id)
		return err
	})
	return a, err
}
