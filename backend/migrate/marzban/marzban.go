// Package marzban reads a Marzban panel's database, SQLite (the default
// install keeps it at /var/lib/marzban/db.sqlite3) or MySQL/MariaDB (given
// as mysql://user:password@host:port/database), into a state.Migration:
// admins with their bcrypt hashes, users with their proxies, excluded
// inbounds, next plans, counters and timestamps, user templates, hosts and
// the secret Marzban signs subscription tokens with. The database is
// opened read-only and never changed.
//
// Marzban (SQLAlchemy) stores enums by member name (proxies.type is
// "VLESS", hosts.alpn "http1_1"), booleans as 0/1 and DateTime columns as
// naive UTC text ("2024-05-01 12:34:56.123456"; MySQL's DATETIME reads
// the same way). Columns and tables added
// by later Marzban versions are read when present; a database older than
// a column reads it as NULL.
package marzban

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"

	"github.com/go-sql-driver/mysql"
	_ "modernc.org/sqlite" // the "sqlite" driver
)

// Read reads the Marzban database at from, a SQLite file path or a
// mysql:// URL, read-only and returns its data. It fails on a database
// that is not Marzban's (no users, proxies or admins table) or on a row it
// cannot make sense of, naming the row. Hourly usage history before since
// is left out and counted in the notes (zero since: all of it): a large
// Marzban holds a row per user, node and hour, and all of it is held in
// memory until it is written.
func Read(ctx context.Context, from string, since time.Time) (*state.Migration, error) {
	if strings.HasPrefix(from, "mysql://") {
		return readMySQL(ctx, from, since)
	}
	return readSQLite(ctx, from, since)
}

func readSQLite(ctx context.Context, path string, since time.Time) (*state.Migration, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("marzban database: %w", err)
	}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "query_only(1)")
	q.Add("_pragma", "busy_timeout(10000)")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("opening marzban database %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	// Everything is read in one transaction, so a running Marzban cannot
	// change the data between tables.
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("reading marzban database %s: %w", path, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	r := &reader{ctx: ctx, tx: tx, since: since}
	m, err := r.read()
	if err != nil {
		return nil, fmt.Errorf("reading marzban database %s: %w", path, err)
	}
	return m, nil
}

// readMySQL reads a Marzban database on MySQL or MariaDB, in one
// read-only REPEATABLE READ transaction (one consistent snapshot).
func readMySQL(ctx context.Context, rawURL string, since time.Time) (*state.Migration, error) {
	dsn, shown, err := mysqlDSN(rawURL)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening marzban database %s: %w", shown, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return nil, fmt.Errorf("reading marzban database %s: %w", shown, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	r := &reader{ctx: ctx, tx: tx, mysql: true, since: since}
	m, err := r.read()
	if err != nil {
		return nil, fmt.Errorf("reading marzban database %s: %w", shown, err)
	}
	return m, nil
}

// mysqlDSN turns mysql://user:password@host[:port]/database into the
// driver's DSN, and the URL without its password for messages.
func mysqlDSN(rawURL string) (dsn, shown string, err error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || strings.Trim(u.Path, "/") == "" {
		return "", "", errors.New("marzban database: want mysql://user:password@host:port/database")
	}
	c := mysql.NewConfig()
	c.Net, c.Addr = "tcp", u.Host
	if u.Port() == "" {
		c.Addr = net.JoinHostPort(u.Hostname(), "3306")
	}
	c.User = u.User.Username()
	c.Passwd, _ = u.User.Password()
	c.DBName = strings.Trim(u.Path, "/")
	c.Timeout = 30 * time.Second
	return c.FormatDSN(), u.Redacted(), nil
}

type reader struct {
	ctx   context.Context
	tx    *sql.Tx
	mysql bool
	since time.Time // usage history before it is not read
}

// quote quotes an identifier for the source's SQL.
func (r *reader) quote(name string) string {
	if r.mysql {
		return "`" + name + "`"
	}
	return `"` + name + `"`
}

// columns returns the columns table has; nil when there is no such table.
func (r *reader) columns(table string) (map[string]bool, error) {
	q := `SELECT name FROM pragma_table_info(?)`
	if r.mysql {
		q = `SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ?`
	}
	rows, err := r.tx.QueryContext(r.ctx, q, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols map[string]bool
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		if cols == nil {
			cols = map[string]bool{}
		}
		cols[strings.ToLower(name)] = true
	}
	return cols, rows.Err()
}

// selectRows runs SELECT cols FROM table ORDER BY the first column; a
// column the table lacks reads as NULL. Every value arrives as any.
func (r *reader) selectRows(table string, cols []string, each func(v []any) error) error {
	return r.selectWhere(table, cols, "", nil, each)
}

// selectWhere is selectRows with a WHERE clause (written with ? for args).
func (r *reader) selectWhere(table string, cols []string, where string, args []any, each func(v []any) error) error {
	have, err := r.columns(table)
	if err != nil {
		return err
	}
	if have == nil {
		return fmt.Errorf("%w: table %s", errNoTable, table)
	}
	exprs := make([]string, len(cols))
	for i, c := range cols {
		if have[c] {
			exprs[i] = r.quote(c)
		} else {
			exprs[i] = "NULL"
		}
	}
	q := `SELECT ` + strings.Join(exprs, ", ") + ` FROM ` + r.quote(table)
	if where != "" {
		q += ` WHERE ` + where
	}
	rows, err := r.tx.QueryContext(r.ctx, q+` ORDER BY 1`, args...)
	if err != nil {
		return fmt.Errorf("table %s: %w", table, err)
	}
	defer rows.Close()
	v := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range v {
		ptrs[i] = &v[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("table %s: %w", table, err)
		}
		if err := each(v); err != nil {
			return fmt.Errorf("table %s: %w", table, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("table %s: %w", table, err)
	}
	return nil
}

var errNoTable = errors.New("not a Marzban database: missing")

// optional turns a missing table into nothing to read.
func optional(err error) error {
	if errors.Is(err, errNoTable) {
		return nil
	}
	return err
}

func (r *reader) read() (*state.Migration, error) {
	m := &state.Migration{}

	// The subscription secret (Marzban signs tokens with its JWT secret).
	if err := optional(r.selectRows("jwt", []string{"id", "secret_key"}, func(v []any) error {
		if m.SubscriptionSecret == "" {
			m.SubscriptionSecret = str(v[1])
		}
		return nil
	})); err != nil {
		return nil, err
	}

	adminNames := map[int64]string{}
	err := r.selectRows("admins", []string{"id", "username", "hashed_password", "is_sudo", "created_at",
		"password_reset_at", "telegram_id", "discord_webhook", "users_usage"}, func(v []any) error {
		id, _ := integer(v[0])
		a := state.MigratedAdmin{Username: str(v[1]), HashedPassword: str(v[2]), IsSudo: boolean(v[3])}
		var err error
		if a.CreatedAt, err = timeOrZero(v[4]); err != nil {
			return fmt.Errorf("admin %q: created_at: %w", a.Username, err)
		}
		if a.PasswordResetAt, err = timePtr(v[5]); err != nil {
			return fmt.Errorf("admin %q: password_reset_at: %w", a.Username, err)
		}
		if n, ok := integer(v[6]); ok && n != 0 {
			a.TelegramID = &n
		}
		if s := str(v[7]); s != "" {
			a.DiscordWebhook = &s
		}
		a.UsersUsage, _ = integer(v[8])
		adminNames[id] = a.Username
		m.Admins = append(m.Admins, a)
		return nil
	})
	if err != nil {
		return nil, err
	}

	users, index, err := r.readUsers(adminNames, &m.Notes)
	if err != nil {
		return nil, err
	}
	m.Users = users
	if err := r.readNodes(m, index); err != nil {
		return nil, err
	}

	if m.Templates, err = r.readTemplates(); err != nil {
		return nil, err
	}
	if m.Hosts, err = r.readHosts(); err != nil {
		return nil, err
	}
	return m, nil
}

// readUsers reads the users and returns them with their positions by
// Marzban's users.id.
func (r *reader) readUsers(adminNames map[int64]string, notes *[]string) ([]state.MigratedUser, map[int64]int, error) {
	var users []state.MigratedUser
	index := map[int64]int{} // users.id -> position
	err := r.selectRows("users", []string{"id", "username", "status", "used_traffic", "data_limit",
		"data_limit_reset_strategy", "expire", "admin_id", "sub_revoked_at", "sub_updated_at",
		"sub_last_user_agent", "created_at", "note", "online_at", "on_hold_expire_duration",
		"on_hold_timeout", "auto_delete_in_days", "edit_at", "last_status_change"}, func(v []any) error {
		id, _ := integer(v[0])
		name := str(v[1])
		u := state.MigratedUser{Status: model.Status(strings.ToLower(str(v[2])))}
		u.Username, u.Proxies = &name, map[string]model.ProxySettings{}
		fail := func(field string, err error) error { return fmt.Errorf("user %q: %s: %w", name, field, err) }
		u.UsedTraffic, _ = integer(v[3])
		u.LifetimeUsed = u.UsedTraffic
		if n, ok := integer(v[4]); ok {
			u.DataLimit = &n
		}
		if s := str(v[5]); s != "" {
			rs := model.ResetStrategy(strings.ToLower(s))
			u.DataLimitResetStrategy = &rs
		}
		if n, ok := integer(v[6]); ok {
			u.Expire = &n
		}
		if n, ok := integer(v[7]); ok {
			// Marzban on SQLite does not enforce its foreign keys: a
			// deleted admin can leave its users pointing nowhere.
			owner, known := adminNames[n]
			if !known {
				*notes = append(*notes, fmt.Sprintf("user %q: its admin (id %d) is not in the admins table; imported without an owner", name, n))
			}
			u.Owner = owner
		}
		var err error
		if u.SubRevokedAt, err = timePtr(v[8]); err != nil {
			return fail("sub_revoked_at", err)
		}
		if u.SubUpdatedAt, err = timePtr(v[9]); err != nil {
			return fail("sub_updated_at", err)
		}
		u.SubLastUserAgent = str(v[10])
		if u.CreatedAt, err = timeOrZero(v[11]); err != nil {
			return fail("created_at", err)
		}
		if s := str(v[12]); s != "" {
			u.Note = &s
		}
		if u.OnlineAt, err = timePtr(v[13]); err != nil {
			return fail("online_at", err)
		}
		if n, ok := integer(v[14]); ok {
			u.OnHoldExpireDuration = &n
		}
		if u.OnHoldTimeout, err = timePtr(v[15]); err != nil {
			return fail("on_hold_timeout", err)
		}
		if n, ok := integer(v[16]); ok {
			u.AutoDeleteInDays = &n
		}
		if u.EditAt, err = timePtr(v[17]); err != nil {
			return fail("edit_at", err)
		}
		if u.LastStatusChange, err = timePtr(v[18]); err != nil {
			return fail("last_status_change", err)
		}
		index[id] = len(users)
		users = append(users, u)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}

	// Proxies, and the inbounds each is excluded from.
	proxyOf := map[int64]struct {
		user  int
		proto string
	}{}
	err = r.selectRows("proxies", []string{"id", "user_id", "type", "settings"}, func(v []any) error {
		id, _ := integer(v[0])
		uid, _ := integer(v[1])
		i, ok := index[uid]
		if !ok {
			return nil // an orphan row: Marzban would not show it either
		}
		proto := strings.ToLower(str(v[2]))
		if !slices.Contains(model.Protocols, proto) {
			return fmt.Errorf("user %q: unknown proxy type %q", *users[i].Username, str(v[2]))
		}
		var p model.ProxySettings
		if err := json.Unmarshal([]byte(str(v[3])), &p); err != nil {
			return fmt.Errorf("user %q: %s settings: %w", *users[i].Username, proto, err)
		}
		users[i].Proxies[proto] = p
		proxyOf[id] = struct {
			user  int
			proto string
		}{i, proto}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	err = optional(r.selectRows("exclude_inbounds_association", []string{"proxy_id", "inbound_tag"}, func(v []any) error {
		pid, _ := integer(v[0])
		p, ok := proxyOf[pid]
		if !ok {
			return nil
		}
		u := &users[p.user]
		if u.Excluded == nil {
			u.Excluded = map[string][]string{}
		}
		u.Excluded[p.proto] = append(u.Excluded[p.proto], str(v[1]))
		return nil
	}))
	if err != nil {
		return nil, nil, err
	}

	err = optional(r.selectRows("next_plans", []string{"user_id", "data_limit", "expire",
		"add_remaining_traffic", "fire_on_either"}, func(v []any) error {
		uid, _ := integer(v[0])
		i, ok := index[uid]
		if !ok {
			return nil
		}
		np := &model.NextPlan{AddRemainingTraffic: boolean(v[3]), FireOnEither: true}
		np.DataLimit, _ = integer(v[1])
		np.Expire, _ = integer(v[2])
		if v[4] != nil {
			np.FireOnEither = boolean(v[4])
		}
		users[i].NextPlan = np
		return nil
	}))
	if err != nil {
		return nil, nil, err
	}

	// Usage reset logs: what was used before each reset counts in the
	// lifetime usage, and the last reset is when the period began.
	err = optional(r.selectRows("user_usage_logs", []string{"user_id", "used_traffic_at_reset", "reset_at"}, func(v []any) error {
		uid, _ := integer(v[0])
		i, ok := index[uid]
		if !ok {
			return nil
		}
		n, _ := integer(v[1])
		users[i].LifetimeUsed += max(n, 0)
		at, err := timePtr(v[2])
		if err != nil {
			return fmt.Errorf("user %q: reset_at: %w", *users[i].Username, err)
		}
		if at != nil && (users[i].UsageResetAt == nil || at.After(*users[i].UsageResetAt)) {
			users[i].UsageResetAt = at
		}
		return nil
	}))
	if err != nil {
		return nil, nil, err
	}
	return users, index, nil
}

// readNodes reads Marzban's nodes and its hourly usage history: per node
// (node_usages) and per user and node (node_user_usages). A row without a
// node is Marzban's own core (node_id NULL). Tables an older Marzban lacks
// read as empty.
func (r *reader) readNodes(m *state.Migration, users map[int64]int) error {
	err := optional(r.selectRows("nodes", []string{"id", "name", "address", "port", "api_port", "usage_coefficient"}, func(v []any) error {
		id, _ := integer(v[0])
		n := state.MigratedNode{SourceID: id, Name: str(v[1]), Address: str(v[2]), UsageCoefficient: 1}
		if p, ok := integer(v[3]); ok {
			n.Port = int(p)
		}
		if p, ok := integer(v[4]); ok {
			n.APIPort = int(p)
		}
		if c, ok := float(v[5]); ok && c > 0 {
			n.UsageCoefficient = c
		}
		m.Nodes = append(m.Nodes, n)
		return nil
	}))
	if err != nil {
		return err
	}
	// History before since: counted, not read. Marzban writes DateTime as
	// naive UTC text on SQLite and DATETIME on MySQL; both compare with
	// this form.
	where, args := "", []any(nil)
	if !r.since.IsZero() {
		where, args = "created_at >= ?", []any{r.since.UTC().Format("2006-01-02 15:04:05")}
		for _, table := range []string{"node_usages", "node_user_usages"} {
			if have, err := r.columns(table); err != nil || have == nil {
				continue
			}
			var older int64
			if err := r.tx.QueryRowContext(r.ctx, `SELECT COUNT(*) FROM `+r.quote(table)+` WHERE created_at < ?`, args...).Scan(&older); err != nil {
				return fmt.Errorf("table %s: %w", table, err)
			}
			if older > 0 {
				m.Notes = append(m.Notes, fmt.Sprintf("%d hourly usage rows of %s before %s: not imported (--history-days)",
					older, table, r.since.UTC().Format("2006-01-02")))
			}
		}
	}
	err = optional(r.selectWhere("node_usages", []string{"created_at", "node_id", "uplink", "downlink"}, where, args, func(v []any) error {
		at, err := parseTime(v[0])
		if err != nil || at == nil {
			return fmt.Errorf("node usage: created_at: %v", err)
		}
		u := state.MigratedNodeUsage{Hour: *at}
		u.SourceNode, _ = integer(v[1])
		u.Uplink, _ = integer(v[2])
		u.Downlink, _ = integer(v[3])
		m.NodeUsage = append(m.NodeUsage, u)
		return nil
	}))
	if err != nil {
		return err
	}
	orphans := 0
	err = optional(r.selectWhere("node_user_usages", []string{"created_at", "user_id", "node_id", "used_traffic"}, where, args, func(v []any) error {
		uid, _ := integer(v[1])
		i, ok := users[uid]
		if !ok {
			orphans++ // a deleted user's history: Marzban keeps it, nobody can see it
			return nil
		}
		at, err := parseTime(v[0])
		if err != nil || at == nil {
			return fmt.Errorf("user %q usage: created_at: %v", *m.Users[i].Username, err)
		}
		u := state.MigratedUserUsage{User: i, Hour: *at}
		u.SourceNode, _ = integer(v[2])
		u.Used, _ = integer(v[3])
		m.UserUsage = append(m.UserUsage, u)
		return nil
	}))
	if err != nil {
		return err
	}
	if orphans > 0 {
		m.Notes = append(m.Notes, fmt.Sprintf("%d hourly usage rows of users no longer in Marzban: not imported", orphans))
	}
	return nil
}

func (r *reader) readTemplates() ([]state.MigratedTemplate, error) {
	var out []state.MigratedTemplate
	index := map[int64]int{}
	err := optional(r.selectRows("user_templates", []string{"id", "name", "data_limit", "expire_duration",
		"username_prefix", "username_suffix"}, func(v []any) error {
		id, _ := integer(v[0])
		name := str(v[1])
		t := state.MigratedTemplate{Input: state.TemplateInput{Name: &name}}
		if n, ok := integer(v[2]); ok {
			t.Input.DataLimit = &n
		}
		if n, ok := integer(v[3]); ok {
			t.Input.ExpireDuration = &n
		}
		if s := str(v[4]); s != "" {
			t.Input.UsernamePrefix = &s
		}
		if s := str(v[5]); s != "" {
			t.Input.UsernameSuffix = &s
		}
		index[id] = len(out)
		out = append(out, t)
		return nil
	}))
	if err != nil {
		return nil, err
	}
	err = optional(r.selectRows("template_inbounds_association", []string{"user_template_id", "inbound_tag"}, func(v []any) error {
		id, _ := integer(v[0])
		if i, ok := index[id]; ok {
			out[i].Tags = append(out[i].Tags, str(v[1]))
		}
		return nil
	}))
	return out, err
}

func (r *reader) readHosts() (map[string][]state.Host, error) {
	var hosts map[string][]state.Host
	err := optional(r.selectRows("hosts", []string{"id", "inbound_tag", "remark", "address", "port", "sni",
		"host", "path", "security", "alpn", "fingerprint", "allowinsecure", "is_disabled", "mux_enable",
		"fragment_setting", "noise_setting", "random_user_agent", "use_sni_as_host"}, func(v []any) error {
		tag := str(v[1])
		h := state.Host{
			Remark: str(v[2]), Address: str(v[3]), SNI: str(v[5]), Host: str(v[6]), Path: str(v[7]),
			Security: strings.ToLower(str(v[8])), AllowInsecure: boolean(v[11]), IsDisabled: boolean(v[12]),
			MuxEnable: boolean(v[13]), FragmentSetting: str(v[14]), NoiseSetting: str(v[15]),
			RandomUserAgent: boolean(v[16]), UseSNIAsHost: boolean(v[17]),
		}
		if h.Security == "" {
			h.Security = "inbound_default"
		}
		if n, ok := integer(v[4]); ok {
			p := int(n)
			h.Port = &p
		}
		var ok bool
		if h.ALPN, ok = alpnOf(str(v[9])); !ok {
			return fmt.Errorf("host %q of %q: unknown alpn %q", h.Remark, tag, str(v[9]))
		}
		if h.Fingerprint, ok = fingerprintOf(str(v[10])); !ok {
			return fmt.Errorf("host %q of %q: unknown fingerprint %q", h.Remark, tag, str(v[10]))
		}
		if hosts == nil {
			hosts = map[string][]state.Host{}
		}
		hosts[tag] = append(hosts[tag], h)
		return nil
	}))
	return hosts, err
}

// alpnOf maps Marzban's ProxyHostALPN member names (and values, as some
// versions and hand edits hold them) to the comma list hosts carry.
func alpnOf(s string) (string, bool) {
	switch strings.ToLower(s) {
	case "", "none":
		return "", true
	case "h3":
		return "h3", true
	case "h2":
		return "h2", true
	case "http1_1", "http/1.1":
		return "http/1.1", true
	case "h3_h2", "h3,h2":
		return "h3,h2", true
	case "h2_http1_1", "h2,http/1.1":
		return "h2,http/1.1", true
	case "h3_h2_http1_1", "h3,h2,http/1.1":
		return "h3,h2,http/1.1", true
	}
	return "", false
}

// fingerprintOf maps Marzban's ProxyHostFingerprint member names ("_360"
// is the member for "360") and values.
func fingerprintOf(s string) (string, bool) {
	switch v := strings.ToLower(s); v {
	case "", "none":
		return "", true
	case "_360", "360":
		return "360", true
	case "chrome", "firefox", "safari", "ios", "android", "edge", "qq", "random", "randomized":
		return v, true
	}
	return "", false
}

// str reads a TEXT (or BLOB) value; NULL is "".
func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return ""
}

// integer reads an INTEGER (or a whole REAL, or digits); ok is false for
// NULL and anything else.
func integer(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case float64:
		return int64(x), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case string, []byte:
		n, err := strconv.ParseInt(strings.TrimSpace(str(x)), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// float reads a REAL/FLOAT/DOUBLE column (MySQL's driver may hand it over
// as text).
func float(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int64:
		return float64(x), true
	case string, []byte:
		f, err := strconv.ParseFloat(strings.TrimSpace(str(x)), 64)
		return f, err == nil
	}
	return 0, false
}

func boolean(v any) bool {
	if n, ok := integer(v); ok {
		return n != 0
	}
	s := strings.ToLower(str(v))
	return s == "true" || s == "t"
}

// timeFormats are the forms Marzban's DateTime columns take in SQLite
// (SQLAlchemy writes the first; hand-made or converted databases the rest).
var timeFormats = []string{
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	time.RFC3339Nano,
	"2006-01-02 15:04",
	"2006-01-02",
}

// parseTime reads a DateTime value as UTC; NULL and "" are nil.
func parseTime(v any) (*time.Time, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case time.Time:
		t := x.UTC()
		return &t, nil
	case int64, float64:
		n, _ := integer(x)
		t := time.Unix(n, 0).UTC()
		return &t, nil
	}
	s := strings.TrimSpace(str(v))
	if s == "" {
		return nil, nil
	}
	for _, f := range timeFormats {
		if t, err := time.Parse(f, s); err == nil {
			t = t.UTC()
			return &t, nil
		}
	}
	return nil, fmt.Errorf("not a date and time: %q", s)
}

func timePtr(v any) (*time.Time, error) { return parseTime(v) }

func timeOrZero(v any) (time.Time, error) {
	t, err := parseTime(v)
	if err != nil || t == nil {
		return time.Time{}, err
	}
	return *t, nil
}

// Summary is a short account of what Read found, for a dry run's output.
func Summary(m *state.Migration) string {
	protos := map[string]int{}
	for _, u := range m.Users {
		for p := range u.Proxies {
			protos[p]++
		}
	}
	names := make([]string, 0, len(protos))
	for p := range protos {
		names = append(names, p)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, p := range names {
		parts[i] = fmt.Sprintf("%s %d", p, protos[p])
	}
	hosts := 0
	for _, l := range m.Hosts {
		hosts += len(l)
	}
	return fmt.Sprintf("%d admins, %d users (%s), %d templates, %d hosts, %d nodes, %d rows of usage history, subscription secret %s",
		len(m.Admins), len(m.Users), strings.Join(parts, ", "), len(m.Templates), hosts, len(m.Nodes), len(m.NodeUsage)+len(m.UserUsage),
		map[bool]string{true: "found", false: "missing"}[m.SubscriptionSecret != ""])
}
