package backup_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/app"
	"github.com/outpost-panel/outpost/backend/backup"
	"github.com/outpost-panel/outpost/backend/config"
	"github.com/outpost-panel/outpost/backend/feed"
	"github.com/outpost-panel/outpost/backend/internal/fleet"
	"github.com/outpost-panel/outpost/backend/internal/testenv"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
	"github.com/outpost-panel/outpost/backend/sub"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopPostgres()
	os.Exit(code)
}

const sudoName = "root"

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// target is where a panel's database lives: SQLite in dir, or PostgreSQL.
type target struct {
	name string
	url  string // "" for SQLite
	dir  string
}

func newTarget(t *testing.T, engine string) target {
	dir := t.TempDir()
	if engine == "postgres" {
		return target{name: engine, url: testenv.Postgres(t), dir: dir}
	}
	return target{name: engine, dir: dir}
}

func (tg target) open(t *testing.T) *state.State {
	t.Helper()
	st, err := state.Open(context.Background(), tg.url, tg.dir, feed.NewMemory(1000), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// seed fills tg with n users of all four protocols, two nodes, hourly
// usage for some users and an operator template.
func seed(t *testing.T, tg target, n int) {
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	if _, err := fleet.Seed(ctx, tg.url, tg.dir, sudoName, n, 2, nil); err != nil {
		t.Fatal(err)
	}
	st := tg.open(t)
	defer st.Close()
	nodes, err := st.Nodes(ctx)
	if err != nil || len(nodes) == 0 {
		t.Fatalf("nodes: %v %d", err, len(nodes))
	}
	var traffic []model.UserTraffic
	for id := int64(1); id <= int64(min(n, 5000)); id++ {
		traffic = append(traffic, model.UserTraffic{UserID: id, Up: id * 10, Down: id * 100})
	}
	if _, err := st.ApplyUsage(ctx, nodes[0].ID, nodes[0].SessionFence, nodes[0].UsageSeq, nodes[0].UsageSeq+1, time.Now(), traffic); err != nil {
		t.Fatal(err)
	}
	if err := st.FoldUsage(ctx); err != nil {
		t.Fatal(err)
	}
	// Deleting the newest user leaves its id unused for good: a restore
	// must not hand it out again.
	if err := st.DeleteUser(ctx, nil, fleet.UserName(n)); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(tg.dir, "templates", "clash"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tg.dir, "templates", "clash", "note.txt"), []byte("operator's file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded %d users into %s in %v", n, tg.name, time.Since(start).Round(time.Millisecond))
}

// panel runs the real panel (app.Run) on tg until the test ends.
type panel struct {
	url  string
	stop func()
}

func startPanel(t *testing.T, tg target, opts ...func(*config.Config)) *panel {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := config.Defaults()
	cfg.Listen, cfg.DataDir, cfg.DatabaseURL = addr, tg.dir, tg.url
	cfg.SudoUsername, cfg.SudoPassword = sudoName, "pw-"+sudoName
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, cfg, slog.New(slog.DiscardHandler), io.Discard) }()
	p := &panel{url: "http://" + addr}
	var once sync.Once
	p.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("panel: %v", err)
			}
		})
	}
	t.Cleanup(p.stop)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(p.url + "/openapi.json")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case err := <-done:
			t.Fatalf("panel stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("panel at %s did not answer: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *panel) get(t *testing.T, path, ua string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", p.url+path, nil)
	if ua != "" {
		req.Header.Set("User-Agent", ua)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// subPaths mints the subscription paths of a sample of users with the
// source panel's secret: the links users already hold.
func subPaths(t *testing.T, st *state.State, names []string) []string {
	t.Helper()
	ctx := context.Background()
	sec, err := st.LoadSecrets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		u, err := st.User(ctx, nil, n)
		if err != nil {
			t.Fatal(err)
		}
		tok := sub.MakeUserToken(u.Username, u.ID, sub.IssueTime(time.Now(), u.SubRevokedAt), sec.Subscription)
		out = append(out, "/sub/"+tok, "/sub/"+tok+"/clash-meta", "/sub/"+tok+"/sing-box")
	}
	return out
}

// fetchAll fetches every path; each must answer 200.
func fetchAll(t *testing.T, p *panel, paths []string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, path := range paths {
		code, body := p.get(t, path, "")
		if code != 200 {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
		out[path] = body
	}
	return out
}

// digest is a database as counted and hashed through a dump: rows per
// table and a hash of the users table. JSON text (PostgreSQL keeps it as
// jsonb, which spaces it its own way) is hashed in a canonical form, so
// databases of the two engines with the same data have the same digest.
type digest struct {
	rows  map[string]int64
	users string
	seq   map[string]int64
}

type digester struct {
	info state.DumpInfo
	d    digest
	h    map[int]interface{ Write([]byte) (int, error) }
	sums map[int]func() []byte
}

func (g *digester) Begin(info state.DumpInfo) error {
	g.info = info
	g.d = digest{rows: map[string]int64{}, seq: map[string]int64{}}
	for _, t := range info.Tables {
		g.d.rows[t.Name] = 0
		g.d.seq[t.Name] = t.Sequence
	}
	return nil
}

var usersHash = sha256.New()

func (g *digester) Row(i int, values []any) error {
	t := g.info.Tables[i]
	g.d.rows[t.Name]++
	if t.Name != "users" {
		return nil
	}
	canon := make([]any, len(values))
	for j, v := range values {
		canon[j] = v
		if s, ok := v.(string); ok && (strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[")) {
			var x any
			if json.Unmarshal([]byte(s), &x) == nil {
				canon[j] = x
			}
		}
		canon[j] = map[string]any{t.Columns[j].Name: canon[j]}
	}
	b, err := json.Marshal(canon)
	if err != nil {
		return err
	}
	usersHash.Write(b)
	return nil
}

func digestOf(t *testing.T, st *state.State) digest {
	t.Helper()
	usersHash.Reset()
	g := &digester{}
	if err := st.Dump(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	g.d.users = hex.EncodeToString(usersHash.Sum(nil))
	return g.d
}

// TestRoundTrip100k backs up 100,000 users on each engine and restores
// them into the same engine and into the other one: row counts and the
// users table's hash match, ids of deleted rows stay unused, and the
// restored panel serves the very same subscriptions, byte for byte, for
// the links users already hold.
func TestRoundTrip100k(t *testing.T) {
	n := 100000
	if testing.Short() {
		n = 2000
	}
	for _, src := range []string{"sqlite", "postgres"} {
		t.Run(src, func(t *testing.T) {
			ctx := context.Background()
			from := newTarget(t, src)
			seed(t, from, n)
			st := from.open(t)
			var names []string
			for i := 1; i < n; i += n / 97 {
				names = append(names, fleet.UserName(i))
			}
			paths := subPaths(t, st, names)
			want := digestOf(t, st)
			if want.rows["users"] != int64(n-1) {
				t.Fatalf("seeded %d users, want %d", want.rows["users"], n-1)
			}
			file := filepath.Join(t.TempDir(), "outpost.backup")
			start := time.Now()
			m, err := backup.WriteFile(ctx, st, file, backup.Options{DataDir: from.dir, Passphrase: "correct horse"})
			if err != nil {
				t.Fatal(err)
			}
			st.Close()
			fi, _ := os.Stat(file)
			t.Logf("backup of %s: %v, %d bytes, mode %v", src, time.Since(start).Round(time.Millisecond), fi.Size(), fi.Mode().Perm())
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("backup file mode %v, want 0600", fi.Mode().Perm())
			}
			if !m.Encrypted || m.Rows("users") != int64(n-1) || len(m.Files) != 1 {
				t.Fatalf("manifest: encrypted %v, %d users, %d files", m.Encrypted, m.Rows("users"), len(m.Files))
			}
			// The source panel's answers.
			p := startPanel(t, from)
			wantSubs := fetchAll(t, p, paths)
			p.stop()

			for _, dst := range []string{"sqlite", "postgres"} {
				t.Run("to_"+dst, func(t *testing.T) {
					to := newTarget(t, dst)
					start := time.Now()
					if _, err := backup.Restore(ctx, file, backup.RestoreOptions{DatabaseURL: to.url, DataDir: to.dir, Passphrase: "correct horse", Log: testLog(t)}); err != nil {
						t.Fatal(err)
					}
					t.Logf("restore %s -> %s: %v", src, dst, time.Since(start).Round(time.Millisecond))
					rst := to.open(t)
					got := digestOf(t, rst)
					for table, rows := range want.rows {
						if got.rows[table] != rows {
							t.Errorf("table %s: %d rows restored, %d backed up", table, got.rows[table], rows)
						}
					}
					if got.users != want.users {
						t.Errorf("users table hash %s, want %s", got.users[:12], want.users[:12])
					}
					if got.seq["users"] < int64(n) {
						t.Errorf("users id sequence %d after restore: the deleted user's id %d could be handed out again", got.seq["users"], n)
					}
					// A new user takes a fresh id.
					name := "after_restore"
					u, err := rst.CreateUser(ctx, nil, state.UserInput{Username: &name, Proxies: map[string]model.ProxySettings{model.ProtoVLESS: {}}})
					if err != nil {
						t.Fatal(err)
					}
					if u.ID <= int64(n) {
						t.Errorf("new user id %d reuses an id up to %d", u.ID, n)
					}
					if err := rst.DeleteUser(ctx, nil, name); err != nil {
						t.Fatal(err)
					}
					rst.Close()
					if b, err := os.ReadFile(filepath.Join(to.dir, "templates", "clash", "note.txt")); err != nil || string(b) != "operator's file\n" {
						t.Errorf("template file: %q %v", b, err)
					}
					p := startPanel(t, to)
					gotSubs := fetchAll(t, p, paths)
					for _, path := range paths {
						if !bytes.Equal(gotSubs[path], wantSubs[path]) {
							t.Errorf("GET %s differs after the restore:\n%.300s\nwant\n%.300s", path, gotSubs[path], wantSubs[path])
						}
					}
					p.stop()
				})
			}
		})
	}
}

// TestBackupDuringWrites takes a backup while writers create users (each
// writer in its own order), a deleter removes users in order and a node
// reports usage, and checks that what is restored is one point in time:
// each writer's users are a prefix of what it created, the deleted users a
// prefix of what was deleted, every usage row's user exists, every user
// has its traffic row, and no row is from a revision the snapshot lacks.
func TestBackupDuringWrites(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			const seeded = 3000
			from := newTarget(t, engine)
			seed(t, from, seeded)
			st := from.open(t)
			defer st.Close()
			nodes, err := st.Nodes(ctx)
			if err != nil {
				t.Fatal(err)
			}
			node := nodes[0]

			stop := make(chan struct{})
			var wg sync.WaitGroup
			const writers = 3
			var created [writers]atomic.Int64
			var deleted atomic.Int64
			proxies := map[string]model.ProxySettings{model.ProtoVLESS: {}}
			fail := make(chan error, 10)
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						name := fmt.Sprintf("w%d_%06d", w, i)
						if _, err := st.CreateUser(ctx, nil, state.UserInput{Username: &name, Proxies: proxies}); err != nil {
							fail <- err
							return
						}
						created[w].Add(1)
					}
				}()
			}
			wg.Add(2)
			go func() {
				defer wg.Done()
				for i := 1; i < seeded-1; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if err := st.DeleteUser(ctx, nil, fleet.UserName(i)); err != nil {
						fail <- err
						return
					}
					deleted.Add(1)
				}
			}()
			go func() {
				defer wg.Done()
				seq := node.UsageSeq + 1
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					var traffic []model.UserTraffic
					for id := int64(1); id < seeded; id += 7 {
						traffic = append(traffic, model.UserTraffic{UserID: id, Up: 1, Down: 2})
					}
					if _, err := st.ApplyUsage(ctx, node.ID, node.SessionFence, seq, seq+1, time.Now(), traffic); err != nil {
						fail <- err
						return
					}
					seq++
					if i%5 == 0 {
						if err := st.FoldUsage(ctx); err != nil {
							fail <- err
							return
						}
					}
				}
			}()
			// Back up once every writer is well under way.
			deadline := time.Now().Add(60 * time.Second)
			for created[0].Load() < 5 || created[1].Load() < 5 || created[2].Load() < 5 || deleted.Load() < 5 {
				if time.Now().After(deadline) {
					t.Fatal("the writers did not get going")
				}
				time.Sleep(20 * time.Millisecond)
			}
			before := created[0].Load() + created[1].Load() + created[2].Load() + deleted.Load()
			file := filepath.Join(t.TempDir(), "during.backup")
			m, err := backup.WriteFile(ctx, st, file, backup.Options{})
			if err != nil {
				t.Fatal(err)
			}
			// The backup did not stop the writers: they committed while it read.
			if after := created[0].Load() + created[1].Load() + created[2].Load() + deleted.Load(); after == before {
				t.Errorf("no write committed while the backup ran")
			}
			time.Sleep(100 * time.Millisecond)
			close(stop)
			wg.Wait()
			select {
			case err := <-fail:
				t.Fatal(err)
			default:
			}
			t.Logf("backup during writes: %d users in it; writers created %d %d %d, deleter removed %d", m.Rows("users"),
				created[0].Load(), created[1].Load(), created[2].Load(), deleted.Load())

			to := newTarget(t, engine)
			if _, err := backup.Restore(ctx, file, backup.RestoreOptions{DatabaseURL: to.url, DataDir: to.dir}); err != nil {
				t.Fatal(err)
			}
			rst := to.open(t)
			defer rst.Close()
			c := &consistency{}
			if err := rst.Dump(ctx, c); err != nil {
				t.Fatal(err)
			}
			for w := 0; w < writers; w++ {
				k := c.created[w]
				for i := 0; i < k; i++ {
					if !c.names[fmt.Sprintf("w%d_%06d", w, i)] {
						t.Fatalf("writer %d: user %d is missing but %d later ones are there: not one point in time", w, i, k)
					}
				}
				if k == 0 {
					t.Errorf("writer %d: no user of the burst in the backup", w)
				}
			}
			gone := 0
			for i := 1; i < seeded; i++ {
				if !c.names[fleet.UserName(i)] {
					gone = i
				} else if gone != 0 && gone < i && i < seeded-1 {
					// Deleted in order: once one is present, all later are.
					for j := i; j < seeded-1; j++ {
						if !c.names[fleet.UserName(j)] {
							t.Fatalf("deleted users are not a prefix: %s present, %s gone", fleet.UserName(i), fleet.UserName(j))
						}
					}
					break
				}
			}
			if gone == 0 {
				t.Errorf("no deletion of the burst in the backup")
			}
			for id := range c.usageUsers {
				if !c.ids[id] {
					t.Errorf("usage rows of user %d, who is not in the backup", id)
				}
			}
			for id := range c.ids {
				if !c.traffic[id] {
					t.Errorf("user %d has no traffic row", id)
				}
			}
			if len(c.traffic) != len(c.ids) {
				t.Errorf("%d traffic rows for %d users", len(c.traffic), len(c.ids))
			}
			if c.maxUserRev > c.revision {
				t.Errorf("a user at revision %d in a snapshot at revision %d", c.maxUserRev, c.revision)
			}
			if int64(len(c.ids)) != m.Rows("users") {
				t.Errorf("%d users restored, the manifest says %d", len(c.ids), m.Rows("users"))
			}
		})
	}
}

// consistency reads a restored database for TestBackupDuringWrites.
type consistency struct {
	info       state.DumpInfo
	names      map[string]bool
	ids        map[int64]bool
	traffic    map[int64]bool
	usageUsers map[int64]bool
	created    [3]int
	revision   int64
	maxUserRev int64
}

func (c *consistency) Begin(info state.DumpInfo) error {
	c.info = info
	c.names, c.ids, c.traffic, c.usageUsers = map[string]bool{}, map[int64]bool{}, map[int64]bool{}, map[int64]bool{}
	return nil
}

func (c *consistency) col(t state.DumpTable, values []any, name string) any {
	for i, col := range t.Columns {
		if col.Name == name {
			return values[i]
		}
	}
	panic("no column " + name + " in " + t.Name)
}

func (c *consistency) Row(i int, values []any) error {
	t := c.info.Tables[i]
	switch t.Name {
	case "users":
		name := c.col(t, values, "username").(string)
		c.names[name] = true
		c.ids[c.col(t, values, "id").(int64)] = true
		c.maxUserRev = max(c.maxUserRev, c.col(t, values, "revision").(int64))
		var w, k int
		if _, err := fmt.Sscanf(name, "w%d_%d", &w, &k); err == nil && w < len(c.created) {
			c.created[w] = max(c.created[w], k+1)
		}
	case "user_traffic":
		c.traffic[c.col(t, values, "user_id").(int64)] = true
	case "node_user_usages":
		c.usageUsers[c.col(t, values, "user_id").(int64)] = true
	case "revision":
		c.revision = c.col(t, values, "value").(int64)
	}
	return nil
}

// TestBadFiles: a wrong or missing passphrase, a cut file and a changed
// byte are refused with a clear error, and the target stays untouched.
func TestBadFiles(t *testing.T) {
	ctx := context.Background()
	from := newTarget(t, "sqlite")
	seed(t, from, 500)
	st := from.open(t)
	dir := t.TempDir()
	sealed := filepath.Join(dir, "sealed.backup")
	plain := filepath.Join(dir, "plain.backup")
	if _, err := backup.WriteFile(ctx, st, sealed, backup.Options{Passphrase: "right", DataDir: from.dir}); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.WriteFile(ctx, st, plain, backup.Options{DataDir: from.dir}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	untouched := func(t *testing.T, to target) {
		t.Helper()
		entries, _ := os.ReadDir(to.dir)
		if len(entries) != 0 {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Errorf("the data dir holds %v after a failed restore", names)
		}
	}
	restore := func(t *testing.T, file, pass string) error {
		to := newTarget(t, "sqlite")
		_, err := backup.Restore(ctx, file, backup.RestoreOptions{DataDir: to.dir, Passphrase: pass})
		untouched(t, to)
		return err
	}
	t.Run("wrong passphrase", func(t *testing.T) {
		if err := restore(t, sealed, "wrong"); !errors.Is(err, backup.ErrWrongPassphrase) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("no passphrase", func(t *testing.T) {
		if err := restore(t, sealed, ""); !errors.Is(err, backup.ErrNeedPassphrase) {
			t.Fatalf("got %v", err)
		}
	})
	raw, _ := os.ReadFile(sealed)
	rawPlain, _ := os.ReadFile(plain)
	cases := map[string][]byte{
		"sealed cut":       raw[:len(raw)-100],
		"sealed cut chunk": raw[:len(raw)/2],
		"plain cut":        rawPlain[:len(rawPlain)-50],
		"plain cut half":   rawPlain[:len(rawPlain)/2],
	}
	flip := func(b []byte, at int) []byte {
		c := append([]byte(nil), b...)
		c[at] ^= 0x20
		return c
	}
	cases["sealed byte changed"] = flip(raw, len(raw)/2)
	cases["plain byte changed"] = flip(rawPlain, len(rawPlain)/2)
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "bad.backup")
			if err := os.WriteFile(file, data, 0o600); err != nil {
				t.Fatal(err)
			}
			pass := ""
			if strings.HasPrefix(name, "sealed") {
				pass = "right"
			}
			err := restore(t, file, pass)
			if !errors.Is(err, backup.ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
			t.Logf("%s: %v", name, err)
		})
	}
	t.Run("not a backup", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "x")
		os.WriteFile(file, []byte("hello"), 0o600)
		if err := restore(t, file, ""); !errors.Is(err, backup.ErrNotBackup) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("non-empty target", func(t *testing.T) {
		to := newTarget(t, "sqlite")
		seed(t, to, 10)
		_, err := backup.Restore(ctx, plain, backup.RestoreOptions{DataDir: to.dir})
		if !errors.Is(err, backup.ErrNotEmpty) {
			t.Fatalf("got %v", err)
		}
		st := to.open(t)
		if d := digestOf(t, st); d.rows["users"] != 9 {
			t.Errorf("the refused restore changed the target: %d users", d.rows["users"])
		}
		st.Close()
		// --force replaces it and keeps the old file aside.
		os.Remove(filepath.Join(to.dir, "templates", "clash", "note.txt"))
		if _, err := backup.Restore(ctx, plain, backup.RestoreOptions{DataDir: to.dir, Force: true}); err != nil {
			t.Fatal(err)
		}
		st = to.open(t)
		if d := digestOf(t, st); d.rows["users"] != 499 {
			t.Errorf("after --force: %d users, want 499", d.rows["users"])
		}
		st.Close()
		aside, _ := filepath.Glob(filepath.Join(to.dir, "outpost.db.pre-restore-*"))
		if len(aside) == 0 {
			t.Errorf("the replaced database was not kept aside")
		}
	})
}
