// Package marzbantest makes Marzban-shaped databases and tokens for tests
// of the Marzban import (the CLI's and the end-to-end ones). It is written
// from the facts of REFERENCE.md and Marzban's schema, not from the
// importer's code, so the tests check one against the other.
package marzbantest

import (
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	_ "github.com/go-sql-driver/mysql" // the "mysql" driver
	_ "modernc.org/sqlite"             // the "sqlite" driver
)

// AdminPassword is the password of both admins WriteDB makes.
const AdminPassword = "boss-pass-1"

// schema is the part of a Marzban 0.8 SQLite database the import
// reads, with the column types SQLAlchemy gives them there (enums as
// VARCHAR holding member names, DateTime as naive UTC text).
const schema = `
CREATE TABLE admins (id INTEGER PRIMARY KEY, username VARCHAR(34), hashed_password VARCHAR(128),
	created_at DATETIME, is_sudo BOOLEAN, password_reset_at DATETIME, telegram_id BIGINT,
	discord_webhook VARCHAR(1024), users_usage BIGINT NOT NULL DEFAULT 0);
CREATE TABLE users (id INTEGER PRIMARY KEY, username VARCHAR(34) COLLATE NOCASE, status VARCHAR(8) NOT NULL,
	used_traffic BIGINT, data_limit BIGINT, data_limit_reset_strategy VARCHAR(8) NOT NULL, expire BIGINT,
	admin_id INTEGER REFERENCES admins (id), sub_revoked_at DATETIME, sub_updated_at DATETIME,
	sub_last_user_agent VARCHAR(512), created_at DATETIME, note VARCHAR(500), online_at DATETIME,
	on_hold_expire_duration BIGINT, on_hold_timeout DATETIME, auto_delete_in_days INTEGER,
	edit_at DATETIME, last_status_change DATETIME);
CREATE TABLE proxies (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users (id),
	type VARCHAR(11) NOT NULL, settings JSON NOT NULL);
CREATE TABLE inbounds (id INTEGER PRIMARY KEY, tag VARCHAR(256) NOT NULL UNIQUE);
CREATE TABLE exclude_inbounds_association (proxy_id INTEGER REFERENCES proxies (id),
	inbound_tag VARCHAR(256) REFERENCES inbounds (tag));
CREATE TABLE next_plans (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, data_limit BIGINT NOT NULL,
	expire INTEGER, add_remaining_traffic BOOLEAN NOT NULL DEFAULT 0, fire_on_either BOOLEAN NOT NULL DEFAULT 1);
CREATE TABLE user_usage_logs (id INTEGER PRIMARY KEY, user_id INTEGER, used_traffic_at_reset BIGINT NOT NULL,
	reset_at DATETIME);
CREATE TABLE user_templates (id INTEGER PRIMARY KEY, name VARCHAR(64) NOT NULL UNIQUE, data_limit BIGINT,
	expire_duration BIGINT, username_prefix VARCHAR(20), username_suffix VARCHAR(20));
CREATE TABLE template_inbounds_association (user_template_id INTEGER, inbound_tag VARCHAR(256));
CREATE TABLE hosts (id INTEGER PRIMARY KEY, remark VARCHAR(256) NOT NULL, address VARCHAR(256) NOT NULL,
	port INTEGER, path VARCHAR(256), sni VARCHAR(1000), host VARCHAR(1000),
	security VARCHAR(15) NOT NULL, alpn VARCHAR(13) NOT NULL DEFAULT 'none',
	fingerprint VARCHAR(10) NOT NULL DEFAULT 'none', inbound_tag VARCHAR(256) NOT NULL,
	allowinsecure BOOLEAN, is_disabled BOOLEAN, mux_enable BOOLEAN NOT NULL DEFAULT 0,
	fragment_setting VARCHAR(100), noise_setting VARCHAR(2000), random_user_agent BOOLEAN NOT NULL DEFAULT 0,
	use_sni_as_host BOOLEAN NOT NULL DEFAULT 0);
CREATE TABLE jwt (id INTEGER PRIMARY KEY, secret_key VARCHAR(64) NOT NULL);
CREATE TABLE nodes (id INTEGER PRIMARY KEY, name VARCHAR(256) UNIQUE, address VARCHAR(256), port INTEGER,
	api_port INTEGER, xray_version VARCHAR(32), status VARCHAR(10) NOT NULL, last_status_change DATETIME,
	message VARCHAR(1024), created_at DATETIME, uplink BIGINT, downlink BIGINT,
	usage_coefficient FLOAT NOT NULL DEFAULT 1.0);
CREATE TABLE node_usages (id INTEGER PRIMARY KEY, created_at DATETIME NOT NULL, node_id INTEGER,
	uplink BIGINT, downlink BIGINT);
CREATE TABLE node_user_usages (id INTEGER PRIMARY KEY, created_at DATETIME NOT NULL, user_id INTEGER,
	node_id INTEGER, used_traffic BIGINT);
`

// The usage history WriteDB writes: two nodes and Marzban's own core (node
// NULL), an hour of a node that no longer exists (9) and one of a user that
// no longer exists (99). Alice's traffic per node, summed: fra-1 1500
// (two rows in one hour), ams-1 300, the core 50.
const (
	AliceFraBytes  = 1500
	AliceAmsBytes  = 300
	AliceCoreBytes = 50
)

// Secret is the Marzban database's JWT secret, which signs its
// subscription tokens; GiB is a gibibyte; AliceUUID is alice's vless id.
const (
	Secret    = "5c1e0f3b9a7d4e21b8c6a0f9e3d2c1b4a5968776e5f4d3c2b1a09f8e7d6c5b4a"
	GiB       = int64(1) << 30
	AliceUUID = "0f5f7c2e-8a43-4c1e-9b77-3d2f6a1e9c55"
)

// WriteDB makes a Marzban SQLite database at path with two admins, four
// users (one of each status but expired), a template and hosts; extra
// statements run after the data.
func WriteDB(t testing.TB, path string, extra ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	write(t, db, []string{schema}, extra)
}

// WriteMySQL makes the same database in the empty MySQL database dsn (the
// go-sql-driver form), with the types SQLAlchemy uses on MySQL (DATETIME
// with microseconds here, so the test data round-trips exactly).
func WriteMySQL(t testing.TB, dsn string, extra ...string) {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ddl := strings.NewReplacer(" COLLATE NOCASE", "", "DATETIME", "DATETIME(6)",
		"INTEGER PRIMARY KEY", "INTEGER AUTO_INCREMENT PRIMARY KEY").Replace(schema)
	var stmts []string
	for _, st := range strings.Split(ddl, ";") {
		if strings.TrimSpace(st) != "" {
			stmts = append(stmts, st)
		}
	}
	write(t, db, stmts, extra)
}

func write(t testing.TB, db *sql.DB, schema []string, extra []string) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(AdminPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	// passlib writes the $2b$ variant.
	passlib := "$2b$" + strings.TrimPrefix(string(hash), "$2a$")
	stmts := append(schema,
		`INSERT INTO jwt (id, secret_key) VALUES (1, '`+Secret+`')`,
		`INSERT INTO admins VALUES (1, 'boss', '`+passlib+`', '2023-12-01 08:00:00.123456', 1, NULL, NULL, NULL, 0)`,
		`INSERT INTO admins VALUES (2, 'reseller', '`+passlib+`', '2024-01-05 09:30:00', 0, NULL, 123456789, NULL, 77777)`,
		`INSERT INTO inbounds (tag) VALUES ('VLESS TCP'), ('VMess WS'), ('Trojan TCP'), ('Shadowsocks TCP'), ('Old Inbound')`,
		// alice: active, reseller's, monthly reset with two resets behind her, a next plan.
		`INSERT INTO users VALUES (1, 'alice', 'active', `+strconv.FormatInt(5*GiB, 10)+`, `+strconv.FormatInt(10*GiB, 10)+`,
			'month', 4102444800, 2, NULL, '2024-05-02 11:00:00.5', 'v2rayNG/1.8.5', '2024-03-01 10:00:00.250000',
			'vip', '2024-05-02 12:00:00', NULL, NULL, 30, '2024-04-01 00:00:00', '2024-03-01 10:00:00.250000')`,
		`INSERT INTO proxies VALUES (1, 1, 'VLESS', '{"id": "`+AliceUUID+`", "flow": "xtls-rprx-vision"}')`,
		`INSERT INTO proxies VALUES (2, 1, 'Trojan', '{"password": "alice-trojan-pw"}')`,
		`INSERT INTO exclude_inbounds_association VALUES (2, 'Trojan TCP'), (2, 'Old Inbound')`,
		`INSERT INTO next_plans VALUES (1, 1, `+strconv.FormatInt(20*GiB, 10)+`, 2592000, 1, 0)`,
		`INSERT INTO user_usage_logs VALUES (1, 1, `+strconv.FormatInt(GiB, 10)+`, '2024-03-31 23:59:59'),
			(2, 1, `+strconv.FormatInt(2*GiB, 10)+`, '2024-04-30 23:59:59')`,
		// bob_2: disabled, the sudo's, subscription revoked.
		`INSERT INTO users VALUES (2, 'bob_2', 'disabled', 1000, 0, 'no_reset', NULL, 1, '2024-06-01 00:00:00',
			NULL, NULL, '2024-02-01 00:00:00', NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
		`INSERT INTO proxies VALUES (3, 2, 'Shadowsocks', '{"password": "bob-ss-pw", "method": "chacha20-ietf-poly1305"}')`,
		// carol: on hold, no owner.
		`INSERT INTO users VALUES (3, 'carol', 'on_hold', 0, NULL, 'no_reset', NULL, NULL, NULL, NULL, NULL,
			'2024-07-01 00:00:00', NULL, NULL, 2592000, '2030-01-01 00:00:00', NULL, NULL, NULL)`,
		`INSERT INTO proxies VALUES (4, 3, 'VMess', '{"id": "7d2c4b1a-3e5f-4a6b-8c9d-0e1f2a3b4c5d"}')`,
		// Dave: limited; Marzban keeps the letter case a user was created with.
		`INSERT INTO users VALUES (4, 'Dave', 'limited', `+strconv.FormatInt(GiB, 10)+`, `+strconv.FormatInt(GiB, 10)+`,
			'no_reset', NULL, 2, NULL, NULL, NULL, '2024-07-02 00:00:00', NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
		`INSERT INTO proxies VALUES (5, 4, 'VLESS', '{"id": "11111111-2222-4333-8444-555555555555", "flow": ""}')`,
		`INSERT INTO user_templates VALUES (1, 'monthly', `+strconv.FormatInt(30*GiB, 10)+`, 2592000, 'm_', NULL)`,
		`INSERT INTO template_inbounds_association VALUES (1, 'VLESS TCP'), (1, 'Old Inbound')`,
		`INSERT INTO hosts (id, remark, address, port, path, sni, host, security, alpn, fingerprint, inbound_tag,
			allowinsecure, is_disabled, mux_enable, fragment_setting, noise_setting, random_user_agent, use_sni_as_host)
			VALUES (1, '🚀 {USERNAME} [{PROTOCOL}]', 'edge.example.com', 8443, NULL, 'edge.example.com', NULL,
				'inbound_default', 'h2_http1_1', '_360', 'VLESS TCP', 0, 0, 0, NULL, NULL, 1, 0),
			(2, 'old', 'old.example.com', NULL, NULL, NULL, NULL, 'none', 'none', 'none', 'Old Inbound',
				NULL, NULL, 0, NULL, NULL, 0, 0)`,
		`INSERT INTO nodes (id, name, address, port, api_port, xray_version, status, message, created_at, uplink, downlink, usage_coefficient)
			VALUES (1, 'fra-1', 'fra.example.net', 62050, 62051, '1.8.24', 'connected', NULL, '2024-01-01 00:00:00', 0, 0, 1.5),
			(2, 'ams-1', '203.0.113.7', 62050, 62051, NULL, 'error', 'connection refused', '2024-01-02 00:00:00', 0, 0, 1)`,
		`INSERT INTO node_usages (created_at, node_id, uplink, downlink) VALUES
			('2024-05-01 10:00:00', 1, 100, 200), ('2024-05-01 10:00:00', NULL, 10, 20),
			('2024-05-01 11:00:00', 2, 5, 6), ('2024-05-01 12:00:00', 9, 1, 1)`,
		`INSERT INTO node_user_usages (created_at, user_id, node_id, used_traffic) VALUES
			('2024-05-01 10:00:00', 1, 1, 1000), ('2024-05-01 10:00:00', 1, 1, 500), ('2024-05-01 10:00:00', 1, NULL, 50),
			('2024-05-01 11:00:00', 1, 2, 300), ('2024-05-01 10:00:00', 99, 1, 7)`,
	)
	for _, s := range append(stmts, extra...) {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%v\n%s", err, s)
		}
	}
}

// Token builds a subscription token the way REFERENCE.md section 3
// describes Marzban doing it, independently of backend/sub.
func Token(username string, at time.Time, secret string) string {
	b64 := base64.RawURLEncoding.EncodeToString([]byte(username + "," + strconv.FormatInt(at.Unix(), 10)))
	sum := sha256.Sum256([]byte(b64 + secret))
	return b64 + base64.RawURLEncoding.EncodeToString(sum[:])[:10]
}
