package store

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"sync/atomic"
)

// Prepared statements on SQLite (issue 12, the change rate at 1,000
// nodes). database/sql prepares, runs and finalizes a statement for every
// ExecContext or QueryContext outside a *sql.Stmt, and modernc's SQLite
// parses and plans the SQL each time: in a profile of the fleet's change
// phase 12 % of the panel's CPU was sqlite3Prepare, most of it under the
// one writer connection every PUT queues on (the node-write batch runs two
// UPDATEs per node every 250 ms). The pgx driver keeps its own per-
// connection cache of prepared statements; this is the same for SQLite.
//
// A statement is prepared on its *sql.DB (not on a transaction, so it
// outlives it) and used in a transaction through Tx.StmtContext, which
// reuses the connection's prepared copy. The writer has exactly one
// connection, held by the transaction asking: preparing on the DB there
// would wait for itself. So a miss runs the statement unprepared, as
// before, and prepares it in the background (once the connection is free);
// the next transaction with the same SQL finds it ready.

// stmtCacheSize bounds the distinct statements kept per pool: the store's
// hot statements are a few dozen fixed strings; statements built with a
// variable number of parameters beyond this run unprepared.
const stmtCacheSize = 512

type stmtCache struct {
	db      *sql.DB
	mu      sync.Mutex
	stmts   map[string]*sql.Stmt
	pending map[string]bool
	closed  bool
	wg      sync.WaitGroup
	// prepared counts statements prepared into the cache (tests).
	prepared atomic.Int64
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sql.Stmt{}, pending: map[string]bool{}}
}

// get returns the prepared statement for query, or nil; a miss starts
// preparing it in the background.
func (c *stmtCache) get(query string) *sql.Stmt {
	if c == nil || strings.IndexByte(query, ';') >= 0 {
		// Several statements in one string (migrations, restores) run
		// as SQL: a prepared statement would hold only the first.
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.stmts[query]; st != nil {
		return st
	}
	if c.closed || c.pending[query] || len(c.stmts)+len(c.pending) >= stmtCacheSize {
		return nil
	}
	c.pending[query] = true
	c.wg.Add(1)
	go c.prepare(query)
	return nil
}

func (c *stmtCache) prepare(query string) {
	defer c.wg.Done()
	st, err := c.db.PrepareContext(context.Background(), query)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.pending, query)
	if err != nil {
		// A statement that does not prepare (the pool closed, a table a
		// later migration adds) is left unprepared; a later miss may try again.
		return
	}
	if c.closed {
		st.Close()
		return
	}
	c.stmts[query] = st
	c.prepared.Add(1)
}

// close finalizes every cached statement; it runs before the pool closes.
// A prepare under way finishes (or fails on the closing pool) first.
func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.closed = true
	stmts := c.stmts
	c.stmts = map[string]*sql.Stmt{}
	c.mu.Unlock()
	for _, st := range stmts {
		st.Close()
	}
}

// wait returns once no background prepare is under way (Close).
func (c *stmtCache) wait() {
	if c != nil {
		c.wg.Wait()
	}
}
