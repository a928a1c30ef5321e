package agent

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/nodes/protocol"
	"github.com/outpost-panel/outpost/nodes/xraycore"
	"github.com/outpost-panel/outpost/nodes/xraycore/xraytest"
)

// withDuplicateOutbound is cfg with a second outbound tagged "direct": it
// parses and builds (xraycore.Validate passes), but Xray's core refuses to
// start it ("existing tag found"), so only the engine finds the problem.
func withDuplicateOutbound(t *testing.T, cfg []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(cfg, &m); err != nil {
		t.Fatal(err)
	}
	m["outbounds"] = append(m["outbounds"].([]any), map[string]any{"tag": "direct", "protocol": "freedom"})
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := xraycore.Validate(b); err != nil {
		t.Fatalf("the test config must pass Validate and fail only in the engine: %v", err)
	}
	return b
}

// TestRefusedStateIsNeverPersisted: a snapshot or delta the engine refuses
// leaves the disk, the memory and the acked hash at the last state that ran,
// and an agent restarted from the same state dir runs that state.
func TestRefusedStateIsNeverPersisted(t *testing.T) {
	clock := &movableClock{now: time.Unix(1_800_000_000, 0)}
	dir := t.TempDir()
	a := newTestAgent(t, dir, clock)
	cfg, ports := testConfig(t)
	alice, bob := xraytest.TestUser(1, "alice"), xraytest.TestUser(2, "bob")
	users := []protocol.User{alice}
	good := protocol.ComputeStateHash(cfg, users)
	if ack := a.applySnapshot(5, good.String(), cfg, users); ack.Error != "" {
		t.Fatalf("first snapshot refused: %+v", ack)
	}
	echo := xraytest.StartEcho(t)
	aliceSocks := vlessClient(t, alice, ports)
	if err := xraytest.RoundTrip(aliceSocks, echo, []byte("hello")); err != nil {
		t.Fatalf("alice after snapshot: %v", err)
	}

	bad := withDuplicateOutbound(t, cfg)
	kept := func(what string, ack protocol.Ack) {
		t.Helper()
		if ack.Error == "" {
			t.Fatalf("%s: the engine's refusal was acked as success: %+v", what, ack)
		}
		if ack.Revision != 5 || ack.StateHash != good.String() {
			t.Fatalf("%s: acked revision %d hash %s, want the running state 5 %s", what, ack.Revision, ack.StateHash, good)
		}
		a.mu.Lock()
		rev, h, n := a.desired.Revision, a.desired.Hash, len(a.desired.Users)
		a.mu.Unlock()
		if rev != 5 || h != good || n != 1 {
			t.Fatalf("%s: memory moved to revision %d hash %s with %d users", what, rev, h, n)
		}
		d, ok, err := a.store.LoadDesired()
		if err != nil || !ok {
			t.Fatalf("%s: loading state: %v %v", what, ok, err)
		}
		if d.Revision != 5 || d.Hash != good || !bytes.Equal(d.Config, cfg) || len(d.Users) != 1 {
			t.Fatalf("%s: disk holds revision %d hash %s, %d users, config changed %v", what, d.Revision, d.Hash, len(d.Users), !bytes.Equal(d.Config, cfg))
		}
	}

	two := []protocol.User{alice, bob}
	kept("snapshot", a.applySnapshot(6, protocol.ComputeStateHash(bad, two).String(), bad, two))
	h := good
	h.ToggleConfig(cfg)
	h.ToggleConfig(bad)
	h.AddUser(bob)
	kept("delta", a.applyDelta(&protocol.Delta{FromRevision: 5, Revision: 6, StateHash: h.String(), Config: bad, Upserts: []protocol.User{bob}}))
	if err := xraytest.RoundTripWithin(vlessClient(t, bob, ports), echo, []byte("hi"), 2*time.Second); err == nil {
		t.Fatal("bob, from a refused state, is served")
	}
	if err := xraytest.RoundTrip(aliceSocks, echo, []byte("still here")); err != nil {
		t.Fatalf("alice after refused states: %v", err)
	}

	// Restarted from the same state dir, the agent runs what ran before.
	a.close()
	b := newTestAgent(t, dir, clock)
	defer b.close()
	if err := b.startFromDisk(); err != nil {
		t.Fatal(err)
	}
	if hl := b.Health(); hl.AppliedRevision != 5 || hl.Users != 1 || hl.LastError != "" {
		t.Fatalf("restarted agent: %+v", hl)
	}
	if err := xraytest.RoundTrip(aliceSocks, echo, []byte("from disk")); err != nil {
		t.Fatalf("alice from disk: %v", err)
	}
}

// TestUnpersistedStateIsRolledBack: when the state dir cannot take the new
// state after Xray ran it, Xray goes back to the state in memory, which did
// not move, and the ack says so.
func TestUnpersistedStateIsRolledBack(t *testing.T) {
	clock := &movableClock{now: time.Unix(1_800_000_000, 0)}
	a := newTestAgent(t, t.TempDir(), clock)
	defer a.close()
	cfg, ports := testConfig(t)
	alice, bob := xraytest.TestUser(1, "alice"), xraytest.TestUser(2, "bob")
	good := protocol.ComputeStateHash(cfg, []protocol.User{alice})
	if ack := a.applySnapshot(5, good.String(), cfg, []protocol.User{alice}); ack.Error != "" {
		t.Fatal(ack.Error)
	}
	echo := xraytest.StartEcho(t)
	aliceSocks, bobSocks := vlessClient(t, alice, ports), vlessClient(t, bob, ports)
	if err := a.store.Close(); err != nil { // every write fails from now on
		t.Fatal(err)
	}

	var m map[string]any
	if err := json.Unmarshal(cfg, &m); err != nil {
		t.Fatal(err)
	}
	m["outbounds"] = append(m["outbounds"].([]any), map[string]any{"tag": "extra", "protocol": "freedom"})
	other, _ := json.Marshal(m)
	two := []protocol.User{alice, bob}
	for _, tc := range []struct {
		name string
		ack  func() protocol.Ack
	}{
		{"snapshot with a new core", func() protocol.Ack { return a.applySnapshot(6, "", other, two) }},
		{"config delta", func() protocol.Ack {
			return a.applyDelta(&protocol.Delta{FromRevision: 5, Revision: 6, Config: other, Upserts: []protocol.User{bob}})
		}},
		{"user delta", func() protocol.Ack {
			return a.applyDelta(&protocol.Delta{FromRevision: 5, Revision: 6, Upserts: []protocol.User{bob}})
		}},
	} {
		ack := tc.ack()
		if ack.Error == "" || ack.Revision != 5 || ack.StateHash != good.String() {
			t.Fatalf("%s: ack %+v, want a refusal at revision 5", tc.name, ack)
		}
		if h := a.Health(); h.AppliedRevision != 5 || h.Users != 1 {
			t.Fatalf("%s: memory moved: %+v", tc.name, h)
		}
		if err := xraytest.RoundTripWithin(bobSocks, echo, []byte("hi"), 2*time.Second); err == nil {
			t.Fatalf("%s: bob, from an unpersisted state, is served", tc.name)
		}
		if err := xraytest.RoundTrip(aliceSocks, echo, []byte("still here")); err != nil {
			t.Fatalf("%s: alice after the rollback: %v", tc.name, err)
		}
	}
}
