package state

import (
	"context"
	"log/slog"

	"github.com/outpost-panel/outpost/backend/store"
)

// Backups (backend/backup) read and write the database as portable tables
// through these; the types are the store's.
type (
	DumpInfo   = store.DumpInfo
	DumpTable  = store.DumpTable
	DumpColumn = store.DumpColumn
	Dumper     = store.Dumper
	Loader     = store.Loader
)

// Column kinds of a dump.
const (
	KindInt  = store.KindInt
	KindReal = store.KindReal
	KindText = store.KindText
	KindBlob = store.KindBlob
	KindBool = store.KindBool
)

// ConvertValue turns a value into the Go type of a column kind (see
// store.Convert).
func ConvertValue(v any, kind string) (any, error) { return store.Convert(v, kind) }

// Dump reads the whole database in one consistent snapshot into d, while
// the panel keeps serving.
func (s *State) Dump(ctx context.Context, d Dumper) error { return s.store.Dump(ctx, d) }

// LatestSchemaVersion is the newest schema this binary knows.
func LatestSchemaVersion() int { return store.LatestSchemaVersion() }

// DatabasePopulated counts the rows of the tables that hold a panel's data
// (settings, admins, users, nodes, core_config; only those above zero) and
// reads the schema version, without migrating or creating anything.
func DatabasePopulated(ctx context.Context, databaseURL, dataDir string) (map[string]int64, int, error) {
	return store.Populated(ctx, databaseURL, dataDir)
}

// LoadDatabase opens the database (creating it if need be) at schema
// version (migrating it no further), empties it and fills it through fn
// in one transaction, then closes it. Nothing else may use the database
// meanwhile.
func LoadDatabase(ctx context.Context, databaseURL, dataDir string, version int, log *slog.Logger, fn func(l *Loader) error) error {
	st, err := store.OpenVersion(ctx, databaseURL, dataDir, log, version)
	if err != nil {
		return err
	}
	defer st.Close()
	return st.Load(ctx, fn)
}

// MigrateDatabase opens the database, applies every migration this binary
// has and closes it.
func MigrateDatabase(ctx context.Context, databaseURL, dataDir string, log *slog.Logger) error {
	st, err := store.Open(ctx, databaseURL, dataDir, log)
	if err != nil {
		return err
	}
	return st.Close()
}

// DumpDatabase opens the database as it is (migrating it to this binary's
// schema) and dumps it into d.
func DumpDatabase(ctx context.Context, databaseURL, dataDir string, log *slog.Logger, d Dumper) error {
	st, err := store.Open(ctx, databaseURL, dataDir, log)
	if err != nil {
		return err
	}
	defer st.Close()
	return st.Dump(ctx, d)
}
