package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/internal/testenv"
	"github.com/outpost-panel/outpost/backend/model"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopPostgres()
	os.Exit(code)
}

// testEngine opens a store on a fresh database of one engine. Both engines
// are real: a SQLite file in a temp dir, a database on a real PostgreSQL.
type testEngine struct {
	name string
	// location returns the (databaseURL, dataDir) of a fresh database.
	location func(t testing.TB) (string, string)
}

var testEngines = []testEngine{
	{EngineSQLite, func(t testing.TB) (string, string) { return "", t.TempDir() }},
	{EnginePostgres, func(t testing.TB) (string, string) { return testenv.Postgres(t), "" }},
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func openAt(t testing.TB, databaseURL, dataDir string) *Store {
	t.Helper()
	s, err := Open(context.Background(), databaseURL, dataDir, testLogger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// forEachEngine runs the same test body on SQLite and on PostgreSQL, each
// with a fresh database.
func forEachEngine(t *testing.T, body func(t *testing.T, s *Store)) {
	for _, e := range testEngines {
		t.Run(e.name, func(t *testing.T) {
			url, dir := e.location(t)
			s := openAt(t, url, dir)
			if s.Engine() != e.name {
				t.Fatalf("Engine() = %q, want %q", s.Engine(), e.name)
			}
			body(t, s)
		})
	}
}

func mustTx(t testing.TB, s *Store, fn func(tx *Tx) error) {
	t.Helper()
	if err := s.Tx(context.Background(), fn); err != nil {
		t.Fatalf("Tx: %v", err)
	}
}

func mustRead(t testing.TB, s *Store, fn func(tx *Tx) error) {
	t.Helper()
	if err := s.Read(context.Background(), fn); err != nil {
		t.Fatalf("Read: %v", err)
	}
}

func TestOpenRejectsUnknownURL(t *testing.T) {
	for _, u := range []string{"mysql://root@localhost/outpost", "sqlite:///tmp/x.db", "postgres", "file:outpost.db"} {
		t.Run(u, func(t *testing.T) {
			s, err := Open(context.Background(), u, t.TempDir(), nil)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded, want an error", u)
			}
		})
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	for _, e := range testEngines {
		t.Run(e.name, func(t *testing.T) {
			url, dir := e.location(t)
			want, err := loadMigrations(e.name)
			if err != nil {
				t.Fatal(err)
			}
			first, err := Open(context.Background(), url, dir, testLogger(t))
			if err != nil {
				t.Fatalf("first Open: %v", err)
			}
			mustTx(t, first, func(tx *Tx) error { return tx.SetSetting("marker", "kept") })
			if err := first.Close(); err != nil {
				t.Fatal(err)
			}

			second := openAt(t, url, dir)
			v, err := second.SchemaVersion(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if v != len(want) {
				t.Errorf("schema version %d, want %d", v, len(want))
			}
			var rows int
			if err := second.read.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&rows); err != nil {
				t.Fatal(err)
			}
			if rows != len(want) {
				t.Errorf("schema_migrations has %d rows after a second Open, want %d", rows, len(want))
			}
			mustRead(t, second, func(tx *Tx) error {
				got, ok, err := tx.Setting("marker")
				if err != nil || !ok || got != "kept" {
					t.Errorf("Setting(marker) = %q, %v, %v after reopening", got, ok, err)
				}
				return nil
			})

			// A database migrated by a newer binary must not be used.
			if _, err := second.write.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'future.sql', 0)`, len(want)+1); err != nil {
				t.Fatal(err)
			}
			if s, err := Open(context.Background(), url, dir, testLogger(t)); err == nil {
				s.Close()
				t.Fatal("Open accepted a schema newer than the binary")
			}
		})
	}
}

func TestRevisionMonotonicAndTransactional(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for want := int64(1); want <= 5; want++ {
			mustTx(t, s, func(tx *Tx) error {
				rev, err := tx.BumpRevision()
				if err != nil {
					return err
				}
				if rev != want {
					t.Errorf("BumpRevision = %d, want %d", rev, want)
				}
				return tx.AppendChange(rev, []byte(fmt.Sprint("change ", rev)))
			})
		}
		// A rolled-back bump leaves no gap.
		boom := errors.New("boom")
		err := s.Tx(ctx, func(tx *Tx) error {
			if _, err := tx.BumpRevision(); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Tx returned %v, want the function's error", err)
		}
		mustRead(t, s, func(tx *Tx) error {
			rev, err := tx.CurrentRevision()
			if err != nil {
				return err
			}
			if rev != 5 {
				t.Errorf("CurrentRevision after rollback = %d, want 5", rev)
			}
			return nil
		})
		// A taken revision is a conflict, and the transaction that tried
		// it ends (every caller returns the error).
		if err := s.Tx(ctx, func(tx *Tx) error {
			return tx.AppendChange(3, []byte("again"))
		}); !errors.Is(err, model.ErrConflict) {
			t.Errorf("AppendChange of an existing revision: %v, want ErrConflict", err)
		}

		got, err := s.ChangesSince(ctx, 1, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Revision != 2 || got[1].Revision != 3 || string(got[0].Data) != "change 2" {
			t.Errorf("ChangesSince(1, 2) = %+v", got)
		}
		if err := s.PruneChanges(ctx, 3); err != nil {
			t.Fatal(err)
		}
		oldest, ok, err := s.OldestChange(ctx)
		if err != nil || !ok || oldest != 4 {
			t.Errorf("OldestChange after PruneChanges(3) = %d, %v, %v; want 4", oldest, ok, err)
		}
		got, err = s.ChangesSince(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Revision != 4 || got[1].Revision != 5 {
			t.Errorf("ChangesSince(0) after prune = %+v", got)
		}
	})
}

// TestRevisionCommitOrder is the guarantee the change feed rests on: with
// writers racing, a reader following ChangesSince never sees revision N+1
// before N, so it never skips a change.
func TestRevisionCommitOrder(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		const writers, perWriter = 8, 50
		const total = writers * perWriter
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()

		var wg sync.WaitGroup
		writeErrs := make(chan error, writers)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perWriter {
					err := s.Tx(ctx, func(tx *Tx) error {
						rev, err := tx.BumpRevision()
						if err != nil {
							return err
						}
						// Work between the bump and the append widens the
						// window in which a later revision could commit first.
						if err := tx.SetSetting(fmt.Sprint("writer_", w), fmt.Sprint(i)); err != nil {
							return err
						}
						return tx.AppendChange(rev, []byte(fmt.Sprint(w, "/", i)))
					})
					if err != nil {
						writeErrs <- err
						return
					}
				}
			}()
		}

		var (
			last  int64
			reads int
		)
		for last < total {
			if ctx.Err() != nil {
				t.Fatalf("reader stopped at revision %d of %d: %v", last, total, ctx.Err())
			}
			select {
			case err := <-writeErrs:
				t.Fatalf("writer: %v", err)
			default:
			}
			changes, err := s.ChangesSince(ctx, last, 64)
			if err != nil {
				t.Fatalf("ChangesSince(%d): %v", last, err)
			}
			reads++
			for _, c := range changes {
				if c.Revision != last+1 {
					t.Fatalf("after revision %d the reader saw %d: a later revision committed first", last, c.Revision)
				}
				last = c.Revision
			}
		}
		wg.Wait()
		close(writeErrs)
		for err := range writeErrs {
			t.Fatalf("writer: %v", err)
		}
		t.Logf("reader followed %d revisions in %d reads", last, reads)
		mustRead(t, s, func(tx *Tx) error {
			rev, err := tx.CurrentRevision()
			if err != nil {
				return err
			}
			if rev != total {
				t.Errorf("CurrentRevision = %d, want %d", rev, total)
			}
			return nil
		})
	})
}

func TestSettingsAndCoreConfig(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		mustTx(t, s, func(tx *Tx) error {
			if _, ok, err := tx.Setting("jwt_secret"); err != nil || ok {
				t.Errorf("Setting of a missing key: ok=%v err=%v", ok, err)
			}
			if _, _, err := tx.CoreConfig(); !errors.Is(err, model.ErrNotFound) {
				t.Errorf("CoreConfig before any: %v, want ErrNotFound", err)
			}
			for _, v := range []string{"one", "two"} {
				if err := tx.SetSetting("jwt_secret", v); err != nil {
					return err
				}
			}
			if err := tx.SetCoreConfig([]byte(`{"inbounds":[]}`), 7); err != nil {
				return err
			}
			return tx.SetCoreConfig([]byte(`{"inbounds":[1]}`), 9)
		})
		mustRead(t, s, func(tx *Tx) error {
			v, ok, err := tx.Setting("jwt_secret")
			if err != nil || !ok || v != "two" {
				t.Errorf("Setting = %q, %v, %v; want two", v, ok, err)
			}
			data, rev, err := tx.CoreConfig()
			if err != nil || rev != 9 || string(data) != `{"inbounds":[1]}` {
				t.Errorf("CoreConfig = %s, %d, %v", data, rev, err)
			}
			return nil
		})
		// Writes in a read-only transaction fail on both engines.
		err := s.Read(context.Background(), func(tx *Tx) error { return tx.SetSetting("x", "y") })
		if err == nil {
			t.Error("SetSetting inside Read succeeded")
		}
	})
}

func TestAdmins(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		tg := int64(42)
		hook := "https://example.invalid/hook"
		reset := time.Unix(1_700_000_000, 0).UTC()
		root := model.Admin{Username: "root", HashedPassword: "h1", IsSudo: true, TelegramID: &tg,
			DiscordWebhook: &hook, PasswordResetAt: &reset}
		other := model.Admin{Username: "Operator", HashedPassword: "h2"}
		mustTx(t, s, func(tx *Tx) error {
			if err := tx.CreateAdmin(&root); err != nil {
				return err
			}
			if err := tx.CreateAdmin(&other); err != nil {
				return err
			}
			dup := model.Admin{Username: "root", HashedPassword: "x"}
			if err := tx.CreateAdmin(&dup); !errors.Is(err, model.ErrConflict) {
				t.Errorf("duplicate admin: %v, want ErrConflict", err)
			}
			return nil
		})
		mustTx(t, s, func(tx *Tx) error {
			got, err := tx.AdminByUsername("root")
			if err != nil {
				return err
			}
			if got.ID != root.ID || !got.IsSudo || *got.TelegramID != 42 || *got.DiscordWebhook != hook ||
				!got.PasswordResetAt.Equal(reset) || !got.CreatedAt.Equal(root.CreatedAt) {
				t.Errorf("AdminByUsername = %+v, want %+v", got, root)
			}
			if _, err := tx.AdminByUsername("nobody"); !errors.Is(err, model.ErrNotFound) {
				t.Errorf("AdminByUsername(nobody): %v", err)
			}
			if n, err := tx.CountAdmins(); err != nil || n != 2 {
				t.Errorf("CountAdmins = %d, %v", n, err)
			}
			list, err := tx.ListAdmins(0, 0, "OPER")
			if err != nil {
				return err
			}
			if len(list) != 1 || list[0].ID != other.ID {
				t.Errorf("ListAdmins(search OPER) = %+v", list)
			}
			list, err = tx.ListAdmins(1, 10, "")
			if err != nil {
				return err
			}
			if len(list) != 1 || list[0].ID != other.ID {
				t.Errorf("ListAdmins(offset 1) = %+v", list)
			}

			other.IsSudo = true
			other.TelegramID = nil
			other.HashedPassword = "h3"
			if err := tx.UpdateAdmin(&other); err != nil {
				return err
			}
			got, err = tx.AdminByID(other.ID)
			if err != nil {
				return err
			}
			if !got.IsSudo || got.HashedPassword != "h3" || got.TelegramID != nil {
				t.Errorf("after UpdateAdmin: %+v", got)
			}
			other.Username = "root"
			if err := tx.UpdateAdmin(&other); !errors.Is(err, model.ErrConflict) {
				t.Errorf("UpdateAdmin to a taken name: %v", err)
			}
			return nil
		})

		// Deleting an admin keeps its users, ownerless.
		u := testUser("owned")
		u.AdminID = other.ID
		mustTx(t, s, func(tx *Tx) error { return tx.CreateUser(&u) })
		mustTx(t, s, func(tx *Tx) error {
			if err := tx.DeleteAdmin(other.ID); err != nil {
				return err
			}
			if err := tx.DeleteAdmin(other.ID); !errors.Is(err, model.ErrNotFound) {
				t.Errorf("second DeleteAdmin: %v", err)
			}
			got, err := tx.UserByID(u.ID)
			if err != nil {
				return err
			}
			if got.AdminID != 0 || got.AdminUsername != "" {
				t.Errorf("user of a deleted admin: admin %d %q", got.AdminID, got.AdminUsername)
			}
			return nil
		})
	})
}

// TestSQLiteConnectionSettings checks the pragmas every connection must
// carry: a lost DSN parameter would silently drop WAL, foreign keys or the
// durability of acknowledged usage.
func TestSQLiteConnectionSettings(t *testing.T) {
	s := openAt(t, "", t.TempDir())
	want := map[string]string{"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "10000", "synchronous": "2"}
	for pool, db := range map[string]*sql.DB{"writer": s.write, "reader": s.read} {
		for pragma, v := range want {
			var got string
			if err := db.QueryRow(`PRAGMA ` + pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != v {
				t.Errorf("%s: PRAGMA %s = %s, want %s", pool, pragma, got, v)
			}
		}
	}
	var readerQueryOnly, writerQueryOnly string
	if err := s.read.QueryRow(`PRAGMA query_only`).Scan(&readerQueryOnly); err != nil {
		t.Fatal(err)
	}
	if err := s.write.QueryRow(`PRAGMA query_only`).Scan(&writerQueryOnly); err != nil {
		t.Fatal(err)
	}
	if readerQueryOnly != "1" || writerQueryOnly != "0" {
		t.Errorf("query_only: reader %s, writer %s; want 1 and 0", readerQueryOnly, writerQueryOnly)
	}
}

func TestPositionalParams(t *testing.T) {
	cases := []struct {
		in   string
		n    int
		want string
		ok   bool
	}{
		{`INSERT INTO x VALUES ($1, $2), ($3, $4)`, 4, `INSERT INTO x VALUES (?, ?), (?, ?)`, true},
		{`SELECT $1 WHERE a = $1`, 1, "", false}, // reused
		{`SELECT $2, $1`, 2, "", false},          // out of order
		{`SELECT $1, $2`, 3, "", false},          // an argument unused
		{`SELECT '$1', $1`, 1, "", false},        // quoted
		{`SELECT $10`, 10, "", false},            // skips 1..9
		{`UPDATE t SET a = $1 WHERE id IN ($2,$3)`, 3, `UPDATE t SET a = ? WHERE id IN (?,?)`, true},
	}
	for _, c := range cases {
		got, ok := positionalParams(c.in, c.n)
		if ok != c.ok || got != c.want {
			t.Errorf("positionalParams(%q, %d) = %q, %v; want %q, %v", c.in, c.n, got, ok, c.want, c.ok)
		}
	}
}

// TestSetMaxConns: the PostgreSQL pool takes the size the operator set
// (--db-max-conns) and the outbox keeps its own; SQLite's one writer stays
// one.
func TestSetMaxConns(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		s.SetMaxConns(5)
		pools := s.Pools()
		got := pools["write"].Stats().MaxOpenConnections
		switch s.Engine() {
		case EnginePostgres:
			if got != 5 {
				t.Errorf("write pool opens %d connections, want 5", got)
			}
			if o := pools["outbox"]; o == nil || o.Stats().MaxOpenConnections != postgresOutboxConns {
				t.Errorf("outbox pool %v, want %d connections of its own", o, postgresOutboxConns)
			}
		case EngineSQLite:
			if got != 1 {
				t.Errorf("SQLite writer opens %d connections, want 1", got)
			}
		}
	})
}
