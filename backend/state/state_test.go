package state

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/feed"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
	"github.com/outpost-panel/outpost/nodes/protocol"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func newState(t testing.TB) (*State, *feed.Memory, *clock) {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	st, err := store.Open(ctx, "", t.TempDir(), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := feed.NewMemory(1000)
	c := &clock{now: time.Unix(1_800_000_000, 0).UTC()}
	s := New(st, f, log, c.Now)
	if _, err := s.Bootstrap(ctx, true); err != nil {
		t.Fatal(err)
	}
	return s, f, c
}

func changesAfter(t *testing.T, f feed.Feed, after int64) []protocol.Delta {
	t.Helper()
	cs, err := f.Since(context.Background(), after, 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]protocol.Delta, len(cs))
	for i, c := range cs {
		if err := json.Unmarshal(c.Data, &out[i]); err != nil {
			t.Fatal(err)
		}
		if out[i].Revision != c.Revision {
			t.Fatalf("change %d carries revision %d", c.Revision, out[i].Revision)
		}
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func TestUserChangesReachTheFeed(t *testing.T) {
	ctx := context.Background()
	s, f, _ := newState(t)
	last, _ := f.Last(ctx)
	u, err := s.CreateUser(ctx, nil, UserInput{Username: ptr("Alice_1"), Proxies: map[string]model.ProxySettings{"vless": {}, "shadowsocks": {}}})
	if err != nil {
		t.Fatal(err)
	}
	if u.Username != "alice_1" || u.Proxies["vless"].ID == "" || u.Proxies["shadowsocks"].Method == "" {
		t.Fatalf("created user: %+v", u)
	}
	ch := changesAfter(t, f, last)
	if len(ch) != 1 || len(ch[0].Upserts) != 1 || ch[0].Upserts[0].Email != u.Email() || ch[0].Upserts[0].VMess != nil {
		t.Fatalf("create change: %+v", ch)
	}
	last = ch[0].Revision

	// A note-only change is invisible to nodes: no change in the feed.
	if _, err := s.ModifyUser(ctx, nil, "alice_1", UserInput{Note: ptr("vip")}); err != nil {
		t.Fatal(err)
	}
	if ch := changesAfter(t, f, last); len(ch) != 0 {
		t.Fatalf("note change reached nodes: %+v", ch)
	}
	// Disabling removes the user from nodes; enabling brings it back.
	if _, err := s.ModifyUser(ctx, nil, "alice_1", UserInput{Status: ptr(model.StatusDisabled)}); err != nil {
		t.Fatal(err)
	}
	ch = changesAfter(t, f, last)
	if len(ch) != 1 || len(ch[0].Removes) != 1 {
		t.Fatalf("disable change: %+v", ch)
	}
	last = ch[0].Revision
	if _, err := s.ModifyUser(ctx, nil, "alice_1", UserInput{Status: ptr(model.StatusActive), DataLimit: ptr(int64(5 << 30))}); err != nil {
		t.Fatal(err)
	}
	ch = changesAfter(t, f, last)
	if len(ch) != 1 || len(ch[0].Upserts) != 1 || ch[0].Upserts[0].BytesLeft == nil || *ch[0].Upserts[0].BytesLeft != 5<<30 {
		t.Fatalf("enable change: %+v", ch)
	}
	last = ch[0].Revision
	if err := s.DeleteUser(ctx, nil, "alice_1"); err != nil {
		t.Fatal(err)
	}
	if ch := changesAfter(t, f, last); len(ch) != 1 || len(ch[0].Removes) != 1 {
		t.Fatalf("delete change: %+v", ch)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	ctx := context.Background()
	s, f, _ := newState(t)
	if _, err := s.CreateUser(ctx, nil, UserInput{Username: ptr("bob"), Proxies: map[string]model.ProxySettings{"vless": {}}}); err != nil {
		t.Fatal(err)
	}
	before, _ := f.Last(ctx)
	cases := map[string]UserInput{
		"space in name":       {Username: ptr("bo b"), Proxies: map[string]model.ProxySettings{"vless": {}}},
		"unicode name":        {Username: ptr("боб"), Proxies: map[string]model.ProxySettings{"vless": {}}},
		"33 chars":            {Username: ptr("abcdefghijklmnopqrstuvwxyz0123456"), Proxies: map[string]model.ProxySettings{"vless": {}}},
		"no proxies":          {Username: ptr("carol")},
		"unknown protocol":    {Username: ptr("carol"), Proxies: map[string]model.ProxySettings{"wireguard": {}}},
		"bad uuid":            {Username: ptr("carol"), Proxies: map[string]model.ProxySettings{"vless": {ID: "nope"}}},
		"bad flow":            {Username: ptr("carol"), Proxies: map[string]model.ProxySettings{"vless": {Flow: "x"}}},
		"bad ss method":       {Username: ptr("carol"), Proxies: map[string]model.ProxySettings{"shadowsocks": {Method: "rc4"}}},
		"negative limit":      {Username: ptr("carol"), Proxies: map[string]model.ProxySettings{"vless": {}}, DataLimit: ptr(int64(-1))},
		"unknown inbound":     {Username: ptr("carol"), Proxies: map[string]model.ProxySettings{"vless": {}}, Inbounds: map[string][]string{"vless": {"nope"}}},
		"inbound w/o proxy":   {Username: ptr("carol"), Proxies: map[string]model.ProxySettings{"vless": {}}, Inbounds: map[string][]string{"vmess": {}}},
		"disabled on create":  {Username: ptr("carol"), Proxies: map[string]model.ProxySettings{"vless": {}}, Status: ptr(model.StatusDisabled)},
		"on_hold w/o seconds": {Username: ptr("carol"), Proxies: map[string]model.ProxySettings{"vless": {}}, Status: ptr(model.StatusOnHold)},
	}
	for name, in := range cases {
		if _, err := s.CreateUser(ctx, nil, in); !errors.Is(err, model.ErrInvalid) {
			t.Errorf("%s: err = %v; want ErrInvalid", name, err)
		}
	}
	if _, err := s.CreateUser(ctx, nil, UserInput{Username: ptr("BOB"), Proxies: map[string]model.ProxySettings{"vless": {}}}); !errors.Is(err, model.ErrConflict) {
		t.Errorf("duplicate username: %v; want ErrConflict", err)
	}
	if _, err := s.ModifyUser(ctx, nil, "bob", UserInput{Status: ptr(model.StatusLimited)}); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("status limited by hand: %v", err)
	}
	if err := s.SetCoreConfig(ctx, []byte(`{"inbounds":[{"protocol":"vless","port":"x"}]}`)); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("broken core config: %v", err)
	}
	if after, _ := f.Last(ctx); after != before {
		t.Fatalf("rejected input published changes: %d -> %d", before, after)
	}
	_, total, err := s.ListUsers(ctx, nil, model.UserFilter{Limit: 10})
	if err != nil || total != 1 {
		t.Fatalf("users after bad input: %d %v", total, err)
	}
}

func TestReviewIsOneBatch(t *testing.T) {
	ctx := context.Background()
	s, f, c := newState(t)
	exp := c.Now().Add(time.Hour).Unix()
	for _, name := range []string{"u_one", "u_two", "u_three"} {
		if _, err := s.CreateUser(ctx, nil, UserInput{Username: ptr(name), Proxies: map[string]model.ProxySettings{"trojan": {}}, Expire: &exp}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateUser(ctx, nil, UserInput{Username: ptr("forever"), Proxies: map[string]model.ProxySettings{"trojan": {}}}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Review(ctx); err != nil || n != 0 {
		t.Fatalf("early review: %d %v", n, err)
	}
	last, _ := f.Last(ctx)
	c.Add(2 * time.Hour)
	n, err := s.Review(ctx)
	if err != nil || n != 3 {
		t.Fatalf("review: %d %v; want 3", n, err)
	}
	ch := changesAfter(t, f, last)
	if len(ch) != 1 || len(ch[0].Removes) != 3 {
		t.Fatalf("review changes: %+v; want one change removing 3", ch)
	}
	u, err := s.User(ctx, nil, "u_two")
	if err != nil || u.Status != model.StatusExpired {
		t.Fatalf("u_two: %+v %v", u, err)
	}
	// Extending the expiry makes the user active again at once.
	later := c.Now().Add(time.Hour).Unix()
	u, err = s.ModifyUser(ctx, nil, "u_two", UserInput{Expire: &later})
	if err != nil || u.Status != model.StatusActive {
		t.Fatalf("renewed u_two: %+v %v", u, err)
	}
}

// TestDesiredStateIsThatOfTheRevision: traffic counted after a limited
// user's change moves used_traffic but not the revision, so the desired
// state read back (as a replica does on start) must carry the bytes_left
// the change sent and hash the same as the changes folded in. It failed
// when DesiredUsers recomputed bytes_left from today's traffic.
func TestDesiredStateIsThatOfTheRevision(t *testing.T) {
	ctx := context.Background()
	s, f, c := newState(t)
	limit := int64(1 << 30)
	u, err := s.CreateUser(ctx, nil, UserInput{Username: ptr("limited"), DataLimit: &limit, Proxies: map[string]model.ProxySettings{"vless": {}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, nil, UserInput{Username: ptr("free"), Proxies: map[string]model.ProxySettings{"vless": {}}}); err != nil {
		t.Fatal(err)
	}
	n := &model.Node{Name: "n1"}
	if _, err := s.CreateNode(ctx, n); err != nil {
		t.Fatal(err)
	}
	fence, _, err := s.NodeSessionStart(ctx, n.ID)
	if err != nil {
		t.Fatal(err)
	}
	revBefore, _, before, err := s.DesiredUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyUsage(ctx, n.ID, fence, 0, 1, c.Now(), []model.UserTraffic{{UserID: u.ID, Up: 1000, Down: 500}}); err != nil {
		t.Fatal(err)
	}
	rev, cfg, after, err := s.DesiredUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rev != revBefore {
		t.Fatalf("usage moved the revision: %d -> %d", revBefore, rev)
	}
	if protocol.ComputeStateHash(cfg, before) != protocol.ComputeStateHash(cfg, after) {
		t.Fatalf("one revision, two states: before usage %+v, after %+v", before[0].BytesLeft, after[0].BytesLeft)
	}
	if after[0].BytesLeft == nil || *after[0].BytesLeft != limit {
		t.Fatalf("bytes_left after usage = %v, want %d (as the revision sent it)", after[0].BytesLeft, limit)
	}

	// A change that puts the user on the nodes again sends (and stores)
	// what is left now, and the feed's upsert is what DesiredUsers reads.
	last, _ := f.Last(ctx)
	limit2 := int64(2 << 30)
	if _, err := s.ModifyUser(ctx, nil, "limited", UserInput{DataLimit: &limit2}); err != nil {
		t.Fatal(err)
	}
	ch := changesAfter(t, f, last)
	if len(ch) != 1 || len(ch[0].Upserts) != 1 || ch[0].Upserts[0].BytesLeft == nil || *ch[0].Upserts[0].BytesLeft != limit2-1500 {
		t.Fatalf("limit change: %+v", ch)
	}
	if _, err := s.ApplyUsage(ctx, n.ID, fence, 1, 2, c.Now(), []model.UserTraffic{{UserID: u.ID, Up: 7}}); err != nil {
		t.Fatal(err)
	}
	_, _, again, err := s.DesiredUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := again[0].BytesLeft; got == nil || *got != limit2-1500 || again[1].BytesLeft != nil {
		t.Fatalf("bytes_left after the change and more usage = %v (unlimited user: %v), want %d", got, again[1].BytesLeft, limit2-1500)
	}
}
