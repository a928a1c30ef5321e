// Package store is the panel's SQL storage: one set of queries over SQLite
// (the default, a file in the data directory) and PostgreSQL (for several
// panel replicas). Storage functions take a *Tx so a handler can combine
// several steps in one transaction; every transaction that changes what
// nodes run takes the revision (BumpRevision) before it writes any row
// another change may write.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	// The pgx stdlib driver rather than pgxpool: both engines then run through
	// database/sql with one *sql.Tx type, so every query is written once. pgx
	// still encodes Go slices as PostgreSQL arrays through it, which is all
	// the bulk paths (unnest) need from the native API.
	_ "github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/outpost-panel/outpost/backend/audit"
	"github.com/outpost-panel/outpost/backend/metrics"
	"github.com/outpost-panel/outpost/backend/model"
)

// ErrFenced is model.ErrFenced, under the name the store's callers used.
var ErrFenced = model.ErrFenced

// Engine names returned by Store.Engine.
const (
	EngineSQLite   = "sqlite"
	EnginePostgres = "postgres"
)

const (
	// txAttempts bounds retries of transient failures (SQLite busy past the
	// busy timeout, PostgreSQL serialization failures and deadlocks).
	txAttempts = 5
	// sqliteReaders is the size of the SQLite read pool; WAL lets readers run
	// beside the one writer, and the machine has few cores.
	sqliteReaders = 4
	// postgresConns caps connections per panel process (SetMaxConns
	// changes it), and postgresOutboxConns those of its outbox reader
	// (Store.outbox).
	postgresConns       = 16
	postgresOutboxConns = 2
)

// Store is the panel database. It is safe for concurrent use.
type Store struct {
	engine string
	// write runs read-write transactions. On SQLite it holds exactly one
	// connection, so writers queue in Go instead of failing with
	// SQLITE_BUSY; each transaction also begins IMMEDIATE so a writer in
	// another process is waited for (busy_timeout) rather than deadlocked.
	write *sql.DB
	// read runs read-only work. On SQLite a separate pool of query_only
	// connections; on PostgreSQL the same pool as write.
	read *sql.DB
	// outbox reads the outbox on PostgreSQL (nil on SQLite: read).
	outbox *sql.DB
	log    *slog.Logger
	// hooks are what in-memory read models asked to hear (userlist.go).
	hooks hooks
	// clock stamps audit entries (SetClock; nil: time.Now).
	clock atomic.Pointer[func() time.Time]
	// writeStmts and readStmts keep prepared statements on SQLite
	// (stmtcache.go); nil on PostgreSQL, whose driver caches its own.
	writeStmts, readStmts *stmtCache
}

// SetClock makes now the time audit entries are stamped with (state's
// clock, so tests that move time move the log too).
func (s *Store) SetClock(now func() time.Time) { s.clock.Store(&now) }

func (s *Store) now() time.Time {
	if f := s.clock.Load(); f != nil {
		return (*f)()
	}
	return time.Now()
}

// Open connects to the database and applies pending migrations.
// databaseURL "" means SQLite at dataDir/outpost.db; a postgres:// or
// postgresql:// URL means PostgreSQL.
func Open(ctx context.Context, databaseURL, dataDir string, log *slog.Logger) (*Store, error) {
	return open(ctx, databaseURL, dataDir, log, 0)
}

// open is Open applying migrations up to version upTo (0: all), so tests
// can build a database as an older release left it and upgrade it.
func open(ctx context.Context, databaseURL, dataDir string, log *slog.Logger, upTo int) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var (
		s   *Store
		err error
	)
	switch {
	case databaseURL == "":
		s, err = openSQLite(filepath.Join(dataDir, "outpost.db"), log)
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		s, err = openPostgres(ctx, databaseURL, log)
	default:
		// The URL may carry a password: name only its scheme.
		scheme, _, _ := strings.Cut(databaseURL, ":")
		return nil, fmt.Errorf("database URL scheme %q: %w: want empty (SQLite) or postgres://", scheme, errUnsupported)
	}
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx, upTo); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

var errUnsupported = errors.New("unsupported database")

// makePrivate creates the database file 0600, or narrows an existing one
// (and its -wal, -shm and -journal) to 0600: it holds the JWT and
// subscription secrets and every admin's password hash. SQLite creates
// its side files with the main file's mode, so they follow.
func makePrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("opening sqlite %s: %w", path, err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("making %s private: %w", p, err)
		}
	}
	return nil
}

func openSQLite(path string, log *slog.Logger) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	if err := makePrivate(path); err != nil {
		return nil, err
	}
	// synchronous=FULL: a usage batch is acknowledged to the node (which then
	// deletes it from its journal) right after commit, so a commit must
	// survive a power loss; NORMAL would only guarantee atomicity.
	common := []string{
		"busy_timeout(10000)",
		"foreign_keys(1)",
		"synchronous(FULL)",
		"temp_store(MEMORY)",
		"cache_size(-32000)", // KiB per connection
	}
	dsn := func(extra ...string) string {
		q := url.Values{}
		for _, p := range append(common, extra...) {
			q.Add("_pragma", p)
		}
		return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	}
	write, err := sql.Open("sqlite", dsn("journal_mode(WAL)")+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("opening sqlite %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	// Open the writer first so WAL mode is set before any reader connects.
	if err := write.Ping(); err != nil {
		write.Close()
		return nil, fmt.Errorf("opening sqlite %s: %w", path, err)
	}
	read, err := sql.Open("sqlite", dsn("query_only(1)"))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("opening sqlite %s: %w", path, err)
	}
	read.SetMaxOpenConns(sqliteReaders)
	read.SetMaxIdleConns(sqliteReaders)
	return &Store{engine: EngineSQLite, write: write, read: read, log: log,
		writeStmts: newStmtCache(write), readStmts: newStmtCache(read)}, nil
}

func openPostgres(ctx context.Context, databaseURL string, log *slog.Logger) (*Store, error) {
	db, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return nil, fmt.Errorf("opening postgres: %w", err)
	}
	db.SetMaxOpenConns(postgresConns)
	db.SetMaxIdleConns(postgresConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting to postgres: %w", err)
	}
	// The outbox is read by the feed pump after every change and by the
	// hubs when the feed cannot answer: a pool of its own, so a burst of
	// API requests holding every connection of the main pool does not hold
	// up the changes they made on their way to the nodes.
	outbox, err := sql.Open("pgx", databaseURL)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("opening postgres: %w", err)
	}
	outbox.SetMaxOpenConns(postgresOutboxConns)
	outbox.SetMaxIdleConns(postgresOutboxConns)
	outbox.SetConnMaxIdleTime(5 * time.Minute)
	return &Store{engine: EnginePostgres, write: db, read: db, outbox: outbox, log: log}, nil
}

// SetMaxConns sets how many connections the PostgreSQL pool that runs
// requests and jobs may open (the outbox reader keeps its own two); on
// SQLite, whose one writer is the limit, it does nothing.
func (s *Store) SetMaxConns(n int) {
	if !s.postgres() || n < 1 {
		return
	}
	s.write.SetMaxOpenConns(n)
	s.write.SetMaxIdleConns(n)
}

// Pools are the connection pools by role, for their statistics (waits
// for a connection, in use, idle): "write" and, on SQLite, "read" (on
// PostgreSQL one pool does both), and on PostgreSQL "outbox".
func (s *Store) Pools() map[string]*sql.DB {
	pools := map[string]*sql.DB{"write": s.write}
	if s.read != s.write {
		pools["read"] = s.read
	}
	if s.outbox != nil {
		pools["outbox"] = s.outbox
	}
	return pools
}

// outboxDB is the pool that reads the outbox (ChangesSince).
func (s *Store) outboxDB() *sql.DB {
	if s.outbox != nil {
		return s.outbox
	}
	return s.read
}

// Engine reports "sqlite" or "postgres".
func (s *Store) Engine() string { return s.engine }

// Close closes every connection.
func (s *Store) Close() error {
	s.hooks.closing()
	s.writeStmts.close()
	s.readStmts.close()
	err := s.write.Close()
	if s.read != s.write {
		err = errors.Join(err, s.read.Close())
	}
	if s.outbox != nil {
		err = errors.Join(err, s.outbox.Close())
	}
	s.writeStmts.wait()
	s.readStmts.wait()
	return err
}

func (s *Store) postgres() bool { return s.engine == EnginePostgres }

// Tx is one transaction. Its methods use the context Tx or Read was called
// with. A Tx must not be used after its function returns.
type Tx struct {
	ctx context.Context
	tx  *sql.Tx
	// db runs the statements instead of tx for ReadOne (no transaction).
	db *sql.DB
	s  *Store
	// audited counts audit entries written (Audit); revised is set by
	// BumpRevision. run writes the operation's automatic entry from them.
	audited     int
	revised     bool
	bookkeeping bool
	// bumpedAt is when BumpRevision took the revision row and held counts
	// the statements run since (metrics.RevisionHold*).
	bumpedAt time.Time
	held     int
	// stmts is the pool's statement cache (nil on PostgreSQL); bound holds
	// this transaction's copies of the statements it used (stmtFor).
	stmts *stmtCache
	bound map[*sql.Stmt]*sql.Stmt
}

// Tx runs fn in one read-write transaction, committing when fn returns nil.
// Transient failures (lock timeouts, serialization failures, deadlocks) run
// fn again, so fn must have no effects outside the transaction. On SQLite a
// Tx must not be nested inside another Tx: there is one writer connection.
func (s *Store) Tx(ctx context.Context, fn func(tx *Tx) error) error {
	return s.retry(ctx, func() error { return s.run(ctx, s.write, nil, fn) })
}

// Read runs fn in a read-only transaction that sees one consistent snapshot
// (on PostgreSQL REPEATABLE READ, so CurrentRevision and EachUserOnNodes in
// one Read describe the same state).
func (s *Store) Read(ctx context.Context, fn func(tx *Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.postgres() {
		opts.Isolation = sql.LevelRepeatableRead
	}
	return s.retry(ctx, func() error { return s.run(ctx, s.read, opts, fn) })
}

// ReadOne runs fn for a read that needs no snapshot shared between its
// statements (most are one statement): on PostgreSQL each statement runs
// on its own, outside a transaction, and sees what is committed when it
// runs; a Read there is three round trips (BEGIN, the query, COMMIT) for
// every one the query needs, on the pool every request and the change
// feed share. On SQLite it is Read. fn must not write.
func (s *Store) ReadOne(ctx context.Context, fn func(tx *Tx) error) error {
	if !s.postgres() {
		return s.Read(ctx, fn)
	}
	return s.retry(ctx, func() error { return fn(&Tx{ctx: ctx, db: s.read, s: s}) })
}

func (s *Store) run(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(tx *Tx) error) (err error) {
	sqlTx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = sqlTx.Rollback()
			panic(p)
		}
	}()
	tx := &Tx{ctx: ctx, tx: sqlTx, s: s, stmts: s.readStmts}
	if db == s.write {
		tx.stmts = s.writeStmts
	}
	if err := fn(tx); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	op := audit.OperationFrom(ctx)
	if opts == nil && op != nil {
		// A change committed under an operation (a request, a CLI
		// command, a job) leaves an entry in its own transaction even when
		// the code that made it wrote none.
		if err := tx.autoAudit(op); err != nil {
			_ = sqlTx.Rollback()
			return err
		}
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("committing transaction: %w", err)
	}
	if tx.revised {
		metrics.RevisionHoldSeconds.Observe(time.Since(tx.bumpedAt).Seconds())
		metrics.RevisionHoldStatements.Observe(float64(tx.held + 1))
	}
	if op != nil && tx.audited > 0 {
		op.MarkWritten(tx.audited)
	}
	return nil
}

func (s *Store) retry(ctx context.Context, attempt func() error) error {
	backoff := 5 * time.Millisecond
	for i := 1; ; i++ {
		err := attempt()
		if err == nil || i == txAttempts || !transient(err) {
			return err
		}
		s.log.Debug("retrying transaction", "attempt", i, "err", err)
		wait := backoff/2 + rand.N(backoff)
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
		backoff *= 2
	}
}

// ErrRaced is a write of a row read before the transaction took its
// revision that finds the row changed since (UpdateUserFrom). It is
// transient: the transaction runs again and reads the row anew.
var ErrRaced = errors.New("the row changed after it was read")

// transient reports errors that a rerun of the same transaction can cure.
func transient(err error) bool {
	if errors.Is(err, ErrRaced) {
		return true
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "40001", "40P01": // serialization_failure, deadlock_detected
			return true
		}
	}
	return false
}

// isUniqueViolation reports a unique or primary key constraint failure.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return true
		}
		return false
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// isForeignKeyViolation reports a reference to a row that does not exist.
func isForeignKeyViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503"
}

// runner runs a Tx's statements: its transaction, or for ReadOne the pool.
type runner interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (tx *Tx) runner() runner {
	if tx.tx == nil {
		return tx.db
	}
	return tx.tx
}

// adapt counts a statement run under the revision row (metrics) and
// adapts its parameters to the engine (placeholders).
func (tx *Tx) adapt(query string, n int) string {
	if tx.revised {
		tx.held++
	}
	return tx.placeholders(query, n)
}

func (tx *Tx) exec(query string, args ...any) (sql.Result, error) {
	q := tx.adapt(query, len(args))
	if st := tx.stmtFor(q); st != nil {
		return st.ExecContext(tx.ctx, args...)
	}
	return tx.runner().ExecContext(tx.ctx, q, args...)
}

func (tx *Tx) query(query string, args ...any) (*sql.Rows, error) {
	q := tx.adapt(query, len(args))
	if st := tx.stmtFor(q); st != nil {
		return st.QueryContext(tx.ctx, args...)
	}
	return tx.runner().QueryContext(tx.ctx, q, args...)
}

func (tx *Tx) queryRow(query string, args ...any) *sql.Row {
	q := tx.adapt(query, len(args))
	if st := tx.stmtFor(q); st != nil {
		return st.QueryRowContext(tx.ctx, args...)
	}
	return tx.runner().QueryRowContext(tx.ctx, q, args...)
}

// stmtFor is the cached prepared statement for q bound to this
// transaction, or nil (PostgreSQL, or not prepared yet: run it as SQL).
// database/sql reuses the connection's prepared copy; the binding is kept
// for the transaction's next use of q (a node-write batch runs the same
// two statements for every node).
func (tx *Tx) stmtFor(q string) *sql.Stmt {
	if tx.tx == nil {
		return nil
	}
	st := tx.stmts.get(q)
	if st == nil {
		return nil
	}
	if b := tx.bound[st]; b != nil {
		return b
	}
	b := tx.tx.StmtContext(tx.ctx, st)
	if tx.bound == nil {
		tx.bound = map[*sql.Stmt]*sql.Stmt{}
	}
	tx.bound[st] = b
	return b
}

// manyParams is the parameter count from which SQLite statements are
// rewritten by positionalParams.
const manyParams = 16

// placeholders adapts a statement written with $N parameters for the
// engine. The SQLite driver binds a $N parameter by comparing its name
// with strconv.Itoa of every argument's ordinal until one matches, which
// is quadratic in the parameter count and allocates at every step: a
// 1,000-parameter INSERT spent most of its time there. Plain ? parameters
// are matched by position instead, so a statement with many parameters
// that uses $1..$n once each, in order, is rewritten to them.
func (tx *Tx) placeholders(query string, n int) string {
	if n < manyParams || tx.postgres() {
		return query
	}
	if q, ok := positionalParams(query, n); ok {
		return q
	}
	return query
}

// positionalParams replaces $1..$n with ? when each appears exactly once
// and in order (reports false otherwise, and for a $ inside a quoted
// literal, which our statements never have).
func positionalParams(query string, n int) (string, bool) {
	var b strings.Builder
	b.Grow(len(query))
	next := 1
	for i := 0; i < len(query); i++ {
		c := query[i]
		if c == '\'' || c == '"' {
			return "", false
		}
		if c != '$' {
			b.WriteByte(c)
			continue
		}
		j := i + 1
		num := 0
		for j < len(query) && query[j] >= '0' && query[j] <= '9' {
			num = num*10 + int(query[j]-'0')
			j++
		}
		if j == i+1 || num != next {
			return "", false
		}
		b.WriteByte('?')
		next++
		i = j - 1
	}
	if next != n+1 {
		return "", false
	}
	return b.String(), true
}

func (tx *Tx) postgres() bool { return tx.s.postgres() }

// forUpdate is the row-locking suffix for a SELECT that is followed by a
// write to the same row. SQLite has no row locks and needs none: its one
// writer already excludes every other writer.
func (tx *Tx) forUpdate() string {
	if tx.postgres() {
		return " FOR UPDATE"
	}
	return ""
}

// affectedOne turns a zero-row UPDATE/DELETE into ErrNotFound.
func affectedOne(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return errNotFound
	}
	return nil
}

// stmtSavepoint confines the failure of one statement that may break a
// constraint (a taken username, a missing owner) which the caller turns
// into ErrConflict or ErrNotFound and may well handle in the same
// transaction. PostgreSQL aborts the whole transaction on any error; inside
// a savepoint only the statement is undone, as on SQLite.
func (tx *Tx) stmtSavepoint(fn func() error) error {
	if !tx.postgres() {
		return fn()
	}
	if _, err := tx.exec(`SAVEPOINT outpost_stmt`); err != nil {
		return err
	}
	if err := fn(); err != nil {
		if _, rerr := tx.exec(`ROLLBACK TO SAVEPOINT outpost_stmt`); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	_, err := tx.exec(`RELEASE SAVEPOINT outpost_stmt`)
	return err
}
