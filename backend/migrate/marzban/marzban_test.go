package marzban

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/outpost-panel/outpost/backend/internal/testenv"
	"github.com/outpost-panel/outpost/backend/migrate/marzban/marzbantest"
	"github.com/outpost-panel/outpost/backend/model"
)

func TestParseTime(t *testing.T) {
	want := time.Date(2024, 3, 1, 10, 0, 0, 250000000, time.UTC)
	for _, tc := range []struct {
		in   any
		want *time.Time
		bad  bool
	}{
		{nil, nil, false},
		{"", nil, false},
		{"2024-03-01 10:00:00.250000", &want, false},
		{[]byte("2024-03-01 10:00:00.25"), &want, false},
		{"2024-03-01T10:00:00.25", &want, false},
		{"2024-03-01T12:00:00.25+02:00", &want, false},
		{"2024-03-01T10:00:00.25Z", &want, false},
		{want.In(time.FixedZone("x", 3600)), &want, false},
		{"yesterday", nil, true},
		{"2024-13-01 10:00:00", nil, true},
	} {
		got, err := parseTime(tc.in)
		if (err != nil) != tc.bad {
			t.Errorf("parseTime(%v): error %v, want error %v", tc.in, err, tc.bad)
			continue
		}
		if (got == nil) != (tc.want == nil) || (got != nil && !got.Equal(*tc.want)) {
			t.Errorf("parseTime(%v) = %v, want %v", tc.in, got, tc.want)
		}
		if got != nil && got.Location() != time.UTC {
			t.Errorf("parseTime(%v) not in UTC: %v", tc.in, got)
		}
	}
	if got, err := parseTime(int64(1700000000)); err != nil || got.Unix() != 1700000000 {
		t.Errorf("unix seconds: %v, %v", got, err)
	}
}

func TestEnumNames(t *testing.T) {
	for in, want := range map[string]string{
		"none": "", "h2": "h2", "http1_1": "http/1.1", "h3_h2": "h3,h2", "h2_http1_1": "h2,http/1.1",
		"h3_h2_http1_1": "h3,h2,http/1.1", "h3,h2,http/1.1": "h3,h2,http/1.1",
	} {
		if got, ok := alpnOf(in); !ok || got != want {
			t.Errorf("alpnOf(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	if _, ok := alpnOf("spdy"); ok {
		t.Error("alpnOf accepted spdy")
	}
	for in, want := range map[string]string{"none": "", "_360": "360", "Chrome": "chrome", "randomized": "randomized"} {
		if got, ok := fingerprintOf(in); !ok || got != want {
			t.Errorf("fingerprintOf(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	if _, ok := fingerprintOf("netscape"); ok {
		t.Error("fingerprintOf accepted netscape")
	}
}

// TestRead reads the test database and checks the Marzban quirks: enum
// member names, the lifetime usage from the reset logs, the excluded
// inbounds per proxy, a database without optional tables.
func TestRead(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "db.sqlite3")
		marzbantest.WriteDB(t, path, `DROP TABLE next_plans`, `DROP TABLE hosts`)
		testRead(t, path)
	})
	t.Run("mysql", func(t *testing.T) {
		url := testenv.MySQL(t)
		dsn, err := testenv.MySQLDSN(url)
		if err != nil {
			t.Fatal(err)
		}
		marzbantest.WriteMySQL(t, dsn, `DROP TABLE next_plans`, `DROP TABLE hosts`)
		testRead(t, url)
	})
}

func testRead(t *testing.T, from string) {
	m, err := Read(context.Background(), from, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if m.SubscriptionSecret != marzbantest.Secret || len(m.Admins) != 2 || len(m.Users) != 4 || m.Hosts != nil {
		t.Fatalf("read %s", Summary(m))
	}
	alice := m.Users[0]
	if *alice.Username != "alice" || alice.Owner != "reseller" || alice.LifetimeUsed != 8*marzbantest.GiB ||
		alice.UsedTraffic != 5*marzbantest.GiB || alice.NextPlan != nil ||
		alice.UsageResetAt == nil || alice.UsageResetAt.Month() != time.April ||
		len(alice.Excluded[model.ProtoTrojan]) != 2 || alice.Proxies[model.ProtoVLESS].ID != marzbantest.AliceUUID {
		t.Errorf("alice read as %+v", alice)
	}
	if s := Summary(m); !strings.Contains(s, "4 users (shadowsocks 1, trojan 1, vless 2, vmess 1)") {
		t.Errorf("summary %q", s)
	}
}

// FuzzParseTime: any text is a time or an error, never a panic, and a
// time read back from its own layout is the same time.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2024-03-01 10:00:00.250000", "2024-03-01", "2024-03-01T10:00:00Z", "", "yesterday", "9999-12-31 23:59:59.999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseTime(s)
		if err != nil || got == nil {
			return
		}
		again, err := parseTime(got.Format("2006-01-02 15:04:05.999999999"))
		if err != nil || again == nil || !again.Equal(*got) {
			if got.Year() < 0 || got.Year() > 9999 || !utf8.ValidString(s) {
				return // outside what the layout prints back
			}
			t.Fatalf("%q -> %v -> %v, %v", s, got, again, err)
		}
	})
}

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopMySQL()
	os.Exit(code)
}

func TestMySQLURL(t *testing.T) {
	dsn, shown, err := mysqlDSN("mysql://marzban:s3cret@db.example:3307/marzban")
	if err != nil || !strings.Contains(dsn, "marzban:s3cret@tcp(db.example:3307)/marzban") || strings.Contains(shown, "s3cret") {
		t.Errorf("dsn %q shown %q: %v", dsn, shown, err)
	}
	if dsn, _, err := mysqlDSN("mysql://root@localhost/m"); err != nil || !strings.Contains(dsn, "tcp(localhost:3306)/m") {
		t.Errorf("default port: %q, %v", dsn, err)
	}
	for _, bad := range []string{"mysql://host-only", "mysql:///db", "mysql://%zz@h/db"} {
		if _, _, err := mysqlDSN(bad); err == nil {
			t.Errorf("mysqlDSN(%q) accepted", bad)
		}
	}
}
