package store

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/outpost-panel/outpost/backend/model"
)

// capsUnlimited is the SQL condition of an unlimited user (model.AdminCaps
// AllowUnlimited): no data limit, or no expiry while not on hold.
const capsUnlimited = `(data_limit = 0 OR (expire = 0 AND on_hold_expire_duration = 0))`

// LockAdminCaps reads the admin's caps and users_usage, locking its row on
// PostgreSQL (SELECT ... FOR UPDATE) until the transaction ends, so two
// transactions checking the same admin's caps run one after the other.
// SQLite has one writer at a time already.
func (tx *Tx) LockAdminCaps(id int64) (model.AdminCaps, int64, error) {
	var c model.AdminCaps
	var usage int64
	q := `SELECT max_users, max_data_limit, max_used_traffic, allow_unlimited, users_usage FROM admins WHERE id = $1`
	if tx.postgres() {
		q += ` FOR UPDATE`
	}
	err := tx.queryRow(q, id).Scan(optInt64{&c.MaxUsers}, optInt64{&c.MaxDataLimit}, optInt64{&c.MaxUsedTraffic},
		optBool{&c.AllowUnlimited}, &usage)
	if errors.Is(err, sql.ErrNoRows) {
		return c, 0, fmt.Errorf("admin %d: %w", id, errNotFound)
	}
	if err != nil {
		return c, 0, fmt.Errorf("reading caps of admin %d: %w", id, err)
	}
	return c, usage, nil
}

// AdminCapsUse counts the admin's users, sums their data limits and counts
// the unlimited ones: one aggregate over the users_admin_caps index.
// UsedTraffic is left to the caller (it is admins.users_usage).
func (tx *Tx) AdminCapsUse(id int64) (model.CapsUse, error) {
	var u model.CapsUse
	err := tx.queryRow(`SELECT COUNT(*), COALESCE(SUM(data_limit), 0),
			COALESCE(SUM(CASE WHEN `+capsUnlimited+` THEN 1 ELSE 0 END), 0)
		FROM users WHERE admin_id = $1`, id).Scan(&u.Users, &u.DataLimit, &u.UnlimitedUsers)
	if err != nil {
		return u, fmt.Errorf("reading caps use of admin %d: %w", id, err)
	}
	return u, nil
}

// AdminsCapsUse is AdminCapsUse for every admin that owns users, in one
// grouped query (GET /api/admins), by admin id.
func (tx *Tx) AdminsCapsUse() (map[int64]model.CapsUse, error) {
	rows, err := tx.query(`SELECT admin_id, COUNT(*), COALESCE(SUM(data_limit), 0),
			COALESCE(SUM(CASE WHEN ` + capsUnlimited + ` THEN 1 ELSE 0 END), 0)
		FROM users WHERE admin_id IS NOT NULL GROUP BY admin_id`)
	if err != nil {
		return nil, fmt.Errorf("reading admins' caps use: %w", err)
	}
	defer rows.Close()
	out := map[int64]model.CapsUse{}
	for rows.Next() {
		var id int64
		var u model.CapsUse
		if err := rows.Scan(&id, &u.Users, &u.DataLimit, &u.UnlimitedUsers); err != nil {
			return nil, fmt.Errorf("reading admins' caps use: %w", err)
		}
		out[id] = u
	}
	return out, rows.Err()
}
