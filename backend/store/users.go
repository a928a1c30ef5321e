package store

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

const userColumns = `u.id, u.username, u.admin_id, COALESCE(a.username, ''), u.status, u.proxies,
	u.excluded_inbounds, u.expire, u.data_limit, u.data_limit_reset_strategy, t.used_traffic,
	t.lifetime_used_traffic, u.created_at, u.edit_at, u.note, u.sub_updated_at, u.sub_last_user_agent,
	u.sub_revoked_at, t.online_at, u.on_hold_expire_duration, u.on_hold_timeout, u.auto_delete_in_days,
	u.next_plan, u.last_status_change, u.usage_reset_at, u.revision, u.hwid_device_limit, u.ip_limit, u.ip_limit_until,
	u.per_device_credentials, u.per_device, u.device_ids`

// userFrom joins each user's counters (user_traffic, one row per user, kept
// by triggers) and owner.
const userFrom = ` FROM users u JOIN user_traffic t ON t.user_id = u.id LEFT JOIN admins a ON a.id = u.admin_id`

// userFromTraffic is userFrom led by user_traffic, for queries that start
// from an index of the counters (the caller adds u.id = t.user_id). SQLite
// never reorders the two sides of a CROSS JOIN; PostgreSQL plans it as an
// inner join.
const userFromTraffic = ` FROM user_traffic t CROSS JOIN users u LEFT JOIN admins a ON a.id = u.admin_id`

// userScan holds the raw JSON columns of one row until they are decoded.
type userScan struct {
	proxies, excluded, nextPlan []byte
	perDevice                   int64
	deviceIDs                   string
}

func (us *userScan) targets(u *model.User) []any {
	return []any{&u.ID, &u.Username, zeroID{&u.AdminID}, &u.AdminUsername, &u.Status, &us.proxies,
		&us.excluded, &u.Expire, &u.DataLimit, &u.DataLimitReset, &u.UsedTraffic,
		&u.LifetimeUsedTraffic, reqTime{&u.CreatedAt}, optTime{&u.EditAt}, &u.Note, optTime{&u.SubUpdatedAt},
		&u.SubLastUserAgent, optTime{&u.SubRevokedAt}, optTime{&u.OnlineAt}, &u.OnHoldExpireDuration,
		optTime{&u.OnHoldTimeout}, optInt64{&u.AutoDeleteInDays}, &us.nextPlan, optTime{&u.LastStatusChange},
		optTime{&u.UsageResetAt}, &u.Revision, optInt64{&u.HWIDDeviceLimit}, optInt64{&u.IPLimit}, optTime{&u.IPLimitUntil},
		optBool{&u.PerDeviceCredentials}, &us.perDevice, &us.deviceIDs}
}

func (us *userScan) decode(u *model.User) error {
	u.Proxies = nil
	u.ExcludedInbounds = nil
	u.NextPlan = nil
	u.PerDevice = us.perDevice != 0
	ids, err := parseDeviceIDs(us.deviceIDs)
	if err != nil {
		return fmt.Errorf("decoding device ids of user %d: %w", u.ID, err)
	}
	u.DeviceIDs = ids
	if err := json.Unmarshal(us.proxies, &u.Proxies); err != nil {
		return fmt.Errorf("decoding proxies of user %d: %w", u.ID, err)
	}
	if err := json.Unmarshal(us.excluded, &u.ExcludedInbounds); err != nil {
		return fmt.Errorf("decoding excluded inbounds of user %d: %w", u.ID, err)
	}
	if len(us.nextPlan) > 0 && string(us.nextPlan) != "null" {
		u.NextPlan = new(model.NextPlan)
		if err := json.Unmarshal(us.nextPlan, u.NextPlan); err != nil {
			return fmt.Errorf("decoding next plan of user %d: %w", u.ID, err)
		}
	}
	return nil
}

func scanUser(row interface{ Scan(...any) error }) (*model.User, error) {
	var (
		u  model.User
		us userScan
	)
	if err := row.Scan(us.targets(&u)...); err != nil {
		return nil, err
	}
	if err := us.decode(&u); err != nil {
		return nil, err
	}
	return &u, nil
}

// userJSON encodes the JSON columns; nil maps are stored as {} so a reader
// always gets a non-nil map back.
func userJSON(u *model.User) (proxies, excluded string, nextPlan any, err error) {
	p := u.Proxies
	if p == nil {
		p = map[string]model.ProxySettings{}
	}
	e := u.ExcludedInbounds
	if e == nil {
		e = map[string][]string{}
	}
	pb, err := json.Marshal(p)
	if err != nil {
		return "", "", nil, fmt.Errorf("encoding proxies: %w", err)
	}
	eb, err := json.Marshal(e)
	if err != nil {
		return "", "", nil, fmt.Errorf("encoding excluded inbounds: %w", err)
	}
	if u.NextPlan != nil {
		nb, err := json.Marshal(u.NextPlan)
		if err != nil {
			return "", "", nil, fmt.Errorf("encoding next plan: %w", err)
		}
		nextPlan = string(nb)
	}
	return string(pb), string(eb), nextPlan, nil
}

// CreateUser inserts u and sets its ID (and CreatedAt when zero).
// ErrConflict when the username is taken in any letter case.
func (tx *Tx) CreateUser(u *model.User) error {
	if u.CreatedAt.IsZero() {
		u.CreatedAt = nowUTC()
	}
	proxies, excluded, nextPlan, err := userJSON(u)
	if err != nil {
		return fmt.Errorf("creating user %q: %w", u.Username, err)
	}
	err = tx.stmtSavepoint(func() error {
		err := tx.queryRow(`INSERT INTO users (username, admin_id, status, proxies, excluded_inbounds, expire,
			data_limit, data_limit_reset_strategy, created_at, edit_at,
			note, sub_updated_at, sub_last_user_agent, sub_revoked_at, on_hold_expire_duration,
			on_hold_timeout, auto_delete_in_days, next_plan, last_status_change, usage_reset_at, revision,
			hwid_device_limit, ip_limit, ip_limit_until, per_device_credentials, per_device)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)
		RETURNING id`,
			u.Username, idOrNil(u.AdminID), string(u.Status), proxies, excluded, u.Expire,
			u.DataLimit, string(u.DataLimitReset), u.CreatedAt.Unix(),
			unixOrNil(u.EditAt), u.Note, unixOrNil(u.SubUpdatedAt), u.SubLastUserAgent, unixOrNil(u.SubRevokedAt),
			u.OnHoldExpireDuration, unixOrNil(u.OnHoldTimeout),
			int64OrNil(u.AutoDeleteInDays), nextPlan, unixOrNil(u.LastStatusChange), unixOrNil(u.UsageResetAt),
			u.Revision, int64OrNil(u.HWIDDeviceLimit), int64OrNil(u.IPLimit), unixOrNil(u.IPLimitUntil),
			intBoolOrNil(u.PerDeviceCredentials), intBool(u.PerDevice)).Scan(&u.ID)
		if err != nil || (u.UsedTraffic == 0 && u.LifetimeUsedTraffic == 0 && u.OnlineAt == nil) {
			return err
		}
		// The insert trigger made the counters row; an imported user
		// brings counters of its own.
		_, err = tx.exec(`UPDATE user_traffic SET used_traffic = $1, lifetime_used_traffic = $2, online_at = $3
			WHERE user_id = $4`, u.UsedTraffic, u.LifetimeUsedTraffic, unixOrNil(u.OnlineAt), u.ID)
		return err
	})
	switch {
	case isUniqueViolation(err):
		return fmt.Errorf("creating user %q: %w", u.Username, errConflict)
	case isForeignKeyViolation(err):
		return fmt.Errorf("creating user %q: admin %d: %w", u.Username, u.AdminID, errNotFound)
	case err != nil:
		return fmt.Errorf("creating user %q: %w", u.Username, err)
	}
	return nil
}

// createUsersChunk is how many users one multi-row INSERT of CreateUsers
// carries: 26 parameters each, well under both engines' limits.
const createUsersChunk = 500

// CreateUsers inserts many new users with multi-row statements and sets
// their IDs, for imports: a user per statement costs a round trip (and a
// savepoint) each on PostgreSQL, 46 s for 100,000 users. Fields are those
// of CreateUser. Any conflict fails the whole call (the transaction should
// be dropped); there is no per-user savepoint.
func (tx *Tx) CreateUsers(users []*model.User) error {
	for start := 0; start < len(users); start += createUsersChunk {
		chunk := users[start:min(start+createUsersChunk, len(users))]
		var a args
		var q strings.Builder
		q.WriteString(`INSERT INTO users (username, admin_id, status, proxies, excluded_inbounds, expire,
			data_limit, data_limit_reset_strategy, created_at, edit_at,
			note, sub_updated_at, sub_last_user_agent, sub_revoked_at, on_hold_expire_duration,
			on_hold_timeout, auto_delete_in_days, next_plan, last_status_change, usage_reset_at, revision,
			hwid_device_limit, ip_limit, ip_limit_until, per_device_credentials, per_device) VALUES `)
		byName := make(map[string]*model.User, len(chunk))
		for i, u := range chunk {
			if u.CreatedAt.IsZero() {
				u.CreatedAt = nowUTC()
			}
			proxies, excluded, nextPlan, err := userJSON(u)
			if err != nil {
				return fmt.Errorf("creating user %q: %w", u.Username, err)
			}
			if i > 0 {
				q.WriteString(", ")
			}
			vals := []any{u.Username, idOrNil(u.AdminID), string(u.Status), proxies, excluded, u.Expire,
				u.DataLimit, string(u.DataLimitReset), u.CreatedAt.Unix(),
				unixOrNil(u.EditAt), u.Note, unixOrNil(u.SubUpdatedAt), u.SubLastUserAgent, unixOrNil(u.SubRevokedAt),
				u.OnHoldExpireDuration, unixOrNil(u.OnHoldTimeout),
				int64OrNil(u.AutoDeleteInDays), nextPlan, unixOrNil(u.LastStatusChange), unixOrNil(u.UsageResetAt),
				u.Revision, int64OrNil(u.HWIDDeviceLimit), int64OrNil(u.IPLimit), unixOrNil(u.IPLimitUntil),
				intBoolOrNil(u.PerDeviceCredentials), intBool(u.PerDevice)}
			q.WriteString(a.addList(len(vals), func(i int) any { return vals[i] }))
			byName[u.Username] = u
		}
		q.WriteString(` RETURNING id, username`)
		rows, err := tx.query(q.String(), a...)
		if err != nil {
			return createUsersError(err)
		}
		for rows.Next() {
			var id int64
			var name string
			if err := rows.Scan(&id, &name); err != nil {
				rows.Close()
				return fmt.Errorf("creating users: %w", err)
			}
			if u := byName[name]; u != nil {
				u.ID = id
			}
		}
		if err := rows.Close(); err != nil {
			return createUsersError(err)
		}
		if err := rows.Err(); err != nil {
			return createUsersError(err)
		}
	}
	// The insert trigger made every counters row; imported users bring
	// counters of their own.
	var ids, used, lifetime []int64
	var online []any
	for _, u := range users {
		if u.ID == 0 {
			return fmt.Errorf("creating user %q: no id returned", u.Username)
		}
		if u.UsedTraffic != 0 || u.LifetimeUsedTraffic != 0 || u.OnlineAt != nil {
			ids, used, lifetime = append(ids, u.ID), append(used, u.UsedTraffic), append(lifetime, u.LifetimeUsedTraffic)
			online = append(online, unixOrNil(u.OnlineAt))
		}
	}
	if len(ids) == 0 {
		return nil
	}
	if tx.postgres() {
		on := make([]*int64, len(online))
		for i, v := range online {
			if n, ok := v.(int64); ok {
				on[i] = &n
			}
		}
		_, err := tx.exec(`UPDATE user_traffic t SET used_traffic = b.used, lifetime_used_traffic = b.lifetime, online_at = b.online
			FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) AS b (user_id, used, lifetime, online)
			WHERE t.user_id = b.user_id`, ids, used, lifetime, on)
		if err != nil {
			return fmt.Errorf("setting imported users' counters: %w", err)
		}
		return nil
	}
	for i, id := range ids {
		if _, err := tx.exec(`UPDATE user_traffic SET used_traffic = $1, lifetime_used_traffic = $2, online_at = $3
			WHERE user_id = $4`, used[i], lifetime[i], online[i], id); err != nil {
			return fmt.Errorf("setting imported users' counters: %w", err)
		}
	}
	return nil
}

func createUsersError(err error) error {
	switch {
	case isUniqueViolation(err):
		return fmt.Errorf("creating users: %w", errConflict)
	case isForeignKeyViolation(err):
		return fmt.Errorf("creating users: an owner: %w", errNotFound)
	}
	return fmt.Errorf("creating users: %w", err)
}

// UpdateUser writes the fields of u that admins and the user lifecycle
// change: status, limits, proxies, inbounds, note, hold settings, next plan,
// owner, the timestamps of those changes, and revision. u.Revision must be
// the revision this transaction took (BumpRevision): the user directories
// of all replicas (backend/directory) find changed users by it.
//
// It leaves out the counters and stamps written by traffic and
// subscription fetches (used_traffic, lifetime_used_traffic, online_at,
// sub_updated_at, sub_last_user_agent): a handler that read the user a
// moment ago would otherwise overwrite bytes ApplyUsage added since. Use
// ResetUserUsage and TouchSubscription for those.
func (tx *Tx) UpdateUser(u *model.User) error {
	return tx.updateUser(u, nil)
}

// UpdateUserFrom is UpdateUser for a user read before this transaction
// took its revision (see state.changeLate): it writes only if the stored
// row is still at revision prev, the one that was read. A user changed
// since is ErrRaced, on which the whole transaction runs again and reads
// it anew; every write of the columns UpdateUser sets also stamps the
// revision, so an unchanged revision means an unchanged user.
func (tx *Tx) UpdateUserFrom(u *model.User, prev int64) error {
	return tx.updateUser(u, &prev)
}

func (tx *Tx) updateUser(u *model.User, prev *int64) error {
	proxies, excluded, nextPlan, err := userJSON(u)
	if err != nil {
		return fmt.Errorf("updating user %d: %w", u.ID, err)
	}
	where := `WHERE id = $23`
	a := []any{idOrNil(u.AdminID), string(u.Status), proxies, excluded, u.Expire, u.DataLimit, string(u.DataLimitReset),
		unixOrNil(u.EditAt), u.Note, unixOrNil(u.SubRevokedAt), u.OnHoldExpireDuration,
		unixOrNil(u.OnHoldTimeout), int64OrNil(u.AutoDeleteInDays), nextPlan, unixOrNil(u.LastStatusChange),
		unixOrNil(u.UsageResetAt), u.Revision, int64OrNil(u.HWIDDeviceLimit), int64OrNil(u.IPLimit), unixOrNil(u.IPLimitUntil),
		intBoolOrNil(u.PerDeviceCredentials), intBool(u.PerDevice), u.ID}
	if prev != nil {
		where += ` AND revision = $24`
		a = append(a, *prev)
	}
	// No statement savepoint (stmtSavepoint): every caller ends the
	// transaction on an error here, and on PostgreSQL the SAVEPOINT and
	// RELEASE were two more round trips while the caller holds the
	// revision row (BumpRevision), which every other change waits for.
	err = affectedOne(tx.exec(`UPDATE users SET admin_id = $1, status = $2, proxies = $3,
			excluded_inbounds = $4, expire = $5, data_limit = $6, data_limit_reset_strategy = $7, edit_at = $8,
			note = $9, sub_revoked_at = $10, on_hold_expire_duration = $11, on_hold_timeout = $12,
			auto_delete_in_days = $13, next_plan = $14, last_status_change = $15, usage_reset_at = $16,
			revision = $17, hwid_device_limit = $18, ip_limit = $19, ip_limit_until = $20,
			per_device_credentials = $21, per_device = $22
		`+where, a...))
	switch {
	case isForeignKeyViolation(err):
		return fmt.Errorf("updating user %d: admin %d: %w", u.ID, u.AdminID, errNotFound)
	case errors.Is(err, errNotFound) && prev != nil:
		return fmt.Errorf("updating user %d read at revision %d: %w", u.ID, *prev, ErrRaced)
	case err != nil:
		return fmt.Errorf("updating user %d: %w", u.ID, err)
	}
	return nil
}

// ResetUserUsage zeroes a user's used_traffic (lifetime usage is kept) and
// stamps usage_reset_at. It returns the bytes that were used before.
//
// used_traffic is a sort key of every replica's user directory, which
// learns of changes by users.revision: the reset takes a revision of its
// own (first, like state.change, so it queues behind other writers before
// locking the user) and stamps the user with it. Callers that took a
// revision already use ResetUsersUsage, which stamps theirs.
func (tx *Tx) ResetUserUsage(id int64, at time.Time) (previous int64, err error) {
	rev, err := tx.BumpRevision()
	if err != nil {
		return 0, fmt.Errorf("resetting usage of user %d: %w", id, err)
	}
	err = tx.queryRow(`SELECT used_traffic FROM user_traffic WHERE user_id = $1`+tx.forUpdate(), id).Scan(&previous)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("resetting usage of user %d: %w", id, errNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("resetting usage of user %d: %w", id, err)
	}
	if _, err := tx.exec(`UPDATE user_traffic SET used_traffic = 0 WHERE user_id = $1`, id); err != nil {
		return 0, fmt.Errorf("resetting usage of user %d: %w", id, err)
	}
	// The devices' counters are shares of the user's: they reset with it.
	if _, err := tx.exec(`UPDATE user_devices SET used_traffic = 0 WHERE user_id = $1 AND used_traffic <> 0`, id); err != nil {
		return 0, fmt.Errorf("resetting device usage of user %d: %w", id, err)
	}
	if _, err := tx.exec(`UPDATE users SET usage_reset_at = $1, revision = $2 WHERE id = $3`, at.Unix(), rev, id); err != nil {
		return 0, fmt.Errorf("resetting usage of user %d: %w", id, err)
	}
	return previous, nil
}

// TouchSubscription records a subscription fetch by a client.
func (tx *Tx) TouchSubscription(id int64, at time.Time, userAgent string) error {
	err := affectedOne(tx.exec(`UPDATE users SET sub_updated_at = $1, sub_last_user_agent = $2 WHERE id = $3`,
		at.Unix(), userAgent, id))
	if err != nil {
		return fmt.Errorf("recording subscription fetch of user %d: %w", id, err)
	}
	return nil
}

// DeleteUser deletes a user and its usage history. The transaction must
// have taken a revision (BumpRevision): the delete trigger records the
// user's tombstone at the current revision for the user directories.
func (tx *Tx) DeleteUser(id int64) error {
	return tx.deleteUser(id, nil)
}

// DeleteUserFrom is DeleteUser for a user read at revision prev before
// this transaction took its own; ErrRaced when it has changed since (see
// UpdateUserFrom).
func (tx *Tx) DeleteUserFrom(id, prev int64) error {
	return tx.deleteUser(id, &prev)
}

func (tx *Tx) deleteUser(id int64, prev *int64) error {
	// The user row first: on PostgreSQL that waits for a usage batch holding
	// it, so the history delete below also sees what that batch added.
	q, a := `DELETE FROM users WHERE id = $1`, []any{id}
	if prev != nil {
		q, a = q+` AND revision = $2`, append(a, *prev)
	}
	if err := affectedOne(tx.exec(q, a...)); err != nil {
		if errors.Is(err, errNotFound) && prev != nil {
			return fmt.Errorf("deleting user %d read at revision %d: %w", id, *prev, ErrRaced)
		}
		return fmt.Errorf("deleting user %d: %w", id, err)
	}
	if _, err := tx.exec(`DELETE FROM node_user_usages WHERE user_id = $1`, id); err != nil {
		return fmt.Errorf("deleting usage history of user %d: %w", id, err)
	}
	if _, err := tx.exec(`DELETE FROM user_usage_logs WHERE user_id = $1`, id); err != nil {
		return fmt.Errorf("deleting reset log of user %d: %w", id, err)
	}
	if _, err := tx.exec(`DELETE FROM user_ips WHERE user_id = $1`, id); err != nil {
		return fmt.Errorf("deleting addresses of user %d: %w", id, err)
	}
	return nil
}

// UserByUsername loads a user by username in any letter case.
func (tx *Tx) UserByUsername(username string) (*model.User, error) {
	u, err := scanUser(tx.queryRow(`SELECT `+userColumns+userFrom+` WHERE lower(u.username) = lower($1)`, username))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("user %q: %w", username, errNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("loading user %q: %w", username, err)
	}
	return u, nil
}

// UserByID loads a user by id.
func (tx *Tx) UserByID(id int64) (*model.User, error) {
	return tx.userByID(id, "")
}

// LockUser loads a user and, on PostgreSQL, row-locks it until the
// transaction ends, for a read-modify-write that must not interleave with
// another writer of the same user (SQLite's single writer already ensures it).
func (tx *Tx) LockUser(id int64) (*model.User, error) {
	return tx.userByID(id, tx.forUpdate())
}

func (tx *Tx) userByID(id int64, suffix string) (*model.User, error) {
	if suffix != "" {
		// FOR UPDATE cannot lock the nullable side of an outer join.
		suffix = " FOR UPDATE OF u"
	}
	u, err := scanUser(tx.queryRow(`SELECT `+userColumns+userFrom+` WHERE u.id = $1`+suffix, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("user %d: %w", id, errNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("loading user %d: %w", id, err)
	}
	return u, nil
}

// UserFilter selects and orders users for ListUsers.
type UserFilter = model.UserFilter

var userSortColumns = map[string]string{
	// lower() so the order comes from the unique lower(username) index.
	"username":     "lower(u.username)",
	"used_traffic": "t.used_traffic",
	"data_limit":   "u.data_limit",
	"expire":       "u.expire",
	"created_at":   "u.created_at",
}

// maxListedNames bounds a Usernames/AdminIDs filter; it keeps SQLite IN lists
// far below its bound-parameter limit.
const maxListedNames = model.MaxListedNames

// checkFilter validates f as ListUsers does on every path.
func checkFilter(f *UserFilter) error { return f.Check() }

// ListUsers returns one page of users matching f and the number of users
// matching f across all pages.
//
// Every user matching f is read, sorted and counted in SQL: fine for an
// export or a filter an index narrows, a scan of up to every user
// otherwise. The user directory (backend/directory) serves most pages
// instead, reading only their rows (Store.UsersByID).
func (tx *Tx) ListUsers(f UserFilter) ([]model.User, int, error) {
	if err := checkFilter(&f); err != nil {
		return nil, 0, fmt.Errorf("listing users: %w", err)
	}
	order := "u.id"
	if f.Sort != "" {
		name, desc := strings.CutPrefix(f.Sort, "-")
		col := userSortColumns[name]
		// The id tie-break runs in the same direction so one index scan,
		// forwards or backwards, yields the whole order.
		if desc {
			order = col + " DESC, u.id DESC"
		} else {
			order = col + ", u.id"
		}
	}

	var (
		a     args
		where []string
	)
	if len(f.Usernames) > 0 {
		if tx.postgres() {
			lower := make([]string, len(f.Usernames))
			for i, n := range f.Usernames {
				lower[i] = strings.ToLower(n)
			}
			where = append(where, `lower(u.username) = ANY(`+a.add(lower)+`)`)
		} else {
			where = append(where, `lower(u.username) IN `+a.addList(len(f.Usernames), func(i int) any {
				return strings.ToLower(f.Usernames[i])
			}))
		}
	}
	if f.Search != "" {
		// A search reads every candidate row, so the per-row cost counts:
		// usernames are lowercase ASCII, so a plain LIKE on lower() matches
		// them without ILIKE's per-row case folding, and most notes are
		// empty, which a cheap comparison settles first.
		if tx.postgres() {
			name := a.add(likeContains(strings.ToLower(f.Search)))
			note := a.add(likeContains(f.Search))
			where = append(where, `(lower(u.username) LIKE `+name+` ESCAPE '\' OR (u.note <> '' AND u.note ILIKE `+note+` ESCAPE '\'))`)
		} else {
			// SQLite's LIKE ignores ASCII case already.
			p := a.add(likeContains(f.Search))
			where = append(where, `(u.username LIKE `+p+` ESCAPE '\' OR (u.note <> '' AND u.note LIKE `+p+` ESCAPE '\'))`)
		}
	}
	if len(f.AdminIDs) > 0 {
		if tx.postgres() {
			where = append(where, `u.admin_id = ANY(`+a.add(f.AdminIDs)+`)`)
		} else {
			where = append(where, `u.admin_id IN `+a.addList(len(f.AdminIDs), func(i int) any { return f.AdminIDs[i] }))
		}
	}
	if f.Status != "" {
		where = append(where, `u.status = `+a.add(string(f.Status)))
	}
	where, needTraffic := dashboardConds(&f, where, &a) // users_filters.go
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}

	if f.Limit > 0 && f.Limit <= maxWindowedPage {
		from := " FROM users u"
		if strings.HasPrefix(order, "t.") || needTraffic {
			from += " JOIN user_traffic t ON t.user_id = u.id"
		}
		users, total, err := tx.listUsersPage(from, cond, order, a, f.Offset, f.Limit)
		if err != nil {
			return nil, 0, fmt.Errorf("listing users: %w", err)
		}
		return users, total, nil
	}
	var total int
	countFrom := ` FROM users u`
	if needTraffic {
		countFrom += ` JOIN user_traffic t ON t.user_id = u.id`
	}
	if err := tx.queryRow(`SELECT COUNT(*)`+countFrom+cond, a...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("counting users: %w", err)
	}
	if total == 0 || f.Offset >= total {
		return []model.User{}, total, nil
	}
	q := `SELECT ` + userColumns + userFrom + cond + ` ORDER BY ` + order + limitOffset(&a, f.Offset, f.Limit)
	users, err := tx.collectUsers(q, a...)
	if err != nil {
		return nil, 0, fmt.Errorf("listing users: %w", err)
	}
	return users, total, nil
}

// maxWindowedPage bounds the pages listUsersPage serves; a larger one (an
// export) takes the plain count-then-select path.
const maxWindowedPage = 1000

// listUsersPage finds one page and the total in a single pass over the
// matching rows (COUNT(*) OVER () is computed before LIMIT), selecting only
// ids and sort keys; a search is a scan of every candidate row, and this
// makes it one scan instead of two. The page's full rows are then fetched
// by primary key.
func (tx *Tx) listUsersPage(from, cond, order string, condArgs args, offset, limit int) ([]model.User, int, error) {
	a := slices.Clone(condArgs)
	q := `SELECT u.id, COUNT(*) OVER ()` + from + cond + ` ORDER BY ` + order + limitOffset(&a, offset, limit)
	rows, err := tx.query(q, a...)
	if err != nil {
		return nil, 0, err
	}
	var (
		ids   []int64
		total int
	)
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id, &total); err != nil {
			rows.Close()
			return nil, 0, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	if len(ids) == 0 {
		// No row carried the total: nothing matches, or the offset is past
		// the end.
		if offset == 0 {
			return []model.User{}, 0, nil
		}
		err := tx.queryRow(`SELECT COUNT(*) FROM users u`+cond, condArgs...).Scan(&total)
		return []model.User{}, total, err
	}

	page, err := tx.usersInOrder(ids)
	if err != nil {
		return nil, 0, err
	}
	return page, total, nil
}

// usersInOrder loads the full rows of the users in ids (at most
// maxWindowedPage), in the order of ids. A user deleted since the ids were
// chosen is left out.
func (tx *Tx) usersInOrder(ids []int64) ([]model.User, error) {
	return usersInOrder(tx.query, tx.postgres(), ids)
}

// usersInOrder is Tx.usersInOrder with the query function given, so that
// Store.UsersByID runs it as one statement outside a transaction.
func usersInOrder(query func(q string, a ...any) (*sql.Rows, error), postgres bool, ids []int64) ([]model.User, error) {
	if len(ids) == 0 {
		return []model.User{}, nil
	}
	var b args
	in := ""
	if postgres {
		in = ` = ANY(` + b.add(ids) + `)`
	} else {
		in = ` IN ` + b.addList(len(ids), func(i int) any { return ids[i] })
	}
	rows, err := query(`SELECT `+userColumns+userFrom+` WHERE u.id`+in, b...)
	if err != nil {
		return nil, err
	}
	found, err := scanUsers(rows)
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]*model.User, len(found))
	for i := range found {
		byID[found[i].ID] = &found[i]
	}
	page := make([]model.User, 0, len(ids))
	for _, id := range ids {
		if u, ok := byID[id]; ok {
			page = append(page, *u)
		}
	}
	return page, nil
}

// queryIDs runs q, which selects one integer column, and returns its
// values in the order read.
func (tx *Tx) queryIDs(q string, a ...any) ([]int64, error) {
	rows, err := tx.query(q, a...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func (tx *Tx) collectUsers(q string, a ...any) ([]model.User, error) {
	if tx.postgres() {
		restore, err := tx.preferIndexJoins()
		if err != nil {
			return nil, err
		}
		users, err := tx.queryUsers(q, a...)
		if rerr := restore(); err == nil {
			err = rerr
		}
		return users, err
	}
	return tx.queryUsers(q, a...)
}

func (tx *Tx) queryUsers(q string, a ...any) ([]model.User, error) {
	rows, err := tx.query(q, a...)
	if err != nil {
		return nil, err
	}
	return scanUsers(rows)
}

// preferIndexJoins turns PostgreSQL's hash and merge joins off for this
// transaction until restore is called. Every user row joins its counters
// (user_traffic) and owner; the queries that read user rows start from a
// selective index (the review's candidates, a page's ids), and a nested
// loop over the counters' primary key then costs a probe per row. With the
// default random_page_cost the planner prefers to hash the whole counters
// table instead (a sequential scan of 100k rows, 10 to 60 ms per query,
// measured with EXPLAIN ANALYZE on the review's queries), which turned an
// idle review tick from 3 ms into 80.
func (tx *Tx) preferIndexJoins() (restore func() error, err error) {
	var hash, merge string
	if err := tx.queryRow(`SELECT current_setting('enable_hashjoin'), current_setting('enable_mergejoin'),
		set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)`).
		Scan(&hash, &merge, new(string), new(string)); err != nil {
		return nil, fmt.Errorf("setting join strategy: %w", err)
	}
	return func() error {
		if _, err := tx.exec(`SELECT set_config('enable_hashjoin', $1, true), set_config('enable_mergejoin', $2, true)`,
			hash, merge); err != nil {
			return fmt.Errorf("restoring join strategy: %w", err)
		}
		return nil
	}, nil
}

// scanUsers reads and closes rows of userColumns.
func scanUsers(rows *sql.Rows) ([]model.User, error) {
	defer rows.Close()
	out := []model.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *u)
	}
	return out, rows.Err()
}

// EachUserOnNodes calls fn for every user that nodes should carry (active
// and on_hold), in id order, streaming rows so memory stays flat at 100k
// users, with NodeBytesLeft set for users that have one stored. Called in a Read together with CurrentRevision it yields the
// desired state at that revision. fn must not use tx.
func (tx *Tx) EachUserOnNodes(fn func(*model.User) error) error {
	rows, err := tx.query(`SELECT `+userColumns+`, t.node_bytes_left`+userFrom+` WHERE u.status IN ($1, $2) ORDER BY u.id`,
		string(model.StatusActive), string(model.StatusOnHold))
	if err != nil {
		return fmt.Errorf("reading users on nodes: %w", err)
	}
	defer rows.Close()
	var (
		u  model.User
		us userScan
	)
	var left sql.NullInt64
	targets := append(us.targets(&u), &left)
	for rows.Next() {
		u = model.User{}
		if err := rows.Scan(targets...); err != nil {
			return fmt.Errorf("reading users on nodes: %w", err)
		}
		if left.Valid {
			u.NodeBytesLeft = &left.Int64
		}
		if err := us.decode(&u); err != nil {
			return fmt.Errorf("reading users on nodes: %w", err)
		}
		if err := fn(&u); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading users on nodes: %w", err)
	}
	return nil
}

// UsersToReview returns, in id order, the users whose status may need to
// change at now. Each part is an index range scan, so the cost follows the
// number of candidates (or of limited and on-hold users), not of all users:
//   - active users past expire (users_status_expire),
//   - active users at or over their data limit (user_traffic_limit_reached,
//     a partial index of exactly those users),
//   - limited users no longer over their limit (limit raised or removed,
//     usage reset), among the limited users,
//   - expired users no longer past expire (extended or removed),
//   - on_hold users whose hold timed out or who came online since the hold
//     was set (edit_at, else created_at), among the on-hold users.
//
// The caller decides the new status (model.ComputeStatus and hold rules).
func (tx *Tx) UsersToReview(now time.Time) ([]model.User, error) {
	sel := `SELECT ` + userColumns + userFrom + ` WHERE `
	q := sel + `u.status = 'active' AND u.expire > 0 AND u.expire <= $1` +
		` UNION ALL SELECT ` + userColumns + userFromTraffic + ` WHERE u.id = t.user_id AND t.limit_reached AND u.status = 'active'` +
		` UNION ALL ` + sel + `u.status = 'limited' AND NOT t.limit_reached` +
		` UNION ALL ` + sel + `u.status = 'expired' AND u.expire = 0` +
		` UNION ALL ` + sel + `u.status = 'expired' AND u.expire > $1` +
		` UNION ALL ` + sel + `u.status = 'on_hold' AND ((u.on_hold_timeout IS NOT NULL AND u.on_hold_timeout <= $1)` +
		` OR (t.online_at IS NOT NULL AND t.online_at >= COALESCE(u.edit_at, u.created_at)))`
	users, err := tx.collectUsers(q, now.Unix())
	if err != nil {
		return nil, fmt.Errorf("finding users to review: %w", err)
	}
	// An active user both expired and over its limit comes twice.
	slices.SortFunc(users, func(a, b model.User) int { return int(sign(a.ID - b.ID)) })
	users = slices.CompactFunc(users, func(a, b model.User) bool { return a.ID == b.ID })
	return users, nil
}

func sign(v int64) int64 {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}

// sqliteIDChunk bounds the ids per statement on SQLite (bound-parameter
// limit 32766, and modernc binds in time quadratic in the argument count).
const sqliteIDChunk = 500

// SetUsersStatus sets status, revision and last_status_change of many users
// with one statement (SQLite: one per 500 ids).
func (tx *Tx) SetUsersStatus(ids []int64, status model.Status, rev int64, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	if !status.Valid() {
		return fmt.Errorf("setting status of %d users: status %q: %w", len(ids), status, errInvalid)
	}
	if tx.postgres() {
		_, err := tx.exec(`UPDATE users SET status = $1, revision = $2, last_status_change = $3, ip_limit_until = NULL WHERE id = ANY($4)`,
			string(status), rev, at.Unix(), ids)
		if err != nil {
			return fmt.Errorf("setting status of %d users to %s: %w", len(ids), status, err)
		}
		return nil
	}
	for chunk := range slices.Chunk(ids, sqliteIDChunk) {
		a := args{string(status), rev, at.Unix()}
		in := a.addList(len(chunk), func(i int) any { return chunk[i] })
		if _, err := tx.exec(`UPDATE users SET status = $1, revision = $2, last_status_change = $3, ip_limit_until = NULL WHERE id IN `+in, a...); err != nil {
			return fmt.Errorf("setting status of %d users to %s: %w", len(ids), status, err)
		}
	}
	return nil
}

// CountUsersByStatus counts users per status, of one admin when adminID is
// not nil. Statuses without users are absent from the map.
func (tx *Tx) CountUsersByStatus(adminID *int64) (map[model.Status]int, error) {
	q := `SELECT status, COUNT(*) FROM users GROUP BY status`
	var a []any
	if adminID != nil {
		q = `SELECT status, COUNT(*) FROM users WHERE admin_id = $1 GROUP BY status`
		a = append(a, *adminID)
	}
	rows, err := tx.query(q, a...)
	if err != nil {
		return nil, fmt.Errorf("counting users by status: %w", err)
	}
	defer rows.Close()
	out := map[model.Status]int{}
	for rows.Next() {
		var (
			st model.Status
			n  int
		)
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("counting users by status: %w", err)
		}
		out[st] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("counting users by status: %w", err)
	}
	return out, nil
}

// SetNodeBytesLeft records, per user, the bytes_left that a change sent to
// the nodes carries (ids[i] gets left[i]). The state layer calls it for
// every upsert with a limit in the same transaction as the change, so the
// desired state EachUserOnNodes yields at a revision is what the changes up
// to it said, whatever traffic was counted since. A user whose upsert
// carries no limit keeps a stale value nobody reads (its data_limit is 0).
func (tx *Tx) SetNodeBytesLeft(ids, left []int64) error {
	if len(ids) != len(left) {
		return fmt.Errorf("setting nodes' bytes left: %d ids, %d values: %w", len(ids), len(left), errInvalid)
	}
	if len(ids) == 0 {
		return nil
	}
	if tx.postgres() {
		_, err := tx.exec(`UPDATE user_traffic t SET node_bytes_left = b.left_bytes
			FROM unnest($1::bigint[], $2::bigint[]) AS b (user_id, left_bytes) WHERE t.user_id = b.user_id`, ids, left)
		if err != nil {
			return fmt.Errorf("setting nodes' bytes left: %w", err)
		}
		return nil
	}
	for i, id := range ids {
		if _, err := tx.exec(`UPDATE user_traffic SET node_bytes_left = $1 WHERE user_id = $2`, left[i], id); err != nil {
			return fmt.Errorf("setting nodes' bytes left: %w", err)
		}
	}
	return nil
}
