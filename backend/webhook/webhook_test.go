package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/feed"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
	"github.com/outpost-panel/outpost/backend/store"
	"github.com/outpost-panel/outpost/backend/webhook"
)

const secret = "s3cret-value"

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// receiver is a webhook endpoint. respond picks the status of the n-th
// request (from 1); it records the notifications of answered-2xx requests.
type receiver struct {
	t       *testing.T
	mu      sync.Mutex
	calls   int
	secrets []string
	got     []map[string]any
	respond func(n int, r *http.Request) int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	rc.mu.Lock()
	rc.calls++
	n := rc.calls
	rc.mu.Unlock()
	status := http.StatusOK
	if rc.respond != nil {
		status = rc.respond(n, r)
	}
	if status == 0 { // the request was abandoned by the client
		return
	}
	if status/100 == 2 {
		var batch []map[string]any
		if err := json.Unmarshal(body, &batch); err != nil {
			rc.t.Errorf("body is not a JSON array of notifications: %v: %s", err, body)
		}
		rc.mu.Lock()
		rc.got = append(rc.got, batch...)
		rc.secrets = append(rc.secrets, r.Header.Get("x-webhook-secret"))
		rc.mu.Unlock()
	}
	w.WriteHeader(status)
}

func (rc *receiver) actions() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make([]string, len(rc.got))
	for i, n := range rc.got {
		out[i] = n["action"].(string) + ":" + n["username"].(string)
	}
	return out
}

type env struct {
	t     *testing.T
	dir   string
	db    *store.Store
	st    *state.State
	clock *clock
	admin *model.Admin
	rc    *receiver
	srv   *httptest.Server
	logs  *bytes.Buffer
	logMu *sync.Mutex
	node  *model.Node // the node of use, once it ran
	seq   int64       // its next usage batch
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), clock: &clock{t: time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)},
		logs: &bytes.Buffer{}, logMu: &sync.Mutex{}}
	e.rc = &receiver{t: t}
	e.srv = httptest.NewServer(e.rc)
	t.Cleanup(e.srv.Close)
	e.open()
	if v, err := e.db.SchemaVersion(context.Background()); err != nil || v < 4 {
		t.Fatalf("schema version %d (%v): migration 0004_extra.sql (the outbox) not applied", v, err)
	}
	boot, err := e.st.Bootstrap(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if e.admin, err = e.st.AdminByUsername(context.Background(), boot.CreatedAdmin); err != nil {
		t.Fatal(err)
	}
	return e
}

// open (re)opens the panel on the same SQLite file, as a restart would.
func (e *env) open() {
	e.t.Helper()
	db, err := store.Open(context.Background(), "", e.dir, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { db.Close() })
	e.db = db
	e.st = state.New(db, feed.NewMemory(1000), slog.New(slog.DiscardHandler), e.clock.Now)
	e.st.SetWebhookAddresses([]string{e.srv.URL + "/hook?token=abc"})
}

type lockedWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (e *env) dispatcher(mut ...func(*webhook.Options)) *webhook.Dispatcher {
	o := webhook.Options{Secret: secret, Now: e.clock.Now, MaxAttempts: 4, BaseBackoff: time.Second, MaxBackoff: 8 * time.Second,
		Log: slog.New(slog.NewTextHandler(lockedWriter{e.logMu, e.logs}, nil))}
	for _, m := range mut {
		m(&o)
	}
	return webhook.New(e.st, o)
}

func (e *env) counts() store.WebhookCounts {
	e.t.Helper()
	var c store.WebhookCounts
	if err := e.db.Read(context.Background(), func(tx *store.Tx) (err error) { c, err = tx.CountWebhooks(); return err }); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// drain runs the dispatcher, moving the clock past every backoff, until no
// row is pending (bounded, so a stuck outbox fails instead of spinning).
func (e *env) drain(d *webhook.Dispatcher) {
	e.t.Helper()
	for range 50 {
		if e.counts().Pending == 0 {
			return
		}
		if _, err := d.RunOnce(context.Background()); err != nil {
			e.t.Fatal(err)
		}
		e.clock.Advance(10 * time.Second)
	}
	e.t.Fatalf("outbox not drained: %+v", e.counts())
}

func (e *env) createUser(name string, limit int64) *model.User {
	e.t.Helper()
	u, err := e.st.CreateUser(context.Background(), e.admin, state.UserInput{
		Username: &name, DataLimit: &limit,
		Proxies: map[string]model.ProxySettings{model.ProtoVLESS: {}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

func TestEventsArriveWithSecret(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.createUser("alice", 0)
	disabled := model.StatusDisabled
	if _, err := e.st.ModifyUser(ctx, e.admin, "alice", state.UserInput{Status: &disabled}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.RevokeSubscription(ctx, e.admin, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.ResetUserUsage(ctx, e.admin, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := e.st.DeleteUser(ctx, e.admin, "alice"); err != nil {
		t.Fatal(err)
	}
	e.drain(e.dispatcher())
	want := []string{"user_created:alice", "user_updated:alice", "user_disabled:alice", "subscription_revoked:alice",
		"data_usage_reset:alice", "user_deleted:alice"}
	if got := e.rc.actions(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("actions %v, want %v", got, want)
	}
	for _, s := range e.rc.secrets {
		if s != secret {
			t.Fatalf("x-webhook-secret %q", s)
		}
	}
	first := e.rc.got[0]
	if by, _ := first["by"].(map[string]any); by["username"] != e.admin.Username {
		t.Fatalf("by %v", first["by"])
	}
	if u, _ := first["user"].(map[string]any); u["username"] != "alice" || u["status"] != "active" {
		t.Fatalf("user %v", first["user"])
	}
	if _, ok := e.rc.got[len(e.rc.got)-1]["user"]; ok {
		t.Fatal("user_deleted carries the user")
	}
	if c := e.counts(); c.Delivered != len(want) || c.Failed != 0 {
		t.Fatalf("counts %+v", c)
	}
	e.logMu.Lock()
	defer e.logMu.Unlock()
	if strings.Contains(e.logs.String(), secret) || strings.Contains(e.logs.String(), "token=abc") {
		t.Fatalf("a secret reached the log: %s", e.logs)
	}
}

func TestRetriesDeliverEachEventOnce(t *testing.T) {
	e := newEnv(t)
	e.rc.respond = func(n int, _ *http.Request) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}
	for _, name := range []string{"u_one", "u_two", "u_three"} {
		e.createUser(name, 0)
	}
	d := e.dispatcher()
	if n, err := d.RunOnce(context.Background()); err != nil || n != 3 {
		t.Fatalf("first run: %d, %v", n, err)
	}
	// Not due again before the backoff.
	if n, err := d.RunOnce(context.Background()); err != nil || n != 0 {
		t.Fatalf("run inside the backoff: %d, %v", n, err)
	}
	e.drain(d)
	want := "user_created:u_one user_created:u_two user_created:u_three"
	if got := strings.Join(e.rc.actions(), " "); got != want {
		t.Fatalf("delivered %s, want %s", got, want)
	}
	if e.rc.calls != 3 {
		t.Fatalf("%d requests, want 3 (two failures, one delivery)", e.rc.calls)
	}
}

func TestCrashLosesNothing(t *testing.T) {
	e := newEnv(t)
	// Events committed, then the panel stops before any dispatcher ran.
	e.createUser("before_crash", 0)
	e.open()
	e.createUser("after_restart", 0)

	// A dispatcher dies in the middle of a delivery: the endpoint sees the
	// request, the process is gone before the answer is recorded.
	ctx, cancel := context.WithCancel(context.Background())
	e.rc.respond = func(n int, r *http.Request) int {
		if n == 1 {
			cancel()
			<-r.Context().Done()
			return 0
		}
		return http.StatusOK
	}
	if _, err := e.dispatcher().RunOnce(ctx); err == nil {
		t.Fatal("the crashed delivery reported success")
	}
	if c := e.counts(); c.Pending != 2 {
		t.Fatalf("after the crash %+v", c)
	}
	// A new panel process on the same database: the rows come back when
	// the dead dispatcher's lease runs out.
	e.open()
	d := e.dispatcher(func(o *webhook.Options) { o.Lease = time.Minute })
	if n, _ := d.RunOnce(context.Background()); n != 0 {
		t.Fatalf("claimed %d rows still leased by the dead dispatcher", n)
	}
	e.clock.Advance(webhook.DefaultTimeout*2 + time.Minute + time.Second)
	e.drain(d)
	want := "user_created:before_crash user_created:after_restart"
	if got := strings.Join(e.rc.actions(), " "); got != want {
		t.Fatalf("delivered %s, want %s", got, want)
	}
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	e := newEnv(t)
	e.rc.respond = func(int, *http.Request) int { return http.StatusBadRequest }
	e.createUser("doomed", 0)
	d := e.dispatcher()
	e.drain(d)
	if e.rc.calls != 4 {
		t.Fatalf("%d attempts, want 4", e.rc.calls)
	}
	if c := e.counts(); c != (store.WebhookCounts{Failed: 1}) {
		t.Fatalf("counts %+v", c)
	}
	e.clock.Advance(time.Hour)
	if n, err := d.RunOnce(context.Background()); n != 0 || err != nil {
		t.Fatalf("a given-up row was claimed again: %d %v", n, err)
	}
	e.logMu.Lock()
	defer e.logMu.Unlock()
	if !strings.Contains(e.logs.String(), "webhook notifications given up") {
		t.Fatalf("no give-up log line: %s", e.logs)
	}
}

func TestLifecycleEventsAndReminders(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	near := e.createUser("near_limit", 100)
	over := e.createUser("over_limit", 100)
	expire := e.clock.Now().Add(48 * time.Hour).Unix()
	if _, err := e.st.ModifyUser(ctx, e.admin, "near_limit", state.UserInput{Expire: &expire}); err != nil {
		t.Fatal(err)
	}
	n := &model.Node{Name: "n1", Address: "127.0.0.1"}
	if _, err := e.st.CreateNode(ctx, n); err != nil {
		t.Fatal(err)
	}
	fence, _, err := e.db.NodeSessionStart(ctx, n.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.ApplyUsage(ctx, n.ID, fence, 0, 1, e.clock.Now(),
		[]store.UserTraffic{{UserID: near.ID, Down: 85}, {UserID: over.ID, Down: 150}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Review(ctx); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second pass finds nothing new
		if _, err := e.st.NotifyReminders(ctx, 80, 3); err != nil {
			t.Fatal(err)
		}
	}
	e.drain(e.dispatcher())
	got := strings.Join(e.rc.actions(), " ")
	for _, want := range []string{"user_limited:over_limit", "reached_usage_percent:near_limit", "reached_days_left:near_limit"} {
		if strings.Count(got, want) != 1 {
			t.Errorf("%s not sent exactly once in %s", want, got)
		}
	}
	for _, nt := range e.rc.got {
		switch nt["action"] {
		case "reached_usage_percent":
			if nt["used_percent"] != float64(85) {
				t.Errorf("used_percent %v", nt["used_percent"])
			}
		case "reached_days_left":
			if nt["days_left"] != float64(2) {
				t.Errorf("days_left %v", nt["days_left"])
			}
		}
	}
}

func TestNextPlanAndExpiredDeletionEvents(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	name := "planned"
	limit := int64(100)
	if _, err := e.st.CreateUser(ctx, e.admin, state.UserInput{Username: &name, DataLimit: &limit,
		Proxies:  map[string]model.ProxySettings{model.ProtoVLESS: {}},
		NextPlan: &model.NextPlan{DataLimit: 500}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.ActivateNextPlan(ctx, e.admin, name); err != nil {
		t.Fatal(err)
	}
	past := e.clock.Now().Add(-time.Hour).Unix()
	e.createUser("gone", 0)
	if _, err := e.st.ModifyUser(ctx, e.admin, "gone", state.UserInput{Expire: &past}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.DeleteExpiredUsers(ctx, e.admin, e.clock.Now().Add(-24*time.Hour), e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.drain(e.dispatcher())
	want := "user_created:planned data_reset_by_next:planned user_created:gone user_updated:gone user_expired:gone user_deleted:gone"
	if got := strings.Join(e.rc.actions(), " "); got != want {
		t.Fatalf("actions %s\nwant %s", got, want)
	}
}

// Without an address nothing is stored: panels without webhooks pay nothing.
func TestNoAddressNoRows(t *testing.T) {
	e := newEnv(t)
	e.st.SetWebhookAddresses(nil)
	e.createUser("quiet", 0)
	if c := e.counts(); c != (store.WebhookCounts{}) {
		t.Fatalf("counts %+v", c)
	}
}

// use records bytes for users through a usage batch of one node, created
// on first use.
func (e *env) use(traffic map[*model.User]int64) {
	e.t.Helper()
	ctx := context.Background()
	if e.node == nil {
		e.node = &model.Node{Name: "traffic", Address: "127.0.0.1"}
		if _, err := e.st.CreateNode(ctx, e.node); err != nil {
			e.t.Fatal(err)
		}
	}
	fence, _, err := e.db.NodeSessionStart(ctx, e.node.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	var batch []store.UserTraffic
	for u, b := range traffic {
		batch = append(batch, store.UserTraffic{UserID: u.ID, Down: b})
	}
	if _, err := e.db.ApplyUsage(ctx, e.node.ID, fence, e.seq, e.seq+1, e.clock.Now(), batch); err != nil {
		e.t.Fatal(err)
	}
	e.seq++
}

// notificationsOf returns the delivered notifications with action, by
// username.
func (e *env) notificationsOf(action string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, n := range e.rc.got {
		if n["action"] == action {
			out[n["username"].(string)] = n
		}
	}
	return out
}

// A reset of every user's usage sends what a reset of each would: one
// data_usage_reset per user (by the admin who asked, carrying the user
// after the reset) and user_enabled for the limited users it lifts.
func TestResetAllSendsEachUsersEvents(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	capped := e.createUser("capped", 100)
	free := e.createUser("free", 0)
	e.createUser("idle", 0)
	e.use(map[*model.User]int64{capped: 150, free: 70})
	if _, err := e.st.Review(ctx); err != nil {
		t.Fatal(err)
	}
	d := e.dispatcher()
	e.drain(d)
	delivered := len(e.rc.got)

	if n, err := e.st.ResetAllUsage(ctx, e.admin); err != nil || n != 3 {
		t.Fatalf("ResetAllUsage = %d, %v", n, err)
	}
	e.drain(d)
	got := strings.Join(e.rc.actions()[delivered:], " ")
	want := "data_usage_reset:capped user_enabled:capped data_usage_reset:free data_usage_reset:idle"
	if got != want {
		t.Fatalf("actions %s\nwant %s", got, want)
	}
	for name, nt := range e.notificationsOf("data_usage_reset") {
		u, _ := nt["user"].(map[string]any)
		if u["used_traffic"] != float64(0) || u["status"] != "active" {
			t.Errorf("%s: user in the event %v", name, u)
		}
		if by, _ := nt["by"].(map[string]any); by["username"] != e.admin.Username {
			t.Errorf("%s: by %v", name, nt["by"])
		}
	}
	if lt := e.notificationsOf("data_usage_reset")["capped"]["user"].(map[string]any)["lifetime_used_traffic"]; lt != float64(150) {
		t.Errorf("capped lifetime_used_traffic in the event %v", lt)
	}
}

// A reset of a thousand users queues a thousand events in its own
// transaction (the outbox holds them the moment the reset returns), and
// every one is delivered.
func TestResetAllManyUsers(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const users = 1000
	for i := range users {
		e.createUser(fmt.Sprintf("bulk_%04d", i), 0)
	}
	d := e.dispatcher(func(o *webhook.Options) { o.Batch = 500 })
	e.drain(d)
	before := e.counts()
	if n, err := e.st.ResetAllUsage(ctx, nil); err != nil || n != users {
		t.Fatalf("ResetAllUsage = %d, %v", n, err)
	}
	if c := e.counts(); c.Pending != users || c.Delivered != before.Delivered {
		t.Fatalf("outbox after the reset %+v, want %d pending", c, users)
	}
	e.drain(d)
	if got := len(e.notificationsOf("data_usage_reset")); got != users {
		t.Fatalf("%d users' data_usage_reset delivered, want %d", got, users)
	}
}

// The periodic reset job reports every user it resets, those without a
// data limit (whose reset nodes never hear of) included.
func TestPeriodicResetSendsEveryUsersEvent(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	monthly := model.ResetMonth
	create := func(name string, limit int64) *model.User {
		u, err := e.st.CreateUser(ctx, e.admin, state.UserInput{Username: &name, DataLimit: &limit,
			DataLimitResetStrategy: &monthly, Proxies: map[string]model.ProxySettings{model.ProtoVLESS: {}}})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	capped := create("capped", 1000)
	free := create("free", 0)
	// Without a limit, and expiring in the very tick of its reset.
	ending := create("ending", 0)
	end := e.clock.Now().Add(30 * 24 * time.Hour).Unix()
	if _, err := e.st.ModifyUser(ctx, e.admin, "ending", state.UserInput{Expire: &end}); err != nil {
		t.Fatal(err)
	}
	e.createUser("never_reset", 0)
	e.use(map[*model.User]int64{capped: 400, free: 700, ending: 5})
	d := e.dispatcher()
	e.drain(d)
	delivered := len(e.rc.got)

	e.clock.Advance(30*24*time.Hour + time.Second)
	if n, err := e.st.Review(ctx); err != nil || n != 3 {
		t.Fatalf("review: %d, %v; want 3 users changed", n, err)
	}
	e.drain(d)
	got := e.rc.actions()[delivered:]
	if strings.Join(got, " ") != "data_usage_reset:capped data_usage_reset:free data_usage_reset:ending user_expired:ending" {
		t.Fatalf("actions after the periodic reset %v", got)
	}
	for name, nt := range e.notificationsOf("data_usage_reset") {
		if u, _ := nt["user"].(map[string]any); u["used_traffic"] != float64(0) {
			t.Errorf("%s: used_traffic in the event %v", name, u["used_traffic"])
		}
	}
}

// By default a failed delivery is retried as Marzban's recurrent
// notifications are: NUMBER_OF_RECURRENT_NOTIFICATIONS (3) more times,
// each no sooner than RECURRENT_NOTIFICATIONS_TIMEOUT (180 s) after the
// last failure, and the retried notification says how many tries came
// before it and when it was sent.
func TestMarzbanRecurrentNotifications(t *testing.T) {
	e := newEnv(t)
	e.rc.respond = func(n int, _ *http.Request) int {
		if n <= webhook.DefaultRetries {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}
	e.createUser("patient", 0)
	d := e.dispatcher(func(o *webhook.Options) { o.MaxAttempts, o.BaseBackoff, o.MaxBackoff = 0, 0, 0 })
	ctx := context.Background()
	var lastTry time.Time
	for attempt := 1; attempt <= webhook.DefaultRetries+1; attempt++ {
		if attempt > 1 {
			e.clock.Advance(webhook.DefaultRetryInterval - time.Second)
			if n, err := d.RunOnce(ctx); n != 0 || err != nil {
				t.Fatalf("retry %d sent %s after the failure: %d, %v", attempt-1, webhook.DefaultRetryInterval-time.Second, n, err)
			}
			// The wait is stretched by at most a tenth.
			e.clock.Advance(webhook.DefaultRetryInterval/10 + 2*time.Second)
		}
		lastTry = e.clock.Now()
		if n, err := d.RunOnce(ctx); n != 1 || err != nil {
			t.Fatalf("attempt %d: %d, %v", attempt, n, err)
		}
	}
	if c := e.counts(); c != (store.WebhookCounts{Delivered: 1}) {
		t.Fatalf("counts %+v", c)
	}
	got := e.rc.got[0]
	if got["tries"] != float64(webhook.DefaultRetries) {
		t.Errorf("tries %v, want %d", got["tries"], webhook.DefaultRetries)
	}
	if got["send_at"] != float64(lastTry.Unix()) || got["enqueued_at"] == got["send_at"] {
		t.Errorf("send_at %v, enqueued_at %v; want send_at %d", got["send_at"], got["enqueued_at"], lastTry.Unix())
	}
	if u, _ := got["user"].(map[string]any); got["action"] != "user_created" || u["username"] != "patient" {
		t.Errorf("retried notification lost its content: %v", got)
	}
}

// NUMBER_OF_RECURRENT_NOTIFICATIONS=0 sends once and never again.
func TestNoRetries(t *testing.T) {
	e := newEnv(t)
	e.rc.respond = func(int, *http.Request) int { return http.StatusBadGateway }
	e.createUser("once", 0)
	e.drain(e.dispatcher(func(o *webhook.Options) { o.MaxAttempts = 1 }))
	if e.rc.calls != 1 {
		t.Fatalf("%d attempts, want 1", e.rc.calls)
	}
	if c := e.counts(); c != (store.WebhookCounts{Failed: 1}) {
		t.Fatalf("counts %+v", c)
	}
}
