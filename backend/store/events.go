package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/outpost-panel/outpost/backend/model"
)

// The dashboard's events socket (package events) learns what changed by
// reading the database every replica shares, not the change feed: the feed
// carries only what nodes must see, so a user created disabled, a note
// edited or an expired user deleted leaves nothing in it, while every such
// change stamps users.revision or leaves a tombstone (see backend/directory).

// ChangedUser is a user changed or deleted after some revision.
type ChangedUser = model.ChangedUser

// UserChanges is what changed after a revision, as of Revision.
type UserChanges = model.UserChanges

// UsersChangedSince reads, in one snapshot, the current revision and up to
// limit users (changed rows and tombstones) whose revision is above after.
// When the revision has not moved it reads nothing else: one single-row
// query, cheap enough to run every second.
func (s *Store) UsersChangedSince(ctx context.Context, after int64, limit int) (UserChanges, error) {
	var out UserChanges
	err := s.Read(ctx, func(tx *Tx) error {
		out = UserChanges{}
		var err error
		if out.Revision, err = tx.CurrentRevision(); err != nil {
			return err
		}
		if out.Revision <= after {
			return nil
		}
		var horizon int64
		if err := tx.queryRow(`SELECT revision FROM user_tombstone_horizon WHERE id = 1`).Scan(&horizon); err != nil {
			return fmt.Errorf("reading tombstone horizon: %w", err)
		}
		out.Pruned = horizon > after
		read := func(q string, deleted bool) error {
			rows, err := tx.query(q, after, out.Revision, limit+1-len(out.Users))
			if err != nil {
				return fmt.Errorf("reading changed users: %w", err)
			}
			defer rows.Close()
			for rows.Next() {
				var (
					u     = ChangedUser{Deleted: deleted}
					owner sql.NullInt64
				)
				if err := rows.Scan(&u.ID, &u.Username, &owner); err != nil {
					return fmt.Errorf("reading changed users: %w", err)
				}
				u.AdminID = owner.Int64
				out.Users = append(out.Users, u)
			}
			return rows.Err()
		}
		if err := read(`SELECT id, username, admin_id FROM users WHERE revision > $1 AND revision <= $2
			ORDER BY revision LIMIT $3`, false); err != nil {
			return err
		}
		if len(out.Users) <= limit {
			if err := read(`SELECT user_id, username, admin_id FROM user_tombstones WHERE revision > $1 AND revision <= $2
				ORDER BY revision LIMIT $3`, true); err != nil {
				return err
			}
		}
		if len(out.Users) > limit {
			out.Users, out.Truncated = out.Users[:limit], true
		}
		return nil
	})
	return out, err
}

// RecordOwnerMoves leaves, at revision rev, a tombstone for each user that
// left an admin's view (given to another owner: AdminID is the previous
// owner), so the events socket tells the previous owner's dashboards as it
// tells them of a deletion. The user directories ignore a tombstone whose
// user still exists (UserListChanges), so only the events read these.
// Rows go in multi-row inserts.
func (tx *Tx) RecordOwnerMoves(rev int64, moves []ChangedUser) error {
	const chunk = 200
	now := tx.s.now().Unix()
	for len(moves) > 0 {
		n := min(len(moves), chunk)
		var (
			sb   strings.Builder
			args = make([]any, 0, 5*n)
		)
		sb.WriteString(`INSERT INTO user_tombstones (user_id, revision, deleted_at, username, admin_id) VALUES `)
		for i, m := range moves[:n] {
			if i > 0 {
				sb.WriteString(", ")
			}
			k := len(args)
			fmt.Fprintf(&sb, "($%d, $%d, $%d, $%d, $%d)", k+1, k+2, k+3, k+4, k+5)
			args = append(args, m.ID, rev, now, m.Username, nullID(m.AdminID))
		}
		if _, err := tx.exec(sb.String(), args...); err != nil {
			return fmt.Errorf("recording owner moves: %w", err)
		}
		moves = moves[n:]
	}
	return nil
}
