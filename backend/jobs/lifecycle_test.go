package jobs_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/coord"
	"github.com/outpost-panel/outpost/backend/feed"
	"github.com/outpost-panel/outpost/backend/internal/testenv"
	"github.com/outpost-panel/outpost/backend/jobs"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
	"github.com/outpost-panel/outpost/backend/store"
	"github.com/outpost-panel/outpost/nodes/protocol"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopPostgres()
	os.Exit(code)
}

const reviewEvery = 10 * time.Second

// waitFor polls cond until it holds or a generous deadline passes; tests
// never sleep for a fixed time.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// panel is the lifecycle of a panel over a real store, driven by the real
// scheduler on a fake clock.
type panel struct {
	t     *testing.T
	ctx   context.Context
	clock *jobs.Fake
	st    *state.State
	db    *store.Store
	feed  *feed.Memory
	sched *jobs.Scheduler
	node  model.Node
	seq   int64
	last  int64 // feed position already inspected
}

var engines = []struct {
	name string
	url  func(t testing.TB) (string, string)
}{
	{store.EngineSQLite, func(t testing.TB) (string, string) { return "", t.TempDir() }},
	{store.EnginePostgres, func(t testing.TB) (string, string) { return testenv.Postgres(t), "" }},
}

func forEachEngine(t *testing.T, body func(t *testing.T, p *panel)) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			url, dir := e.url(t)
			body(t, newPanel(t, url, dir))
		})
	}
}

func newPanel(t *testing.T, url, dir string) *panel {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.DiscardHandler)
	db, err := store.Open(ctx, url, dir, log)
	if err != nil {
		t.Fatal(err)
	}
	clk := jobs.NewFake(time.Unix(1_800_000_000, 0).UTC())
	fd := feed.NewMemory(10000)
	st := state.New(db, fd, log, clk.Now)
	if _, err := st.Bootstrap(ctx, true); err != nil {
		t.Fatal(err)
	}
	p := &panel{t: t, ctx: ctx, clock: clk, st: st, db: db, feed: fd, node: model.Node{Name: "edge", Address: "127.0.0.1"}}
	if _, err := st.CreateNode(ctx, &p.node); err != nil {
		t.Fatal(err)
	}
	p.sched, err = jobs.New(jobs.Options{Clock: clk, Locker: coord.NewMemory(clk.Now), Owner: "replica-1", Log: log},
		jobs.Lifecycle(st, reviewEvery)...)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); p.sched.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; db.Close() })
	// The first pass runs every job at once; start from its end.
	waitFor(t, "the first pass", func() bool { return p.sched.Runs("review") == 1 && clk.Waiters() > 0 })
	p.last, _ = fd.Last(ctx)
	return p
}

// advance moves the clock by d once the scheduler waits, and returns after
// the review job ran again.
func (p *panel) advance(d time.Duration) {
	p.t.Helper()
	waitFor(p.t, "the scheduler to wait", func() bool { return p.clock.Waiters() > 0 })
	runs := p.sched.Runs("review")
	p.clock.Advance(d)
	waitFor(p.t, "a review", func() bool { return p.sched.Runs("review") > runs && p.clock.Waiters() > 0 })
}

func (p *panel) create(in state.UserInput) *model.User {
	p.t.Helper()
	if in.Proxies == nil {
		in.Proxies = map[string]model.ProxySettings{"vless": {}}
	}
	u, err := p.st.CreateUser(p.ctx, nil, in)
	if err != nil {
		p.t.Fatal(err)
	}
	p.last, _ = p.feed.Last(p.ctx)
	return u
}

func (p *panel) user(name string) *model.User {
	p.t.Helper()
	u, err := p.st.User(p.ctx, nil, name)
	if err != nil {
		p.t.Fatal(err)
	}
	return u
}

// use records bytes for a user through a node's usage batch.
func (p *panel) use(u *model.User, bytes int64) {
	p.t.Helper()
	fence, _, err := p.db.NodeSessionStart(p.ctx, p.node.ID)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.db.ApplyUsage(p.ctx, p.node.ID, fence, p.seq, p.seq+1, p.clock.Now(),
		[]store.UserTraffic{{UserID: u.ID, Up: bytes / 2, Down: bytes - bytes/2}}); err != nil {
		p.t.Fatal(err)
	}
	p.seq++
}

// changes returns the node changes published since the last call.
func (p *panel) changes() []protocol.Delta {
	p.t.Helper()
	cs, err := p.feed.Since(p.ctx, p.last, 1000)
	if err != nil {
		p.t.Fatal(err)
	}
	out := make([]protocol.Delta, len(cs))
	for i, c := range cs {
		if err := json.Unmarshal(c.Data, &out[i]); err != nil {
			p.t.Fatal(err)
		}
		p.last = c.Revision
	}
	return out
}

// expectChange checks that exactly one change was published, upserting and
// removing exactly the given emails, and returns it.
func (p *panel) expectChange(what string, upserts, removes []string) protocol.Delta {
	p.t.Helper()
	ch := p.changes()
	if len(ch) != 1 {
		p.t.Fatalf("%s: %d changes, want one: %+v", what, len(ch), ch)
	}
	var got []string
	for _, u := range ch[0].Upserts {
		got = append(got, u.Email)
	}
	if !sameSet(got, upserts) || !sameSet(ch[0].Removes, removes) {
		p.t.Fatalf("%s: upserts %v removes %v; want %v and %v", what, got, ch[0].Removes, upserts, removes)
	}
	return ch[0]
}

func (p *panel) expectNoChange(what string) {
	p.t.Helper()
	if ch := p.changes(); len(ch) != 0 {
		p.t.Fatalf("%s: unexpected changes %+v", what, ch)
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

func ptr[T any](v T) *T { return &v }

func usageLogs(t *testing.T, p *panel, id int64) []int64 {
	t.Helper()
	logs, err := p.st.UsageLogs(p.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, l := range logs {
		out = append(out, l.UsedTrafficAtReset)
	}
	return out
}

func TestNextPlanFires(t *testing.T) {
	const gb = int64(1) << 30
	cases := []struct {
		name         string
		addRemaining bool
		either       bool
		expireIn     time.Duration // 0: the user never expires
		used         int64         // of a 10 GB limit
		// After the first tick past the trigger (an hour later), for
		// plans waiting on a second condition.
		wantWaiting   model.Status
		wantDataLimit int64
	}{
		{"limit reached, remaining not added", false, true, 0, 10 * gb, "", 5 * gb},
		{"limit reached, remaining added (none left)", true, true, 0, 11 * gb, "", 5 * gb},
		{"expired with bytes left, remaining added", true, true, time.Hour, 3 * gb, "", 5*gb + 7*gb},
		{"expired with bytes left, remaining not added", false, true, time.Hour, 3 * gb, "", 5 * gb},
		{"both needed: limited first, waits for expiry", true, false, 2 * time.Hour, 10 * gb, model.StatusLimited, 5 * gb},
		{"both needed: no expire, limit alone fires", false, false, 0, 10 * gb, "", 5 * gb},
	}
	forEachEngine(t, func(t *testing.T, p *panel) {
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				p.t = t
				in := state.UserInput{
					Username:  ptr("plan_" + string(rune('a'+i))),
					DataLimit: ptr(10 * gb),
					NextPlan:  &model.NextPlan{DataLimit: 5 * gb, Expire: 30 * 86400, AddRemainingTraffic: c.addRemaining, FireOnEither: c.either},
				}
				if c.expireIn > 0 {
					in.Expire = ptr(p.clock.Now().Add(c.expireIn).Unix())
				}
				u := p.create(in)
				p.use(u, c.used)
				trigger := reviewEvery
				if c.expireIn > 0 && c.used < 10*gb {
					trigger = c.expireIn
				}
				p.advance(trigger)
				if c.wantWaiting != "" {
					if got := p.user(u.Username); got.Status != c.wantWaiting || got.NextPlan == nil {
						t.Fatalf("waiting: status %s plan %v; want %s with the plan kept", got.Status, got.NextPlan, c.wantWaiting)
					}
					p.expectChange("limited while waiting", nil, []string{u.Email()})
					p.advance(c.expireIn)
				}
				now := p.clock.Now().Truncate(time.Second)
				got := p.user(u.Username)
				if got.Status != model.StatusActive || got.NextPlan != nil || got.UsedTraffic != 0 {
					t.Fatalf("after plan: status %s plan %v used %d", got.Status, got.NextPlan, got.UsedTraffic)
				}
				if got.DataLimit != c.wantDataLimit {
					t.Errorf("data_limit = %d, want %d", got.DataLimit, c.wantDataLimit)
				}
				if want := now.Unix() + 30*86400; got.Expire != want {
					t.Errorf("expire = %d, want %d", got.Expire, want)
				}
				if got.LifetimeUsedTraffic != c.used {
					t.Errorf("lifetime = %d, want %d", got.LifetimeUsedTraffic, c.used)
				}
				if logs := usageLogs(t, p, u.ID); len(logs) != 1 || logs[0] != c.used {
					t.Errorf("usage log %v, want [%d]", logs, c.used)
				}
				if c.wantWaiting != "" {
					p.expectChange("plan after waiting", []string{u.Email()}, nil)
				} else {
					d := p.expectChange("plan fired", []string{u.Email()}, nil)
					if left := d.Upserts[0].BytesLeft; left == nil || *left != c.wantDataLimit {
						t.Errorf("nodes got bytes left %v, want %d", left, c.wantDataLimit)
					}
				}
			})
		}
	})
}

func TestActiveToExpiredAndLimited(t *testing.T) {
	forEachEngine(t, func(t *testing.T, p *panel) {
		exp := p.create(state.UserInput{Username: ptr("soon"), Expire: ptr(p.clock.Now().Add(time.Minute).Unix())})
		lim := p.create(state.UserInput{Username: ptr("heavy"), DataLimit: ptr(int64(1000))})
		p.advance(reviewEvery)
		p.expectNoChange("before anything is due")
		p.use(lim, 1000)
		p.advance(time.Minute)
		if got := p.user("soon"); got.Status != model.StatusExpired {
			t.Fatalf("soon: %s, want expired", got.Status)
		}
		if got := p.user("heavy"); got.Status != model.StatusLimited {
			t.Fatalf("heavy: %s, want limited", got.Status)
		}
		// Both transitions land in one change of one tick.
		p.expectChange("expire and limit", nil, []string{exp.Email(), lim.Email()})
		p.advance(reviewEvery)
		p.expectNoChange("a quiet tick")
	})
}

func TestOnHold(t *testing.T) {
	forEachEngine(t, func(t *testing.T, p *panel) {
		hold := state.UserInput{Status: ptr(model.StatusOnHold), OnHoldExpireDuration: ptr(int64(7 * 86400))}
		in := hold
		in.Username = ptr("first_use")
		used := p.create(in)
		in = hold
		in.Username = ptr("timed_out")
		in.OnHoldTimeout = ptr(p.clock.Now().Add(time.Hour))
		timed := p.create(in)
		in = hold
		in.Username = ptr("still_held")
		p.create(in)

		p.advance(reviewEvery)
		p.expectNoChange("nothing started")
		p.use(used, 10)
		p.advance(reviewEvery)
		got := p.user("first_use")
		if got.Status != model.StatusActive || got.Expire != p.clock.Now().Unix()+7*86400 || got.OnHoldTimeout != nil {
			t.Fatalf("first_use after first connection: %s expire %d", got.Status, got.Expire)
		}
		// Already on nodes (with no expiry); now with one.
		d := p.expectChange("hold started by use", []string{used.Email()}, nil)
		if d.Upserts[0].Expire != got.Expire {
			t.Errorf("nodes got expire %d, want %d", d.Upserts[0].Expire, got.Expire)
		}
		p.advance(time.Hour)
		if got := p.user("timed_out"); got.Status != model.StatusActive || got.Expire != p.clock.Now().Unix()+7*86400 {
			t.Fatalf("timed_out: %s expire %d", got.Status, got.Expire)
		}
		p.expectChange("hold timed out", []string{timed.Email()}, nil)
		if got := p.user("still_held"); got.Status != model.StatusOnHold {
			t.Fatalf("still_held: %s", got.Status)
		}
	})
}

func TestMonthlyResetKeepsLifetime(t *testing.T) {
	forEachEngine(t, func(t *testing.T, p *panel) {
		u := p.create(state.UserInput{Username: ptr("monthly"), DataLimit: ptr(int64(1000)),
			DataLimitResetStrategy: ptr(model.ResetMonth)})
		// Without a limit the reset changes nothing nodes see, but happens.
		free := p.create(state.UserInput{Username: ptr("monthly_free"), DataLimitResetStrategy: ptr(model.ResetMonth)})
		var lifetime int64
		var logs []int64
		for month := int64(1); month <= 3; month++ {
			p.use(free, 500)
			p.use(u, 1000) // the whole limit: limited until the reset
			lifetime += 1000
			p.advance(reviewEvery)
			if got := p.user("monthly"); got.Status != model.StatusLimited {
				t.Fatalf("month %d: %s, want limited", month, got.Status)
			}
			p.expectChange("limited", nil, []string{u.Email()})
			p.advance(30*24*time.Hour - reviewEvery)
			got := p.user("monthly")
			if got.Status != model.StatusActive || got.UsedTraffic != 0 || got.LifetimeUsedTraffic != lifetime {
				t.Fatalf("month %d after reset: %s used %d lifetime %d; want active, 0, %d",
					month, got.Status, got.UsedTraffic, got.LifetimeUsedTraffic, lifetime)
			}
			logs = append(logs, 1000)
			if got := usageLogs(t, p, u.ID); !slicesEqual(got, logs) {
				t.Fatalf("month %d usage log %v, want %v", month, got, logs)
			}
			p.expectChange("reset", []string{u.Email()}, nil)
			if got := p.user("monthly_free"); got.UsedTraffic != 0 || got.LifetimeUsedTraffic != 500*month {
				t.Fatalf("month %d: monthly_free used %d lifetime %d", month, got.UsedTraffic, got.LifetimeUsedTraffic)
			}
			if got := usageLogs(t, p, free.ID); len(got) != int(month) || got[month-1] != 500 {
				t.Fatalf("month %d: monthly_free usage log %v", month, got)
			}
		}
		// A day short of the next period nothing happens.
		p.use(u, 10)
		p.advance(29 * 24 * time.Hour)
		if got := p.user("monthly"); got.UsedTraffic != 10 {
			t.Fatalf("reset early: used %d", got.UsedTraffic)
		}
	})
}

func TestResetAllKeepsLifetime(t *testing.T) {
	forEachEngine(t, func(t *testing.T, p *panel) {
		a := p.create(state.UserInput{Username: ptr("all_a"), DataLimit: ptr(int64(100))})
		b := p.create(state.UserInput{Username: ptr("all_b")})
		p.use(a, 150)
		p.use(b, 70)
		p.advance(reviewEvery)
		p.expectChange("limited", nil, []string{a.Email()})
		n, err := p.st.ResetAllUsage(p.ctx, nil)
		if err != nil || n != 2 {
			t.Fatalf("ResetAllUsage = %d, %v", n, err)
		}
		for name, lifetime := range map[string]int64{"all_a": 150, "all_b": 70} {
			got := p.user(name)
			if got.UsedTraffic != 0 || got.LifetimeUsedTraffic != lifetime || got.Status != model.StatusActive {
				t.Errorf("%s: used %d lifetime %d status %s", name, got.UsedTraffic, got.LifetimeUsedTraffic, got.Status)
			}
		}
		p.expectChange("reset all", []string{a.Email()}, nil)
		if logs := usageLogs(t, p, b.ID); !slicesEqual(logs, []int64{70}) {
			t.Errorf("usage log of b = %v", logs)
		}
	})
}

func TestAutoDelete(t *testing.T) {
	forEachEngine(t, func(t *testing.T, p *panel) {
		p.create(state.UserInput{Username: ptr("goner"), Expire: ptr(p.clock.Now().Add(time.Minute).Unix()),
			AutoDeleteInDays: ptr(int64(2))})
		p.create(state.UserInput{Username: ptr("keeper"), Expire: ptr(p.clock.Now().Add(time.Minute).Unix())})
		p.advance(time.Minute) // both expire now
		p.changes()
		p.advance(2*24*time.Hour - 7*time.Hour) // auto-delete ran in between, too early
		if _, err := p.st.User(p.ctx, nil, "goner"); err != nil {
			t.Fatalf("deleted before its days: %v", err)
		}
		runs := p.sched.Runs("auto-delete")
		p.advance(7 * time.Hour)
		if p.sched.Runs("auto-delete") <= runs {
			t.Fatal("auto-delete did not run")
		}
		if _, err := p.st.User(p.ctx, nil, "goner"); err == nil {
			t.Fatal("goner survived its auto_delete_in_days")
		}
		if _, err := p.st.User(p.ctx, nil, "keeper"); err != nil {
			t.Fatalf("keeper: %v", err)
		}
	})
}

func TestRevokeSubscription(t *testing.T) {
	forEachEngine(t, func(t *testing.T, p *panel) {
		u := p.create(state.UserInput{Username: ptr("leaky"), Proxies: map[string]model.ProxySettings{
			"vless": {Flow: "xtls-rprx-vision"}, "shadowsocks": {Method: "aes-256-gcm"}, "trojan": {}}})
		got, err := p.st.RevokeSubscription(p.ctx, nil, "leaky")
		if err != nil {
			t.Fatal(err)
		}
		for proto, old := range u.Proxies {
			nw := got.Proxies[proto]
			if nw.ID == old.ID && nw.Password == old.Password {
				t.Errorf("%s credentials unchanged", proto)
			}
			if nw.Flow != old.Flow || nw.Method != old.Method {
				t.Errorf("%s settings changed: %+v -> %+v", proto, old, nw)
			}
		}
		if got.SubRevokedAt == nil || !got.SubRevokedAt.Equal(p.clock.Now().Truncate(time.Second)) {
			t.Errorf("sub_revoked_at = %v", got.SubRevokedAt)
		}
		d := p.expectChange("revoke", []string{u.Email()}, nil)
		if d.Upserts[0].VLESS.ID != got.Proxies["vless"].ID {
			t.Error("nodes did not get the new vless id")
		}
	})
}

func slicesEqual(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
