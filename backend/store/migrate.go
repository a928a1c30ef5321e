package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// migrationFS holds one numbered file per schema step per engine
// (NNNN_name.sql). Files are append-only: a released one is never edited.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations(engine string) ([]migration, error) {
	dir := "migrations/" + engine
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s/%s: name must be NNNN_name.sql", dir, e.Name())
		}
		body, err := fs.ReadFile(migrationFS, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("reading migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migrations for %s: expected version %d, found %s", engine, i+1, m.name)
		}
	}
	return ms, nil
}

// migrationLockKey is the PostgreSQL advisory lock that makes replicas
// starting together apply migrations one at a time.
const migrationLockKey = 0x6f7574706f7374 // "outpost"

// migrate applies pending migrations (up to version upTo when it is not 0)
// in one transaction: either the schema moves to the newest version or it
// stays where it was.
func (s *Store) migrate(ctx context.Context, upTo int) error {
	ms, err := loadMigrations(s.engine)
	if err != nil {
		return err
	}
	if upTo > 0 && upTo < len(ms) {
		ms = ms[:upTo]
	}
	return s.Tx(ctx, func(tx *Tx) error {
		tx.stmts = nil // each statement runs once: none worth preparing
		if s.postgres() {
			if _, err := tx.exec(`SELECT pg_advisory_xact_lock($1)`, int64(migrationLockKey)); err != nil {
				return fmt.Errorf("locking migrations: %w", err)
			}
		}
		if _, err := tx.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at BIGINT NOT NULL
		)`); err != nil {
			return fmt.Errorf("creating schema_migrations: %w", err)
		}
		var current int
		if err := tx.queryRow(`SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return fmt.Errorf("reading schema version: %w", err)
		}
		if current > len(ms) {
			return fmt.Errorf("database schema version %d is newer than this binary's %d: run a newer outpost", current, len(ms))
		}
		for _, m := range ms[current:] {
			if _, err := tx.exec(m.sql); err != nil {
				return fmt.Errorf("applying migration %s: %w", m.name, err)
			}
			if _, err := tx.exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, time.Now().Unix()); err != nil {
				return fmt.Errorf("recording migration %s: %w", m.name, err)
			}
			s.log.Info("applied migration", "engine", s.engine, "migration", m.name)
		}
		return nil
	})
}

// SchemaVersion is the newest applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.read.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("reading schema version: %w", err)
	}
	return v, nil
}
