package agent

import (
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/nodes/protocol"
	"github.com/outpost-panel/outpost/nodes/xraycore/xraytest"
)

// movableClock lets tests pass expiry without sleeping.
type movableClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *movableClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *movableClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newTestAgent(t *testing.T, dir string, clock *movableClock) *Agent {
	t.Helper()
	a, err := New(Config{PanelURL: "http://127.0.0.1:1", Token: "t", StateDir: dir,
		Log: slog.New(slog.DiscardHandler), Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func testConfig(t *testing.T) ([]byte, map[string]int) {
	ports := map[string]int{}
	for _, tag := range []string{xraytest.TagVLESS, xraytest.TagVMess, xraytest.TagTrojan, xraytest.TagSS} {
		ports[tag] = xraytest.FreePort(t)
	}
	return xraytest.ServerConfig(ports), ports
}

func vlessClient(t *testing.T, u protocol.User, ports map[string]int) string {
	return xraytest.StartClient(t, xraytest.ClientOutbound("vless", "127.0.0.1", ports[xraytest.TagVLESS], u, nil))
}

func TestSnapshotDeltaAndRefusals(t *testing.T) {
	clock := &movableClock{now: time.Unix(1_800_000_000, 0)}
	dir := t.TempDir()
	a := newTestAgent(t, dir, clock)
	cfg, ports := testConfig(t)
	alice, bob := xraytest.TestUser(1, "alice"), xraytest.TestUser(2, "bob")
	users := []protocol.User{alice, bob}
	ack := a.applySnapshot(5, protocol.ComputeStateHash(cfg, users).String(), cfg, users)
	if ack.Error != "" || ack.Revision != 5 {
		t.Fatalf("snapshot refused: %+v", ack)
	}
	echo := xraytest.StartEcho(t)
	aliceSocks := vlessClient(t, alice, ports)
	if err := xraytest.RoundTrip(aliceSocks, echo, []byte("hello")); err != nil {
		t.Fatalf("alice after snapshot: %v", err)
	}

	// The same snapshot again restarts nothing.
	restarts := a.eng.Restarts()
	if ack := a.applySnapshot(5, "", cfg, users); ack.Error != "" {
		t.Fatal(ack.Error)
	}
	if a.eng.Restarts() != restarts {
		t.Fatal("identical snapshot restarted Xray")
	}

	// A snapshot whose config does not build is refused; the old state keeps serving.
	bad := []byte(`{"inbounds":[{"tag":"x","protocol":"nonsense","port":1}]}`)
	ack = a.applySnapshot(6, "", bad, users)
	if ack.Error == "" || ack.Code != protocol.ErrCodeRefused || ack.Revision != 5 {
		t.Fatalf("broken config accepted: %+v", ack)
	}
	if err := xraytest.RoundTrip(aliceSocks, echo, []byte("still here")); err != nil {
		t.Fatalf("alice after refused config: %v", err)
	}

	// A delta that does not start at the node's revision asks for a snapshot.
	ack = a.applyDelta(&protocol.Delta{FromRevision: 3, Revision: 7})
	if ack.Code != protocol.ErrCodeBadState {
		t.Fatalf("misaligned delta: %+v", ack)
	}
	// A delta whose result would not match the panel's hash is refused.
	carol := xraytest.TestUser(3, "carol")
	ack = a.applyDelta(&protocol.Delta{FromRevision: 5, Revision: 6, StateHash: strings.Repeat("0", 64), Upserts: []protocol.User{carol}})
	if ack.Code != protocol.ErrCodeBadState {
		t.Fatalf("hash mismatch accepted: %+v", ack)
	}
	// A good delta adds carol and removes bob without a restart.
	want := protocol.ComputeStateHash(cfg, []protocol.User{alice, carol})
	ack = a.applyDelta(&protocol.Delta{FromRevision: 5, Revision: 6, StateHash: want.String(), Upserts: []protocol.User{carol}, Removes: []string{bob.Email}})
	if ack.Error != "" || ack.StateHash != want.String() {
		t.Fatalf("delta: %+v", ack)
	}
	if a.eng.Restarts() != restarts {
		t.Fatal("user delta restarted Xray")
	}
	if err := xraytest.RoundTrip(vlessClient(t, carol, ports), echo, []byte("hi")); err != nil {
		t.Fatalf("carol after delta: %v", err)
	}
	if err := xraytest.RoundTripWithin(vlessClient(t, bob, ports), echo, []byte("hi"), 2*time.Second); err == nil {
		t.Fatal("bob still served after removal")
	}

	// The state survives a restart of the agent: it starts from disk.
	a.close()
	b := newTestAgent(t, dir, clock)
	defer b.close()
	if err := b.startFromDisk(); err != nil {
		t.Fatal(err)
	}
	h := b.Health()
	if h.AppliedRevision != 6 || h.Users != 2 {
		t.Fatalf("restarted agent: %+v", h)
	}
	if err := xraytest.RoundTrip(aliceSocks, echo, []byte("from disk")); err != nil {
		t.Fatalf("alice from disk: %v", err)
	}
}

func TestLocalEnforcement(t *testing.T) {
	clock := &movableClock{now: time.Unix(1_800_000_000, 0)}
	a := newTestAgent(t, t.TempDir(), clock)
	defer a.close()
	cfg, ports := testConfig(t)
	dave := xraytest.TestUser(4, "dave")
	dave.Expire = clock.Now().Add(time.Hour).Unix()
	erin := xraytest.TestUser(5, "erin")
	limit := int64(10_000)
	erin.BytesLeft = &limit
	users := []protocol.User{dave, erin}
	if ack := a.applySnapshot(1, "", cfg, users); ack.Error != "" {
		t.Fatal(ack.Error)
	}
	echo := xraytest.StartEcho(t)
	daveSocks, erinSocks := vlessClient(t, dave, ports), vlessClient(t, erin, ports)
	if err := xraytest.RoundTrip(daveSocks, echo, []byte("x")); err != nil {
		t.Fatal(err)
	}
	// erin moves more than her bytes; the next journal tick removes her.
	if err := xraytest.RoundTrip(erinSocks, echo, make([]byte, 8000)); err != nil {
		t.Fatal(err)
	}
	a.journalUsage()
	if err := xraytest.RoundTripWithin(erinSocks, echo, []byte("x"), 2*time.Second); err == nil {
		t.Fatal("erin still served past her data limit")
	}
	// dave's expiry passes: the enforcement check removes him.
	clock.Add(2 * time.Hour)
	a.mu.Lock()
	a.enforceNowLocked(nil)
	a.mu.Unlock()
	if err := xraytest.RoundTripWithin(daveSocks, echo, []byte("x"), 2*time.Second); err == nil {
		t.Fatal("dave still served after expiry")
	}
	pending, err := a.store.Unreported()
	if err != nil || len(pending) != 2 {
		t.Fatalf("unreported enforcement: %+v %v", pending, err)
	}
	reasons := map[string]string{}
	for _, p := range pending {
		reasons[p.Email] = p.Reason
	}
	if reasons[dave.Email] != "expired" || reasons[erin.Email] != "limited" {
		t.Fatalf("reasons: %v", reasons)
	}
	// A new version of dave from the panel lifts the local removal.
	dave.Expire = clock.Now().Add(time.Hour).Unix()
	ack := a.applyDelta(&protocol.Delta{FromRevision: 1, Revision: 2, Upserts: []protocol.User{dave}})
	if ack.Error != "" {
		t.Fatal(ack.Error)
	}
	if err := xraytest.RoundTrip(daveSocks, echo, []byte("back")); err != nil {
		t.Fatalf("renewed dave: %v", err)
	}
	// The journal holds erin's bytes for the panel.
	entries, err := a.store.PendingUsage(0, 0)
	if err != nil || len(entries) == 0 {
		t.Fatalf("journal: %v %v", entries, err)
	}
	raw, _ := json.Marshal(entries)
	if !strings.Contains(string(raw), erin.Email) {
		t.Fatalf("erin's usage not journaled: %s", raw)
	}
}
