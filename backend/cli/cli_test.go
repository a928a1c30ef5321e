package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/outpost-panel/outpost/backend/feed"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
	"github.com/outpost-panel/outpost/backend/store"
	"github.com/outpost-panel/outpost/backend/sub"
	"github.com/outpost-panel/outpost/backend/xrayconf"
)

// panelDir is a data directory with a bootstrapped SQLite database, as a
// panel that ran once leaves it.
type panelDir struct {
	t       testing.TB
	dir     string
	dbURL   string // PostgreSQL; "" for SQLite in dir
	secrets state.Secrets
}

func newPanelDir(t testing.TB) *panelDir { t.Helper(); return newPanelDB(t, "") }

// newPanelDB is newPanelDir on the PostgreSQL database at dbURL ("" for
// SQLite).
func newPanelDB(t testing.TB, dbURL string) *panelDir {
	t.Helper()
	p := &panelDir{t: t, dir: t.TempDir(), dbURL: dbURL}
	p.withState(func(st *state.State) {
		boot, err := st.Bootstrap(context.Background(), true)
		if err != nil {
			t.Fatal(err)
		}
		p.secrets = boot.Secrets
	})
	return p
}

// withState opens the database the way the CLI does, runs fn, and closes
// it again, so every CLI run below opens it afresh.
func (p *panelDir) withState(fn func(st *state.State)) {
	p.t.Helper()
	log := slog.New(slog.DiscardHandler)
	db, err := store.Open(context.Background(), p.dbURL, p.dir, log)
	if err != nil {
		p.t.Fatal(err)
	}
	defer db.Close()
	fn(state.New(db, feed.NewMemory(16), log, nil))
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs the CLI with args, the data dir flag appended, stdin and env.
func (p *panelDir) run(stdin string, env map[string]string, args ...string) result {
	p.t.Helper()
	var out, errOut bytes.Buffer
	var in io.Reader
	if stdin != "" {
		in = strings.NewReader(stdin)
	}
	args = append(args, "--data-dir", p.dir)
	if p.dbURL != "" {
		args = append(args, "--database-url", p.dbURL)
	}
	code := Run(context.Background(), args, IO{
		Stdin: in, Stdout: &out, Stderr: &errOut,
		Getenv: func(k string) string { return env[k] },
	})
	return result{code, out.String(), errOut.String()}
}

func (r result) must(t testing.TB, code int, what string) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", what, r.code, code, r.stdout, r.stderr)
	}
	return r
}

func TestAdminCommands(t *testing.T) {
	p := newPanelDir(t)
	const pw1, pw2, pw3 = "first-secret", "second-secret", "third-secret"

	// Password from a pipe; flags before and after the username.
	r := p.run(pw1+"\n", nil, "admin", "create", "--sudo", "boss").must(t, 0, "create from stdin")
	if !strings.Contains(r.stdout, "created sudo admin boss") {
		t.Fatalf("create said %q", r.stdout)
	}
	// From the environment, with JSON output.
	r = p.run("", map[string]string{PasswordEnv: pw2}, "admin", "create", "clerk", "--telegram-id", "42", "--json").must(t, 0, "create from env")
	var created adminView
	if err := json.Unmarshal([]byte(r.stdout), &created); err != nil {
		t.Fatalf("--json output %q: %v", r.stdout, err)
	}
	if created.Username != "clerk" || created.IsSudo || created.TelegramID == nil || *created.TelegramID != 42 {
		t.Fatalf("created %+v", created)
	}
	// From the flag.
	p.run("", nil, "admin", "create", "temp", "--password", pw3).must(t, 0, "create from flag")

	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		code  int
		msg   string
	}{
		{"duplicate", pw1, []string{"admin", "create", "boss"}, 1, "already exists"},
		{"short password", "", []string{"admin", "create", "shorty", "--password", "123"}, 1, "password"},
		{"bad username", "", []string{"admin", "create", "bad name", "--password", pw1}, 1, "username"},
		{"no password at all", "", []string{"admin", "create", "nopw"}, 1, "no password"},
		{"no username", "", []string{"admin", "create", "--password", pw1}, 2, "expected one username"},
		{"unknown flag", "", []string{"admin", "create", "x1x", "--pasword", pw1}, 2, "unknown flag"},
		{"update unknown", "", []string{"admin", "update", "ghost", "--sudo"}, 1, "not found"},
		{"update nothing", "", []string{"admin", "update", "clerk"}, 2, "nothing to change"},
		{"delete unknown", "", []string{"admin", "delete", "ghost"}, 1, "not found"},
	} {
		r := p.run(tc.stdin, nil, tc.args...).must(t, tc.code, tc.name)
		if !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("%s: stderr %q lacks %q", tc.name, r.stderr, tc.msg)
		}
	}

	// The table lists them; the JSON parses.
	r = p.run("", nil, "admin", "list").must(t, 0, "list")
	for _, want := range []string{"USERNAME", "boss", "clerk", "temp"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("list lacks %q:\n%s", want, r.stdout)
		}
	}
	r = p.run("", nil, "admin", "list", "--json", "--username", "CLE").must(t, 0, "list --json")
	var listed []adminView
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil || len(listed) != 1 || listed[0].Username != "clerk" {
		t.Fatalf("list --json --username CLE: %q (%v)", r.stdout, err)
	}

	// The CLI may edit a sudo (the API may not): new password, demotion.
	p.run("", map[string]string{PasswordEnv: pw3}, "admin", "update", "boss", "--reset-password", "--sudo=false").must(t, 0, "update")
	p.withState(func(st *state.State) {
		a, err := st.CheckPassword(context.Background(), "boss", pw3)
		if err != nil {
			t.Fatalf("new password does not work: %v", err)
		}
		if a.IsSudo || a.PasswordResetAt == nil {
			t.Fatalf("after update: sudo %v, password_reset_at %v", a.IsSudo, a.PasswordResetAt)
		}
		if _, err := st.CheckPassword(context.Background(), "boss", pw1); !errors.Is(err, model.ErrUnauthorized) {
			t.Fatalf("old password still works: %v", err)
		}
	})

	r = p.run("", nil, "admin", "delete", "temp").must(t, 0, "delete")
	r = p.run("", nil, "admin", "list", "--json").must(t, 0, "list after delete")
	listed = nil
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range listed {
		names = append(names, a.Username)
	}
	if !slices.Equal(names, []string{"boss", "clerk"}) {
		t.Fatalf("admins after delete: %v", names)
	}
}

// TestPasswordsNeverPrinted runs every password path and checks no output
// carries the password.
func TestPasswordsNeverPrinted(t *testing.T) {
	p := newPanelDir(t)
	const secret = "do-not-print-me"
	var all strings.Builder
	for _, r := range []result{
		p.run(secret+"\n", nil, "admin", "create", "aaa"),
		p.run("", map[string]string{PasswordEnv: secret}, "admin", "create", "bbb", "--json"),
		p.run("", nil, "admin", "create", "ccc", "--password", secret),
		p.run("", nil, "admin", "create", "aaa", "--password", secret), // fails: duplicate
		p.run(secret+"\n", nil, "admin", "update", "bbb", "--password-stdin"),
		p.run("", nil, "admin", "list", "--json"),
	} {
		all.WriteString(r.stdout + r.stderr)
	}
	if strings.Contains(all.String(), secret) {
		t.Fatalf("a password reached the output:\n%s", all.String())
	}
}

func TestUserListAndSubscription(t *testing.T) {
	p := newPanelDir(t)
	ctx := context.Background()
	p.withState(func(st *state.State) {
		owner, err := st.CreateAdmin(ctx, state.AdminInput{Username: "owner", Password: "secret123"})
		if err != nil {
			t.Fatal(err)
		}
		vless := map[string]model.ProxySettings{model.ProtoVLESS: {}}
		for _, name := range []string{"alpha", "bravo", "charlie"} {
			var a *model.Admin
			if name != "charlie" {
				a = owner
			}
			limit := int64(5 << 30)
			if _, err := st.CreateUser(ctx, a, state.UserInput{Username: &name, Proxies: vless, DataLimit: &limit}); err != nil {
				t.Fatal(err)
			}
		}
		disabled := model.StatusDisabled
		if _, err := st.ModifyUser(ctx, nil, "bravo", state.UserInput{Status: &disabled}); err != nil {
			t.Fatal(err)
		}
	})

	r := p.run("", nil, "user", "list").must(t, 0, "user list")
	for _, want := range []string{"alpha", "bravo", "charlie", "disabled", "5.0 GiB", "3 of 3 users"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("user list lacks %q:\n%s", want, r.stdout)
		}
	}
	listJSON := func(args ...string) ([]string, int) {
		t.Helper()
		r := p.run("", nil, append([]string{"user", "list", "--json"}, args...)...).must(t, 0, "user list "+strings.Join(args, " "))
		var page struct {
			Users []userView `json:"users"`
			Total int        `json:"total"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &page); err != nil {
			t.Fatalf("%q: %v", r.stdout, err)
		}
		var names []string
		for _, u := range page.Users {
			names = append(names, u.Username)
		}
		return names, page.Total
	}
	for _, tc := range []struct {
		args  []string
		want  []string
		total int
	}{
		{nil, []string{"alpha", "bravo", "charlie"}, 3},
		{[]string{"--status", "disabled"}, []string{"bravo"}, 1},
		{[]string{"--admin", "owner"}, []string{"alpha", "bravo"}, 2},
		{[]string{"--search", "arl"}, []string{"charlie"}, 1},
		{[]string{"--sort", "-username", "--limit", "2"}, []string{"charlie", "bravo"}, 3},
		{[]string{"--offset", "2"}, []string{"charlie"}, 3},
	} {
		names, total := listJSON(tc.args...)
		if !slices.Equal(names, tc.want) || total != tc.total {
			t.Errorf("user list %v = %v (total %d), want %v (total %d)", tc.args, names, total, tc.want, tc.total)
		}
	}
	p.run("", nil, "user", "list", "--status", "sleeping").must(t, 2, "bad status")
	p.run("", nil, "user", "list", "--sort", "password").must(t, 2, "bad sort")
	p.run("", nil, "user", "list", "--limit", "-1").must(t, 2, "bad limit")
	p.run("", nil, "user", "list", "--admin", "ghost").must(t, 1, "unknown admin")

	r = p.run("", nil, "subscription", "get-link", "Alpha", "--public-url", "https://panel.example.com/").must(t, 0, "get-link")
	link := strings.TrimSpace(r.stdout)
	token, ok := strings.CutPrefix(link, "https://panel.example.com/sub/")
	if !ok {
		t.Fatalf("link %q", link)
	}
	parsed, err := sub.ReadToken(token, p.secrets.Subscription)
	if err != nil || parsed.Username != "alpha" {
		t.Fatalf("token of %q: %q, %v", link, parsed.Username, err)
	}
	r = p.run("", map[string]string{"PANEL_PUBLIC_URL": "https://env.example.com"}, "subscription", "get-link", "alpha", "--json").must(t, 0, "get-link --json")
	var got map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || !strings.HasPrefix(got["subscription_url"], "https://env.example.com/sub/") {
		t.Fatalf("get-link --json: %q (%v)", r.stdout, err)
	}
	r = p.run("", nil, "subscription", "get-link", "alpha").must(t, 0, "get-link without public URL")
	if !strings.HasPrefix(r.stdout, "/sub/") || !strings.Contains(r.stderr, "public-url") {
		t.Fatalf("without a public URL: stdout %q stderr %q", r.stdout, r.stderr)
	}
	p.run("", nil, "subscription", "get-link", "nobody").must(t, 1, "unknown user")
}

func TestConfigCheck(t *testing.T) {
	p := newPanelDir(t)
	good := filepath.Join(t.TempDir(), "good.json")
	if err := os.WriteFile(good, xrayconf.DefaultConfig(), 0o600); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(t.TempDir(), "broken.json")
	if err := os.WriteFile(broken, []byte(`{"inbounds": [{"protocol": "vless", "port": "not a port"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		code int
		out  string
	}{
		{"defaults", nil, nil, 0, "configuration OK"},
		{"good xray file", nil, []string{"--file", good}, 0, "xray config"},
		{"broken xray file", nil, []string{"--file", broken}, 1, "xray config"},
		{"missing file", nil, []string{"--file", filepath.Join(p.dir, "none.json")}, 1, "reading"},
		{"sudo user without password", map[string]string{"SUDO_USERNAME": "root"}, nil, 2, "SUDO_USERNAME and SUDO_PASSWORD"},
		{"bad listen flag", nil, []string{"--listen", "nowhere"}, 2, "listen"},
		{"bad public url and bad redis at once: both named", map[string]string{"REDIS_URL": "http://x"}, []string{"--public-url", "ftp://x"}, 2, "REDIS_URL"},
		{"bad public url and bad redis at once: public url", map[string]string{"REDIS_URL": "http://x"}, []string{"--public-url", "ftp://x"}, 2, "public-url must be"},
		{"bool server flag", nil, []string{"--local-node"}, 0, "configuration OK"},
	} {
		r := p.run("", tc.env, append([]string{"config", "check"}, tc.args...)...).must(t, tc.code, tc.name)
		if !strings.Contains(r.stdout+r.stderr, tc.out) {
			t.Errorf("%s: output lacks %q: %s %s", tc.name, tc.out, r.stdout, r.stderr)
		}
	}
	r := p.run("", nil, "config", "check", "--json", "--file", good).must(t, 0, "json")
	var got map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got["xray_config"] != "ok" {
		t.Fatalf("config check --json: %q (%v)", r.stdout, err)
	}
}

func TestDispatch(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		want bool
	}{
		{"admin", true}, {"user", true}, {"subscription", true}, {"config", true}, {"help", true},
		{"--listen", false}, {"-data-dir", false}, {"serve", false}, {"", false},
	} {
		if got := IsCommand(tc.arg); got != tc.want {
			t.Errorf("IsCommand(%q) = %v", tc.arg, got)
		}
	}
	p := newPanelDir(t)
	p.run("", nil, "admin", "frobnicate").must(t, 2, "unknown subcommand")
	if r := p.run("", nil, "help"); r.code != 0 || !strings.Contains(r.stdout, "admin create") {
		t.Fatalf("help: %d %q", r.code, r.stdout)
	}
	if r := p.run("", nil, "admin", "list", "-h"); r.code != 0 || !strings.Contains(r.stderr, "-json") {
		t.Fatalf("admin list -h: %d %q", r.code, r.stderr)
	}
}

func TestSplitArgs(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.Bool("sudo", false, "")
	fs.String("password", "", "")
	getenv := func(string) string { return "" }
	own, cfg, pos, err := splitArgs([]string{"--data-dir", "/tmp/x", "bob", "--sudo", "--password", "pw pw", "--local-node", "--listen=1.2.3.4:5", "--", "--weird"}, fs, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(own, []string{"--sudo", "--password", "pw pw"}) ||
		!slices.Equal(cfg, []string{"--data-dir", "/tmp/x", "--local-node", "--listen=1.2.3.4:5"}) ||
		!slices.Equal(pos, []string{"bob", "--weird"}) {
		t.Fatalf("own %q cfg %q pos %q", own, cfg, pos)
	}
	if _, _, _, err := splitArgs([]string{"--nope"}, fs, getenv); err == nil {
		t.Fatal("an unknown flag was accepted")
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 5 << 30: "5.0 GiB", 1536 << 20: "1.5 GiB"} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestCreateAdminBeforeFirstStart is the install flow: create the first
// admin from the console, then start the panel, which must not add its own
// generated admin on top.
func TestCreateAdminBeforeFirstStart(t *testing.T) {
	p := &panelDir{t: t, dir: t.TempDir()}
	p.run("", nil, "admin", "create", "first", "--sudo", "--password", "secret123").must(t, 0, "create on a fresh database")
	p.run("", nil, "user", "list").must(t, 1, "user list before the first start")
	p.withState(func(st *state.State) {
		boot, err := st.Bootstrap(context.Background(), false)
		if err != nil {
			t.Fatal(err)
		}
		if boot.CreatedAdmin != "" {
			t.Fatalf("the first start created admin %q beside the console's", boot.CreatedAdmin)
		}
	})
	p.run("", nil, "user", "list").must(t, 0, "user list after the first start")
}
