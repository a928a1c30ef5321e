package store

import (
	"fmt"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

// UserRef names a user without loading its row: enough to tell nodes to
// drop it (model.EmailFor(ID, Username)).
type UserRef struct {
	ID       int64
	Username string
	Status   model.Status
}

// AdminUserRefs returns the id, username and status of every user of the
// admin, in id order (an index range scan of users_admin_id).
func (tx *Tx) AdminUserRefs(adminID int64) ([]UserRef, error) {
	rows, err := tx.query(`SELECT id, username, status FROM users WHERE admin_id = $1 ORDER BY id`, adminID)
	if err != nil {
		return nil, fmt.Errorf("listing users of admin %d: %w", adminID, err)
	}
	defer rows.Close()
	var out []UserRef
	for rows.Next() {
		var r UserRef
		if err := rows.Scan(&r.ID, &r.Username, &r.Status); err != nil {
			return nil, fmt.Errorf("listing users of admin %d: %w", adminID, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing users of admin %d: %w", adminID, err)
	}
	return out, nil
}

// DisableAdminUsers sets every user of the admin that is not disabled to
// disabled, with revision rev and last_status_change at, in one statement
// (an id list of 100,000 users would take hundreds of chunked statements
// on SQLite). It returns how many users changed.
func (tx *Tx) DisableAdminUsers(adminID, rev int64, at time.Time) (int64, error) {
	res, err := tx.exec(`UPDATE users SET status = $1, revision = $2, last_status_change = $3, ip_limit_until = NULL
		WHERE admin_id = $4 AND status <> $1`, string(model.StatusDisabled), rev, at.Unix(), adminID)
	if err != nil {
		return 0, fmt.Errorf("disabling users of admin %d: %w", adminID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("disabling users of admin %d: %w", adminID, err)
	}
	return n, nil
}

// MoveAdminUsers sets every user of the admin in status from to status to,
// with revision rev and last_status_change at, in one statement, and
// returns how many changed.
func (tx *Tx) MoveAdminUsers(adminID int64, from, to model.Status, rev int64, at time.Time) (int64, error) {
	if !from.Valid() || !to.Valid() {
		return 0, fmt.Errorf("moving users of admin %d from %q to %q: %w", adminID, from, to, errInvalid)
	}
	res, err := tx.exec(`UPDATE users SET status = $1, revision = $2, last_status_change = $3, ip_limit_until = NULL
		WHERE admin_id = $4 AND status = $5`, string(to), rev, at.Unix(), adminID, string(from))
	if err != nil {
		return 0, fmt.Errorf("moving users of admin %d from %s to %s: %w", adminID, from, to, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("moving users of admin %d from %s to %s: %w", adminID, from, to, err)
	}
	return n, nil
}
