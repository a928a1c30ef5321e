package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/audit"
	"github.com/outpost-panel/outpost/backend/internal/testenv"
	"github.com/outpost-panel/outpost/backend/migrate/marzban/marzbantest"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
	"github.com/outpost-panel/outpost/backend/store"
	"github.com/outpost-panel/outpost/backend/sub"
	"github.com/outpost-panel/outpost/backend/xrayconf"
)

// TestImportMarzban imports Marzban's SQLite database into a SQLite and a
// PostgreSQL panel, and a Marzban database on MariaDB into a SQLite panel.
func TestImportMarzban(t *testing.T) {
	sqliteSource := func(t *testing.T) string {
		from := filepath.Join(t.TempDir(), "db.sqlite3")
		marzbantest.WriteDB(t, from)
		return from
	}
	t.Run("sqlite", func(t *testing.T) { testImportMarzban(t, newPanelDir(t), sqliteSource(t)) })
	t.Run("postgres", func(t *testing.T) { testImportMarzban(t, newPanelDB(t, testenv.Postgres(t)), sqliteSource(t)) })
	t.Run("from-mysql", func(t *testing.T) {
		url := testenv.MySQL(t)
		dsn, err := testenv.MySQLDSN(url)
		if err != nil {
			t.Fatal(err)
		}
		marzbantest.WriteMySQL(t, dsn)
		testImportMarzban(t, newPanelDir(t), url)
	})
}

func testImportMarzban(t *testing.T, p *panelDir, from string) {
	ctx := context.Background()

	userCount := func(p *panelDir) (n int) {
		p.withState(func(st *state.State) {
			_, total, err := st.ListUsers(ctx, nil, store.UserFilter{Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			n = total
		})
		return n
	}

	// A dry run reads and checks everything and writes nothing.
	r := p.run("", nil, "import", "marzban", "--from", from, "--dry-run").must(t, 0, "dry run")
	if !strings.Contains(r.stdout, "would import") || !strings.Contains(r.stdout, "2 admins, 4 users, 1 templates, 1 hosts") {
		t.Fatalf("dry run said %q", r.stdout)
	}
	if n := userCount(p); n != 0 {
		t.Fatalf("dry run wrote %d users", n)
	}
	// By default only the last 90 days of usage history come; the test
	// data is from 2024, so the dry run says it leaves it out.
	if !strings.Contains(r.stdout, "5 hourly usage rows of node_user_usages before") ||
		!strings.Contains(r.stdout, "0 hours of usage history") {
		t.Errorf("dry run with the default --history-days said %q", r.stdout)
	}

	r = p.run("", nil, "import", "marzban", "--from", from, "--history-days", "0", "--json").must(t, 0, "import")
	var rep state.MigrationReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%q: %v", r.stdout, err)
	}
	if rep.Admins != 2 || rep.Users != 4 || rep.Templates != 1 || rep.Hosts != 1 || !rep.Secret || rep.DryRun {
		t.Fatalf("report %+v", rep)
	}
	if len(rep.Skipped) != 4 || !strings.Contains(strings.Join(rep.Skipped, "\n"), "Old Inbound") {
		t.Errorf("skipped %q, want the template's and the host's Old Inbound, and the usage of node 9 and user 99", rep.Skipped)
	}
	// fra-1, ams-1 and Marzban's own core; three node hours and alice's
	// three (user, node, hour) rows, fra-1's two rows of one hour summed.
	if rep.Nodes != 3 || rep.UsageHours != 6 {
		t.Errorf("report: %d nodes, %d usage hours; want 3 and 6", rep.Nodes, rep.UsageHours)
	}

	var secrets state.Secrets
	p.withState(func(st *state.State) {
		// The import is one entry of the CLI's: what it created, after only,
		// with no secret of Marzban's.
		list, err := st.AuditEntries(ctx, audit.Filter{Action: "cli import", Limit: 10})
		if err != nil || len(list) != 1 {
			t.Fatalf("import entries %+v, %v", list, err)
		}
		if e := list[0]; e.ActorKind != audit.KindCLI || e.Before != nil || !strings.Contains(string(e.After), `"count":4`) ||
			!strings.Contains(string(e.After), `"subscription_links_kept":true`) || strings.Contains(string(e.After), marzbantest.Secret) {
			t.Errorf("import entry %+v: %s", e, e.After)
		}
		if secrets, err = st.LoadSecrets(ctx); err != nil {
			t.Fatal(err)
		}
		if secrets.Subscription != marzbantest.Secret {
			t.Errorf("subscription secret %q, want Marzban's", secrets.Subscription)
		}

		// Admins log in with their Marzban passwords.
		boss, err := st.CheckPassword(ctx, "boss", marzbantest.AdminPassword)
		if err != nil || !boss.IsSudo {
			t.Fatalf("boss: %+v, %v", boss, err)
		}
		reseller, err := st.CheckPassword(ctx, "reseller", marzbantest.AdminPassword)
		if err != nil || reseller.IsSudo || reseller.UsersUsage != 77777 || reseller.TelegramID == nil || *reseller.TelegramID != 123456789 {
			t.Fatalf("reseller: %+v, %v", reseller, err)
		}

		alice, err := st.User(ctx, nil, "alice")
		if err != nil {
			t.Fatal(err)
		}
		wantCreated := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
		switch {
		case alice.Status != model.StatusActive, alice.AdminUsername != "reseller",
			alice.UsedTraffic != 5*marzbantest.GiB, alice.LifetimeUsedTraffic != 8*marzbantest.GiB,
			alice.DataLimit != 10*marzbantest.GiB, alice.DataLimitReset != model.ResetMonth, alice.Expire != 4102444800,
			!alice.CreatedAt.Equal(wantCreated), alice.Note != "vip", alice.SubLastUserAgent != "v2rayNG/1.8.5",
			alice.SubUpdatedAt == nil || alice.SubUpdatedAt.Unix() != time.Date(2024, 5, 2, 11, 0, 0, 0, time.UTC).Unix(),
			alice.OnlineAt == nil, alice.AutoDeleteInDays == nil || *alice.AutoDeleteInDays != 30,
			alice.Proxies[model.ProtoVLESS].ID != marzbantest.AliceUUID, alice.Proxies[model.ProtoVLESS].Flow != "xtls-rprx-vision",
			alice.Proxies[model.ProtoTrojan].Password != "alice-trojan-pw":
			t.Errorf("alice imported as %+v", alice)
		}
		if np := alice.NextPlan; np == nil || np.DataLimit != 20*marzbantest.GiB || np.Expire != 2592000 || !np.AddRemainingTraffic || np.FireOnEither {
			t.Errorf("alice's next plan %+v", alice.NextPlan)
		}
		if got := alice.Inbounds[model.ProtoTrojan]; len(got) != 0 {
			t.Errorf("alice's trojan inbounds %v, want none (excluded in Marzban)", got)
		}
		if got := alice.Inbounds[model.ProtoVLESS]; !slices.Equal(got, []string{"VLESS TCP"}) {
			t.Errorf("alice's vless inbounds %v", got)
		}
		for name, want := range map[string]model.Status{"bob_2": model.StatusDisabled, "carol": model.StatusOnHold, "dave": model.StatusLimited} {
			u, err := st.User(ctx, nil, name)
			if err != nil || u.Status != want {
				t.Errorf("%s: %+v, %v; want status %s", name, u, err, want)
			}
		}
		// Marzban's nodes, without a token until the operator issues one,
		// and their history: per node and per user and node.
		nodes, err := st.Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]model.Node{}
		for _, n := range nodes {
			byName[n.Name] = n
		}
		if fra := byName["fra-1"]; fra.Address != "fra.example.net" || fra.Port != 62050 || fra.APIPort != 62051 ||
			fra.UsageCoefficient != 1.5 || fra.TokenHash != "" || !strings.Contains(fra.Message, "issue a token") {
			t.Errorf("fra-1 imported as %+v", fra)
		}
		if _, ok := byName[state.CoreNodeName]; !ok || len(nodes) != 3 {
			t.Errorf("nodes %v, want fra-1, ams-1 and %s", slices.Collect(maps.Keys(byName)), state.CoreNodeName)
		}
		day := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
		_, usages, err := st.UserUsage(ctx, nil, "alice", day, day.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, u := range usages {
			got[u.NodeName] = u.Used
		}
		want := map[string]int64{"fra-1": marzbantest.AliceFraBytes, "ams-1": marzbantest.AliceAmsBytes, state.CoreNodeName: marzbantest.AliceCoreBytes}
		if !maps.Equal(got, want) {
			t.Errorf("alice's usage per node %v, want %v", got, want)
		}
		traffic, err := st.NodesTraffic(ctx, day, day.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		up := map[string][2]int64{}
		for _, n := range traffic {
			up[n.NodeName] = [2]int64{n.Uplink, n.Downlink}
		}
		if want := map[string][2]int64{"fra-1": {100, 200}, "ams-1": {5, 6}, state.CoreNodeName: {10, 20}}; !maps.Equal(up, want) {
			t.Errorf("node traffic %v, want %v", up, want)
		}

		carol, _ := st.User(ctx, nil, "carol")
		if carol.AdminUsername != "" || carol.OnHoldExpireDuration != 2592000 || carol.OnHoldTimeout == nil {
			t.Errorf("carol imported as %+v", carol)
		}

		// Their subscription links from Marzban keep working: a token
		// Marzban issued after alice was created is valid, bob's token from
		// before his revocation is not, a later one is.
		for _, tc := range []struct {
			user string
			at   time.Time
			ok   bool
		}{
			{"alice", wantCreated.Add(time.Hour), true},
			{"bob_2", time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), false},
			{"bob_2", time.Date(2024, 6, 2, 0, 0, 0, 0, time.UTC), true},
		} {
			name, issued, err := sub.ParseToken(marzbantest.Token(tc.user, tc.at, marzbantest.Secret), secrets.Subscription)
			if err != nil || name != tc.user {
				t.Fatalf("Marzban token of %s: %q, %v", tc.user, name, err)
			}
			u, err := st.User(ctx, nil, name)
			if err != nil {
				t.Fatal(err)
			}
			if got := sub.TokenValidFor(issued, u.CreatedAt, u.SubRevokedAt); got != tc.ok {
				t.Errorf("token of %s issued %v: valid %v, want %v", tc.user, tc.at, got, tc.ok)
			}
		}

		// Nodes get the users that should serve: alice, and carol (on hold).
		_, _, desired, err := st.DesiredUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var onNodes []string
		for _, u := range desired {
			onNodes = append(onNodes, u.Email[strings.IndexByte(u.Email, '.')+1:])
		}
		slices.Sort(onNodes)
		if !slices.Equal(onNodes, []string{"alice", "carol"}) {
			t.Errorf("on nodes: %v", onNodes)
		}

		tpls, err := st.Templates(ctx, 0, 0)
		if err != nil || len(tpls) != 1 || tpls[0].Name != "monthly" || tpls[0].DataLimit != 30*marzbantest.GiB ||
			!slices.Equal(tpls[0].Inbounds[model.ProtoVLESS], []string{"VLESS TCP"}) {
			t.Errorf("templates %+v, %v", tpls, err)
		}
		hosts, err := st.Hosts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if h := hosts["VLESS TCP"]; len(h) != 1 || h[0].ALPN != "h2,http/1.1" || h[0].Fingerprint != "360" ||
			h[0].Port == nil || *h[0].Port != 8443 || !h[0].RandomUserAgent {
			t.Errorf("VLESS TCP hosts %+v", h)
		}
	})

	// A second import into a panel with users changes nothing.
	r = p.run("", nil, "import", "marzban", "--from", from).must(t, 1, "second import")
	if !strings.Contains(r.stderr, "nothing imported") || !strings.Contains(r.stderr, "has 4 users already") {
		t.Errorf("second import said %q", r.stderr)
	}
	if n := userCount(p); n != 4 {
		t.Errorf("%d users after a refused import", n)
	}
}

func TestImportMarzbanRejects(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	notMarzban := filepath.Join(dir, "other.sqlite3")
	db, err := sql.Open("sqlite", "file:"+notMarzban)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE notes (id INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	badProxy := filepath.Join(dir, "bad-proxy.sqlite3")
	marzbantest.WriteDB(t, badProxy, `INSERT INTO proxies VALUES (9, 4, 'WireGuard', '{}')`)
	badTime := filepath.Join(dir, "bad-time.sqlite3")
	marzbantest.WriteDB(t, badTime, `UPDATE users SET created_at = 'yesterday' WHERE id = 3`)
	badName := filepath.Join(dir, "bad-name.sqlite3")
	marzbantest.WriteDB(t, badName, `UPDATE users SET username = 'no spaces allowed' WHERE id = 3`)
	orphan := filepath.Join(dir, "orphan.sqlite3")
	marzbantest.WriteDB(t, orphan, `UPDATE users SET admin_id = 77 WHERE username = 'carol'`)
	p := newPanelDir(t)
	r := p.run("", nil, "import", "marzban", "--from", orphan).must(t, 0, "import with a dangling admin_id")
	if !strings.Contains(r.stdout, `skipped: user "carol": its admin (id 77) is not in the admins table; imported without an owner`) {
		t.Errorf("import with a dangling admin_id said %q", r.stdout)
	}
	good := filepath.Join(dir, "good.sqlite3")
	marzbantest.WriteDB(t, good)
	badEnv := filepath.Join(dir, "bad.env")
	if err := os.WriteFile(badEnv, []byte("UVICORN_PORT = 8000\nUSE_CUSTOM_JSON_FOR_HAPP = maybe\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badConfig := filepath.Join(dir, "xray.json")
	if err := os.WriteFile(badConfig, []byte(`{"inbounds": [{"protocol": "vless", "port": "not a port"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no --from", nil, 2, "--from is required"},
		{"missing file", []string{"--from", filepath.Join(dir, "nope")}, 1, "no such file"},
		{"not Marzban", []string{"--from", notMarzban}, 1, "not a Marzban database"},
		{"MySQL down", []string{"--from", "mysql://root:pw@127.0.0.1:1/marzban"}, 1, "connection refused"},
		{"bad MySQL URL", []string{"--from", "mysql://127.0.0.1"}, 1, "want mysql://user:password@host:port/database"},
		{"unknown proxy type", []string{"--from", badProxy}, 1, `unknown proxy type "WireGuard"`},
		{"bad date", []string{"--from", badTime}, 1, `created_at: not a date and time: "yesterday"`},
		{"bad username", []string{"--from", badName}, 1, "username"},
		{"bad xray config", []string{"--from", good, "--xray-config", badConfig}, 1, "invalid xray config"},
		{"bad .env", []string{"--from", good, "--env", badEnv}, 1, `line 2: USE_CUSTOM_JSON_FOR_HAPP="maybe" is not a boolean`},
		{"missing .env", []string{"--from", good, "--env", filepath.Join(dir, "no.env")}, 1, "reading Marzban's .env"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPanelDir(t)
			var before []model.Admin
			p.withState(func(st *state.State) {
				if before, err = st.ListAdmins(ctx, 0, 0, ""); err != nil {
					t.Fatal(err)
				}
			})
			r := p.run("", nil, append([]string{"import", "marzban"}, tc.args...)...).must(t, tc.code, tc.name)
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr %q lacks %q", r.stderr, tc.want)
			}
			p.withState(func(st *state.State) {
				_, total, err := st.ListUsers(ctx, nil, store.UserFilter{Limit: 1})
				if err != nil || total != 0 {
					t.Errorf("%d users after a failed import (%v)", total, err)
				}
				after, err := st.ListAdmins(ctx, 0, 0, "")
				if err != nil || len(after) != len(before) {
					t.Errorf("admins %d -> %d after a failed import (%v)", len(before), len(after), err)
				}
				sec, err := st.LoadSecrets(ctx)
				if err != nil || sec.Subscription == marzbantest.Secret {
					t.Errorf("subscription secret replaced by a failed import (%v)", err)
				}
			})
		})
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopPostgres()
	testenv.StopMySQL()
	os.Exit(code)
}

// BenchmarkImportMarzban100k: one op imports a Marzban database of
// 100,000 users (vless each) into a new SQLite, or PostgreSQL, panel
// through the CLI.
func BenchmarkImportMarzban100k(b *testing.B) {
	benchImportMarzban(b, 0)
}

// BenchmarkImportMarzban100kHistory1M: the same users with ten hours of
// usage history each on one node, a million node_user_usages rows.
func BenchmarkImportMarzban100kHistory1M(b *testing.B) {
	benchImportMarzban(b, 10)
}

// benchImportMarzban imports a Marzban database of 100,000 users, each
// with hours rows of hourly usage history.
func benchImportMarzban(b *testing.B, hours int) {
	from := filepath.Join(b.TempDir(), "db.sqlite3")
	marzbantest.WriteDB(b, from)
	db, err := sql.Open("sqlite", "file:"+from)
	if err != nil {
		b.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	for i := range 100_000 {
		id := 100 + i
		if _, err := tx.Exec(`INSERT INTO users (id, username, status, used_traffic, data_limit, data_limit_reset_strategy,
			admin_id, created_at) VALUES (?, ?, 'active', ?, ?, 'month', 2, '2024-07-02 00:00:00')`,
			id, fmt.Sprintf("u%06d", i), i*1000, 50*marzbantest.GiB); err != nil {
			b.Fatal(err)
		}
		if _, err := tx.Exec(`INSERT INTO proxies VALUES (?, ?, 'VLESS', ?)`,
			id, id, fmt.Sprintf(`{"id": "11111111-2222-4333-8444-%012d", "flow": ""}`, i)); err != nil {
			b.Fatal(err)
		}
		for h := range hours {
			if _, err := tx.Exec(`INSERT INTO node_user_usages (created_at, user_id, node_id, used_traffic) VALUES (?, ?, 1, ?)`,
				fmt.Sprintf("2024-06-01 %02d:00:00", h), id, 1000+h); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	db.Close()
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				p := newPanelDir(b)
				if engine == "postgres" {
					p = newPanelDB(b, testenv.Postgres(b))
				}
				b.StartTimer()
				p.run("", nil, "import", "marzban", "--from", from, "--history-days", "0").must(b, 0, "import")
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/import")
		})
	}
}

// TestImportMarzbanXrayConfig: Marzban's Xray config comes along with
// --xray-config; its geoip:private rule, which nodes could not build
// (no geoip.dat), is written out as address ranges.
func TestImportMarzbanXrayConfig(t *testing.T) {
	ctx := context.Background()
	from := filepath.Join(t.TempDir(), "db.sqlite3")
	marzbantest.WriteDB(t, from)
	var cfg map[string]any
	if err := json.Unmarshal(xrayconf.DefaultConfig(), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["routing"] = map[string]any{"rules": []any{
		map[string]any{"type": "field", "ip": []any{"geoip:private"}, "outboundTag": "BLOCK"},
	}}
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	xrayFile := filepath.Join(t.TempDir(), "xray_config.json")
	if err := os.WriteFile(xrayFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	p := newPanelDir(t)
	r := p.run("", nil, "import", "marzban", "--from", from, "--xray-config", xrayFile).must(t, 0, "import with --xray-config")
	if !strings.Contains(r.stdout, "the core config") || !strings.Contains(r.stdout, "geoip:private in 1 routing rules") {
		t.Errorf("import said %q", r.stdout)
	}
	p.withState(func(st *state.State) {
		stored, err := st.CoreConfig(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(stored), "geoip:") || !strings.Contains(string(stored), "10.0.0.0/8") {
			t.Errorf("stored core config routing: %s", stored)
		}
	})
}

// --env carries the USE_CUSTOM_JSON_* switches of Marzban's .env over into
// the subscription settings (a switch the file does not set is off, as in
// Marzban, even when it was on here); a dry run writes none of them.
func TestImportMarzbanEnv(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	from := filepath.Join(dir, "db.sqlite3")
	marzbantest.WriteDB(t, from)
	envFile := filepath.Join(dir, ".env")
	if err := os.WriteFile(envFile, []byte("SUDO_USERNAME = admin\n# USE_CUSTOM_JSON_DEFAULT = True\nUSE_CUSTOM_JSON_FOR_HAPP = True\nUSE_CUSTOM_JSON_FOR_V2RAYNG=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := newPanelDir(t)
	p.withState(func(st *state.State) {
		set, err := st.SubscriptionSettings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		set.Streisand = true // on here, off in Marzban's .env
		if err := st.SetSubscriptionSettings(ctx, set); err != nil {
			t.Fatal(err)
		}
	})
	switches := func() (out [5]bool) {
		p.withState(func(st *state.State) {
			set, err := st.SubscriptionSettings(ctx)
			if err != nil {
				t.Fatal(err)
			}
			out = [5]bool{set.Default, set.V2RayN, set.V2RayNG, set.Streisand, set.Happ}
		})
		return out
	}
	r := p.run("", nil, "import", "marzban", "--from", from, "--env", envFile, "--dry-run").must(t, 0, "dry run")
	if !strings.Contains(r.stdout, "subscription switches USE_CUSTOM_JSON_DEFAULT=false USE_CUSTOM_JSON_FOR_V2RAYN=false USE_CUSTOM_JSON_FOR_V2RAYNG=true USE_CUSTOM_JSON_FOR_STREISAND=false USE_CUSTOM_JSON_FOR_HAPP=true") {
		t.Errorf("dry run said %q", r.stdout)
	}
	if got := switches(); got != [5]bool{false, false, false, true, false} {
		t.Fatalf("dry run wrote the switches: %v", got)
	}
	p.run("", nil, "import", "marzban", "--from", from, "--env", envFile).must(t, 0, "import")
	if got := switches(); got != [5]bool{false, false, true, false, true} {
		t.Fatalf("after import: default, v2rayn, v2rayng, streisand, happ = %v", got)
	}
}
