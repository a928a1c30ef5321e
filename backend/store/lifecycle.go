package store

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

// Lifecycle storage: periodic usage resets with their log, next plans,
// on-hold starts, auto-delete and the expired-users and usage reports. Every
// bulk write is one statement (SQLite: one per chunk of ids), never one per
// user.

// ResetPeriod is how long each periodic data_limit_reset_strategy waits
// after the last reset (or creation): Marzban counts days, not calendar
// months.
var ResetPeriod = map[model.ResetStrategy]time.Duration{
	model.ResetDay:   24 * time.Hour,
	model.ResetWeek:  7 * 24 * time.Hour,
	model.ResetMonth: 30 * 24 * time.Hour,
	model.ResetYear:  365 * 24 * time.Hour,
}

// resetStrategies fixes the order of the per-strategy range scans.
var resetStrategies = []model.ResetStrategy{model.ResetDay, model.ResetWeek, model.ResetMonth, model.ResetYear}

// UsageLog is one reset of a user's used_traffic.
type UsageLog = model.UsageLog

// resetDueStatuses are the statuses a periodic reset applies to (as in
// Marzban): a disabled, expired or on-hold user keeps its usage until it is
// active again, and is then reset at the next tick.
var resetDueStatuses = []model.Status{model.StatusActive, model.StatusLimited}

// resetDueParts are the WHERE clauses of the due-reset range scans, one per
// strategy and status. The literal "<> 'no_reset'" term lets SQLite pick the
// partial index users_reset_due.
func resetDueParts(a *args, now time.Time) []string {
	var parts []string
	for _, s := range resetStrategies {
		for _, st := range resetDueStatuses {
			parts = append(parts, `u.data_limit_reset_strategy <> 'no_reset' AND u.data_limit_reset_strategy = `+
				a.add(string(s))+` AND u.status = `+a.add(string(st))+
				` AND COALESCE(u.usage_reset_at, u.created_at) <= `+a.add(now.Add(-ResetPeriod[s]).Unix()))
		}
	}
	return parts
}

// UsersDueForReset returns, in id order, the active and limited users whose
// periodic reset is due at now (the strategy's period has elapsed since
// usage_reset_at, else created_at) and whom a reset changes beyond their
// counter: limited users and users with a data limit, whose bytes left
// nodes must learn. CountResetsDue counts all of them. One range scan of
// users_reset_due per strategy and status.
func (tx *Tx) UsersDueForReset(now time.Time) ([]model.User, error) {
	var (
		a     args
		parts []string
	)
	for _, part := range resetDueParts(&a, now) {
		parts = append(parts, `SELECT `+userColumns+userFrom+` WHERE `+part+
			` AND (u.status = 'limited' OR u.data_limit > 0)`)
	}
	users, err := tx.collectUsers(strings.Join(parts, ` UNION ALL `), a...)
	if err != nil {
		return nil, fmt.Errorf("finding users due for a usage reset: %w", err)
	}
	slices.SortFunc(users, func(x, y model.User) int { return int(sign(x.ID - y.ID)) })
	return users, nil
}

// UsersDueForResetWithoutLimit returns, in id order, the due users that
// UsersDueForReset leaves out: active users without a data limit, whose
// reset changes only their counter (no node learns of it, but webhooks
// report it). The same range scans.
func (tx *Tx) UsersDueForResetWithoutLimit(now time.Time) ([]model.User, error) {
	var (
		a     args
		parts []string
	)
	for _, part := range resetDueParts(&a, now) {
		parts = append(parts, `SELECT `+userColumns+userFrom+` WHERE `+part+
			` AND u.status = 'active' AND u.data_limit <= 0`)
	}
	users, err := tx.collectUsers(strings.Join(parts, ` UNION ALL `), a...)
	if err != nil {
		return nil, fmt.Errorf("finding unlimited users due for a usage reset: %w", err)
	}
	slices.SortFunc(users, func(x, y model.User) int { return int(sign(x.ID - y.ID)) })
	return users, nil
}

// CountResetsDue counts the users whose periodic reset is due at now,
// without reading their rows.
func (tx *Tx) CountResetsDue(now time.Time) (int64, error) {
	var (
		a     args
		parts []string
	)
	for _, part := range resetDueParts(&a, now) {
		parts = append(parts, `SELECT 1 FROM users u WHERE `+part)
	}
	var n int64
	err := tx.queryRow(`SELECT COUNT(*) FROM (`+strings.Join(parts, ` UNION ALL `)+`) due`, a...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("counting due usage resets: %w", err)
	}
	return n, nil
}

// ResetDueUsage does the periodic resets UsersDueForReset lists at now:
// the due ids are read with one statement (the range scans of
// resetDueParts), then each due user's usage is logged and zeroed,
// usage_reset_at = now, revision = rev, as ResetUsersUsage does (three
// set-based statements per chunk of ids; one in all on PostgreSQL). It
// returns how many users it reset. Call LockUsage first when the caller
// read the users in the same transaction, so the bytes logged are the
// bytes it saw.
func (tx *Tx) ResetDueUsage(now time.Time, rev int64) (int64, error) {
	if err := tx.lockUsage(); err != nil {
		return 0, err
	}
	ids, err := tx.DueResetIDs(now)
	if err != nil {
		return 0, err
	}
	if err := tx.ResetUsersUsage(ids, now, rev); err != nil {
		return 0, fmt.Errorf("doing due usage resets: %w", err)
	}
	return int64(len(ids)), nil
}

// DueResetIDs returns, in order, the ids of every user whose periodic reset
// is due at now (what CountResetsDue counts).
func (tx *Tx) DueResetIDs(now time.Time) ([]int64, error) {
	var (
		a     args
		parts []string
	)
	for _, part := range resetDueParts(&a, now) {
		parts = append(parts, `SELECT u.id FROM users u WHERE `+part)
	}
	ids, err := tx.queryIDs(strings.Join(parts, ` UNION ALL `), a...)
	if err != nil {
		return nil, fmt.Errorf("finding due usage resets: %w", err)
	}
	slices.Sort(ids)
	return ids, nil
}

// LockUsage makes usage batches wait until this transaction ends (see
// lockUsage); a no-op on SQLite, whose one writer already excludes them.
func (tx *Tx) LockUsage() error { return tx.lockUsage() }

// usageLockKey serializes ApplyUsage transactions on PostgreSQL (and the
// resets that must not interleave with them). Batches from several nodes
// update overlapping users in an order the planner picks, which would
// deadlock two of them now and then; one at a time each is a single bulk
// statement, so the queue is short.
const usageLockKey = 0x6f7573616765 // "ousage"

// lockUsage makes usage batches wait until this transaction ends, so the
// used_traffic logged and the used_traffic zeroed are the same bytes (on
// PostgreSQL a batch could otherwise commit between the two statements;
// SQLite's one writer already excludes it).
func (tx *Tx) lockUsage() error {
	if !tx.postgres() {
		return nil
	}
	if _, err := tx.exec(`SELECT pg_advisory_xact_lock($1)`, int64(usageLockKey)); err != nil {
		return fmt.Errorf("locking usage: %w", err)
	}
	return nil
}

// idFilter renders "<col> = ANY($n)" (PostgreSQL) or "<col> IN (...)" for
// one chunk of ids.
func (tx *Tx) idFilter(a *args, col string, ids []int64) string {
	if tx.postgres() {
		return col + ` = ANY(` + a.add(ids) + `)`
	}
	return col + ` IN ` + a.addList(len(ids), func(i int) any { return ids[i] })
}

// eachIDChunk runs fn over ids in chunks SQLite can bind; PostgreSQL takes
// them as one array.
func (tx *Tx) eachIDChunk(ids []int64, fn func(chunk []int64) error) error {
	if tx.postgres() {
		return fn(ids)
	}
	for chunk := range slices.Chunk(ids, sqliteIDChunk) {
		if err := fn(chunk); err != nil {
			return err
		}
	}
	return nil
}

// ResetUsersUsage logs the used_traffic of each user in ids and zeroes it,
// stamping usage_reset_at = at and revision = rev. Lifetime usage is kept.
func (tx *Tx) ResetUsersUsage(ids []int64, at time.Time, rev int64) error {
	if len(ids) == 0 {
		return nil
	}
	if err := tx.lockUsage(); err != nil {
		return err
	}
	if !tx.postgres() {
		if err := tx.resetUsersUsageSQLite(ids, at, rev); err != nil {
			return fmt.Errorf("resetting usage of %d users: %w", len(ids), err)
		}
		return nil
	}
	err := tx.eachIDChunk(ids, func(chunk []int64) error {
		a := args{at.Unix()}
		if _, err := tx.exec(`INSERT INTO user_usage_logs (user_id, used_traffic_at_reset, reset_at)
			SELECT user_id, used_traffic, $1 FROM user_traffic WHERE `+tx.idFilter(&a, "user_id", chunk), a...); err != nil {
			return fmt.Errorf("logging usage: %w", err)
		}
		a = args{}
		if _, err := tx.exec(`UPDATE user_traffic SET used_traffic = 0 WHERE `+
			tx.idFilter(&a, "user_id", chunk), a...); err != nil {
			return fmt.Errorf("zeroing usage: %w", err)
		}
		a = args{}
		if _, err := tx.exec(`UPDATE user_devices SET used_traffic = 0 WHERE used_traffic <> 0 AND `+
			tx.idFilter(&a, "user_id", chunk), a...); err != nil {
			return fmt.Errorf("zeroing device usage: %w", err)
		}
		a = args{at.Unix(), rev}
		if _, err := tx.exec(`UPDATE users SET usage_reset_at = $1, revision = $2 WHERE `+
			tx.idFilter(&a, "id", chunk), a...); err != nil {
			return fmt.Errorf("zeroing usage: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("resetting usage of %d users: %w", len(ids), err)
	}
	return nil
}

// resetUsersUsageSQLite is ResetUsersUsage's SQLite path: the ids go into
// the usage batch temp table as one JSON parameter and three statements
// read them from there, instead of three statements per chunk of bound
// ids, each parsed anew by the driver (10,000 users, pprof of the review
// benchmark: 430 ms of CPU before, 330 ms after; what remains is mostly
// rewriting the users rows and their revision and reset indexes).
func (tx *Tx) resetUsersUsageSQLite(ids []int64, at time.Time, rev int64) error {
	if err := tx.loadUsageBatch(ids, make([]int64, len(ids))); err != nil {
		return err
	}
	const batch = `(SELECT user_id FROM temp.usage_batch)`
	steps := []struct {
		what, query string
		args        []any
	}{
		{"logging usage", `INSERT INTO user_usage_logs (user_id, used_traffic_at_reset, reset_at)
			SELECT user_id, used_traffic, $1 FROM user_traffic WHERE user_id IN ` + batch, []any{at.Unix()}},
		{"zeroing usage", `UPDATE user_traffic SET used_traffic = 0 WHERE user_id IN ` + batch, nil},
		{"zeroing device usage", `UPDATE user_devices SET used_traffic = 0 WHERE used_traffic <> 0 AND user_id IN ` + batch, nil},
		{"stamping resets", `UPDATE users SET usage_reset_at = $1, revision = $2 WHERE id IN ` + batch, []any{at.Unix(), rev}},
		{"clearing usage batch table", `DELETE FROM temp.usage_batch`, nil},
	}
	for _, st := range steps {
		if _, err := tx.exec(st.query, st.args...); err != nil {
			return fmt.Errorf("%s: %w", st.what, err)
		}
	}
	return nil
}

// ResetAllUsersUsage resets every user's usage (of one admin when adminID is
// not nil) like ResetUsersUsage, with two statements in all, and returns
// how many users it reset.
func (tx *Tx) ResetAllUsersUsage(adminID *int64, at time.Time, rev int64) (int64, error) {
	if err := tx.lockUsage(); err != nil {
		return 0, err
	}
	// admin_id in user_traffic is the trigger-kept copy of the owner.
	cond, a := "", args{at.Unix()}
	if adminID != nil {
		cond = ` WHERE admin_id = ` + a.add(*adminID)
	}
	if _, err := tx.exec(`INSERT INTO user_usage_logs (user_id, used_traffic_at_reset, reset_at)
		SELECT user_id, used_traffic, $1 FROM user_traffic`+cond, a...); err != nil {
		return 0, fmt.Errorf("logging usage of all users: %w", err)
	}
	a = args{}
	if adminID != nil {
		cond = ` WHERE admin_id = ` + a.add(*adminID)
	}
	if _, err := tx.exec(`UPDATE user_traffic SET used_traffic = 0`+cond, a...); err != nil {
		return 0, fmt.Errorf("zeroing usage of all users: %w", err)
	}
	a = args{}
	devCond := ` WHERE used_traffic <> 0`
	if adminID != nil {
		devCond += ` AND user_id IN (SELECT user_id FROM user_traffic WHERE admin_id = ` + a.add(*adminID) + `)`
	}
	if _, err := tx.exec(`UPDATE user_devices SET used_traffic = 0`+devCond, a...); err != nil {
		return 0, fmt.Errorf("zeroing device usage of all users: %w", err)
	}
	a = args{at.Unix(), rev}
	if adminID != nil {
		cond = ` WHERE admin_id = ` + a.add(*adminID)
	}
	res, err := tx.exec(`UPDATE users SET usage_reset_at = $1, revision = $2`+cond, a...)
	if err != nil {
		return 0, fmt.Errorf("zeroing usage of all users: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("zeroing usage of all users: %w", err)
	}
	return n, nil
}

// UsersWithLimits returns the users whose node state or status a usage
// reset changes: those on nodes with a data limit (their bytes left grow)
// and the limited ones (of one admin when adminID is not nil).
func (tx *Tx) UsersWithLimits(adminID *int64) ([]model.User, error) {
	a := args{}
	q := `SELECT ` + userColumns + userFrom + ` WHERE (u.status = 'limited' OR (u.status IN ('active', 'on_hold') AND u.data_limit > 0))`
	if adminID != nil {
		q += ` AND u.admin_id = ` + a.add(*adminID)
	}
	users, err := tx.collectUsers(q+` ORDER BY u.id`, a...)
	if err != nil {
		return nil, fmt.Errorf("loading users with limits: %w", err)
	}
	return users, nil
}

// UsageLogs returns a user's usage resets, oldest first.
func (tx *Tx) UsageLogs(userID int64) ([]UsageLog, error) {
	rows, err := tx.query(`SELECT user_id, used_traffic_at_reset, reset_at FROM user_usage_logs
		WHERE user_id = $1 ORDER BY reset_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("reading usage log of user %d: %w", userID, err)
	}
	defer rows.Close()
	out := []UsageLog{}
	for rows.Next() {
		var l UsageLog
		if err := rows.Scan(&l.UserID, &l.UsedTrafficAtReset, reqTime{&l.ResetAt}); err != nil {
			return nil, fmt.Errorf("reading usage log of user %d: %w", userID, err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading usage log of user %d: %w", userID, err)
	}
	return out, nil
}

// UsageLogPage returns one page of a user's usage resets, newest first
// (limit <= 0: all after offset), and how many there are in all. The index
// user_usage_logs_user serves both the count and the page.
func (tx *Tx) UsageLogPage(userID int64, offset, limit int) ([]UsageLog, int, error) {
	var total int
	if err := tx.queryRow(`SELECT COUNT(*) FROM user_usage_logs WHERE user_id = $1`, userID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("counting usage log of user %d: %w", userID, err)
	}
	out := []UsageLog{}
	if total == 0 || offset >= total {
		return out, total, nil
	}
	if limit <= 0 {
		limit = total
	}
	rows, err := tx.query(`SELECT user_id, used_traffic_at_reset, reset_at FROM user_usage_logs
		WHERE user_id = $1 ORDER BY reset_at DESC, id DESC LIMIT $2 OFFSET $3`, userID, limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("reading usage log of user %d: %w", userID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var l UsageLog
		if err := rows.Scan(&l.UserID, &l.UsedTrafficAtReset, reqTime{&l.ResetAt}); err != nil {
			return nil, 0, fmt.Errorf("reading usage log of user %d: %w", userID, err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("reading usage log of user %d: %w", userID, err)
	}
	return out, total, nil
}

// UsersWithPendingPlan returns the limited and expired users that hold a
// next plan (from the partial index users_next_plan): plans that wait for
// their second condition, or users an admin edit made limited.
func (tx *Tx) UsersWithPendingPlan() ([]model.User, error) {
	users, err := tx.collectUsers(`SELECT ` + userColumns + userFrom +
		` WHERE u.next_plan IS NOT NULL AND u.status IN ('limited', 'expired') ORDER BY u.id`)
	if err != nil {
		return nil, fmt.Errorf("finding users with a pending next plan: %w", err)
	}
	return users, nil
}

// StartOnHold starts the clock of on-hold users: expire = at +
// on_hold_expire_duration, saturating at model.MaxExpire (the sum is never
// computed when it would pass it, so no row can overflow the column), the
// hold settings cleared, revision = rev. The caller sets their status.
func (tx *Tx) StartOnHold(ids []int64, at time.Time, rev int64) error {
	err := tx.eachIDChunk(ids, func(chunk []int64) error {
		a := args{at.Unix(), rev, model.MaxExpire, max(model.MaxExpire-at.Unix(), 0)}
		_, err := tx.exec(`UPDATE users SET expire = CASE WHEN on_hold_expire_duration >= $4 THEN $3
				WHEN on_hold_expire_duration <= 0 THEN $1 ELSE $1 + on_hold_expire_duration END,
			on_hold_expire_duration = 0, on_hold_timeout = NULL, revision = $2 WHERE `+tx.idFilter(&a, "id", chunk), a...)
		return err
	})
	if err != nil {
		return fmt.Errorf("starting %d on-hold users: %w", len(ids), err)
	}
	return nil
}

// PlanUpdate is the outcome of one user's next plan.
type PlanUpdate struct {
	UserID    int64
	DataLimit int64
	Expire    int64
}

// sqlitePlanChunk is rows per UPDATE ... FROM (VALUES ...) on SQLite.
const sqlitePlanChunk = 250

// ApplyPlans applies next plans: each user's usage is logged and zeroed,
// data_limit and expire set as given, next_plan cleared, usage_reset_at =
// at, revision = rev. The caller sets their status.
func (tx *Tx) ApplyPlans(plans []PlanUpdate, at time.Time, rev int64) error {
	if len(plans) == 0 {
		return nil
	}
	ids := make([]int64, len(plans))
	for i, p := range plans {
		ids[i] = p.UserID
	}
	if err := tx.ResetUsersUsage(ids, at, rev); err != nil {
		return err
	}
	if tx.postgres() {
		limits, expires := make([]int64, len(plans)), make([]int64, len(plans))
		for i, p := range plans {
			limits[i], expires[i] = p.DataLimit, p.Expire
		}
		if _, err := tx.exec(`UPDATE users u SET data_limit = v.data_limit, expire = v.expire, next_plan = NULL
			FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS v (id, data_limit, expire)
			WHERE u.id = v.id`, ids, limits, expires); err != nil {
			return fmt.Errorf("applying %d next plans: %w", len(plans), err)
		}
		return nil
	}
	for chunk := range slices.Chunk(plans, sqlitePlanChunk) {
		var a args
		rows := make([]string, len(chunk))
		for i, p := range chunk {
			rows[i] = "(" + a.add(p.UserID) + ", " + a.add(p.DataLimit) + ", " + a.add(p.Expire) + ")"
		}
		if _, err := tx.exec(`UPDATE users SET data_limit = v.column2, expire = v.column3, next_plan = NULL
			FROM (VALUES `+strings.Join(rows, ", ")+`) AS v WHERE users.id = v.column1`, a...); err != nil {
			return fmt.Errorf("applying %d next plans: %w", len(plans), err)
		}
	}
	return nil
}

// UsersToAutoDelete returns the limited and expired users whose
// auto_delete_in_days have passed since they became so (last_status_change).
// A row with a value out of range is left out rather than overflow the
// sum (PostgreSQL would fail the query for everyone): CASE computes it only
// for rows in range.
func (tx *Tx) UsersToAutoDelete(now time.Time) ([]model.User, error) {
	users, err := tx.collectUsers(`SELECT `+userColumns+userFrom+
		` WHERE u.auto_delete_in_days IS NOT NULL AND u.status IN ('limited', 'expired')
		AND CASE WHEN u.auto_delete_in_days BETWEEN 0 AND $2
			AND COALESCE(u.last_status_change, u.created_at) BETWEEN $3 AND $1
			THEN COALESCE(u.last_status_change, u.created_at) + u.auto_delete_in_days * 86400 <= $1
			ELSE FALSE END
		ORDER BY u.id`, now.Unix(), model.MaxAutoDeleteDays, now.Unix()-model.MaxExpire)
	if err != nil {
		return nil, fmt.Errorf("finding users to auto-delete: %w", err)
	}
	return users, nil
}

// DeleteUsers deletes many users with their usage history and usage log.
func (tx *Tx) DeleteUsers(ids []int64) error {
	err := tx.eachIDChunk(ids, func(chunk []int64) error {
		for _, table := range []struct{ name, col string }{
			// Users first, as DeleteUser does: on PostgreSQL that waits
			// for a usage batch holding them.
			{"users", "id"}, {"node_user_usages", "user_id"}, {"user_usage_logs", "user_id"},
		} {
			var a args
			if _, err := tx.exec(`DELETE FROM `+table.name+` WHERE `+tx.idFilter(&a, table.col, chunk), a...); err != nil {
				return fmt.Errorf("deleting from %s: %w", table.name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("deleting %d users: %w", len(ids), err)
	}
	return nil
}

// ExpiredUsers returns the expired users whose expire is in [after, before]
// and the limited users who became limited in that range (both ends
// included, as Marzban's expired_after/expired_before are), of one admin when
// adminID is not nil, in id order.
func (tx *Tx) ExpiredUsers(after, before time.Time, adminID *int64) ([]model.User, error) {
	a := args{after.Unix(), before.Unix()}
	q := `SELECT ` + userColumns + userFrom + ` WHERE ((u.status = 'expired' AND u.expire >= $1 AND u.expire <= $2)
		OR (u.status = 'limited' AND COALESCE(u.last_status_change, u.created_at) >= $1
			AND COALESCE(u.last_status_change, u.created_at) <= $2))`
	if adminID != nil {
		q += ` AND u.admin_id = ` + a.add(*adminID)
	}
	users, err := tx.collectUsers(q+` ORDER BY u.id`, a...)
	if err != nil {
		return nil, fmt.Errorf("listing expired users: %w", err)
	}
	return users, nil
}

// NodeTotal is bytes used through one node.
type NodeTotal struct {
	NodeID int64
	Used   int64
}

// UserUsageByNode sums a user's usage per node over the hours in [start, end).
func (tx *Tx) UserUsageByNode(userID int64, start, end time.Time) ([]NodeTotal, error) {
	out, err := tx.collectNodeTotals(`SELECT node_id, CAST(SUM(used) AS BIGINT) FROM node_user_usages
		WHERE user_id = $1 AND hour >= $2 AND hour < $3 GROUP BY node_id ORDER BY node_id`,
		userID, hourOf(start), end.Unix())
	if err != nil {
		return nil, fmt.Errorf("summing usage of user %d: %w", userID, err)
	}
	return out, nil
}

// UsersUsageByNode sums the usage of all users (of the admins in adminIDs
// when not empty) per node over the hours in [start, end).
func (tx *Tx) UsersUsageByNode(start, end time.Time, adminIDs []int64) ([]NodeTotal, error) {
	if len(adminIDs) > maxListedNames {
		return nil, fmt.Errorf("summing users usage: more than %d admins: %w", maxListedNames, errInvalid)
	}
	a := args{hourOf(start), end.Unix()}
	q := `SELECT n.node_id, CAST(SUM(n.used) AS BIGINT) FROM node_user_usages n WHERE n.hour >= $1 AND n.hour < $2`
	if len(adminIDs) > 0 {
		q = `SELECT n.node_id, CAST(SUM(n.used) AS BIGINT) FROM node_user_usages n JOIN users u ON u.id = n.user_id
			WHERE n.hour >= $1 AND n.hour < $2 AND ` + tx.idFilter(&a, "u.admin_id", adminIDs)
	}
	out, err := tx.collectNodeTotals(q+` GROUP BY n.node_id ORDER BY n.node_id`, a...)
	if err != nil {
		return nil, fmt.Errorf("summing users usage: %w", err)
	}
	return out, nil
}

func (tx *Tx) collectNodeTotals(q string, a ...any) ([]NodeTotal, error) {
	rows, err := tx.query(q, a...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []NodeTotal{}
	for rows.Next() {
		var t NodeTotal
		if err := rows.Scan(&t.NodeID, &t.Used); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// DayTotal is bytes used in one UTC day.
type DayTotal = model.DayTotal

// UserUsageByDay sums a user's usage over every node per UTC day over the
// hours in [start, end); days without traffic are left out. One range scan
// of the user's rows (the primary key starts with user_id).
func (tx *Tx) UserUsageByDay(userID int64, start, end time.Time) ([]DayTotal, error) {
	rows, err := tx.query(`SELECT (hour / 86400) * 86400 AS day, CAST(SUM(used) AS BIGINT) FROM node_user_usages
		WHERE user_id = $1 AND hour >= $2 AND hour < $3 GROUP BY day ORDER BY day`,
		userID, hourOf(start), end.Unix())
	if err != nil {
		return nil, fmt.Errorf("summing daily usage of user %d: %w", userID, err)
	}
	defer rows.Close()
	out := []DayTotal{}
	for rows.Next() {
		var d DayTotal
		if err := rows.Scan(&d.Day, &d.Used); err != nil {
			return nil, fmt.Errorf("summing daily usage of user %d: %w", userID, err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("summing daily usage of user %d: %w", userID, err)
	}
	return out, nil
}
