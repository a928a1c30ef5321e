package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/outpost-panel/outpost/backend/audit"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
)

// AuditEntries is one page of the audit log, newest first.
func (s *State) AuditEntries(ctx context.Context, f audit.Filter) ([]audit.Entry, error) {
	return s.store.AuditEntries(ctx, f)
}

// EachAuditEntry streams every entry matching f, newest first.
func (s *State) EachAuditEntry(ctx context.Context, f audit.Filter, fn func(audit.Entry) error) error {
	return s.store.EachAuditEntry(ctx, f, fn)
}

// AuditAction records an operation that changed nothing in the database
// (a core restart, a node reconnect) in a transaction of its own.
func (s *State) AuditAction(ctx context.Context, action, target string, after any) error {
	return s.store.AuditStandalone(ctx, action, target, after)
}

// AuditPruneBatch is how many entries one prune transaction deletes.
const AuditPruneBatch = 1000

// PruneAudit deletes entries older than retention in batches of
// AuditPruneBatch (each its own short transaction, so writers are not held
// up), and reports how many went. retention <= 0 keeps everything.
func (s *State) PruneAudit(ctx context.Context, retention time.Duration) (int, error) {
	if retention <= 0 {
		return 0, nil
	}
	cutoff := s.now().Add(-retention)
	total := 0
	for {
		n, err := s.store.PruneAudit(ctx, cutoff, AuditPruneBatch)
		total += n
		if err != nil || n < AuditPruneBatch {
			return total, err
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}

// userAudit is a user as its audit entries show it: the model's JSON with
// the proxies' credentials (UUIDs, passwords) masked and the fields that
// change on every edit left out.
func userAudit(u *model.User) map[string]any {
	if u == nil {
		return nil
	}
	raw, err := json.Marshal(u)
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	delete(m, "edit_at")
	delete(m, "inbounds") // computed from the core config
	// Stored fields the API does not show but a change may be about.
	m["admin"] = u.AdminUsername
	m["excluded_inbounds"] = u.ExcludedInbounds
	m["per_device_active"] = u.PerDevice
	for k, t := range map[string]*time.Time{"sub_revoked_at": u.SubRevokedAt, "usage_reset_at": u.UsageResetAt} {
		m[k] = nil
		if t != nil {
			m[k] = t.UTC().Format(time.RFC3339)
		}
	}
	if proxies, ok := m["proxies"].(map[string]any); ok {
		for _, p := range proxies {
			if settings, ok := p.(map[string]any); ok {
				for _, k := range []string{"id", "password"} {
					if v, ok := settings[k]; ok && v != "" {
						settings[k] = audit.Masked
					}
				}
			}
		}
	}
	return m
}

// auditUser writes the entry of a change to one user, owned (for the
// resellers' view) by the user's admin. The action is the operation's (the
// route, CLI command or job) when there is one, else fallback.
func auditUser(tx *store.Tx, fallback string, before, after *model.User) error {
	u := after
	if u == nil {
		u = before
	}
	return tx.Audit(opAction(tx, fallback), "/api/user/"+u.Username, u.AdminID, userAudit(before), userAudit(after))
}

// opAction is the action of the operation tx runs under (the route, CLI
// command or job), or fallback outside one.
func opAction(tx *store.Tx, fallback string) string {
	if op := audit.OperationFrom(tx.Context()); op != nil && op.Action != "" {
		return op.Action
	}
	return fallback
}

// auditRow writes the entry of a change to one stored row (an admin, a
// node, a template, a key, ...) under the operation's action (fallback
// outside one): before is the row as loaded in the change's transaction
// (nil for a creation), after as saved (nil for a deletion). Owner is the
// admin a reseller's view shows it to (0: the acting reseller's own).
// Secrets are masked by audit.Diff; the record functions below list them
// under names audit.IsSecret knows so a change to one still shows.
func auditRow(tx *store.Tx, fallback, target string, owner int64, before, after any) error {
	return tx.Audit(opAction(tx, fallback), target, owner, before, after)
}

// jsonMap is v's JSON as a map (nil when v is nil or not an object).
func jsonMap(v any) map[string]any {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}

// adminAudit is an admin as its entries show it: the API's fields, the
// password (its hash, masked: the entry shows that it changed) and when the
// password was last set. users_usage moves with traffic and is left out
// but where it is the change (a usage reset).
func adminAudit(a *model.Admin, withUsage bool) map[string]any {
	if a == nil {
		return nil
	}
	m := jsonMap(a)
	if m == nil {
		return nil
	}
	if !withUsage {
		delete(m, "users_usage")
	}
	m["password"] = a.HashedPassword // masked: shows that it changed
	m["password_reset_at"] = nil
	if a.PasswordResetAt != nil {
		m["password_reset_at"] = a.PasswordResetAt.UTC().Format(time.RFC3339)
	}
	return m
}

func adminTarget(username string) string { return "/api/admin/" + username }

// nodeAudit is a node's configured fields and its token (masked); what the
// node reports (status, versions, last seen) is not a change anybody made.
func nodeAudit(n *model.Node) map[string]any {
	if n == nil {
		return nil
	}
	return map[string]any{
		"id": n.ID, "name": n.Name, "address": n.Address, "port": n.Port, "api_port": n.APIPort,
		"usage_coefficient": n.UsageCoefficient, "token_hash": n.TokenHash,
	}
}

func nodeTarget(id int64) string { return fmt.Sprintf("/api/node/%d", id) }

// templateAudit is a user template with the API's field names.
func templateAudit(t *UserTemplate) map[string]any {
	if t == nil {
		return nil
	}
	// Through JSON: a snapshot, not the template's map and pointers.
	return jsonMap(map[string]any{
		"id": t.ID, "name": t.Name, "data_limit": t.DataLimit, "expire_duration": t.ExpireDuration,
		"username_prefix": t.UsernamePrefix, "username_suffix": t.UsernameSuffix, "inbounds": t.Inbounds,
		"per_device_credentials": t.PerDeviceCredentials,
	})
}

func templateTarget(id int64) string { return fmt.Sprintf("/api/user_template/%d", id) }

// keyAudit is an API key as listed (never its hash, which is masked).
func keyAudit(k *model.APIKey) map[string]any {
	if k == nil {
		return nil
	}
	m := jsonMap(k)
	if m == nil {
		return nil
	}
	delete(m, "last_used_at")
	delete(m, "last_used_ip")
	m["key_hash"] = k.KeyHash
	return m
}

func keyTarget(id int64) string { return fmt.Sprintf("/api/admin/keys/%d", id) }

// totpAudit is an admin's second factor: off, pending (enrolled, not yet
// confirmed) or on, its sealed secret (masked) and the recovery codes left.
func totpAudit(t *model.TOTPState, codesLeft int) map[string]any {
	if t == nil {
		return map[string]any{"totp": "off", "recovery_codes_left": 0}
	}
	state := "pending"
	if t.Confirmed {
		state = "on"
	}
	return map[string]any{"totp": state, "totp_secret": t.Secret, "recovery_codes_left": codesLeft}
}

// loadTOTPAudit reads the admin's second factor as totpAudit shows it.
func loadTOTPAudit(tx *store.Tx, adminID int64) (map[string]any, error) {
	t, err := tx.TOTP(adminID)
	if errors.Is(err, model.ErrNotFound) {
		return totpAudit(nil, 0), nil
	}
	if err != nil {
		return nil, err
	}
	left, err := tx.RecoveryCodesLeft(adminID)
	if err != nil {
		return nil, err
	}
	return totpAudit(t, left), nil
}

// coreConfigAudit is a core config keyed for a readable diff: its
// top-level sections, with each inbound under "inbounds.<tag>" so one
// edited inbound is one changed key. Keys, passwords and UUIDs in it are
// masked by audit.Mask (private keys, passwords; client ids are not in
// the stored config).
func coreConfigAudit(raw []byte) map[string]any {
	if len(raw) == 0 {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	if list, ok := m["inbounds"].([]any); ok {
		delete(m, "inbounds")
		for i, in := range list {
			tag := fmt.Sprint(i)
			if obj, ok := in.(map[string]any); ok {
				if t, ok := obj["tag"].(string); ok && t != "" {
					tag = t
				}
			}
			m["inbounds."+tag] = in
		}
	}
	return m
}

// statusCounts counts users by status, for the entries of changes to many
// users: how many of each status before and after.
func statusCounts[T any](list []T, status func(*T) model.Status) map[string]int {
	m := map[string]int{}
	for i := range list {
		m[string(status(&list[i]))]++
	}
	return m
}

// auditTOTP writes the entry of a change to an admin's second factor: as
// it was (before, from loadTOTPAudit) and as it is now.
func auditTOTP(tx *store.Tx, fallback string, adminID int64, before map[string]any) error {
	after, err := loadTOTPAudit(tx, adminID)
	if err != nil {
		return err
	}
	a, err := tx.AdminByID(adminID)
	if err != nil {
		return err
	}
	return auditRow(tx, fallback, adminTarget(a.Username)+"/totp", adminID, before, after)
}

// sessionAudit is a sign-in session as the sessions list shows it.
func sessionAudit(s *model.AdminSession) map[string]any {
	if s == nil {
		return nil
	}
	m := jsonMap(s)
	delete(m, "current")
	return m
}

// hostsAudit is the explicit host lists keyed by inbound tag, before and
// after a replacement; a tag with a list on one side only shows "default"
// on the other (its links use the default host), so every changed inbound
// is one key on both sides.
func hostsAudit(before, after map[string][]store.Host) (map[string]any, map[string]any) {
	b, a := jsonMap(before), jsonMap(after)
	if b == nil {
		b = map[string]any{}
	}
	if a == nil {
		a = map[string]any{}
	}
	for tag := range a {
		if _, ok := b[tag]; !ok {
			b[tag] = "default"
		}
	}
	for tag := range b {
		if _, ok := a[tag]; !ok {
			a[tag] = "default"
		}
	}
	return b, a
}

// auditCoreConfig writes the entry of a new core config: the changed
// sections and inbounds before and after (coreConfigAudit).
func auditCoreConfig(tx *store.Tx, old, canon []byte) error {
	var before any
	if len(old) > 0 {
		before = coreConfigAudit(old)
	}
	return auditRow(tx, "core.config", "/api/core/config", 0, before, coreConfigAudit(canon))
}

// usersSummary is the entry of one change to many users (a bulk action, a
// review tick): how many of each status before and after, how many
// changed and the first audit.MaxNames usernames (the count stays whole).
type usersSummary struct {
	before, after map[string]int
	names         []string
	n             int
}

func (u *usersSummary) add(before, after *model.User) {
	if u.before == nil {
		u.before, u.after = map[string]int{}, map[string]int{}
	}
	u.n++
	if before != nil {
		u.before[string(before.Status)]++
	}
	if after != nil {
		u.after[string(after.Status)]++
	}
	if len(u.names) < audit.MaxNames {
		name := ""
		if after != nil {
			name = after.Username
		} else if before != nil {
			name = before.Username
		}
		u.names = append(u.names, name)
	}
}

// entry is the before and after of the summary, extra joining after.
func (u *usersSummary) entry(extra map[string]any) (map[string]any, map[string]any) {
	if u.before == nil {
		u.before, u.after = map[string]int{}, map[string]int{}
	}
	after := map[string]any{"status": u.after, "changed": u.n, "usernames": u.names, "truncated": u.n > len(u.names)}
	for k, v := range extra {
		after[k] = v
	}
	return map[string]any{"status": u.before}, after
}

// write stores the summary as the entry of the transaction's operation
// (fallback outside one).
func (u *usersSummary) write(tx *store.Tx, fallback, target string, extra map[string]any) error {
	b, a := u.entry(extra)
	return tx.AuditWhole(opAction(tx, fallback), target, 0, b, a)
}

// auditDeletedUsers writes the one entry of deleting many users: before
// only (how many of each status, the first usernames), as a deletion.
func auditDeletedUsers(tx *store.Tx, fallback, target string, users []model.User) error {
	var sum usersSummary
	for i := range users {
		sum.add(&users[i], nil)
	}
	b := map[string]any{"status": sum.before, "count": len(users), "usernames": sum.names, "truncated": len(users) > len(sum.names)}
	return tx.AuditWhole(opAction(tx, fallback), target, 0, b, nil)
}

// auditCreatedUsers writes the one entry of creating many users (an
// import): after only, how many of each status and the first usernames,
// extra joining it.
func auditCreatedUsers(tx *store.Tx, fallback, target string, users []*model.User, extra map[string]any) error {
	var sum usersSummary
	for _, u := range users {
		sum.add(nil, u)
	}
	a := map[string]any{"status": sum.after, "count": len(users), "usernames": sum.names, "truncated": len(users) > len(sum.names)}
	for k, v := range extra {
		a[k] = v
	}
	return tx.AuditWhole(opAction(tx, fallback), target, 0, nil, a)
}

// recordOwnerMoves tells the previous owners of users given to owner that
// the users left their view: a tombstone each for the events socket
// (store.Tx.RecordOwnerMoves), and the transfer's audit entry (written by
// entry, owned by the new owner) once more per previous owner, owned by
// it, so a reseller's audit view shows who took its users. Users that
// already were owner's, or had no owner, are skipped.
func recordOwnerMoves(tx *store.Tx, rev int64, fallback string, befores []*model.User, owner int64, ownerName string, entry func() error) error {
	if err := entry(); err != nil {
		return err
	}
	var (
		moves  []store.ChangedUser
		byPrev = map[int64][]*model.User{}
		order  []int64
	)
	for _, b := range befores {
		if b.AdminID == 0 || b.AdminID == owner {
			continue
		}
		moves = append(moves, store.ChangedUser{ID: b.ID, Username: b.Username, AdminID: b.AdminID})
		if _, ok := byPrev[b.AdminID]; !ok {
			order = append(order, b.AdminID)
		}
		byPrev[b.AdminID] = append(byPrev[b.AdminID], b)
	}
	if len(moves) == 0 {
		return nil
	}
	if err := tx.RecordOwnerMoves(rev, moves); err != nil {
		return err
	}
	for _, prev := range order {
		users := byPrev[prev]
		if len(users) == 1 {
			b := users[0]
			after := *b
			after.AdminID, after.AdminUsername = owner, ownerName
			if err := auditRow(tx, fallback, "/api/user/"+b.Username, prev, userAudit(b), userAudit(&after)); err != nil {
				return err
			}
			continue
		}
		names := make([]string, len(users))
		for i, b := range users {
			names[i] = b.Username
		}
		if err := tx.AuditWhole(opAction(tx, fallback), "/api/users/bulk", prev,
			map[string]any{"admin_username": users[0].AdminUsername},
			audit.Bulk(names, map[string]any{"action": "set_owner", "admin_username": ownerName})); err != nil {
			return err
		}
	}
	return nil
}
