package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

// What the user directory (backend/directory, an in-memory read model of
// the users list) reads from the database, and the hooks it needs to stay
// coherent. Every method here is one query or one snapshot; the caching
// and its rules live with the directory.

// tombstoneKeep is how long deletion tombstones are kept: a replica that
// listed no users for longer reloads its user directory instead of
// catching up.
const tombstoneKeep = 24 * time.Hour

// hooks are functions in-memory read models registered with the store.
type hooks struct {
	mu      sync.Mutex
	usage   []func() func(ids, used []int64, seqs int64)
	onClose []func()
}

// ObserveUsage registers begin, which ApplyUsage calls before each usage
// batch's transaction; when the batch commits and counts, ApplyUsage calls
// what begin returned with the users' ids (ascending), the bytes added to
// each (coefficient applied) and how much the batch raised the usage
// signature.
func (s *Store) ObserveUsage(begin func() func(ids, used []int64, seqs int64)) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	s.hooks.usage = append(s.hooks.usage, begin)
}

// OnClose registers fn, which Close runs before it closes the connection
// pools: a read model waits there for its background reads.
func (s *Store) OnClose(fn func()) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	s.hooks.onClose = append(s.hooks.onClose, fn)
}

func (h *hooks) usageStarting() []func(ids, used []int64, seqs int64) {
	h.mu.Lock()
	begins := h.usage
	h.mu.Unlock()
	if len(begins) == 0 {
		return nil
	}
	out := make([]func(ids, used []int64, seqs int64), len(begins))
	for i, b := range begins {
		out[i] = b()
	}
	return out
}

func (h *hooks) closing() {
	h.mu.Lock()
	fns := h.onClose
	h.onClose = nil
	h.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// ListUsers returns one page of users matching f and the number of users
// matching f across all pages, read in SQL in one read transaction
// (Tx.ListUsers). The user directory serves most pages without it.
func (s *Store) ListUsers(ctx context.Context, f UserFilter) ([]model.User, int, error) {
	var (
		users []model.User
		total int
	)
	err := s.Read(ctx, func(tx *Tx) error {
		var err error
		users, total, err = tx.ListUsers(f)
		return err
	})
	return users, total, err
}

// UsersByID reads the users of ids in that order, leaving out ids not
// found, in one statement (so one snapshot) without a transaction's round
// trips.
func (s *Store) UsersByID(ctx context.Context, ids []int64) ([]model.User, error) {
	query := func(q string, a ...any) (*sql.Rows, error) { return s.read.QueryContext(ctx, q, a...) }
	users, err := usersInOrder(query, s.postgres(), ids)
	if err != nil {
		return nil, fmt.Errorf("loading %d users: %w", len(ids), err)
	}
	return users, nil
}

// UserListHead reads the current revision in one single-row query. With
// search set, on PostgreSQL, it also returns the database's lower() of
// search, whose result depends on the database's locale, in the same round
// trip; elsewhere folded is empty.
func (s *Store) UserListHead(ctx context.Context, search string) (rev int64, folded string, err error) {
	if search != "" && s.postgres() {
		err = s.read.QueryRowContext(ctx, `SELECT value, lower(CAST($1 AS TEXT)) FROM revision WHERE id = 1`,
			search).Scan(&rev, &folded)
	} else {
		err = s.read.QueryRowContext(ctx, `SELECT value FROM revision WHERE id = 1`).Scan(&rev)
	}
	if err != nil {
		return 0, "", fmt.Errorf("reading revision: %w", err)
	}
	return rev, folded, nil
}

// userListColumns are a list entry's columns, for userListFrom and
// Tx.userListEntries.
const userListColumns = `u.id, u.username, lower(u.note), u.status, u.admin_id, u.data_limit, u.expire,
	u.created_at, t.used_traffic, u.revision`

const userListFrom = ` FROM users u JOIN user_traffic t ON t.user_id = u.id`

// UserListChanges reads, in one snapshot (Store.Read: REPEATABLE READ on
// PostgreSQL, so the revision and the rows agree), the current revision
// and either every user (full, or when tombstones after the revision after
// were pruned) or the users stamped and the tombstones recorded after it.
func (s *Store) UserListChanges(ctx context.Context, full bool, after int64) (*model.UserListChanges, error) {
	var c *model.UserListChanges
	err := s.Read(ctx, func(tx *Tx) error {
		c = &model.UserListChanges{Full: full}
		var err error
		if c.Revision, err = tx.CurrentRevision(); err != nil {
			return err
		}
		if !full {
			var horizon int64
			if err := tx.queryRow(`SELECT revision FROM user_tombstone_horizon WHERE id = 1`).Scan(&horizon); err != nil {
				return fmt.Errorf("reading tombstone horizon: %w", err)
			}
			c.Full = horizon > after
		}
		if c.Full {
			if c.Usage, err = tx.usageSignature(); err != nil {
				return err
			}
			c.Entries, err = tx.userListEntries(`SELECT ` + userListColumns + userListFrom + ` ORDER BY u.id`)
			return err
		}
		// A tombstone of a user that still exists marks a change of owner
		// (RecordOwnerMoves), not a deletion: the row read below has it.
		if c.Gone, err = tx.queryIDs(`SELECT user_id FROM user_tombstones t WHERE t.revision > $1
			AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = t.user_id)`, after); err != nil {
			return fmt.Errorf("reading tombstones: %w", err)
		}
		c.Entries, err = tx.userListEntries(`SELECT `+userListColumns+userListFrom+` WHERE u.revision > $1 ORDER BY u.id`, after)
		return err
	})
	return c, err
}

func (tx *Tx) userListEntries(q string, a ...any) ([]model.UserListEntry, error) {
	rows, err := tx.query(q, a...)
	if err != nil {
		return nil, fmt.Errorf("reading user list entries: %w", err)
	}
	defer rows.Close()
	var (
		out     []model.UserListEntry
		e       model.UserListEntry
		adminID sql.NullInt64
	)
	for rows.Next() {
		if err := rows.Scan(&e.ID, &e.Name, &e.Note, &e.Status, &adminID, &e.DataLimit, &e.Expire,
			&e.CreatedAt, &e.Used, &e.Revision); err != nil {
			return nil, fmt.Errorf("reading user list entries: %w", err)
		}
		e.Name = model.ASCIILower(e.Name)
		e.AdminID = 0
		if adminID.Valid {
			e.AdminID = adminID.Int64
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading user list entries: %w", err)
	}
	return out, nil
}

const usageSignatureQuery = `SELECT CAST(COALESCE(SUM(usage_seq), 0) AS BIGINT), COUNT(*) FROM nodes`

func (tx *Tx) usageSignature() (model.UsageSignature, error) {
	var u model.UsageSignature
	if err := tx.queryRow(usageSignatureQuery).Scan(&u.Seqs, &u.Nodes); err != nil {
		return u, fmt.Errorf("reading usage signature: %w", err)
	}
	return u, nil
}

// UsageSignature identifies the usage batches recorded so far by every
// replica: it moves with each batch (the sum of the nodes' usage_seq) and
// when a node is added or deleted. One single-row query.
func (s *Store) UsageSignature(ctx context.Context) (model.UsageSignature, error) {
	var u model.UsageSignature
	if err := s.read.QueryRowContext(ctx, usageSignatureQuery).Scan(&u.Seqs, &u.Nodes); err != nil {
		return u, fmt.Errorf("reading usage signature: %w", err)
	}
	return u, nil
}

// UsedTraffic reads every user's used_traffic, in one snapshot with its
// revision and usage signature.
func (s *Store) UsedTraffic(ctx context.Context) (*model.UsedTraffic, error) {
	var u model.UsedTraffic
	err := s.Read(ctx, func(tx *Tx) error {
		u.IDs, u.Used = u.IDs[:0], u.Used[:0]
		var err error
		if u.Revision, err = tx.CurrentRevision(); err != nil {
			return err
		}
		if u.Usage, err = tx.usageSignature(); err != nil {
			return err
		}
		rows, err := tx.query(`SELECT user_id, used_traffic FROM user_traffic ORDER BY user_id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, used int64
			if err := rows.Scan(&id, &used); err != nil {
				return err
			}
			u.IDs, u.Used = append(u.IDs, id), append(u.Used, used)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("reading used_traffic: %w", err)
	}
	return &u, nil
}

// PruneUserTombstones deletes the user directory's deletion tombstones
// older than a day (a replica that listed no users for that long reloads
// its directory instead of catching up). The scheduler runs it hourly, so
// tombstones stay bounded whether or not anyone lists users.
func (s *Store) PruneUserTombstones(ctx context.Context) error {
	return s.PruneUserTombstonesBefore(ctx, time.Now().Add(-tombstoneKeep))
}

// PruneUserTombstonesBefore deletes the tombstones recorded before before
// and raises the horizon over them, in one transaction.
func (s *Store) PruneUserTombstonesBefore(ctx context.Context, before time.Time) error {
	return s.Tx(ctx, func(tx *Tx) error {
		var horizon sql.NullInt64
		if err := tx.queryRow(`SELECT MAX(revision) FROM user_tombstones WHERE deleted_at < $1`, before.Unix()).
			Scan(&horizon); err != nil {
			return fmt.Errorf("pruning user tombstones: %w", err)
		}
		if !horizon.Valid {
			return nil
		}
		if _, err := tx.exec(`DELETE FROM user_tombstones WHERE revision <= $1`, horizon.Int64); err != nil {
			return fmt.Errorf("pruning user tombstones: %w", err)
		}
		if _, err := tx.exec(`UPDATE user_tombstone_horizon SET revision = $1 WHERE id = 1 AND revision < $1`,
			horizon.Int64); err != nil {
			return fmt.Errorf("pruning user tombstones: %w", err)
		}
		return nil
	})
}
