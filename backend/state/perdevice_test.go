package state

import (
	"context"
	"slices"
	"sort"
	"testing"

	"github.com/outpost-panel/outpost/backend/feed"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/nodes/protocol"
)

// admit registers a fetch of username's subscription from hwid and
// returns the device it was admitted as (0 when refused).
func admit(t *testing.T, ss *Subscriptions, username, hwid string) (bool, int64) {
	t.Helper()
	ctx := context.Background()
	view, err := ss.Lookup(ctx, username)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := NewDeviceFetch(hwid, "iOS", "17", "iPhone", "Happ/1.0")
	if !ok {
		t.Fatalf("hwid %q refused", hwid)
	}
	admitted, id, err := ss.AdmitDevice(ctx, view, f)
	if err != nil {
		t.Fatal(err)
	}
	return admitted, id
}

// appliedState folds every change in the feed into the users a node
// would run.
func appliedState(t *testing.T, f feed.Feed) map[string]protocol.User {
	t.Helper()
	users := map[string]protocol.User{}
	for _, d := range changesAfter(t, f, 0) {
		for _, u := range d.Upserts {
			users[u.Email] = u
		}
		for _, e := range d.Removes {
			delete(users, e)
		}
	}
	return users
}

// checkDesiredIsApplied compares the desired state rebuilt from the
// database with the state the change stream builds.
func checkDesiredIsApplied(t *testing.T, s *State, f feed.Feed) {
	t.Helper()
	_, cfg, desired, err := s.DesiredUsers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	applied := appliedState(t, f)
	var list []protocol.User
	for _, u := range applied {
		list = append(list, u)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	if protocol.ComputeStateHash(cfg, desired) != protocol.ComputeStateHash(cfg, list) {
		t.Fatalf("desired state differs from the change stream's:\ndesired %+v\napplied %+v", desired, list)
	}
}

func TestPerDeviceDevicesReachNodesOnlyInTheMode(t *testing.T) {
	ctx := context.Background()
	s, f, _ := newState(t)
	ss := NewSubscriptions(s, nil)
	u, err := s.CreateUser(ctx, nil, UserInput{Username: ptr("alice"), Proxies: map[string]model.ProxySettings{"vless": {}, "trojan": {}}})
	if err != nil {
		t.Fatal(err)
	}
	if u.PerDevice {
		t.Fatal("a new user is in the mode without asking")
	}

	// Without the mode a new device costs no revision.
	rev0, _ := s.Revision(ctx)
	ok, d1 := admit(t, ss, "alice", "hw-1")
	if !ok || d1 == 0 {
		t.Fatalf("first device: admitted %v id %d", ok, d1)
	}
	if rev, _ := s.Revision(ctx); rev != rev0 {
		t.Fatalf("a device of a user without the mode took revision %d (was %d)", rev, rev0)
	}

	// Turning the mode on sends the user with its devices.
	last, _ := f.Last(ctx)
	m, err := s.ModifyUser(ctx, nil, "alice", UserInput{PerDeviceCredentials: ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	if !m.PerDevice || m.PerDeviceCredentials == nil || !*m.PerDeviceCredentials {
		t.Fatalf("mode after modify: own %v active %v", m.PerDeviceCredentials, m.PerDevice)
	}
	ch := changesAfter(t, f, last)
	if len(ch) != 1 || len(ch[0].Upserts) != 1 || !ch[0].Upserts[0].PerDevice || !slices.Equal(ch[0].Upserts[0].Devices, []int64{d1}) {
		t.Fatalf("mode on: %+v", ch)
	}
	last = ch[0].Revision

	// A new device is one change with the new set; a known one is none.
	ok, d2 := admit(t, ss, "alice", "hw-2")
	if !ok || d2 <= d1 {
		t.Fatalf("second device: admitted %v id %d", ok, d2)
	}
	ch = changesAfter(t, f, last)
	if len(ch) != 1 || len(ch[0].Upserts) != 1 || !slices.Equal(ch[0].Upserts[0].Devices, []int64{d1, d2}) {
		t.Fatalf("second device: %+v", ch)
	}
	last = ch[0].Revision
	if ok, id := admit(t, ss, "alice", "hw-1"); !ok || id != d1 {
		t.Fatalf("known device: admitted %v id %d, want %d", ok, id, d1)
	}
	if ch := changesAfter(t, f, last); len(ch) != 0 {
		t.Fatalf("a known device changed nodes: %+v", ch)
	}
	checkDesiredIsApplied(t, s, f)

	// Removing a device takes it off the nodes in the same revision.
	if err := s.RemoveDevice(ctx, nil, "alice", d1, ss); err != nil {
		t.Fatal(err)
	}
	ch = changesAfter(t, f, last)
	if len(ch) != 1 || len(ch[0].Upserts) != 1 || !slices.Equal(ch[0].Upserts[0].Devices, []int64{d2}) {
		t.Fatalf("removal: %+v", ch)
	}
	last = ch[0].Revision
	checkDesiredIsApplied(t, s, f)

	// Past the limit a device is refused and nodes see nothing; a refused
	// device admitted later (a slot freed) is a change again.
	if _, err := s.ModifyUser(ctx, nil, "alice", UserInput{HWIDDeviceLimit: ptr(int64(1))}); err != nil {
		t.Fatal(err)
	}
	last, _ = f.Last(ctx)
	if ok, _ := admit(t, ss, "alice", "hw-3"); ok {
		t.Fatal("a device past the limit was admitted")
	}
	if ch := changesAfter(t, f, last); len(ch) != 0 {
		t.Fatalf("a refused device changed nodes: %+v", ch)
	}
	if err := s.RemoveDevice(ctx, nil, "alice", d2, ss); err != nil {
		t.Fatal(err)
	}
	ok, d3 := admit(t, ss, "alice", "hw-3")
	if !ok {
		t.Fatal("the refused device was not admitted into the free slot")
	}
	ch = changesAfter(t, f, last)
	if len(ch) != 2 || !slices.Equal(ch[0].Upserts[0].Devices, nil) || !slices.Equal(ch[1].Upserts[0].Devices, []int64{d3}) {
		t.Fatalf("free slot: %+v", ch)
	}
	checkDesiredIsApplied(t, s, f)

	// The device's credentials are derived from the user's, one way.
	du := DeviceUser(m, d3)
	nu := NodeUser(m)
	want := nu.DeviceIdentity(d3)
	if du.Proxies["vless"].ID != want.VLESS.ID || du.Proxies["trojan"].Password != want.Trojan.Password ||
		du.Proxies["vless"].ID == m.Proxies["vless"].ID || m.Proxies["vless"].ID != u.Proxies["vless"].ID {
		t.Fatalf("device user %+v, identity %+v", du.Proxies, want)
	}
	if DeviceCredential(m, d3) != want.VLESS.ID {
		t.Fatal("the listed credential is not the device's VLESS UUID")
	}
}

func TestPerDeviceDefaultFlipIsOneChange(t *testing.T) {
	ctx := context.Background()
	s, f, _ := newState(t)
	ss := NewSubscriptions(s, nil)
	for _, name := range []string{"follower", "own_off", "own_on", "off_nodes"} {
		if _, err := s.CreateUser(ctx, nil, UserInput{Username: ptr(name), Proxies: map[string]model.ProxySettings{"vless": {}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.ModifyUser(ctx, nil, "own_off", UserInput{PerDeviceCredentials: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ModifyUser(ctx, nil, "own_on", UserInput{PerDeviceCredentials: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ModifyUser(ctx, nil, "off_nodes", UserInput{Status: ptr(model.StatusDisabled)}); err != nil {
		t.Fatal(err)
	}
	_, dev := admit(t, ss, "follower", "hw-f")

	set, err := s.SubscriptionSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last, _ := f.Last(ctx)
	set.PerDeviceCredentials = true
	if err := s.SetSubscriptionSettings(ctx, set); err != nil {
		t.Fatal(err)
	}
	ch := changesAfter(t, f, last)
	if len(ch) != 1 || len(ch[0].Upserts) != 1 || ch[0].Upserts[0].Email != "1.follower" ||
		!ch[0].Upserts[0].PerDevice || !slices.Equal(ch[0].Upserts[0].Devices, []int64{dev}) {
		t.Fatalf("flip on: %+v", ch)
	}
	for name, want := range map[string]bool{"follower": true, "own_off": false, "own_on": true, "off_nodes": true} {
		u, err := s.User(ctx, nil, name)
		if err != nil {
			t.Fatal(err)
		}
		if u.PerDevice != want {
			t.Errorf("%s: per_device_active %v, want %v", name, u.PerDevice, want)
		}
	}
	checkDesiredIsApplied(t, s, f)

	// A user created now follows the default; saving the same default again
	// changes nothing.
	n, err := s.CreateUser(ctx, nil, UserInput{Username: ptr("newcomer"), Proxies: map[string]model.ProxySettings{"vless": {}}})
	if err != nil || !n.PerDevice {
		t.Fatalf("new user under the default: %v, %v", n, err)
	}
	last, _ = f.Last(ctx)
	if err := s.SetSubscriptionSettings(ctx, set); err != nil {
		t.Fatal(err)
	}
	if ch := changesAfter(t, f, last); len(ch) != 0 {
		t.Fatalf("the same default changed nodes: %+v", ch)
	}
	set.PerDeviceCredentials = false
	if err := s.SetSubscriptionSettings(ctx, set); err != nil {
		t.Fatal(err)
	}
	ch = changesAfter(t, f, last)
	if len(ch) != 1 || len(ch[0].Upserts) != 2 || ch[0].Upserts[0].PerDevice || ch[0].Upserts[1].PerDevice {
		t.Fatalf("flip off: %+v", ch)
	}
	checkDesiredIsApplied(t, s, f)

	// Putting a user back on the default takes the default's mode.
	u, err := s.ModifyUser(ctx, nil, "own_on", UserInput{ClearPerDeviceCredentials: true})
	if err != nil || u.PerDevice || u.PerDeviceCredentials != nil {
		t.Fatalf("back on the default: %+v, %v", u, err)
	}
	checkDesiredIsApplied(t, s, f)
}

func TestPerDeviceUsageIsCountedPerDeviceAndSummed(t *testing.T) {
	ctx := context.Background()
	s, _, c := newState(t)
	ss := NewSubscriptions(s, nil)
	u, err := s.CreateUser(ctx, nil, UserInput{Username: ptr("alice"), Proxies: map[string]model.ProxySettings{"vless": {}},
		PerDeviceCredentials: ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.CreateUser(ctx, nil, UserInput{Username: ptr("bob"), Proxies: map[string]model.ProxySettings{"vless": {}}})
	if err != nil {
		t.Fatal(err)
	}
	_, d1 := admit(t, ss, "alice", "hw-1")
	_, d2 := admit(t, ss, "alice", "hw-2")
	_, bobs := admit(t, ss, "bob", "hw-b")
	n := &model.Node{Name: "n1"}
	if _, err := s.CreateNode(ctx, n); err != nil {
		t.Fatal(err)
	}
	fence, _, err := s.NodeSessionStart(ctx, n.ID)
	if err != nil {
		t.Fatal(err)
	}
	applied, err := s.ApplyUsage(ctx, n.ID, fence, 0, 1, c.Now(), []model.UserTraffic{
		{UserID: u.ID, DeviceID: d1, Up: 100, Down: 1000},
		{UserID: u.ID, DeviceID: d2, Up: 5, Down: 50},
		{UserID: u.ID, DeviceID: bobs, Up: 7},      // bob's device under alice: ignored for devices
		{UserID: u.ID, DeviceID: 1 << 40, Down: 3}, // no such device
		{UserID: other.ID, Up: 1},
	})
	if err != nil || !applied {
		t.Fatalf("usage: applied %v, %v", applied, err)
	}
	devices, got, err := s.UserDevices(ctx, nil, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got.UsedTraffic != 1165 {
		t.Fatalf("alice used %d, want the sum 1165", got.UsedTraffic)
	}
	used := map[int64]int64{}
	for _, d := range devices {
		used[d.ID] = d.UsedTraffic
	}
	if used[d1] != 1100 || used[d2] != 55 {
		t.Fatalf("device usage %v, want %d: 1100, %d: 55", used, d1, d2)
	}
	bobDevices, _, err := s.UserDevices(ctx, nil, "bob")
	if err != nil || bobDevices[0].UsedTraffic != 0 {
		t.Fatalf("bob's device counted alice's bytes: %+v, %v", bobDevices, err)
	}

	// The devices' counters reset with the user's.
	if _, err := s.ResetUserUsage(ctx, nil, "alice"); err != nil {
		t.Fatal(err)
	}
	devices, _, err = s.UserDevices(ctx, nil, "alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devices {
		if d.UsedTraffic != 0 {
			t.Fatalf("device %d keeps %d bytes after the user's reset", d.ID, d.UsedTraffic)
		}
	}
}
