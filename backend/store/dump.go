package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Dumps and loads: the whole database as portable tables, for backups
// (backend/backup). A dump reads every table of the schema (found in the
// database's catalog, so a table a later migration adds is included
// without a change here) inside one read-only transaction, which sees one
// point in time on both engines: a WAL snapshot on SQLite, REPEATABLE READ
// on PostgreSQL. Values travel as one of five kinds that both engines
// store, so a dump of one engine loads into the other.

// Column kinds of a dump.
const (
	KindInt  = "int"
	KindReal = "real"
	KindText = "text"
	KindBlob = "blob"
	KindBool = "bool"
)

// DumpColumn is one stored (not generated) column.
type DumpColumn struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}

// DumpTable is one table of a dump.
type DumpTable struct {
	Name    string       `json:"name"`
	Columns []DumpColumn `json:"columns"`
	// Sequence is the highest id the table's id generator has handed out
	// (SQLite AUTOINCREMENT, a PostgreSQL identity), 0 when it has none.
	// It can be above every id in the table: ids of deleted rows are
	// never reused, and a restore keeps it that way.
	Sequence int64 `json:"sequence,omitempty"`

	pk       []string // primary key columns
	identity string   // PostgreSQL identity column, SQLite AUTOINCREMENT key
}

// DumpInfo describes a dump before its rows.
type DumpInfo struct {
	Engine        string
	SchemaVersion int
	// Tables come in an order where a table follows every table its
	// foreign keys reference, which is the order a load inserts them in.
	Tables []DumpTable
}

// Dumper receives a dump: Begin once, then every row of Tables[0], then
// of Tables[1], and so on. Each value is nil, int64, float64, bool, string
// or []byte as the column's kind says; the slice is reused between rows.
type Dumper interface {
	Begin(info DumpInfo) error
	Row(table int, values []any) error
}

// Dump reads the whole database in one consistent snapshot into d.
func (s *Store) Dump(ctx context.Context, d Dumper) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.postgres() {
		opts.Isolation = sql.LevelRepeatableRead
	}
	sqlTx, err := s.read.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("beginning dump: %w", err)
	}
	defer func() { _ = sqlTx.Rollback() }()
	tx := &Tx{ctx: ctx, tx: sqlTx, s: s}
	var version int
	// The first read fixes the snapshot (SQLite takes it at the first
	// statement, PostgreSQL at the first query of the transaction).
	if err := tx.queryRow(`SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	tables, err := tx.schemaTables()
	if err != nil {
		return err
	}
	for i := range tables {
		if tables[i].Sequence, err = tx.sequence(&tables[i]); err != nil {
			return err
		}
	}
	if err := d.Begin(DumpInfo{Engine: s.engine, SchemaVersion: version, Tables: tables}); err != nil {
		return err
	}
	for i, t := range tables {
		if err := tx.dumpTable(i, t, d); err != nil {
			return err
		}
	}
	return nil
}

func (tx *Tx) dumpTable(index int, t DumpTable, d Dumper) error {
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = quoteIdent(c.Name)
	}
	order := t.pk
	if len(order) == 0 {
		order = make([]string, len(t.Columns))
		for i, c := range t.Columns {
			order[i] = c.Name
		}
	}
	for i := range order {
		order[i] = quoteIdent(order[i])
	}
	rows, err := tx.query(`SELECT ` + strings.Join(names, ", ") + ` FROM ` + quoteIdent(t.Name) + ` ORDER BY ` + strings.Join(order, ", "))
	if err != nil {
		return fmt.Errorf("dumping %s: %w", t.Name, err)
	}
	defer rows.Close()
	raw := make([]any, len(t.Columns))
	ptrs := make([]any, len(t.Columns))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	vals := make([]any, len(t.Columns))
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("dumping %s: %w", t.Name, err)
		}
		for i, c := range t.Columns {
			v, err := Convert(raw[i], c.Kind)
			if err != nil {
				return fmt.Errorf("dumping %s.%s: %w", t.Name, c.Name, err)
			}
			vals[i] = v
		}
		if err := d.Row(index, vals); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("dumping %s: %w", t.Name, err)
	}
	return nil
}

// Convert turns a value read from either engine (or decoded from a dump)
// into the Go type of kind: int64, float64, bool, string or []byte, or
// nil. A bool becomes 0 or 1 in an int column and an integer a bool in a
// bool column, which is how the engines differ (SQLite has no booleans).
func Convert(v any, kind string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch kind {
	case KindInt:
		switch x := v.(type) {
		case int64:
			return x, nil
		case int32:
			return int64(x), nil
		case int16:
			return int64(x), nil
		case int:
			return int64(x), nil
		case bool:
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
				return int64(x), nil
			}
		}
	case KindBool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case int64:
			return x != 0, nil
		}
	case KindReal:
		switch x := v.(type) {
		case float64:
			return x, nil
		case float32:
			return float64(x), nil
		case int64:
			return float64(x), nil
		}
	case KindText:
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		}
	case KindBlob:
		switch x := v.(type) {
		case []byte:
			return append([]byte(nil), x...), nil
		case string:
			return []byte(x), nil
		}
	default:
		return nil, fmt.Errorf("unknown column kind %q", kind)
	}
	return nil, fmt.Errorf("a %T is not a %s value", v, kind)
}

var identRe = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// quoteIdent quotes a table or column name of our schema. Names come from
// the catalog or a backup file: anything but a plain lower-case name is
// refused by the callers before it gets here.
func quoteIdent(name string) string { return `"` + name + `"` }

// schemaTables lists the tables of the schema (all but schema_migrations)
// with their stored columns, primary keys and id generators, a referenced
// table before the tables referencing it.
func (tx *Tx) schemaTables() ([]DumpTable, error) {
	var names []string
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`
	if tx.postgres() {
		q = `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY c.relname`
	}
	rows, err := tx.query(q)
	if err != nil {
		return nil, fmt.Errorf("listing tables: %w", err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("listing tables: %w", err)
		}
		if n != "schema_migrations" {
			names = append(names, n)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing tables: %w", err)
	}
	byName := map[string]*DumpTable{}
	refs := map[string][]string{}
	for _, n := range names {
		if !identRe.MatchString(n) {
			return nil, fmt.Errorf("table %q: not a name this schema uses", n)
		}
		t := &DumpTable{Name: n}
		if tx.postgres() {
			err = tx.pgTable(t, refs)
		} else {
			err = tx.sqliteTable(t, refs)
		}
		if err != nil {
			return nil, fmt.Errorf("reading table %s: %w", n, err)
		}
		byName[n] = t
	}
	// Topological order, ties by name: a stable order for a stable file.
	var out []DumpTable
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(n string) error
	visit = func(n string) error {
		switch state[n] {
		case 1:
			return fmt.Errorf("foreign keys of table %s form a cycle", n)
		case 2:
			return nil
		}
		state[n] = 1
		deps := append([]string(nil), refs[n]...)
		sort.Strings(deps)
		for _, d := range deps {
			if d == n || byName[d] == nil {
				continue
			}
			if err := visit(d); err != nil {
				return err
			}
		}
		state[n] = 2
		out = append(out, *byName[n])
		return nil
	}
	// Tables with triggers first (as early as their references allow):
	// a trigger may write rows of another table (users writes
	// user_traffic), which a load must meet after the trigger fired, to
	// replace them with the backup's.
	triggered, err := tx.triggerTables()
	if err != nil {
		return nil, err
	}
	for _, first := range []bool{true, false} {
		for _, n := range names {
			if triggered[n] == first {
				if err := visit(n); err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
}

// triggerTables are the tables that have triggers of their own.
func (tx *Tx) triggerTables() (map[string]bool, error) {
	q := `SELECT DISTINCT tbl_name FROM sqlite_master WHERE type = 'trigger'`
	if tx.postgres() {
		q = `SELECT DISTINCT c.relname FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
			JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = current_schema() AND NOT g.tgisinternal`
	}
	rows, err := tx.query(q)
	if err != nil {
		return nil, fmt.Errorf("listing triggers: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out[n] = true
	}
	return out, rows.Err()
}

func (tx *Tx) sqliteTable(t *DumpTable, refs map[string][]string) error {
	var ddl string
	if err := tx.queryRow(`SELECT sql FROM sqlite_master WHERE type = 'table' AND name = $1`, t.Name).Scan(&ddl); err != nil {
		return err
	}
	rows, err := tx.query(`SELECT name, type, pk, hidden FROM pragma_table_xinfo($1) ORDER BY cid`, t.Name)
	if err != nil {
		return err
	}
	type pkCol struct {
		name string
		pos  int
	}
	var pks []pkCol
	var intPK string
	for rows.Next() {
		var name, typ string
		var pk, hidden int
		if err := rows.Scan(&name, &typ, &pk, &hidden); err != nil {
			rows.Close()
			return err
		}
		if hidden != 0 { // generated columns (2, 3): computed, not stored
			continue
		}
		kind, err := sqliteKind(typ)
		if err != nil {
			rows.Close()
			return fmt.Errorf("column %s: %w", name, err)
		}
		if !identRe.MatchString(name) {
			rows.Close()
			return fmt.Errorf("column %q: not a name this schema uses", name)
		}
		t.Columns = append(t.Columns, DumpColumn{Name: name, Kind: kind})
		if pk > 0 {
			pks = append(pks, pkCol{name, pk})
			if strings.EqualFold(typ, "INTEGER") {
				intPK = name
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	sort.Slice(pks, func(i, j int) bool { return pks[i].pos < pks[j].pos })
	for _, p := range pks {
		t.pk = append(t.pk, p.name)
	}
	if len(pks) == 1 && intPK != "" && strings.Contains(strings.ToUpper(ddl), "AUTOINCREMENT") {
		t.identity = intPK
	}
	fk, err := tx.query(`SELECT DISTINCT "table" FROM pragma_foreign_key_list($1)`, t.Name)
	if err != nil {
		return err
	}
	defer fk.Close()
	for fk.Next() {
		var ref string
		if err := fk.Scan(&ref); err != nil {
			return err
		}
		refs[t.Name] = append(refs[t.Name], ref)
	}
	return fk.Err()
}

// sqliteKind maps a declared type to a kind by SQLite's affinity rules.
func sqliteKind(typ string) (string, error) {
	u := strings.ToUpper(typ)
	switch {
	case strings.Contains(u, "INT"):
		return KindInt, nil
	case strings.Contains(u, "CHAR"), strings.Contains(u, "CLOB"), strings.Contains(u, "TEXT"):
		return KindText, nil
	case strings.Contains(u, "BLOB"):
		return KindBlob, nil
	case strings.Contains(u, "REAL"), strings.Contains(u, "FLOA"), strings.Contains(u, "DOUB"):
		return KindReal, nil
	}
	return "", fmt.Errorf("type %q has no portable kind", typ)
}

func (tx *Tx) pgTable(t *DumpTable, refs map[string][]string) error {
	rows, err := tx.query(`SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attidentity <> '',
			COALESCE(array_position(i.indkey::int2[], a.attnum) - array_lower(i.indkey::int2[], 1) + 1, 0)
		FROM pg_attribute a
		LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
		WHERE a.attrelid = to_regclass(quote_ident($1)) AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
		ORDER BY a.attnum`, t.Name)
	if err != nil {
		return err
	}
	type pkCol struct {
		name string
		pos  int
	}
	var pks []pkCol
	for rows.Next() {
		var name, typ string
		var ident bool
		var pkPos int
		if err := rows.Scan(&name, &typ, &ident, &pkPos); err != nil {
			rows.Close()
			return err
		}
		kind, err := pgKind(typ)
		if err != nil {
			rows.Close()
			return fmt.Errorf("column %s: %w", name, err)
		}
		if !identRe.MatchString(name) {
			rows.Close()
			return fmt.Errorf("column %q: not a name this schema uses", name)
		}
		t.Columns = append(t.Columns, DumpColumn{Name: name, Kind: kind})
		if ident {
			t.identity = name
		}
		if pkPos > 0 {
			pks = append(pks, pkCol{name, pkPos})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	sort.Slice(pks, func(i, j int) bool { return pks[i].pos < pks[j].pos })
	for _, p := range pks {
		t.pk = append(t.pk, p.name)
	}
	fk, err := tx.query(`SELECT DISTINCT r.relname FROM pg_constraint c JOIN pg_class r ON r.oid = c.confrelid
		WHERE c.conrelid = to_regclass(quote_ident($1)) AND c.contype = 'f'`, t.Name)
	if err != nil {
		return err
	}
	defer fk.Close()
	for fk.Next() {
		var ref string
		if err := fk.Scan(&ref); err != nil {
			return err
		}
		refs[t.Name] = append(refs[t.Name], ref)
	}
	return fk.Err()
}

func pgKind(typ string) (string, error) {
	switch {
	case typ == "smallint", typ == "integer", typ == "bigint":
		return KindInt, nil
	case typ == "boolean":
		return KindBool, nil
	case typ == "double precision", typ == "real":
		return KindReal, nil
	case typ == "text", typ == "jsonb", typ == "json", strings.HasPrefix(typ, "character"):
		return KindText, nil
	case typ == "bytea":
		return KindBlob, nil
	}
	return "", fmt.Errorf("type %q has no portable kind", typ)
}

// sequence reads the highest id t's generator has handed out.
func (tx *Tx) sequence(t *DumpTable) (int64, error) {
	if t.identity == "" {
		return 0, nil
	}
	var v sql.NullInt64
	var err error
	if tx.postgres() {
		err = tx.queryRow(`SELECT pg_sequence_last_value(pg_get_serial_sequence(quote_ident($1), $2)::regclass)`, t.Name, t.identity).Scan(&v)
	} else {
		err = tx.queryRow(`SELECT seq FROM sqlite_sequence WHERE name = $1`, t.Name).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			err = nil
		}
	}
	if err != nil {
		return 0, fmt.Errorf("reading the id sequence of %s: %w", t.Name, err)
	}
	return v.Int64, nil
}

// SchemaTables lists the tables a dump of this database holds, in load
// order, without their sequences.
func (s *Store) SchemaTables(ctx context.Context) ([]DumpTable, error) {
	var out []DumpTable
	err := s.Read(ctx, func(tx *Tx) error {
		var err error
		out, err = tx.schemaTables()
		return err
	})
	return out, err
}

// LatestSchemaVersion is the newest migration this binary has.
func LatestSchemaVersion() int {
	ms, err := loadMigrations(EngineSQLite)
	if err != nil {
		return 0
	}
	return len(ms)
}

// OpenVersion opens the database and migrates it up to version (not
// beyond): a restore builds the schema a backup was taken at, loads it,
// and then opens it with Open, which migrates the rest of the way.
func OpenVersion(ctx context.Context, databaseURL, dataDir string, log *slog.Logger, version int) (*Store, error) {
	if version <= 0 {
		return nil, fmt.Errorf("schema version %d: %w", version, errInvalid)
	}
	return open(ctx, databaseURL, dataDir, log, version)
}

// Populated counts the rows of the tables that hold an operator's data
// (settings with the secrets, admins, users, nodes, the core config); a
// database where all are zero has never held a panel. It reads the
// database without migrating it: missing tables count as empty. For
// SQLite a data dir without outpost.db is empty.
func Populated(ctx context.Context, databaseURL, dataDir string) (map[string]int64, int, error) {
	var db *sql.DB
	var err error
	pg := databaseURL != ""
	if pg {
		db, err = sql.Open("pgx", databaseURL)
	} else {
		path := filepath.Join(dataDir, "outpost.db")
		if _, serr := os.Stat(path); errors.Is(serr, os.ErrNotExist) {
			return map[string]int64{}, 0, nil
		}
		db, err = sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro&_pragma=busy_timeout(10000)")
	}
	if err != nil {
		return nil, 0, fmt.Errorf("opening the database: %w", err)
	}
	defer db.Close()
	exists := func(table string) (bool, error) {
		var n int
		q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
		if pg {
			q = `SELECT COUNT(*) FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
				WHERE ns.nspname = current_schema() AND c.relname = $1`
		}
		err := db.QueryRowContext(ctx, q, table).Scan(&n)
		return n > 0, err
	}
	out := map[string]int64{}
	version := 0
	if ok, err := exists("schema_migrations"); err != nil {
		return nil, 0, fmt.Errorf("reading the database: %w", err)
	} else if ok {
		if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
			return nil, 0, fmt.Errorf("reading schema version: %w", err)
		}
	}
	for _, t := range []string{"settings", "admins", "users", "nodes", "core_config"} {
		ok, err := exists(t)
		if err != nil {
			return nil, 0, fmt.Errorf("reading the database: %w", err)
		}
		if !ok {
			continue
		}
		var n int64
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+quoteIdent(t)).Scan(&n); err != nil {
			return nil, 0, fmt.Errorf("counting %s: %w", t, err)
		}
		if n > 0 {
			out[t] = n
		}
	}
	return out, version, nil
}

// Loader fills an emptied database inside one transaction (Store.Load).
type Loader struct {
	tx     *Tx
	tables map[string]*DumpTable
	order  []string
	loaded map[string]int64

	cur     *DumpTable
	curCols []DumpColumn // target columns in the order rows arrive
	batch   []any
	rows    int
}

// loadBatchParams bounds the parameters of one INSERT (SQLite allows
// 32766, PostgreSQL 65535).
const loadBatchParams = 8000

// Load empties every table of the database and runs fn to fill them, in
// one transaction: on any error nothing changes. After fn it checks that
// each table holds exactly the rows loaded into it (so rows that triggers
// add, such as user_traffic for users, match the backup's). Only a
// database no panel is using may be loaded.
func (s *Store) Load(ctx context.Context, fn func(l *Loader) error) error {
	return s.run(ctx, s.write, nil, func(tx *Tx) error {
		tables, err := tx.schemaTables()
		if err != nil {
			return err
		}
		l := &Loader{tx: tx, tables: map[string]*DumpTable{}, loaded: map[string]int64{}}
		for i := range tables {
			l.tables[tables[i].Name] = &tables[i]
			l.order = append(l.order, tables[i].Name)
		}
		if err := l.wipe(); err != nil {
			return err
		}
		if err := fn(l); err != nil {
			return err
		}
		if l.cur != nil {
			return fmt.Errorf("table %s was not finished", l.cur.Name)
		}
		for _, name := range l.order {
			var n int64
			if err := tx.queryRow(`SELECT COUNT(*) FROM ` + quoteIdent(name)).Scan(&n); err != nil {
				return fmt.Errorf("counting %s: %w", name, err)
			}
			if n != l.loaded[name] {
				return fmt.Errorf("table %s holds %d rows after the load, the backup %d", name, n, l.loaded[name])
			}
		}
		return nil
	})
}

// wipe deletes every row, referencing tables first. Deleting users fires
// triggers that write other tables (tombstones), so a second pass clears
// what the first one wrote.
func (l *Loader) wipe() error {
	if l.tx.postgres() {
		names := make([]string, len(l.order))
		for i, n := range l.order {
			names[i] = quoteIdent(n)
		}
		if _, err := l.tx.exec(`TRUNCATE ` + strings.Join(names, ", ")); err != nil {
			return fmt.Errorf("emptying the database: %w", err)
		}
		return nil
	}
	for pass := 0; pass < 2; pass++ {
		for i := len(l.order) - 1; i >= 0; i-- {
			if _, err := l.tx.exec(`DELETE FROM ` + quoteIdent(l.order[i])); err != nil {
				return fmt.Errorf("emptying %s: %w", l.order[i], err)
			}
		}
	}
	if _, err := l.tx.exec(`DELETE FROM sqlite_sequence`); err != nil {
		return fmt.Errorf("emptying sqlite_sequence: %w", err)
	}
	return nil
}

// Tables is the database's schema, in load order.
func (l *Loader) Tables() []DumpTable {
	out := make([]DumpTable, len(l.order))
	for i, n := range l.order {
		out[i] = *l.tables[n]
	}
	return out
}

// Begin starts loading table with rows of the given columns (each must be
// a stored column of the table; missing ones take their defaults).
func (l *Loader) Begin(table string, columns []string) error {
	if l.cur != nil {
		return fmt.Errorf("table %s was not finished", l.cur.Name)
	}
	t := l.tables[table]
	if t == nil {
		return fmt.Errorf("the backup has a table %q this schema does not", table)
	}
	if _, done := l.loaded[table]; done {
		return fmt.Errorf("table %s appears twice", table)
	}
	kinds := map[string]string{}
	for _, c := range t.Columns {
		kinds[c.Name] = c.Kind
	}
	l.curCols = l.curCols[:0]
	seen := map[string]bool{}
	for _, c := range columns {
		k, ok := kinds[c]
		if !ok || seen[c] {
			return fmt.Errorf("table %s: the backup has a column %q this schema does not", table, c)
		}
		seen[c] = true
		l.curCols = append(l.curCols, DumpColumn{Name: c, Kind: k})
	}
	for _, c := range t.pk {
		if !seen[c] {
			return fmt.Errorf("table %s: the backup lacks key column %s", table, c)
		}
	}
	l.cur = t
	l.batch = l.batch[:0]
	l.rows = 0
	return nil
}

// Row adds one row of the current table; values as a Dumper gets them
// (converted to the target column's kind where the engines differ).
func (l *Loader) Row(values []any) error {
	if l.cur == nil {
		return errors.New("row outside a table")
	}
	if len(values) != len(l.curCols) {
		return fmt.Errorf("table %s: a row of %d values for %d columns", l.cur.Name, len(values), len(l.curCols))
	}
	for i, v := range values {
		c, err := Convert(v, l.curCols[i].Kind)
		if err != nil {
			return fmt.Errorf("table %s column %s: %w", l.cur.Name, l.curCols[i].Name, err)
		}
		l.batch = append(l.batch, c)
	}
	l.rows++
	if len(l.batch)+len(l.curCols) > loadBatchParams {
		return l.flush()
	}
	return nil
}

func (l *Loader) flush() error {
	if l.rows == 0 {
		return nil
	}
	t, cols := l.cur, l.curCols
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(quoteIdent(t.Name))
	b.WriteString(" (")
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteIdent(c.Name))
	}
	b.WriteString(")")
	if l.tx.postgres() && t.identity != "" {
		b.WriteString(" OVERRIDING SYSTEM VALUE")
	}
	b.WriteString(" VALUES ")
	p := 1
	for r := 0; r < l.rows; r++ {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for i := range cols {
			if i > 0 {
				b.WriteString(", ")
			}
			// SQLite binds ? by position; its $N is matched by name,
			// quadratic in the count (see placeholders).
			if l.tx.postgres() {
				b.WriteByte('$')
				b.WriteString(strconv.Itoa(p))
			} else {
				b.WriteByte('?')
			}
			p++
		}
		b.WriteByte(')')
	}
	// Triggers may have written rows of this table already (user_traffic
	// for each user): the backup's row replaces them.
	if len(t.pk) > 0 {
		b.WriteString(" ON CONFLICT (")
		for i, c := range t.pk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(quoteIdent(c))
		}
		b.WriteString(")")
		pk := map[string]bool{}
		for _, c := range t.pk {
			pk[c] = true
		}
		var set []string
		for _, c := range cols {
			if !pk[c.Name] {
				set = append(set, quoteIdent(c.Name)+" = excluded."+quoteIdent(c.Name))
			}
		}
		if len(set) == 0 {
			b.WriteString(" DO NOTHING")
		} else {
			b.WriteString(" DO UPDATE SET " + strings.Join(set, ", "))
		}
	}
	if _, err := l.tx.exec(b.String(), l.batch...); err != nil {
		return fmt.Errorf("loading %s: %w", t.Name, err)
	}
	l.loaded[t.Name] += int64(l.rows)
	l.batch = l.batch[:0]
	l.rows = 0
	return nil
}

// End finishes the current table and sets its id generator so that no id
// up to sequence (nor any id in the table) is handed out again.
func (l *Loader) End(sequence int64) error {
	if l.cur == nil {
		return errors.New("no table to finish")
	}
	if err := l.flush(); err != nil {
		return err
	}
	t := l.cur
	if _, ok := l.loaded[t.Name]; !ok {
		l.loaded[t.Name] = 0
	}
	l.cur = nil
	if t.identity == "" {
		return nil
	}
	var top int64
	if err := l.tx.queryRow(`SELECT COALESCE(MAX(` + quoteIdent(t.identity) + `), 0) FROM ` + quoteIdent(t.Name)).Scan(&top); err != nil {
		return fmt.Errorf("reading the ids of %s: %w", t.Name, err)
	}
	top = max(top, sequence)
	var err error
	switch {
	case l.tx.postgres() && top > 0:
		_, err = l.tx.exec(`SELECT setval(pg_get_serial_sequence(quote_ident($1), $2), $3, true)`, t.Name, t.identity, top)
	case l.tx.postgres():
		_, err = l.tx.exec(`SELECT setval(pg_get_serial_sequence(quote_ident($1), $2), 1, false)`, t.Name, t.identity)
	default:
		if _, err = l.tx.exec(`DELETE FROM sqlite_sequence WHERE name = $1`, t.Name); err == nil && top > 0 {
			_, err = l.tx.exec(`INSERT INTO sqlite_sequence (name, seq) VALUES ($1, $2)`, t.Name, top)
		}
	}
	if err != nil {
		return fmt.Errorf("setting the id sequence of %s: %w", t.Name, err)
	}
	return nil
}
