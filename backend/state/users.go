package state

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/outpost-panel/outpost/backend/change"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
	"github.com/outpost-panel/outpost/nodes/protocol"
)

// UserInput is the body of POST /api/user and PUT /api/user/{username}
// (Marzban's UserCreate / UserModify). On modify, nil means "unchanged".
type UserInput struct {
	Username               *string                        `json:"username"`
	Proxies                map[string]model.ProxySettings `json:"proxies"`
	Inbounds               map[string][]string            `json:"inbounds"`
	Expire                 *int64                         `json:"expire"`
	DataLimit              *int64                         `json:"data_limit"`
	DataLimitResetStrategy *model.ResetStrategy           `json:"data_limit_reset_strategy"`
	Status                 *model.Status                  `json:"status"`
	Note                   *string                        `json:"note"`
	OnHoldExpireDuration   *int64                         `json:"on_hold_expire_duration"`
	OnHoldTimeout          *time.Time                     `json:"on_hold_timeout"`
	AutoDeleteInDays       *int64                         `json:"auto_delete_in_days"`
	NextPlan               *model.NextPlan                `json:"next_plan"`
	// HWIDDeviceLimit: nil unchanged (on create: the global default), 0
	// unlimited; ClearHWIDDeviceLimit puts the user back on the default.
	HWIDDeviceLimit      *int64 `json:"hwid_device_limit"`
	ClearHWIDDeviceLimit bool   `json:"-"`
	// IPLimit: how many addresses at once (0 unlimited); null follows the
	// global default.
	IPLimit *int64 `json:"ip_limit"`
	// On modify: remove the user's auto-delete rule or next plan, or put
	// its IP limit back on the default (the API sets them for an explicit
	// null). A value in AutoDeleteInDays, NextPlan or IPLimit wins over
	// its clear.
	ClearAutoDeleteInDays bool `json:"-"`
	ClearNextPlan         bool `json:"-"`
	ClearIPLimit          bool `json:"-"`
	// PerDeviceCredentials: each admitted device gets credentials of its
	// own (true) or the user's are served (false); nil unchanged (on
	// create: the global default), ClearPerDeviceCredentials puts the user
	// back on the default.
	PerDeviceCredentials      *bool `json:"per_device_credentials"`
	ClearPerDeviceCredentials bool  `json:"-"`
}

// ssMethods are the Shadowsocks ciphers a user may have.
var ssMethods = map[string]bool{
	"aes-128-gcm": true, "aes-256-gcm": true, "chacha20-ietf-poly1305": true,
	"chacha20-poly1305": true, "xchacha20-poly1305": true, "xchacha20-ietf-poly1305": true,
	"2022-blake3-aes-128-gcm": true, "2022-blake3-aes-256-gcm": true, "2022-blake3-chacha20-poly1305": true,
}

const defaultSSMethod = "chacha20-ietf-poly1305"

func randomPassword() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// normalizeProxies fills generated secrets and validates what was given.
func normalizeProxies(in map[string]model.ProxySettings, old map[string]model.ProxySettings) (map[string]model.ProxySettings, error) {
	out := make(map[string]model.ProxySettings, len(in))
	for proto, p := range in {
		prev, hadPrev := old[proto]
		switch proto {
		case model.ProtoVLESS, model.ProtoVMess:
			if p.ID == "" {
				if hadPrev && prev.ID != "" {
					p.ID = prev.ID
				} else {
					p.ID = uuid.NewString()
				}
			}
			id, err := uuid.Parse(p.ID)
			if err != nil {
				return nil, invalid("proxies.%s.id: not a UUID", proto)
			}
			p.ID = id.String()
			if proto == model.ProtoVLESS {
				if p.Flow != "" && p.Flow != "xtls-rprx-vision" {
					return nil, invalid("proxies.vless.flow: must be empty or xtls-rprx-vision")
				}
			} else if p.Flow != "" {
				return nil, invalid("proxies.vmess: flow is not a vmess setting")
			}
			p.Password, p.Method = "", ""
		case model.ProtoTrojan:
			if p.Password == "" {
				if hadPrev && prev.Password != "" {
					p.Password = prev.Password
				} else {
					p.Password = randomPassword()
				}
			}
			if len(p.Password) > 128 {
				return nil, invalid("proxies.trojan.password: longer than 128 characters")
			}
			p.ID, p.Flow, p.Method = "", "", ""
		case model.ProtoShadowsocks:
			if p.Method == "" {
				if hadPrev && prev.Method != "" {
					p.Method = prev.Method
				} else {
					p.Method = defaultSSMethod
				}
			}
			if !ssMethods[p.Method] {
				return nil, invalid("proxies.shadowsocks.method: unsupported method %q", p.Method)
			}
			if p.Password == "" {
				if hadPrev && prev.Password != "" && prev.Method == p.Method {
					p.Password = prev.Password
				} else {
					p.Password = ssPassword(p.Method)
				}
			}
			if len(p.Password) > 128 {
				return nil, invalid("proxies.shadowsocks.password: longer than 128 characters")
			}
			p.ID, p.Flow = "", ""
		default:
			return nil, invalid("proxies: unknown protocol %q (use vless, vmess, trojan or shadowsocks)", proto)
		}
		out[proto] = p
	}
	return out, nil
}

// ssPassword makes a password that suits the method: 2022 ciphers need a
// base64 key of the cipher's length.
func ssPassword(method string) string {
	n := 0
	switch method {
	case "2022-blake3-aes-128-gcm":
		n = 16
	case "2022-blake3-aes-256-gcm", "2022-blake3-chacha20-poly1305":
		n = 32
	}
	if n == 0 {
		return randomPassword()
	}
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// exclusions turns the requested inbounds (protocol -> tags to be in) into
// stored exclusions (protocol -> tags to stay out of).
func exclusions(cfg *coreConfig, proxies map[string]model.ProxySettings, requested map[string][]string) (map[string][]string, error) {
	ex := map[string][]string{}
	for proto, tags := range requested {
		if _, ok := proxies[proto]; !ok {
			return nil, invalid("inbounds.%s: the user has no %s proxy", proto, proto)
		}
		want := map[string]bool{}
		for _, t := range tags {
			if cfg.tags[t] != proto {
				return nil, invalid("inbounds.%s: %q is not a %s inbound of the core config", proto, t, proto)
			}
			want[t] = true
		}
		for _, t := range cfg.byProto[proto] {
			if !want[t] {
				ex[proto] = append(ex[proto], t)
			}
		}
	}
	return ex, nil
}

// InboundsOf derives the inbounds a user is in from the config and its
// exclusions (the API's "inbounds" field).
func (s *State) InboundsOf(ctx context.Context, u *model.User) (map[string][]string, error) {
	cfg, err := s.core(ctx)
	if err != nil {
		return nil, err
	}
	return inboundsOf(cfg, u), nil
}

func inboundsOf(cfg *coreConfig, u *model.User) map[string][]string {
	out := map[string][]string{}
	for proto := range u.Proxies {
		ex := map[string]bool{}
		for _, t := range u.ExcludedInbounds[proto] {
			ex[t] = true
		}
		tags := []string{}
		for _, t := range cfg.byProto[proto] {
			if !ex[t] {
				tags = append(tags, t)
			}
		}
		out[proto] = tags
	}
	return out
}

// validateLimits checks the numbers and texts of a user input against
// model's ranges (the API checked them already; the CLI and imports come
// here directly).
func validateLimits(in *UserInput) error {
	for _, c := range []struct {
		field, rng string
		v          *int64
	}{
		{"expire", "expire", in.Expire},
		{"data_limit", "bytes", in.DataLimit},
		{"on_hold_expire_duration", "duration", in.OnHoldExpireDuration},
		{"auto_delete_in_days", "days", in.AutoDeleteInDays},
		{"hwid_device_limit", "devices", in.HWIDDeviceLimit},
		{"ip_limit", "ip_limit", in.IPLimit},
	} {
		if c.v != nil {
			if err := model.CheckInt(c.field, c.rng, *c.v); err != nil {
				return err
			}
		}
	}
	if t := in.OnHoldTimeout; t != nil && (t.Unix() < 0 || t.Unix() > model.MaxExpire) {
		return invalid("on_hold_timeout: must be a date-time from 1970 to 9999")
	}
	if in.DataLimitResetStrategy != nil && !in.DataLimitResetStrategy.Valid() {
		return invalid("data_limit_reset_strategy: must be one of no_reset, day, week, month, year")
	}
	if in.Note != nil {
		if len(*in.Note) > 500 {
			return invalid("note: longer than 500 characters")
		}
		if err := model.CheckText("note", *in.Note); err != nil {
			return err
		}
	}
	if in.NextPlan != nil {
		if err := model.CheckInt("next_plan.data_limit", "bytes", in.NextPlan.DataLimit); err != nil {
			return err
		}
		if err := model.CheckInt("next_plan.expire", "duration", in.NextPlan.Expire); err != nil {
			return err
		}
	}
	for proto, p := range in.Proxies {
		for field, v := range map[string]string{"id": p.ID, "flow": p.Flow, "password": p.Password, "method": p.Method} {
			if err := model.CheckText("proxies."+proto+"."+field, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// apply copies the set fields of in onto u.
func apply(u *model.User, in *UserInput) {
	if in.Expire != nil {
		u.Expire = *in.Expire
	}
	if in.DataLimit != nil {
		u.DataLimit = *in.DataLimit
	}
	if in.DataLimitResetStrategy != nil {
		u.DataLimitReset = *in.DataLimitResetStrategy
	}
	if in.Note != nil {
		u.Note = *in.Note
	}
	if in.OnHoldExpireDuration != nil {
		u.OnHoldExpireDuration = *in.OnHoldExpireDuration
	}
	if in.OnHoldTimeout != nil {
		t := *in.OnHoldTimeout
		u.OnHoldTimeout = &t
	}
	if in.ClearAutoDeleteInDays {
		u.AutoDeleteInDays = nil
	}
	if in.AutoDeleteInDays != nil {
		v := *in.AutoDeleteInDays
		u.AutoDeleteInDays = &v
	}
	if in.ClearNextPlan {
		u.NextPlan = nil
	}
	if in.ClearHWIDDeviceLimit {
		u.HWIDDeviceLimit = nil
	}
	if in.HWIDDeviceLimit != nil {
		v := *in.HWIDDeviceLimit
		u.HWIDDeviceLimit = &v
	}
	if in.NextPlan != nil {
		np := *in.NextPlan
		u.NextPlan = &np
	}
	if in.ClearIPLimit {
		u.IPLimit = nil
	}
	if in.ClearPerDeviceCredentials {
		u.PerDeviceCredentials = nil
	}
	if in.PerDeviceCredentials != nil {
		v := *in.PerDeviceCredentials
		u.PerDeviceCredentials = &v
	}
	if in.IPLimit != nil {
		v := *in.IPLimit
		u.IPLimit = &v
	}
}

// prepareNewUser validates a create request and builds the user record.
func (s *State) prepareNewUser(cfg *coreConfig, admin *model.Admin, in *UserInput, now time.Time) (*model.User, error) {
	if in.Username == nil {
		return nil, invalid("username: required")
	}
	name, err := model.NormalizeUsername(*in.Username)
	if err != nil {
		return nil, invalid("username: must be 3 to 32 characters of a-z, 0-9 and underscore")
	}
	if len(in.Proxies) == 0 {
		return nil, invalid("proxies: at least one of vless, vmess, trojan, shadowsocks is required")
	}
	if err := validateLimits(in); err != nil {
		return nil, err
	}
	status := model.StatusActive
	if in.Status != nil {
		status = *in.Status
		if status != model.StatusActive && status != model.StatusOnHold {
			return nil, invalid("status: a new user is active or on_hold")
		}
	}
	if status == model.StatusOnHold && (in.OnHoldExpireDuration == nil || *in.OnHoldExpireDuration <= 0) {
		return nil, invalid("on_hold_expire_duration: required for an on_hold user")
	}
	proxies, err := normalizeProxies(in.Proxies, nil)
	if err != nil {
		return nil, err
	}
	ex, err := exclusions(cfg, proxies, in.Inbounds)
	if err != nil {
		return nil, err
	}
	u := &model.User{
		Username: name, Status: status, Proxies: proxies, ExcludedInbounds: ex,
		DataLimitReset: model.ResetNone, CreatedAt: now,
	}
	apply(u, in)
	if admin != nil {
		u.AdminID, u.AdminUsername = admin.ID, admin.Username
	}
	u.Status = model.ComputeStatus(u, now)
	return u, nil
}

// CreateUser creates a user owned by admin.
func (s *State) CreateUser(ctx context.Context, admin *model.Admin, in UserInput) (*model.User, error) {
	cfg, err := s.core(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	u, err := s.prepareNewUser(cfg, admin, &in, now)
	if err != nil {
		return nil, err
	}
	// Settings read, notification and audit entry before the revision is
	// taken (see changeLate); the insert itself comes after it, as a taken
	// username is another change's row.
	_, err = s.changeLate(ctx, func(tx *store.Tx) (func(rev int64) (change.Change, error), error) {
		u.LastStatusChange = &now
		perDevice, err := perDeviceDefault(tx)
		if err != nil {
			return nil, err
		}
		u.PerDevice = effectivePerDevice(u, perDevice)
		if err := s.enqueueEvents(tx, Event{Action: ActionUserCreated, User: u, By: admin}); err != nil {
			return nil, err
		}
		if err := auditUser(tx, "user.create", nil, u); err != nil {
			return nil, err
		}
		return func(rev int64) (change.Change, error) {
			caps, err := lockCaps(tx, admin)
			if err != nil {
				return change.Change{}, err
			}
			u.Revision = rev
			if err := tx.CreateUser(u); err != nil {
				return change.Change{}, fmt.Errorf("creating user %s: %w", u.Username, err)
			}
			if err := caps.check(tx, true); err != nil {
				return change.Change{}, err
			}
			return nodeDiff(nil, u), nil
		}, nil
	})
	if err != nil {
		return nil, err
	}
	u.Inbounds = inboundsOf(cfg, u)
	return u, nil
}

// canSee reports whether admin owns u (or is sudo). A nil admin is the
// system itself (jobs, CLI).
func canSee(admin *model.Admin, u *model.User) bool {
	return admin == nil || admin.IsSudo || u.AdminID == admin.ID
}

// User returns a user the admin may see.
func (s *State) User(ctx context.Context, admin *model.Admin, username string) (*model.User, error) {
	var u *model.User
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		u, err = tx.UserByUsername(username)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("loading user %q: %w", username, err)
	}
	if !canSee(admin, u) {
		// Marzban answers 403 for a user owned by another admin.
		return nil, fmt.Errorf("user %q: %w", username, model.ErrForbidden)
	}
	if u.Inbounds, err = s.InboundsOf(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

// ModifyUser changes the set fields of a user.
func (s *State) ModifyUser(ctx context.Context, admin *model.Admin, username string, in UserInput) (*model.User, error) {
	if err := validateLimits(&in); err != nil {
		return nil, err
	}
	if in.Status != nil {
		switch *in.Status {
		case model.StatusActive, model.StatusDisabled, model.StatusOnHold:
		default:
			return nil, invalid("status: may be set to active, disabled or on_hold")
		}
	}
	cfg, err := s.core(ctx)
	if err != nil {
		return nil, err
	}
	var after *model.User
	// The user is read and the new one worked out, announced and audited
	// before the revision is taken; with it, only the caps, the compare-
	// and-write of the row and the outbox entry remain (see changeLate).
	_, err = s.changeLate(ctx, func(tx *store.Tx) (func(rev int64) (change.Change, error), error) {
		before, err := tx.UserByUsername(username)
		if err != nil {
			return nil, fmt.Errorf("loading user %q: %w", username, err)
		}
		if !canSee(admin, before) {
			return nil, fmt.Errorf("user %q: %w", username, model.ErrForbidden)
		}
		u := *before
		if in.Proxies != nil {
			if len(in.Proxies) == 0 {
				return nil, invalid("proxies: at least one protocol is required")
			}
			if u.Proxies, err = normalizeProxies(in.Proxies, before.Proxies); err != nil {
				return nil, err
			}
		}
		if in.Inbounds != nil || in.Proxies != nil {
			req := in.Inbounds
			if req == nil {
				// Keep the exclusions of protocols the user still has.
				req = map[string][]string{}
				for proto, tags := range inboundsOf(cfg, before) {
					if _, ok := u.Proxies[proto]; ok {
						req[proto] = tags
					}
				}
			}
			if u.ExcludedInbounds, err = exclusions(cfg, u.Proxies, req); err != nil {
				return nil, err
			}
		}
		apply(&u, &in)
		if in.PerDeviceCredentials != nil || in.ClearPerDeviceCredentials {
			perDevice, err := perDeviceDefault(tx)
			if err != nil {
				return nil, err
			}
			u.PerDevice = effectivePerDevice(&u, perDevice)
		}
		now := s.now().UTC()
		if in.Status != nil {
			u.Status = *in.Status
			// The admin's word on the status ends an IP limit hold.
			u.IPLimitUntil = nil
			if u.Status == model.StatusOnHold && u.OnHoldExpireDuration <= 0 {
				return nil, invalid("on_hold_expire_duration: required for an on_hold user")
			}
		} else if u.Status == model.StatusLimited || u.Status == model.StatusExpired {
			// New limits may lift the user back to active (or the other way).
			u.Status = model.StatusActive
		}
		u.Status = model.ComputeStatus(&u, now)
		if u.Status != before.Status {
			u.LastStatusChange = &now
		}
		u.EditAt = &now
		if err := s.enqueueEvents(tx, userEvents(ActionUserUpdated, admin, before.Status, &u)...); err != nil {
			return nil, err
		}
		if err := auditUser(tx, "user.modify", before, &u); err != nil {
			return nil, err
		}
		return func(rev int64) (change.Change, error) {
			caps, err := lockCaps(tx, admin)
			if err != nil {
				return change.Change{}, err
			}
			u.Revision = rev
			if err := tx.UpdateUserFrom(&u, before.Revision); err != nil {
				return change.Change{}, fmt.Errorf("saving user %q: %w", username, err)
			}
			if err := caps.check(tx, grantsMore(before, &u)); err != nil {
				return change.Change{}, err
			}
			after = &u
			return nodeDiff(before, &u), nil
		}, nil
	})
	if err != nil {
		return nil, err
	}
	after.Inbounds = inboundsOf(cfg, after)
	return after, nil
}

// DeleteUser removes a user; nodes drop it in the next delta.
func (s *State) DeleteUser(ctx context.Context, admin *model.Admin, username string) error {
	// Read, notification and audit entry before the revision (changeLate).
	_, err := s.changeLate(ctx, func(tx *store.Tx) (func(rev int64) (change.Change, error), error) {
		u, err := tx.UserByUsername(username)
		if err != nil {
			return nil, fmt.Errorf("loading user %q: %w", username, err)
		}
		if !canSee(admin, u) {
			return nil, fmt.Errorf("user %q: %w", username, model.ErrForbidden)
		}
		if err := s.enqueueEvents(tx, Event{Action: ActionUserDeleted, User: u, By: admin}); err != nil {
			return nil, err
		}
		if err := auditUser(tx, "user.delete", u, nil); err != nil {
			return nil, err
		}
		return func(int64) (change.Change, error) {
			if err := tx.DeleteUserFrom(u.ID, u.Revision); err != nil {
				return change.Change{}, fmt.Errorf("deleting user %q: %w", username, err)
			}
			return nodeDiff(u, nil), nil
		}, nil
	})
	return err
}

// ListUsers lists the users the admin may see.
func (s *State) ListUsers(ctx context.Context, admin *model.Admin, f model.UserFilter) ([]model.User, int, error) {
	if admin != nil && !admin.IsSudo {
		f.AdminIDs = []int64{admin.ID}
	}
	cfg, err := s.core(ctx)
	if err != nil {
		return nil, 0, err
	}
	// Pages come from the user directory (backend/directory): only the page's rows are
	// read, whatever the number of matching users.
	users, total, err := s.users.List(ctx, f)
	if err != nil {
		return nil, 0, fmt.Errorf("listing users: %w", err)
	}
	for i := range users {
		users[i].Inbounds = inboundsOf(cfg, &users[i])
	}
	return users, total, nil
}

// Review, the lifecycle tick, is in lifecycle.go; the scheduler that runs
// it is backend/jobs.

// DesiredUsers streams every user that should be on nodes, for snapshots:
// the desired state as of the revision it returns, a pure function of the
// changes up to it (a limited user's bytes_left is the one its last upsert
// carried, not one recomputed from traffic counted since), so every replica
// and every restart give one revision one state hash.
func (s *State) DesiredUsers(ctx context.Context) (rev int64, config []byte, users []protocol.User, err error) {
	err = s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		if rev, err = tx.CurrentRevision(); err != nil {
			return err
		}
		if config, _, err = tx.CoreConfig(); err != nil {
			return err
		}
		return tx.EachUserOnNodes(func(u *model.User) error {
			users = append(users, desiredNodeUser(u))
			return nil
		})
	})
	if err != nil {
		return 0, nil, nil, fmt.Errorf("loading desired state: %w", err)
	}
	sort.Slice(users, func(i, j int) bool { return users[i].ID < users[j].ID })
	return rev, config, users, nil
}

// ImportUsers creates many users in one transaction and one revision (a
// migration from another panel, or seeding a benchmark). Every input is
// validated before anything is written; one bad input rejects the batch.
func (s *State) ImportUsers(ctx context.Context, admin *model.Admin, in []UserInput) (int, error) {
	cfg, err := s.core(ctx)
	if err != nil {
		return 0, err
	}
	now := s.now().UTC()
	users := make([]*model.User, 0, len(in))
	for i := range in {
		u, err := s.prepareNewUser(cfg, admin, &in[i], now)
		if err != nil {
			return 0, fmt.Errorf("user %d: %w", i, err)
		}
		users = append(users, u)
	}
	_, err = s.change(ctx, func(tx *store.Tx, rev int64) (change.Change, error) {
		var d change.Change
		for _, u := range users {
			u.Revision = rev
			u.LastStatusChange = &now
		}
		caps, err := lockCaps(tx, admin)
		if err != nil {
			return change.Change{}, err
		}
		perDevice, err := perDeviceDefault(tx)
		if err != nil {
			return change.Change{}, err
		}
		for _, u := range users {
			u.PerDevice = effectivePerDevice(u, perDevice)
		}
		if err := tx.CreateUsers(users); err != nil {
			return change.Change{}, err
		}
		if err := caps.check(tx, len(users) > 0); err != nil {
			return change.Change{}, err
		}
		for _, u := range users {
			d.Upserts = append(d.Upserts, nodeDiff(nil, u).Upserts...)
		}
		return d, auditCreatedUsers(tx, "users.import", "/api/users", users, nil)
	})
	if err != nil {
		return 0, err
	}
	return len(users), nil
}

// PruneUserTombstones deletes the users list's deletion tombstones older
// than a day (a replica that listed no users for that long reloads its
// user directory instead of catching up). The scheduler runs it hourly.
func (s *State) PruneUserTombstones(ctx context.Context) error {
	return s.store.PruneUserTombstones(ctx)
}
