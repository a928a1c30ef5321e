package xraycore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/nodes/protocol"
	"github.com/outpost-panel/outpost/nodes/xraycore"
	"github.com/outpost-panel/outpost/nodes/xraycore/xraytest"
)

// perDeviceUser is a user whose devices run as identities of their own.
func perDeviceUser(id int64, name string, devices ...int64) protocol.User {
	u := xraytest.TestUser(id, name)
	u.PerDevice, u.Devices = true, devices
	return u
}

func TestPerDeviceIdentities(t *testing.T) {
	tags := []string{xraytest.TagVLESS, xraytest.TagTrojan, xraytest.TagSS}
	s := newServer(t, tags...)
	u := perDeviceUser(1, "dev", 1, 2)
	other := xraytest.TestUser(2, "plain")
	s.apply(s.config, u, other)
	if got := s.engine.UserCount(); got != 3 {
		t.Fatalf("UserCount = %d, want 3 identities (two devices and a plain user)", got)
	}
	dev1, dev2 := u.DeviceIdentity(1), u.DeviceIdentity(2)
	if dev1.VLESS.ID == u.VLESS.ID || dev1.VLESS.ID == dev2.VLESS.ID {
		t.Fatal("device credentials are not derived")
	}
	s.engine.CollectUsage() // start from zero

	clients := map[string]map[int64]string{} // tag -> device -> socks
	for _, tag := range tags {
		clients[tag] = map[int64]string{1: s.client(tag, dev1), 2: s.client(tag, dev2)}
		s.mustRoundTrip(clients[tag][1], tag+": device 1")
		s.mustRoundTrip(clients[tag][2], tag+": device 2")
		s.mustRoundTrip(s.client(tag, other), tag+": a user without devices")
	}
	// The user's own credentials run nowhere.
	s.mustFail(s.client(xraytest.TagVLESS, u), "vless: the per-device user's own credentials")
	s.mustFail(s.client(xraytest.TagTrojan, u), "trojan: the per-device user's own credentials")

	// Usage comes per identity, the two devices apart, nothing for the user itself.
	if err := xraytest.RoundTrip(clients[xraytest.TagVLESS][1], s.echo, xraytest.Payload(4096)); err != nil {
		t.Fatal(err)
	}
	if err := xraytest.RoundTrip(clients[xraytest.TagTrojan][2], s.echo, xraytest.Payload(8192)); err != nil {
		t.Fatal(err)
	}
	// Each device moved 3 KiB in the round trips above, plus its payload here.
	usage := map[string]xraycore.Traffic{}
	deadline := time.Now().Add(5 * time.Second)
	for usage[dev1.Email].Up < 3*1024+4096 || usage[dev2.Email].Up < 3*1024+8192 {
		if time.Now().After(deadline) {
			t.Fatalf("usage %v, want %s >= %d and %s >= %d up", usage, dev1.Email, 3*1024+4096, dev2.Email, 3*1024+8192)
		}
		for email, tr := range s.engine.CollectUsage() {
			sum := usage[email]
			sum.Up, sum.Down = sum.Up+tr.Up, sum.Down+tr.Down
			usage[email] = sum
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, ok := usage[u.Email]; ok {
		t.Fatalf("usage reported under the per-device user's own email: %v", usage)
	}
	for email := range usage {
		if email != dev1.Email && email != dev2.Email && email != other.Email {
			t.Fatalf("unexpected identity %q in usage %v", email, usage)
		}
	}

	// Dropping device 1 (an upsert with a shorter list) takes it out of
	// every inbound without a restart; device 2 keeps working.
	restarts := s.engine.Restarts()
	shrunk := perDeviceUser(1, "dev", 2)
	shrunk.VLESS, shrunk.VMess, shrunk.Trojan, shrunk.Shadowsocks = u.VLESS, u.VMess, u.Trojan, u.Shadowsocks
	if err := s.engine.UpsertUsers([]protocol.User{shrunk}); err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags {
		s.mustFail(clients[tag][1], tag+": device 1 after it was dropped")
		s.mustRoundTrip(clients[tag][2], tag+": device 2 after device 1 was dropped")
	}
	if s.engine.Restarts() != restarts {
		t.Fatal("dropping a device restarted the core")
	}
	if got := s.engine.UserCount(); got != 2 {
		t.Fatalf("UserCount = %d after dropping a device, want 2", got)
	}

	// Adding device 3 back: device 3 works, device 2 is untouched.
	grown := shrunk
	grown.Devices = []int64{2, 3}
	if err := s.engine.UpsertUsers([]protocol.User{grown}); err != nil {
		t.Fatal(err)
	}
	s.mustRoundTrip(s.client(xraytest.TagVLESS, grown.DeviceIdentity(3)), "device 3 after it was added")
	s.mustRoundTrip(clients[xraytest.TagVLESS][2], "device 2 after device 3 was added")

	// Removing the user by its email removes every identity.
	s.engine.RemoveUsers([]string{u.Email})
	s.mustFail(clients[xraytest.TagVLESS][2], "device 2 after the user was removed")
	if got := s.engine.UserCount(); got != 1 {
		t.Fatalf("UserCount = %d after removing the per-device user, want 1", got)
	}

	// Turning the mode off runs the user's own credentials again, and
	// turning it on takes them out.
	if err := s.engine.UpsertUsers([]protocol.User{xraytest.TestUser(3, "x"), func() protocol.User { v := u; v.PerDevice, v.Devices = false, nil; return v }()}); err != nil {
		t.Fatal(err)
	}
	own := s.client(xraytest.TagVLESS, u)
	s.mustRoundTrip(own, "the user's own credentials without per-device")
	if err := s.engine.UpsertUsers([]protocol.User{perDeviceUser(1, "dev")}); err != nil {
		t.Fatal(err)
	}
	s.mustFail(own, "the user's own credentials once per-device with no device")
	if s.engine.Restarts() != restarts {
		t.Fatal("device changes restarted the core")
	}
}

func TestPerDeviceApplyDiffAndDuplicates(t *testing.T) {
	s := newServer(t, xraytest.TagVLESS)
	u := perDeviceUser(1, "dev", 1, 2)
	s.apply(s.config, u)
	socks2 := s.client(xraytest.TagVLESS, u.DeviceIdentity(2))
	s.mustRoundTrip(socks2, "device 2")
	restarts := s.engine.Restarts()

	// An Apply with device 1 gone removes it in place and keeps device 2.
	v := u
	v.Devices = []int64{2}
	s.apply(s.config, v)
	s.mustFail(s.client(xraytest.TagVLESS, u.DeviceIdentity(1)), "device 1 after an Apply without it")
	s.mustRoundTrip(socks2, "device 2 after an Apply without device 1")
	if s.engine.Restarts() != restarts || s.engine.UserCount() != 1 {
		t.Fatalf("restarts %d->%d, UserCount %d", restarts, s.engine.Restarts(), s.engine.UserCount())
	}
	// The same user again (a new expiry) keeps its identities as they run;
	// a new user UUID derives new ones, and the old device credentials stop.
	v.Expire = 4_000_000_000
	s.apply(s.config, v)
	s.mustRoundTrip(socks2, "device 2 after an Apply with a new expiry")
	w := v
	w.VLESS = xraytest.TestUser(1, "dev").VLESS
	s.apply(s.config, w)
	s.mustFail(socks2, "device 2's old credentials after the user's UUID changed")
	s.mustRoundTrip(s.client(xraytest.TagVLESS, w.DeviceIdentity(2)), "device 2's new credentials")

	// RemoveUsers by the owner's email works after an Apply too.
	s.engine.RemoveUsers([]string{u.Email})
	if s.engine.UserCount() != 0 {
		t.Fatalf("UserCount = %d after RemoveUsers, want 0", s.engine.UserCount())
	}

	// Identities that collide are refused as a whole.
	clash := xraytest.TestUser(9, "x")
	clash.Email = protocol.DeviceEmail(u.Email, 2)
	if _, err := s.engine.Apply(s.config, []protocol.User{v, clash}); !errors.Is(err, xraycore.ErrInvalidUser) {
		t.Fatalf("colliding identity emails: %v, want ErrInvalidUser", err)
	}
}
