package api_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/outpost-panel/outpost/backend/api"
	"github.com/outpost-panel/outpost/backend/coord"
	"github.com/outpost-panel/outpost/backend/feed"
	"github.com/outpost-panel/outpost/backend/state"
	"github.com/outpost-panel/outpost/backend/store"
)

// eventsSocket is a dashboard's events WebSocket in a test.
type eventsSocket struct {
	t    testing.TB
	conn *websocket.Conn
	msgs chan map[string]any
	err  chan error
}

func dialEvents(t testing.TB, addr, token string) *eventsSocket {
	t.Helper()
	url := "ws://" + addr + "/api/events"
	if token != "" {
		url += "?token=" + token
	}
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dialing events: %v", err)
	}
	s := &eventsSocket{t: t, conn: c, msgs: make(chan map[string]any, 1024), err: make(chan error, 1)}
	t.Cleanup(func() { c.Close() })
	go func() {
		for {
			_, data, err := c.ReadMessage()
			if err != nil {
				s.err <- err
				close(s.msgs)
				return
			}
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				s.err <- fmt.Errorf("event %q: %w", data, err)
				close(s.msgs)
				return
			}
			s.msgs <- m
		}
	}()
	return s
}

// next waits for the next message of one of the given types, skipping
// others.
func (s *eventsSocket) next(types ...string) map[string]any {
	s.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				s.t.Fatalf("events socket ended waiting for %v: %v", types, <-s.err)
			}
			if slices.Contains(types, m["type"].(string)) {
				return m
			}
		case <-deadline:
			s.t.Fatalf("no %v event within 10s", types)
		}
	}
}

func usernamesOf(m map[string]any) []string {
	var out []string
	for _, v := range m["usernames"].([]any) {
		out = append(out, v.(string))
	}
	slices.Sort(out)
	return out
}

func TestEventsRefusesWithoutValidToken(t *testing.T) {
	e := newEnv(t)
	addr := e.listen()
	for _, tok := range []string{"", "not-a-token"} {
		s := dialEvents(t, addr, tok)
		select {
		case <-s.msgs:
		case <-time.After(10 * time.Second):
			t.Fatal("refused socket stayed open")
		}
		err := <-s.err
		var ce *websocket.CloseError
		if !asCloseError(err, &ce) || ce.Code != 4401 {
			t.Fatalf("token %q: closed with %v, want 4401", tok, err)
		}
	}
	r := e.do("GET", "/api/events", e.token(e.sudo), nil)
	e.expect(r, http.StatusUpgradeRequired, "plain GET of the events socket")
}

func asCloseError(err error, target **websocket.CloseError) bool {
	ce, ok := err.(*websocket.CloseError)
	if ok {
		*target = ce
	}
	return ok
}

// A user change reaches the sockets that may see it: sudo sees every
// user, a regular admin only its own, with no event at all for a change
// to another admin's users.
func TestEventsUsersScopedToOwner(t *testing.T) {
	e := newEnv(t)
	addr := e.listen()
	sudo := dialEvents(t, addr, e.token(e.sudo))
	alice := dialEvents(t, addr, e.token(e.alice))
	helloSudo := sudo.next("hello")
	helloAlice := alice.next("hello")
	if helloSudo["revision"] != helloAlice["revision"] {
		t.Fatalf("hello revisions differ: %v, %v", helloSudo, helloAlice)
	}

	e.createUser(e.bob, "bobs_user")
	m := sudo.next("users")
	if got := usernamesOf(m); !slices.Equal(got, []string{"bobs_user"}) {
		t.Fatalf("sudo users event %v, want bobs_user", m)
	}
	bobRev := m["revision"].(float64)

	e.createUser(e.alice, "alices_user")
	m = alice.next("users")
	if got := usernamesOf(m); !slices.Equal(got, []string{"alices_user"}) {
		t.Fatalf("alice's first users event %v: want only her own user", m)
	}
	if m["revision"].(float64) <= bobRev {
		t.Fatalf("alice's event at revision %v, not after bob's change at %v", m["revision"], bobRev)
	}

	// A change without anything for nodes (disabling) and a deletion are
	// events too.
	r := e.do("PUT", "/api/user/alices_user", e.token(e.alice), map[string]any{"status": "disabled"})
	e.expect(r, 200, "disabling alices_user")
	if got := usernamesOf(alice.next("users")); !slices.Equal(got, []string{"alices_user"}) {
		t.Fatalf("disable event names %v", got)
	}
	e.expect(e.do("DELETE", "/api/user/alices_user", e.token(e.alice), nil), 200, "deleting alices_user")
	if got := usernamesOf(alice.next("users")); !slices.Equal(got, []string{"alices_user"}) {
		t.Fatalf("delete event names %v", got)
	}
}

// Two replicas over one database: a change through one shows on a socket
// of the other, which shares nothing with the first but the database.
func TestEventsCrossReplica(t *testing.T) {
	a := newEnv(t)
	b := a.replica()
	sock := dialEvents(t, b.listen(), b.token(b.sudo))
	sock.next("hello")
	a.createUser(a.alice, "via_a")
	if got := usernamesOf(sock.next("users")); !slices.Equal(got, []string{"via_a"}) {
		t.Fatalf("replica B's socket got %v", got)
	}
}

// A node going offline is a node event for sudo sockets only.
func TestEventsNodeStatus(t *testing.T) {
	e := newEnv(t)
	addr := e.listen()
	tok := e.token(e.sudo)
	r := e.do("POST", "/api/node", tok, map[string]any{"name": "edge-1", "address": "192.0.2.1"})
	e.expect(r, 200, "creating node")
	var n struct {
		ID int64 `json:"id"`
	}
	r.decode(t, &n)
	sock := dialEvents(t, addr, tok)
	reseller := dialEvents(t, addr, e.token(e.alice))
	sock.next("hello")
	reseller.next("hello")
	// The node's session opens: what GET /api/nodes reports moves from
	// the stored status to connected.
	e.hub.mu.Lock()
	e.hub.connected[n.ID] = true
	e.hub.mu.Unlock()
	for {
		m := sock.next("node")
		if m["id"].(float64) == float64(n.ID) && m["status"] == "connected" {
			break
		}
	}
	e.hub.mu.Lock()
	e.hub.connected[n.ID] = false
	e.hub.mu.Unlock()
	// The stored status says connecting already; the hub knowing the
	// session gone is what the event reports.
	for {
		m := sock.next("node")
		if m["id"].(float64) == float64(n.ID) && m["status"] != "connected" {
			break
		}
	}
	// The reseller's socket got no node event: a user change for it
	// arrives, and nothing before it.
	e.createUser(e.alice, "marker")
	m := reseller.next("users", "node")
	if m["type"] != "users" {
		t.Fatalf("reseller got %v", m)
	}
}

// replica is a second panel over e's database with a change feed of its
// own: what it learns of e's changes it learns from the database.
func (e *env) replica() *env {
	e.t.Helper()
	r := *e
	r.st = state.New(e.db, feed.NewMemory(1000), slog.New(slog.DiscardHandler), e.clock.Now)
	r.hub = &recordingHub{connected: map[int64]bool{}}
	r.opts.State, r.opts.Hub = r.st, r.hub
	r.opts.RateLimiter = coord.NewMemory(e.clock.Now)
	r.app = api.New(r.opts)
	return &r
}

// A usage batch is a usage event for every socket, with the online count
// for sudo; a notification waiting for delivery is a notifications event
// for sudo.
func TestEventsUsageAndNotifications(t *testing.T) {
	e := newEnv(t)
	addr := e.listen()
	tok := e.token(e.sudo)
	e.createUser(e.alice, "ev_usage")
	r := e.do("POST", "/api/node", tok, map[string]any{"name": "ev-node", "address": "192.0.2.3"})
	e.expect(r, 200, "creating node")
	var n struct {
		ID int64 `json:"id"`
	}
	r.decode(t, &n)
	sudo := dialEvents(t, addr, tok)
	alice := dialEvents(t, addr, e.token(e.alice))
	sudo.next("hello")
	alice.next("hello")

	ctx := t.Context()
	fence, _, err := e.db.NodeSessionStart(ctx, n.ID)
	if err != nil {
		t.Fatal(err)
	}
	var uid int64
	if err := e.db.Read(ctx, func(tx *store.Tx) error {
		u, err := tx.UserByUsername("ev_usage")
		if u != nil {
			uid = u.ID
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.ApplyUsage(ctx, n.ID, fence, 0, 1, e.clock.Now(), []store.UserTraffic{{UserID: uid, Up: 1, Down: 2}}); err != nil {
		t.Fatal(err)
	}
	// A new loop reports usage once as it starts (online 0), then the
	// batch's.
	for m := sudo.next("usage"); m["online"] != float64(1); m = sudo.next("usage") {
		if m["online"] != float64(0) {
			t.Fatalf("sudo usage event %v", m)
		}
	}
	if m := alice.next("usage"); m["online"] != nil {
		t.Fatalf("reseller usage event %v carries the panel's online count", m)
	}

	e.st.SetWebhookAddresses([]string{"http://127.0.0.1:1/hook"})
	e.createUser(e.alice, "ev_notify") // a user_created notification waits
	sudo.next("notifications")
	if m := alice.next("users", "notifications"); m["type"] != "users" {
		t.Fatalf("reseller got %v", m)
	}
}
