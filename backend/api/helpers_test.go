package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/crypto/bcrypt"

	"github.com/outpost-panel/outpost/backend/api"
	"github.com/outpost-panel/outpost/backend/auth"
	"github.com/outpost-panel/outpost/backend/backup"
	"github.com/outpost-panel/outpost/backend/coord"
	"github.com/outpost-panel/outpost/backend/feed"
	"github.com/outpost-panel/outpost/backend/hub"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
	"github.com/outpost-panel/outpost/backend/store"
)

// testClock is the one clock of a test panel: state, tokens and the rate
// limiter all read it, so tests move time instead of sleeping.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// recordingHub stands in for the node hub: the API only tells it to drop
// sessions, and the tests check that it did.
type recordingHub struct {
	mu           sync.Mutex
	disconnected []int64
	connected    map[int64]bool
	backlog      map[int64]int // journal backlog per node, as a node's status would report it
	restarts     int
	restarted    []int64 // nodes asked to restart one by one
	health       map[int64]hub.NodeHealth
}

func (h *recordingHub) JournalBacklog(id int64) (int, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n, ok := h.backlog[id]
	return n, ok
}

func (h *recordingHub) Handler() fiber.Handler {
	return func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusUpgradeRequired) }
}

func (h *recordingHub) Disconnect(id int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.disconnected = append(h.disconnected, id)
}

func (h *recordingHub) Connected(id int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.connected[id]
}

func (h *recordingHub) Disconnects() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int64(nil), h.disconnected...)
}

// env is a panel over a real SQLite store in a temp dir.
type env struct {
	t       testing.TB
	app     *fiber.App
	st      *state.State
	db      *store.Store
	clock   *testClock
	hub     *recordingHub
	secrets state.Secrets
	opts    api.Options

	sudo         *model.Admin // bootstrapped "admin"
	sudoPassword string
	alice, bob   *model.Admin // regular admins
}

const testPassword = "correct horse"

func newEnv(t testing.TB, mutate ...func(*api.Options)) *env {
	t.Helper()
	return newEnvOn(t, "", mutate...)
}

// newEnvOn is newEnv over the database at databaseURL (a postgres:// URL;
// "" for SQLite in a temp dir).
func newEnvOn(t testing.TB, databaseURL string, mutate ...func(*api.Options)) *env {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	dir := ""
	if databaseURL == "" {
		dir = t.TempDir()
	}
	db, err := store.Open(ctx, databaseURL, dir, log)
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	clk := &testClock{t: time.Date(2026, 11, 26, 1, 2, 3, 0, time.UTC)}
	st := state.New(db, feed.NewMemory(1000), log, clk.Now)
	boot, err := st.Bootstrap(ctx, false)
	if err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	e := &env{t: t, st: st, db: db, clock: clk, hub: &recordingHub{connected: map[int64]bool{}}, secrets: boot.Secrets, sudoPassword: boot.CreatedPassword}
	if e.sudo, err = st.AdminByUsername(ctx, boot.CreatedAdmin); err != nil {
		t.Fatalf("loading bootstrapped admin: %v", err)
	}
	e.alice = e.createAdmin("alice", false)
	e.bob = e.createAdmin("bob", false)
	e.opts = api.Options{
		State:       st,
		Secrets:     boot.Secrets,
		Log:         log,
		RateLimiter: coord.NewMemory(clk.Now),
		Hub:         e.hub,
		// Scheduled backups into a directory of the test's own; nothing
		// is taken until a test asks (POST /api/system/backups/run).
		Backups: backup.NewScheduler(st, backup.ScheduleOptions{
			Dir: filepath.Join(t.TempDir(), "backups"), Every: time.Hour, Keep: 3, Now: clk.Now, Log: log}),
		DataDir: dir,
	}
	for _, m := range mutate {
		m(&e.opts)
	}
	e.app = api.New(e.opts)
	return e
}

// createAdmin inserts an admin through the store: admin routes come later.
func (e *env) createAdmin(name string, sudo bool) *model.Admin {
	e.t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		e.t.Fatal(err)
	}
	a := &model.Admin{Username: name, IsSudo: sudo, HashedPassword: string(hash), CreatedAt: e.clock.Now()}
	if err := e.db.Tx(context.Background(), func(tx *store.Tx) error { return tx.CreateAdmin(a) }); err != nil {
		e.t.Fatalf("creating admin %s: %v", name, err)
	}
	return a
}

func (e *env) token(a *model.Admin) string {
	e.t.Helper()
	tok, err := auth.Issue(e.secrets.JWT, a, time.Hour, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// decode unmarshals the body into v, failing the test on error.
func (r *response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %q: %v", r.body, err)
	}
}

// detail is the {"detail"} of an error response, "" when there is none.
func (r *response) detail() string {
	var b struct {
		Detail string `json:"detail"`
	}
	if json.Unmarshal(r.body, &b) != nil {
		return ""
	}
	return b.Detail
}

// do sends a request. body is sent as is when it is a string or []byte and
// as JSON otherwise; nil sends none.
func (e *env) do(method, path, token string, body any) *response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req := httptest.NewRequest(method, path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.send(req)
}

// listen serves the app on a loopback port until the test ends and returns
// its address.
func (e *env) listen() string {
	e.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = e.app.Listener(ln)
	}()
	e.t.Cleanup(func() {
		_ = e.app.Shutdown()
		<-done
	})
	return ln.Addr().String()
}

func (e *env) send(req *http.Request) *response {
	e.t.Helper()
	resp, err := e.app.Test(req, -1)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: data}
}

// expect checks the status and, for errors, that there is a detail.
func (e *env) expect(r *response, status int, what string) {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("%s: status %d, want %d; body %s", what, r.status, status, r.body)
	}
	if status >= 400 && r.detail() == "" {
		e.t.Fatalf("%s: error without a detail: %s", what, r.body)
	}
}

// snapshot is everything a mutating route could change, for checking that a
// refused request changed nothing.
type snapshot struct {
	Revision int64
	Users    []model.User
	Config   string
	Nodes    []model.Node
}

func (e *env) snapshot() snapshot {
	e.t.Helper()
	ctx := context.Background()
	var s snapshot
	err := e.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		if s.Revision, err = tx.CurrentRevision(); err != nil {
			return err
		}
		if s.Users, _, err = tx.ListUsers(store.UserFilter{}); err != nil {
			return err
		}
		if s.Nodes, err = tx.ListNodes(); err != nil {
			return err
		}
		cfg, _, err := tx.CoreConfig()
		s.Config = string(cfg)
		return err
	})
	if err != nil {
		e.t.Fatalf("snapshot: %v", err)
	}
	return s
}

func (e *env) assertUnchanged(before snapshot, what string) {
	e.t.Helper()
	after := e.snapshot()
	b, _ := json.Marshal(before)
	a, _ := json.Marshal(after)
	if !bytes.Equal(a, b) {
		e.t.Fatalf("%s changed the store:\nbefore %s\nafter  %s", what, b, a)
	}
}

// createUser makes a user owned by owner through the API.
func (e *env) createUser(owner *model.Admin, name string) map[string]any {
	e.t.Helper()
	r := e.do("POST", "/api/user", e.token(owner), map[string]any{
		"username": name,
		"proxies":  map[string]any{"vless": map[string]any{}, "trojan": map[string]any{}},
	})
	e.expect(r, 200, "creating "+name)
	var u map[string]any
	r.decode(e.t, &u)
	return u
}

func (h *recordingHub) RestartCores(context.Context) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.restarts++
	return len(h.connected)
}

func (h *recordingHub) RestartCore(_ context.Context, id int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.connected[id] {
		return false
	}
	h.restarted = append(h.restarted, id)
	return true
}

func (h *recordingHub) Health(id int64) (hub.NodeHealth, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.health[id]
	return r, ok
}

// WatchLogs streams nothing: the log path is tested end to end
// (backend/e2e) with real nodes.
func (h *recordingHub) WatchLogs(ctx context.Context, _ int64) <-chan hub.LogEvent {
	c := make(chan hub.LogEvent)
	go func() { <-ctx.Done(); close(c) }()
	return c
}
