package agent

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/nodes/protocol"
	"github.com/outpost-panel/outpost/nodes/state"
	"github.com/outpost-panel/outpost/nodes/xraycore/xraytest"
)

func perDeviceUser(id int64, name string, devices ...int64) protocol.User {
	u := xraytest.TestUser(id, name)
	u.PerDevice, u.Devices = true, devices
	return u
}

// TestPerDeviceLimitAndRestart: bytes_left holds for the user over the sum
// of its devices, the removal takes every device out, and a per-device user
// comes back from disk with its devices.
func TestPerDeviceLimitAndRestart(t *testing.T) {
	clock := &movableClock{now: time.Unix(1_800_000_000, 0)}
	dir := t.TempDir()
	a := newTestAgent(t, dir, clock)
	cfg, ports := testConfig(t)
	frank := perDeviceUser(6, "frank", 1, 2)
	limit := int64(10_000)
	frank.BytesLeft = &limit
	gina := perDeviceUser(7, "gina", 3)
	users := []protocol.User{frank, gina}
	if ack := a.applySnapshot(1, protocol.ComputeStateHash(cfg, users).String(), cfg, users); ack.Error != "" {
		t.Fatal(ack.Error)
	}
	echo := xraytest.StartEcho(t)
	dev1, dev2 := vlessClient(t, frank.DeviceIdentity(1), ports), vlessClient(t, frank.DeviceIdentity(2), ports)

	// Each device alone stays under the limit (3,000 bytes each way is
	// 6,000 of 10,000); together they pass it.
	if err := xraytest.RoundTrip(dev1, echo, xraytest.Payload(3000)); err != nil {
		t.Fatal(err)
	}
	waitJournaled(t, a, frank.Email, 6000)
	if err := xraytest.RoundTrip(dev2, echo, []byte("x")); err != nil {
		t.Fatalf("device 2 under the limit: %v", err)
	}
	if err := xraytest.RoundTrip(dev2, echo, xraytest.Payload(3000)); err != nil {
		t.Fatal(err)
	}
	waitJournaled(t, a, frank.Email, 12000)
	for name, socks := range map[string]string{"device 1": dev1, "device 2": dev2} {
		if err := xraytest.RoundTripWithin(socks, echo, []byte("x"), 2*time.Second); err == nil {
			t.Fatalf("frank's %s still served past the user's limit", name)
		}
	}
	pending, err := a.store.Unreported()
	if err != nil || len(pending) != 1 || pending[0].Email != frank.Email || pending[0].Reason != "limited" {
		t.Fatalf("enforcement = %+v, %v; want frank limited", pending, err)
	}
	// The journal keeps the devices apart for the panel.
	entries, err := a.store.PendingUsage(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		for email := range e.Traffic {
			seen[email] = true
		}
	}
	if !seen[protocol.DeviceEmail(frank.Email, 1)] || !seen[protocol.DeviceEmail(frank.Email, 2)] || seen[frank.Email] {
		t.Fatalf("journaled identities %v; want frank's two devices, not frank", seen)
	}

	// A delta dropping gina's device 3 for device 4: no restart, 3 is out.
	restarts := a.eng.Restarts()
	dev3 := vlessClient(t, gina.DeviceIdentity(3), ports)
	if err := xraytest.RoundTrip(dev3, echo, []byte("x")); err != nil {
		t.Fatal(err)
	}
	gina2 := gina
	gina2.Devices = []int64{4}
	if ack := a.applyDelta(&protocol.Delta{FromRevision: 1, Revision: 2, Upserts: []protocol.User{gina2}}); ack.Error != "" {
		t.Fatal(ack.Error)
	}
	if err := xraytest.RoundTripWithin(dev3, echo, []byte("x"), 2*time.Second); err == nil {
		t.Fatal("gina's dropped device 3 still served")
	}
	dev4 := vlessClient(t, gina2.DeviceIdentity(4), ports)
	if err := xraytest.RoundTrip(dev4, echo, []byte("x")); err != nil {
		t.Fatalf("gina's new device 4: %v", err)
	}
	if a.eng.Restarts() != restarts {
		t.Fatal("a device change restarted Xray")
	}

	// From disk: gina runs device 4 (not her own credentials), frank stays enforced.
	a.close()
	b := newTestAgent(t, dir, clock)
	defer b.close()
	if err := b.startFromDisk(); err != nil {
		t.Fatal(err)
	}
	if got := b.desired.Users[gina.Email]; !got.PerDevice || !slices.Equal(got.Devices, []int64{4}) {
		t.Fatalf("gina from disk: %+v", got)
	}
	if err := xraytest.RoundTrip(dev4, echo, []byte("from disk")); err != nil {
		t.Fatalf("gina's device 4 from disk: %v", err)
	}
	if err := xraytest.RoundTripWithin(vlessClient(t, gina, ports), echo, []byte("x"), 2*time.Second); err == nil {
		t.Fatal("gina's own credentials served from disk")
	}
	if err := xraytest.RoundTripWithin(dev2, echo, []byte("x"), 2*time.Second); err == nil {
		t.Fatal("frank's device served again after a restart")
	}
	if n := b.eng.UserCount(); n != 1 {
		t.Fatalf("identities from disk = %d, want 1 (gina's device 4)", n)
	}
}

// waitJournaled journals until the user's local counter reaches min bytes.
func waitJournaled(t *testing.T, a *Agent, email string, min int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		a.journalUsage()
		used, err := a.store.LocalUsed(email)
		if err != nil {
			t.Fatal(err)
		}
		if used >= min {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("LocalUsed(%s) = %d, want at least %d", email, used, min)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDeviceListsOutOfBoundsAreRefused(t *testing.T) {
	clock := &movableClock{now: time.Unix(1_800_000_000, 0)}
	a := newTestAgent(t, t.TempDir(), clock)
	defer a.close()
	cfg, _ := testConfig(t)
	good := perDeviceUser(1, "good", 1, 2)
	if ack := a.applySnapshot(3, "", cfg, []protocol.User{good}); ack.Error != "" {
		t.Fatal(ack.Error)
	}
	hash := a.desired.Hash.String()
	unsorted := perDeviceUser(2, "bad", 2, 1)
	tooMany := perDeviceUser(3, "many")
	for i := range protocol.MaxUserDevices + 1 {
		tooMany.Devices = append(tooMany.Devices, int64(i+1))
	}
	stray := xraytest.TestUser(4, "stray")
	stray.Devices = []int64{1}
	for name, u := range map[string]protocol.User{"unsorted": unsorted, "too many": tooMany, "devices without per_device": stray} {
		users := []protocol.User{good, u}
		ack := a.applySnapshot(4, protocol.ComputeStateHash(cfg, users).String(), cfg, users)
		if ack.Code != protocol.ErrCodeRefused || ack.Revision != 3 || ack.StateHash != hash {
			t.Errorf("snapshot with %s devices: %+v", name, ack)
		}
		h := a.desired.Hash
		h.AddUser(u)
		ack = a.applyDelta(&protocol.Delta{FromRevision: 3, Revision: 4, StateHash: h.String(), Upserts: []protocol.User{u}})
		if ack.Code != protocol.ErrCodeRefused || ack.Revision != 3 || ack.StateHash != hash {
			t.Errorf("delta with %s devices: %+v", name, ack)
		}
	}
	if a.eng.UserCount() != 2 || len(a.desired.Users) != 1 {
		t.Fatalf("a refused state changed something: %d identities, %d users", a.eng.UserCount(), len(a.desired.Users))
	}
}

// TestHugeEntryFoldsDevices: a journal entry naming more identities than a
// batch may carry goes out per user, with exact totals; entries within the
// bound keep their devices apart.
func TestHugeEntryFoldsDevices(t *testing.T) {
	clock := &movableClock{now: time.Unix(1_800_000_000, 0)}
	a := newTestAgent(t, t.TempDir(), clock)
	defer a.close()
	users := protocol.MaxUsageUsers/2 + 1
	huge := make(map[string]state.Traffic, 2*users)
	for i := range users {
		email := strconv.Itoa(i+1) + ".u"
		huge[protocol.DeviceEmail(email, 1)] = state.Traffic{Up: int64(i), Down: 1}
		huge[protocol.DeviceEmail(email, 2)] = state.Traffic{Up: 5, Down: 2}
	}
	if _, err := a.store.AppendUsage(clock.Now(), huge); err != nil {
		t.Fatal(err)
	}
	small := map[string]state.Traffic{protocol.DeviceEmail("1.u", 1): {Up: 7}, protocol.DeviceEmail("1.u", 2): {Up: 9}}
	if _, err := a.store.AppendUsage(clock.Now(), small); err != nil {
		t.Fatal(err)
	}
	batch, err := a.nextUsageBatch(0)
	if err != nil {
		t.Fatal(err)
	}
	if err := batch.Validate(); err != nil {
		t.Fatalf("the panel would refuse the batch: %v", err)
	}
	// The huge entry is folded into users; the small one after it still
	// fits the batch and keeps its devices apart.
	if batch.ToSeq != 2 || len(batch.Users) != users+2 {
		t.Fatalf("batch to %d with %d entries; want both readings, %d users and 2 devices", batch.ToSeq, len(batch.Users), users+2)
	}
	for _, ut := range batch.Users {
		if id, ok := protocol.DeviceOf(ut.Email); ok {
			if want := small[ut.Email].Up; ut.Email != protocol.DeviceEmail("1.u", id) || ut.Uplink != want {
				t.Fatalf("device entry %+v; want %d up from the small reading", ut, want)
			}
			continue
		}
		var i int
		if _, err := fmt.Sscanf(ut.Email, "%d.u", &i); err != nil || ut.Email != strconv.Itoa(i)+".u" {
			t.Fatalf("batch names %q, not a user", ut.Email)
		}
		if ut.Uplink != int64(i-1)+5 || ut.Downlink != 3 {
			t.Fatalf("%s: %d up %d down; want %d and 3", ut.Email, ut.Uplink, ut.Downlink, int64(i-1)+5)
		}
	}
	if !a.foldLogged.Load() {
		t.Fatal("folding was not logged")
	}
}

func TestOnlineFoldsDevices(t *testing.T) {
	var b onlineBuffer
	now := time.Unix(1_800_000_000, 0)
	b.merge(now, map[string][]string{
		protocol.DeviceEmail("1.a", 1): {"10.0.0.1"},
		protocol.DeviceEmail("1.a", 2): {"10.0.0.2", "10.0.0.1"},
		"2.b":                          {"10.0.0.3"},
	})
	got := map[string][]string{}
	for email, ips := range b.users {
		ips = slices.Clone(ips)
		slices.Sort(ips)
		got[email] = ips
	}
	want := map[string][]string{"1.a": {"10.0.0.1", "10.0.0.2"}, "2.b": {"10.0.0.3"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("online by user = %v; want %v", got, want)
	}
}
