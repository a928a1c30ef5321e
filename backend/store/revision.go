package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Change is one entry of the outbox of node-affecting changes.
type Change struct {
	Revision int64
	Data     []byte
}

// BumpRevision takes the next revision. It must come before any write of a
// row another change may lock (users, admins' caps, ...): the UPDATE
// row-locks the counter until commit (SQLite: the one writer does the
// same), so transactions commit in revision order and a reader of
// ChangesSince never sees N+1 before N. Lock order: the revision row, then
// the rows a change writes. A change may read and insert before it (see
// state.changeLate), which keeps the row held for fewer round trips.
func (tx *Tx) BumpRevision() (int64, error) {
	var rev int64
	err := tx.queryRow(`UPDATE revision SET value = value + 1 WHERE id = 1 RETURNING value`).Scan(&rev)
	if err != nil {
		return 0, fmt.Errorf("bumping revision: %w", err)
	}
	if !tx.revised {
		tx.revised, tx.bumpedAt, tx.held = true, time.Now(), 0
	}
	return rev, nil
}

// CurrentRevision is the newest revision visible to this transaction.
func (tx *Tx) CurrentRevision() (int64, error) {
	var rev int64
	if err := tx.queryRow(`SELECT value FROM revision WHERE id = 1`).Scan(&rev); err != nil {
		return 0, fmt.Errorf("reading revision: %w", err)
	}
	return rev, nil
}

// AppendChange records the change made at rev in the outbox.
func (tx *Tx) AppendChange(rev int64, data []byte) error {
	if data == nil {
		data = []byte{}
	}
	// No statement savepoint: the caller ends the transaction on any error
	// here, and on PostgreSQL SAVEPOINT and RELEASE were two more round
	// trips under the revision row every other change waits for.
	_, err := tx.exec(`INSERT INTO changes (revision, data, created_at) VALUES ($1, $2, $3)`, rev, data, time.Now().Unix())
	if isUniqueViolation(err) {
		return fmt.Errorf("appending change %d: %w", rev, errConflict)
	}
	if err != nil {
		return fmt.Errorf("appending change %d: %w", rev, err)
	}
	return nil
}

// ChangesSince returns up to limit changes with revision > after, ascending.
func (s *Store) ChangesSince(ctx context.Context, after int64, limit int) ([]Change, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("changes since %d: limit %d: %w", after, limit, errInvalid)
	}
	rows, err := s.outboxDB().QueryContext(ctx,
		`SELECT revision, data FROM changes WHERE revision > $1 ORDER BY revision LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("reading changes since %d: %w", after, err)
	}
	defer rows.Close()
	var out []Change
	for rows.Next() {
		var c Change
		if err := rows.Scan(&c.Revision, &c.Data); err != nil {
			return nil, fmt.Errorf("reading changes since %d: %w", after, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading changes since %d: %w", after, err)
	}
	return out, nil
}

// OldestChange is the lowest retained revision; ok is false when the outbox
// is empty. A node at applied revision R can get a delta when R+1 >= rev.
func (s *Store) OldestChange(ctx context.Context) (rev int64, ok bool, err error) {
	var v sql.NullInt64
	if err := s.outboxDB().QueryRowContext(ctx, `SELECT MIN(revision) FROM changes`).Scan(&v); err != nil {
		return 0, false, fmt.Errorf("reading oldest change: %w", err)
	}
	return v.Int64, v.Valid, nil
}

// PruneChanges deletes changes at or below keepAfter, keeping those after it.
func (s *Store) PruneChanges(ctx context.Context, keepAfter int64) error {
	return s.Tx(ctx, func(tx *Tx) error {
		if _, err := tx.exec(`DELETE FROM changes WHERE revision <= $1`, keepAfter); err != nil {
			return fmt.Errorf("pruning changes up to %d: %w", keepAfter, err)
		}
		return nil
	})
}

// Setting reads one key of the settings table.
func (tx *Tx) Setting(key string) (string, bool, error) {
	var v string
	err := tx.queryRow(`SELECT value FROM settings WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("reading setting %q: %w", key, err)
	}
	return v, true, nil
}

// SetSetting creates or replaces one setting.
func (tx *Tx) SetSetting(key, value string) error {
	_, err := tx.exec(`INSERT INTO settings (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("writing setting %q: %w", key, err)
	}
	return nil
}

// CoreConfig returns the stored Xray core config and the revision it was set
// at; ErrNotFound when none was ever stored.
func (tx *Tx) CoreConfig() (data []byte, rev int64, err error) {
	err = tx.queryRow(`SELECT data, revision FROM core_config WHERE id = 1`).Scan(&data, &rev)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, fmt.Errorf("core config: %w", errNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("reading core config: %w", err)
	}
	return data, rev, nil
}

// CoreConfigRevision is the revision the stored core config was set at
// (0 when none was ever stored): a cached config is current while it
// matches, without reading the config itself.
func (tx *Tx) CoreConfigRevision() (int64, error) {
	var rev int64
	err := tx.queryRow(`SELECT revision FROM core_config WHERE id = 1`).Scan(&rev)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading core config revision: %w", err)
	}
	return rev, nil
}

// SetCoreConfig replaces the core config, recorded at revision rev.
func (tx *Tx) SetCoreConfig(data []byte, rev int64) error {
	if data == nil {
		data = []byte{}
	}
	_, err := tx.exec(`INSERT INTO core_config (id, data, revision) VALUES (1, $1, $2)
		ON CONFLICT (id) DO UPDATE SET data = excluded.data, revision = excluded.revision`, data, rev)
	if err != nil {
		return fmt.Errorf("writing core config: %w", err)
	}
	return nil
}

// InitSetting stores value under key unless the key already has one, and
// returns what is stored either way. Replicas starting together on a fresh
// database all call it; exactly one value wins and every replica reads it.
func (tx *Tx) InitSetting(key, value string) (string, error) {
	if _, err := tx.exec(`INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, key, value); err != nil {
		return "", fmt.Errorf("initializing setting %q: %w", key, err)
	}
	v, ok, err := tx.Setting(key)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("setting %q vanished after insert", key)
	}
	return v, nil
}
