package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// waitPrepared waits until c holds query prepared.
func waitPrepared(t *testing.T, c *stmtCache, query string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		st := c.stmts[query]
		c.mu.Unlock()
		if st != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q was not prepared in 10 s", query)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The SQLite statement cache: a statement is prepared after its first run,
// later runs use the prepared copy inside their own transaction (a
// rollback still undoes them), and reads get the same.
func TestStmtCacheOnSQLite(t *testing.T) {
	s := openAt(t, "", t.TempDir())
	const set = `INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`
	const get = `SELECT value FROM settings WHERE key = $1`
	ctx := context.Background()

	mustTx(t, s, func(tx *Tx) error {
		if tx.stmtFor(set) != nil {
			t.Error("a statement never run before was prepared already")
		}
		_, err := tx.exec(set, "k", "v1")
		return err
	})
	waitPrepared(t, s.writeStmts, set)

	mustTx(t, s, func(tx *Tx) error {
		first := tx.stmtFor(set)
		if first == nil {
			t.Fatal("the second transaction did not get the prepared statement")
		}
		if again := tx.stmtFor(set); again != first {
			t.Error("the transaction bound the statement twice")
		}
		for _, v := range []string{"v2", "v3"} {
			if _, err := tx.exec(set, "k", v); err != nil {
				return err
			}
		}
		var got string
		if err := tx.queryRow(get, "k").Scan(&got); err != nil {
			return err
		}
		if got != "v3" {
			t.Errorf("inside the transaction: %q, want v3", got)
		}
		return nil
	})

	// A prepared statement runs in the transaction that uses it: a
	// rollback undoes it.
	errAbort := errors.New("abort")
	err := s.Tx(ctx, func(tx *Tx) error {
		if tx.stmtFor(set) == nil {
			t.Fatal("statement not prepared")
		}
		if _, err := tx.exec(set, "k", "rolled back"); err != nil {
			return err
		}
		return errAbort
	})
	if !errors.Is(err, errAbort) {
		t.Fatalf("Tx: %v", err)
	}
	read := func() string {
		var got string
		mustRead(t, s, func(tx *Tx) error { return tx.queryRow(get, "k").Scan(&got) })
		return got
	}
	if got := read(); got != "v3" {
		t.Fatalf("after a rollback: %q, want v3", got)
	}
	waitPrepared(t, s.readStmts, get)
	mustRead(t, s, func(tx *Tx) error {
		if tx.stmtFor(get) == nil {
			t.Error("the read pool did not prepare a repeated query")
		}
		return nil
	})
	if got := read(); got != "v3" {
		t.Fatalf("a prepared read: %q, want v3", got)
	}

	// Several statements in one string are never prepared (only the first
	// would be).
	const two = `UPDATE settings SET value = 'a' WHERE key = 'k'; UPDATE settings SET value = 'b' WHERE key = 'k'`
	for range 2 {
		mustTx(t, s, func(tx *Tx) error { _, err := tx.exec(two); return err })
	}
	s.writeStmts.wait()
	if tx := (&Tx{stmts: s.writeStmts}); tx.stmts.get(two) != nil {
		t.Error("a string of two statements was prepared")
	}
	if got := read(); got != "b" {
		t.Fatalf("after two statements in one string: %q, want b", got)
	}
}

// PostgreSQL has no store-side cache: pgx prepares and caches per
// connection itself.
func TestStmtCacheNotOnPostgres(t *testing.T) {
	for _, e := range testEngines {
		if e.name != EnginePostgres {
			continue
		}
		url, dir := e.location(t)
		s := openAt(t, url, dir)
		if s.writeStmts != nil || s.readStmts != nil {
			t.Fatal("a statement cache on PostgreSQL")
		}
		mustTx(t, s, func(tx *Tx) error {
			if tx.stmtFor(`SELECT 1`) != nil {
				t.Error("stmtFor on PostgreSQL returned a statement")
			}
			return nil
		})
	}
}
