package store

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// The database holds the JWT and subscription secrets: its file and side
// files are the owner's only, the data directory too when the store creates
// it, and a database left 0644 by an older version is narrowed on open.
func TestSQLiteFilesArePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ctx := context.Background()
	check := func(when string) {
		t.Helper()
		for _, name := range []string{"outpost.db", "outpost.db-wal", "outpost.db-shm"} {
			st, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Fatalf("%s: %v", when, err)
			}
			if m := st.Mode().Perm(); m != 0o600 {
				t.Errorf("%s: %s mode %o, want 600", when, name, m)
			}
		}
		if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
			t.Errorf("%s: data dir %v %v, want 700", when, st.Mode().Perm(), err)
		}
	}
	s, err := Open(ctx, "", dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tx(ctx, func(tx *Tx) error { _, err := tx.BumpRevision(); return err }); err != nil {
		t.Fatal(err)
	}
	check("new database")
	s.Close()

	for _, name := range []string{"outpost.db", "outpost.db-wal", "outpost.db-shm"} {
		_ = os.Chmod(filepath.Join(dir, name), 0o644) // as an older version left them
	}
	s, err = Open(ctx, "", dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Tx(ctx, func(tx *Tx) error { _, err := tx.BumpRevision(); return err }); err != nil {
		t.Fatal(err)
	}
	check("reopened 0644 database")
}
