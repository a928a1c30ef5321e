package state

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/outpost-panel/outpost/backend/audit"
	"github.com/outpost-panel/outpost/backend/change"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
)

// Admin password bounds. Marzban sets none; six characters keeps the
// passwords scripts generate working while refusing the empty and the
// trivially short, and bcrypt reads no more than 72 bytes, so a longer
// password would be silently truncated to its first 72.
const (
	MinAdminPassword = 6
	MaxAdminPassword = 72
)

// adminNameRe is stricter than Marzban (which checks nothing) so names stay
// safe in paths, logs and the CLI's table output; case is kept because
// logins compare the name exactly, and uniqueness ignores it.
var adminNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$`)

// AdminInput is a new admin (Marzban's AdminCreate).
type AdminInput struct {
	Username       string
	Password       string
	IsSudo         bool
	TelegramID     *int64
	DiscordWebhook *string
	Caps           model.AdminCaps
}

// AdminChanges are the editable fields of an admin (Marzban's AdminModify);
// nil leaves a field as it is. A TelegramID of 0 and an empty
// DiscordWebhook clear them, which Marzban offers no way to do.
type AdminChanges struct {
	Password       *string
	IsSudo         *bool
	TelegramID     *int64
	DiscordWebhook *string
	// Caps replaces the caps named in SetCaps (max_users, max_data_limit,
	// max_used_traffic, allow_unlimited); a nil value there clears the cap.
	Caps    model.AdminCaps
	SetCaps CapFields
}

// CapFields names the caps a modification sets (or clears, with nil).
type CapFields struct {
	MaxUsers, MaxDataLimit, MaxUsedTraffic, AllowUnlimited bool
}

// validateCaps checks the caps' ranges (model/limits.go).
func validateCaps(c model.AdminCaps) error {
	for _, f := range []struct {
		name, rng string
		v         *int64
	}{{"max_users", "cap_users", c.MaxUsers}, {"max_data_limit", "cap_bytes", c.MaxDataLimit}, {"max_used_traffic", "cap_bytes", c.MaxUsedTraffic}} {
		if f.v != nil {
			if err := model.CheckInt(f.name, f.rng, *f.v); err != nil {
				return err
			}
		}
	}
	return nil
}

func validateAdminName(name string) error {
	if !adminNameRe.MatchString(name) {
		return invalid("username: must be 3 to 32 characters of letters, digits, _ . and -, starting with a letter or digit")
	}
	return nil
}

func validatePassword(pw string) error {
	if len(pw) < MinAdminPassword {
		return invalid("password: must be at least %d characters", MinAdminPassword)
	}
	if len(pw) > MaxAdminPassword {
		return invalid("password: must be at most %d bytes", MaxAdminPassword)
	}
	return nil
}

func validateContacts(telegramID *int64, webhook *string) error {
	if telegramID != nil {
		if err := model.CheckInt("telegram_id", "telegram", *telegramID); err != nil {
			return err
		}
	}
	if webhook != nil && *webhook != "" {
		w := *webhook
		if err := model.CheckText("discord_webhook", w); err != nil {
			return err
		}
		if len(w) > 1024 {
			return invalid("discord_webhook: longer than 1024 characters")
		}
		if !strings.HasPrefix(w, "https://discord.com/") && !strings.HasPrefix(w, "https://discordapp.com/") {
			return invalid("discord_webhook: must start with https://discord.com/")
		}
	}
	return nil
}

// CreateAdmin validates in and stores a new admin; ErrConflict when the
// username is taken in any letter case.
func (s *State) CreateAdmin(ctx context.Context, in AdminInput) (*model.Admin, error) {
	if err := validateAdminName(in.Username); err != nil {
		return nil, err
	}
	if err := validatePassword(in.Password); err != nil {
		return nil, err
	}
	if err := validateContacts(in.TelegramID, in.DiscordWebhook); err != nil {
		return nil, err
	}
	if err := validateCaps(in.Caps); err != nil {
		return nil, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(in.Password), bcrypt.DefaultCost)
	if err != nil {
		return nil, fmt.Errorf("hashing password of admin %q: %w", in.Username, err)
	}
	a := &model.Admin{
		Username: in.Username, IsSudo: in.IsSudo, HashedPassword: string(hash),
		CreatedAt: s.now().UTC(), TelegramID: in.TelegramID, DiscordWebhook: in.DiscordWebhook,
		AdminCaps: in.Caps,
	}
	if a.TelegramID != nil && *a.TelegramID == 0 {
		a.TelegramID = nil
	}
	if a.DiscordWebhook != nil && *a.DiscordWebhook == "" {
		a.DiscordWebhook = nil
	}
	err = s.store.Tx(ctx, func(tx *store.Tx) error {
		if err := adminNameFree(tx, in.Username); err != nil {
			return err
		}
		if err := tx.CreateAdmin(a); err != nil {
			return err
		}
		return auditRow(tx, "admin.create", adminTarget(a.Username), a.ID, nil, adminAudit(a, false))
	})
	if err != nil {
		return nil, fmt.Errorf("creating admin %q: %w", in.Username, err)
	}
	return a, nil
}

// adminNameFree refuses a name that differs from an existing admin's only
// in letter case: two such admins would be indistinguishable to people.
func adminNameFree(tx *store.Tx, name string) error {
	similar, err := tx.ListAdmins(0, 0, name)
	if err != nil {
		return err
	}
	for _, a := range similar {
		if strings.EqualFold(a.Username, name) {
			return fmt.Errorf("admin %q: %w", a.Username, model.ErrConflict)
		}
	}
	return nil
}

// ListAdmins lists admins by id; username filters by a case-insensitive
// substring; limit <= 0 means all.
func (s *State) ListAdmins(ctx context.Context, offset, limit int, username string) ([]model.Admin, error) {
	if offset < 0 || limit < 0 {
		return nil, invalid("offset and limit: must not be negative")
	}
	var out []model.Admin
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		out, err = tx.ListAdmins(offset, limit, username)
		return err
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []model.Admin{}
	}
	return out, nil
}

// mayManage enforces Marzban's rule that a sudo admin's account is not
// managed by another admin over the API. actor nil is the operator at the
// console (the CLI), who may manage anybody.
func mayManage(actor, target *model.Admin) error {
	if actor == nil || !target.IsSudo {
		return nil
	}
	if actor.ID != 0 && actor.ID == target.ID {
		return nil
	}
	return fmt.Errorf("admin %q is sudo; manage sudo accounts with the panel CLI: %w", target.Username, model.ErrForbidden)
}

// ModifyAdmin changes the set fields of an admin. A new password sets
// password_reset_at, which kills every token issued before it (the auth
// middleware compares them); resending the current password changes
// nothing, so a client that sends back the whole form does not log the
// admin out. A sudo may edit its own account but not demote itself, which
// could leave the panel without a sudo.
func (s *State) ModifyAdmin(ctx context.Context, actor *model.Admin, username string, ch AdminChanges) (*model.Admin, error) {
	if ch.Password != nil {
		if err := validatePassword(*ch.Password); err != nil {
			return nil, err
		}
	}
	if err := validateContacts(ch.TelegramID, ch.DiscordWebhook); err != nil {
		return nil, err
	}
	if err := validateCaps(ch.Caps); err != nil {
		return nil, err
	}
	if ch.IsSudo != nil && !*ch.IsSudo && actor != nil && actor.ID != 0 && actor.IsSudo && actor.Username == username {
		return nil, invalid("is_sudo: a sudo admin cannot demote itself")
	}
	var a *model.Admin
	err := s.store.Tx(ctx, func(tx *store.Tx) error {
		var err error
		if a, err = tx.AdminByUsername(username); err != nil {
			return err
		}
		if err := mayManage(actor, a); err != nil {
			return err
		}
		before := adminAudit(a, false)
		if ch.Password != nil && bcrypt.CompareHashAndPassword([]byte(a.HashedPassword), []byte(*ch.Password)) != nil {
			hash, err := bcrypt.GenerateFromPassword([]byte(*ch.Password), bcrypt.DefaultCost)
			if err != nil {
				return fmt.Errorf("hashing password: %w", err)
			}
			now := s.now().UTC()
			a.HashedPassword, a.PasswordResetAt = string(hash), &now
			// Its tokens die with password_reset_at; the session rows go too.
			if _, err := tx.DeleteSessionsExcept(a.ID, a.Username, 0); err != nil {
				return err
			}
		}
		if ch.IsSudo != nil {
			a.IsSudo = *ch.IsSudo
		}
		if ch.TelegramID != nil {
			a.TelegramID = ch.TelegramID
			if *ch.TelegramID == 0 {
				a.TelegramID = nil
			}
		}
		if ch.DiscordWebhook != nil {
			a.DiscordWebhook = ch.DiscordWebhook
			if *ch.DiscordWebhook == "" {
				a.DiscordWebhook = nil
			}
		}
		if ch.SetCaps.MaxUsers {
			a.MaxUsers = ch.Caps.MaxUsers
		}
		if ch.SetCaps.MaxDataLimit {
			a.MaxDataLimit = ch.Caps.MaxDataLimit
		}
		if ch.SetCaps.MaxUsedTraffic {
			a.MaxUsedTraffic = ch.Caps.MaxUsedTraffic
		}
		if ch.SetCaps.AllowUnlimited {
			a.AllowUnlimited = ch.Caps.AllowUnlimited
		}
		if err := tx.UpdateAdmin(a); err != nil {
			return err
		}
		return auditRow(tx, "admin.modify", adminTarget(a.Username), a.ID, before, adminAudit(a, false))
	})
	if err != nil {
		return nil, fmt.Errorf("modifying admin %q: %w", username, err)
	}
	return a, nil
}

// DeleteAdmin removes an admin. Its users stay, owned by nobody (visible to
// sudo admins), as in Marzban.
func (s *State) DeleteAdmin(ctx context.Context, actor *model.Admin, username string) error {
	err := s.store.Tx(ctx, func(tx *store.Tx) error {
		a, err := tx.AdminByUsername(username)
		if err != nil {
			return err
		}
		if actor != nil && actor.ID != 0 && actor.ID == a.ID {
			return fmt.Errorf("admin %q deleting itself: %w", username, model.ErrForbidden)
		}
		if err := mayManage(actor, a); err != nil {
			return err
		}
		// Keys, the second factor and recovery codes go by foreign key;
		// sessions have none (the env sudo's have no admins row).
		if _, err := tx.DeleteSessionsExcept(a.ID, a.Username, 0); err != nil {
			return err
		}
		if err := tx.DeleteAdmin(a.ID); err != nil {
			return err
		}
		// The entry outlives the admin: no owner row to point at.
		return auditRow(tx, "admin.delete", adminTarget(a.Username), 0, adminAudit(a, true), nil)
	})
	if err != nil {
		return fmt.Errorf("deleting admin %q: %w", username, err)
	}
	return nil
}

// AdminUsage is the traffic of the admin's users counted since the admin's
// last usage reset (Marzban's users_usage).
func (s *State) AdminUsage(ctx context.Context, username string) (int64, error) {
	a, err := s.AdminByUsername(ctx, username)
	if err != nil {
		return 0, fmt.Errorf("loading admin %q: %w", username, err)
	}
	return a.UsersUsage, nil
}

// ResetAdminUsage sets the admin's users_usage to zero and returns the admin.
func (s *State) ResetAdminUsage(ctx context.Context, username string) (*model.Admin, error) {
	var a *model.Admin
	err := s.store.Tx(ctx, func(tx *store.Tx) error {
		var err error
		if a, err = tx.AdminByUsername(username); err != nil {
			return err
		}
		if err := tx.ResetAdminUsage(a.ID); err != nil {
			return err
		}
		// Whole, not diffed: a reset says what the usage was even when 0.
		before := map[string]any{"users_usage": a.UsersUsage}
		a.UsersUsage = 0
		return tx.AuditWhole(opAction(tx, "admin.usage_reset"), adminTarget(a.Username), a.ID, before, map[string]any{"users_usage": 0})
	})
	if err != nil {
		return nil, fmt.Errorf("resetting usage of admin %q: %w", username, err)
	}
	return a, nil
}

// DisableAdminUsers disables every user of the admin that is not disabled
// yet, in one transaction and one revision, and returns how many changed.
// Marzban disables only active and on_hold users; Outpost includes limited
// and expired ones too, or a periodic usage reset (or the review job) would
// bring them back to active while their admin's users are meant to be off.
// Nodes only need the names of the users to drop, so no full row is read,
// and the rows change in one statement.
func (s *State) DisableAdminUsers(ctx context.Context, username string) (int, error) {
	now := s.now().UTC()
	var changed int64
	_, err := s.change(ctx, func(tx *store.Tx, rev int64) (change.Change, error) {
		a, err := tx.AdminByUsername(username)
		if err != nil {
			return change.Change{}, err
		}
		refs, err := tx.AdminUserRefs(a.ID)
		if err != nil {
			return change.Change{}, err
		}
		var d change.Change
		var names []string
		beforeStatus := map[string]int{}
		for _, r := range refs {
			if r.Status.OnNodes() {
				d.Removes = append(d.Removes, model.EmailFor(r.ID, r.Username))
			}
			if r.Status != model.StatusDisabled {
				beforeStatus[string(r.Status)]++
				if len(names) < audit.MaxNames {
					names = append(names, r.Username)
				}
			}
		}
		if changed, err = tx.DisableAdminUsers(a.ID, rev, now); err != nil {
			return change.Change{}, err
		}
		return d, auditAdminUsers(tx, "admin.users_disable", a, changed, names, beforeStatus,
			map[string]int{string(model.StatusDisabled): int(changed)})
	})
	if err != nil {
		return 0, fmt.Errorf("disabling the users of admin %q: %w", username, err)
	}
	if changed > 0 {
		s.log.Info("admin's users disabled", "admin", username, "users", changed)
	}
	return int(changed), nil
}

// ActivateAdminUsers brings every disabled user of the admin back, in one
// transaction and one revision: to on_hold when the user's clock never
// started (Marzban's rule: no expire and an on-hold duration), else to
// whatever its limits allow (active, limited or expired) rather than to
// active for the review job to correct a moment later.
func (s *State) ActivateAdminUsers(ctx context.Context, username string) (int, error) {
	now := s.now().UTC()
	return s.setAdminUsersStatus(ctx, username, model.StatusDisabled, func(u *model.User) (model.Status, bool) {
		if u.Status != model.StatusDisabled {
			return "", false
		}
		if u.Expire == 0 && u.OnHoldExpireDuration > 0 {
			return model.StatusOnHold, true
		}
		probe := *u
		probe.Status = model.StatusActive
		return model.ComputeStatus(&probe, now), true
	})
}

// setAdminUsersStatus applies next to every user of the admin in status
// from, in one change: one revision and one delta carrying every upsert and
// removal nodes need.
func (s *State) setAdminUsersStatus(ctx context.Context, username string, from model.Status, next func(*model.User) (model.Status, bool)) (int, error) {
	now := s.now().UTC()
	changed := 0
	_, err := s.change(ctx, func(tx *store.Tx, rev int64) (change.Change, error) {
		a, err := tx.AdminByUsername(username)
		if err != nil {
			return change.Change{}, err
		}
		users, _, err := tx.ListUsers(model.UserFilter{AdminIDs: []int64{a.ID}, Status: from})
		if err != nil {
			return change.Change{}, err
		}
		groups := map[model.Status][]int64{}
		var d change.Change
		var names []string
		beforeStatus, afterStatus := map[string]int{}, map[string]int{}
		changed = 0
		for i := range users {
			u := &users[i]
			status, ok := next(u)
			if !ok || status == u.Status {
				continue
			}
			before := *u
			u.Status = status
			groups[status] = append(groups[status], u.ID)
			beforeStatus[string(before.Status)]++
			afterStatus[string(status)]++
			if len(names) < audit.MaxNames {
				names = append(names, u.Username)
			}
			nd := nodeDiff(&before, u)
			d.Upserts = append(d.Upserts, nd.Upserts...)
			d.Removes = append(d.Removes, nd.Removes...)
			changed++
		}
		// The largest group moves with one statement over the admin's users
		// still in from; only the others need their ids spelled out, which
		// on SQLite costs a statement per 500 users.
		var bulk model.Status
		for status, ids := range groups {
			if bulk == "" || len(ids) > len(groups[bulk]) {
				bulk = status
			}
		}
		for status, ids := range groups {
			if status == bulk {
				continue
			}
			if err := tx.SetUsersStatus(ids, status, rev, now); err != nil {
				return change.Change{}, fmt.Errorf("setting %d users %s: %w", len(ids), status, err)
			}
		}
		if bulk != "" {
			n, err := tx.MoveAdminUsers(a.ID, from, bulk, rev, now)
			if err != nil {
				return change.Change{}, err
			}
			if n != int64(len(groups[bulk])) {
				// Every user in from was read in this transaction and every
				// one not in bulk has left from; anything else is a bug.
				return change.Change{}, fmt.Errorf("moving users of admin %q to %s: %d rows changed, %d expected", username, bulk, n, len(groups[bulk]))
			}
		}
		return d, auditAdminUsers(tx, "admin.users_status", a, int64(changed), names, beforeStatus, afterStatus)
	})
	if err != nil {
		return 0, fmt.Errorf("changing the users of admin %q: %w", username, err)
	}
	if changed > 0 {
		s.log.Info("admin's users status changed", "admin", username, "users", changed)
	}
	return changed, nil
}

// LoadSecrets reads the secrets Bootstrap generated without bootstrapping:
// the CLI must not create admins or a core config behind the operator's
// back. ErrNotFound when the panel never started on this database.
func (s *State) LoadSecrets(ctx context.Context) (Secrets, error) {
	var sec Secrets
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		jwt, ok, err := tx.Setting(settingJWTSecret)
		if err != nil {
			return err
		}
		sub, ok2, err := tx.Setting(settingSubSecret)
		if err != nil {
			return err
		}
		if !ok || !ok2 {
			return errors.Join(model.ErrNotFound, errors.New("secrets: the panel has not been started on this database yet"))
		}
		sec = Secrets{JWT: []byte(jwt), Subscription: sub}
		return nil
	})
	return sec, err
}

// auditAdminUsers writes the one entry of a change to all of an admin's
// users: how many of each status before and after, how many changed and
// the first audit.MaxNames usernames (the count is whole). It is written
// without a diff so both sides stay whole even where a count is equal.
func auditAdminUsers(tx *store.Tx, fallback string, a *model.Admin, changed int64, names []string, before, after map[string]int) error {
	return tx.AuditWhole(opAction(tx, fallback), adminTarget(a.Username)+"/users", a.ID,
		map[string]any{"status": before},
		map[string]any{"status": after, "changed": changed, "usernames": names, "truncated": changed > int64(len(names))})
}
