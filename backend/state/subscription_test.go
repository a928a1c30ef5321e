package state

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/outpost-panel/outpost/backend/feed"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
)

type wallClock struct {
	mu sync.Mutex
	t  time.Time
}

func (w *wallClock) Now() time.Time      { w.mu.Lock(); defer w.mu.Unlock(); return w.t }
func (w *wallClock) Add(d time.Duration) { w.mu.Lock(); w.t = w.t.Add(d); w.mu.Unlock() }

func TestSubscriptionLookupCachesWhatDoesNotChange(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newState(t)
	if _, err := s.CreateUser(ctx, nil, UserInput{Username: ptr("viewer"), Proxies: map[string]model.ProxySettings{"vless": {}}}); err != nil {
		t.Fatal(err)
	}
	subs := NewSubscriptions(s, nil)

	a, err := subs.Lookup(ctx, "VIEWER")
	if err != nil {
		t.Fatal(err)
	}
	if a.User.Username != "viewer" || len(a.Inbounds) == 0 || a.Settings.ProfileUpdateInterval != 12 {
		t.Fatalf("view %+v", a)
	}
	b, err := subs.Lookup(ctx, "viewer")
	if err != nil {
		t.Fatal(err)
	}
	// Without the lookup cache every lookup reads the user, but hosts and
	// settings are the same cached values while their versions stand.
	if a.User == b.User || &a.Inbounds[0] != &b.Inbounds[0] || a.Settings != b.Settings {
		t.Errorf("caching: users shared %v, inbounds shared %v, settings shared %v",
			a.User == b.User, &a.Inbounds[0] == &b.Inbounds[0], a.Settings == b.Settings)
	}
	// A new version of hosts or settings is seen at once.
	if err := s.SetHosts(ctx, map[string][]Host{"VLESS TCP": {{Remark: "r", Address: "a.example"}}}); err != nil {
		t.Fatal(err)
	}
	set := DefaultSubscriptionSettings()
	set.ProfileTitle = "new"
	if err := s.SetSubscriptionSettings(ctx, set); err != nil {
		t.Fatal(err)
	}
	c, err := subs.Lookup(ctx, "viewer")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Hosts["VLESS TCP"]) != 1 || c.Hosts["VLESS TCP"][0].Address != "a.example" || c.Settings.ProfileTitle != "new" {
		t.Errorf("after changes: hosts %+v settings %+v", c.Hosts, c.Settings)
	}

	if _, err := subs.Lookup(ctx, "nobody"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}

	// With the lookup cache a view is reused for its time, then reloaded.
	wc := &wallClock{t: time.Unix(1_900_000_000, 0)}
	cached := NewSubscriptions(s, nil)
	cached.wallClock = wc.Now
	cached.CacheLookups(2 * time.Second)
	first, err := cached.Lookup(ctx, "viewer")
	if err != nil {
		t.Fatal(err)
	}
	// Another replica (a second State on the same database, without Run
	// following the feed) changes the user: this one serves the cached
	// view until it expires.
	replica := New(s.store, feed.NewMemory(10), slog.New(slog.DiscardHandler), nil)
	if _, err := replica.ModifyUser(ctx, nil, "viewer", UserInput{DataLimit: ptr(int64(1 << 30))}); err != nil {
		t.Fatal(err)
	}
	wc.Add(time.Second)
	if again, _ := cached.Lookup(ctx, "viewer"); again != first {
		t.Error("view not reused within its time")
	}
	wc.Add(time.Second)
	fresh, err := cached.Lookup(ctx, "viewer")
	if err != nil {
		t.Fatal(err)
	}
	if fresh == first || fresh.User.DataLimit != 1<<30 {
		t.Errorf("expired view reused: data_limit %d", fresh.User.DataLimit)
	}
}

func TestSubscriptionFetchBatcher(t *testing.T) {
	ctx := context.Background()
	s, _, clk := newState(t)
	var ids []int64
	for _, name := range []string{"bat1", "bat2"} {
		u, err := s.CreateUser(ctx, nil, UserInput{Username: ptr(name), Proxies: map[string]model.ProxySettings{"vless": {}}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	subs := NewSubscriptions(s, nil)
	for i := range 100 {
		subs.Record(ids[i%2], "agent/"+strings.Repeat("x", i%3))
	}
	clk.Add(time.Minute)
	subs.Record(ids[0], "last\x00one\n"+strings.Repeat("é", 300))
	if n := subs.Pending(); n != 2 {
		t.Fatalf("pending %d, want 2", n)
	}

	// A flush that fails (the store is closed under it) keeps the fetches.
	broken, err := store.Open(ctx, "", t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	broken.Close()
	brokenState := New(broken, nil, s.log, clk.Now)
	brokenSubs := NewSubscriptions(brokenState, nil)
	brokenSubs.Record(ids[0], "kept")
	if err := brokenSubs.Flush(ctx); err == nil {
		t.Fatal("flush on a closed store succeeded")
	}
	if brokenSubs.Pending() != 1 {
		t.Errorf("failed flush dropped fetches: pending %d", brokenSubs.Pending())
	}

	if err := subs.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if subs.Pending() != 0 {
		t.Errorf("pending after flush %d", subs.Pending())
	}
	u0, err := s.User(ctx, nil, "bat1")
	if err != nil {
		t.Fatal(err)
	}
	if u0.SubUpdatedAt == nil || !u0.SubUpdatedAt.Equal(clk.Now()) {
		t.Errorf("sub_updated_at %v, want %v", u0.SubUpdatedAt, clk.Now())
	}
	ua := u0.SubLastUserAgent
	if !strings.HasPrefix(ua, "lastone") || len(ua) > maxUserAgent || !utf8.ValidString(ua) {
		t.Errorf("stored agent %q (%d bytes)", ua, len(ua))
	}
	u1, _ := s.User(ctx, nil, "bat2")
	if u1.SubLastUserAgent != "agent/"+strings.Repeat("x", 99%3) {
		t.Errorf("b2 agent %q", u1.SubLastUserAgent)
	}
}

func TestSubscriptionSettingsValidation(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newState(t)
	for name, mut := range map[string]func(*SubscriptionSettings){
		"zero interval":    func(ss *SubscriptionSettings) { ss.ProfileUpdateInterval = 0 },
		"year+ interval":   func(ss *SubscriptionSettings) { ss.ProfileUpdateInterval = 8761 },
		"title control":    func(ss *SubscriptionSettings) { ss.ProfileTitle = "a\rb" },
		"title too long":   func(ss *SubscriptionSettings) { ss.ProfileTitle = strings.Repeat("t", 1025) },
		"support relative": func(ss *SubscriptionSettings) { ss.SupportURL = "support" },
		"web page space":   func(ss *SubscriptionSettings) { ss.ProfileWebPageURL = "https://a.example/x y" },
		"rules not JSON":   func(ss *SubscriptionSettings) { ss.Rules = []byte("[") },
	} {
		set := DefaultSubscriptionSettings()
		mut(&set)
		if err := s.SetSubscriptionSettings(ctx, set); !errors.Is(err, model.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	got, err := s.SubscriptionSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.ProfileUpdateInterval != 12 || got.Rules != nil {
		t.Errorf("refused settings were stored: %+v", got)
	}
	ok := DefaultSubscriptionSettings()
	ok.SupportURL, ok.ProfileWebPageURL = "tg://resolve?domain=help", "https://panel.example/p"
	ok.Rules = []byte(`[{"pattern":"^x","format":"clash"}]`)
	if err := s.SetSubscriptionSettings(ctx, ok); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.SubscriptionSettings(ctx); got.SupportURL != ok.SupportURL || string(got.Rules) != string(ok.Rules) {
		t.Errorf("stored %+v", got)
	}
}

// A change nodes see (here: disabling the user) drops cached views at
// once, without waiting out the cache time.
func TestSubscriptionLookupCacheFollowsTheFeed(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newState(t)
	if _, err := s.CreateUser(ctx, nil, UserInput{Username: ptr("feedy"), Proxies: map[string]model.ProxySettings{"vless": {}}}); err != nil {
		t.Fatal(err)
	}
	subs := NewSubscriptions(s, nil)
	wc := &wallClock{t: time.Unix(1_900_000_000, 0)}
	subs.wallClock = wc.Now // frozen: only the feed can expire a view
	subs.CacheLookups(time.Hour)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); subs.Run(runCtx, time.Hour) }()
	defer func() { stop(); <-done }()

	first, err := subs.Lookup(ctx, "feedy")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ModifyUser(ctx, nil, "feedy", UserInput{Status: ptr(model.StatusDisabled)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := subs.Lookup(ctx, "feedy")
		if err != nil {
			t.Fatal(err)
		}
		if v.User.Status == model.StatusDisabled {
			break
		}
		if v != first {
			t.Fatalf("reloaded view still active")
		}
		if time.Now().After(deadline) {
			t.Fatal("disabling the user never reached the cached view")
		}
		time.Sleep(time.Millisecond)
	}
}

// A revocation made through this process must shut the old link at once,
// not after the cache time or a feed round trip: an operator revokes a
// leaked link and checks it straight away.
func TestSubscriptionLookupCacheSeesLocalChangesAtOnce(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newState(t)
	if _, err := s.CreateUser(ctx, nil, UserInput{Username: ptr("leaky"), Proxies: map[string]model.ProxySettings{"vless": {}}}); err != nil {
		t.Fatal(err)
	}
	subs := NewSubscriptions(s, nil)
	wc := &wallClock{t: time.Unix(1_900_000_000, 0)}
	subs.wallClock = wc.Now // frozen, and Run is not following the feed
	subs.CacheLookups(time.Hour)
	first, err := subs.Lookup(ctx, "leaky")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := subs.Lookup(ctx, "leaky"); again != first {
		t.Fatal("view not cached while nothing changed")
	}
	if first.User.SubRevokedAt != nil {
		t.Fatal("new user already revoked")
	}
	if _, err := s.RevokeSubscription(ctx, nil, "leaky"); err != nil {
		t.Fatal(err)
	}
	v, err := subs.Lookup(ctx, "leaky")
	if err != nil {
		t.Fatal(err)
	}
	if v == first || v.User.SubRevokedAt == nil {
		t.Error("lookup right after a revocation on this replica served the cached, unrevoked view")
	}
	if again, _ := subs.Lookup(ctx, "leaky"); again != v {
		t.Error("reloaded view not cached again")
	}
}
