package xraycore_test

import (
	"net"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/nodes/protocol"
	"github.com/outpost-panel/outpost/nodes/xraycore/xraytest"
)

// connCut reports whether c was closed by the server: an echo fails.
func connCut(c net.Conn) bool {
	return xraytest.Echo(c, []byte("still there?")) != nil
}

// TestRemovalCutsOpenConnections: removing an identity closes the
// connections it already has open, on every protocol's inbound, and only
// its own: a removed device is cut while its sibling device and another
// user stream on.
func TestRemovalCutsOpenConnections(t *testing.T) {
	tags := []string{xraytest.TagVLESS, xraytest.TagVMess, xraytest.TagTrojan, xraytest.TagSS}
	s := newServer(t, tags...)
	u := perDeviceUser(1, "dev", 1, 2)
	other := xraytest.TestUser(2, "plain")
	s.apply(s.config, u, other)
	dev1, dev2 := u.DeviceIdentity(1), u.DeviceIdentity(2)

	type open struct {
		what string
		conn net.Conn
	}
	var cut, kept []open
	for _, tag := range tags {
		cut = append(cut, open{tag + " device 1", s.open(s.client(tag, dev1))})
		kept = append(kept, open{tag + " device 2", s.open(s.client(tag, dev2))})
		kept = append(kept, open{tag + " another user", s.open(s.client(tag, other))})
	}

	// Device 1 dropped (an upsert with a shorter list).
	shrunk := perDeviceUser(1, "dev", 2)
	shrunk.VLESS, shrunk.VMess, shrunk.Trojan, shrunk.Shadowsocks = u.VLESS, u.VMess, u.Trojan, u.Shadowsocks
	if err := s.engine.UpsertUsers([]protocol.User{shrunk}); err != nil {
		t.Fatal(err)
	}
	for _, o := range cut {
		if !connCut(o.conn) {
			t.Errorf("%s: the open connection runs on after the device was removed", o.what)
		}
	}
	for _, o := range kept {
		if connCut(o.conn) {
			t.Errorf("%s: cut, but it was not removed", o.what)
		}
	}

	// The whole user removed: device 2's connections end too; the other
	// user's stay.
	s.engine.RemoveUsers([]string{u.Email})
	for _, o := range kept {
		if got, want := connCut(o.conn), o.what[len(o.what)-len("device 2"):] == "device 2"; got != want {
			t.Errorf("%s: cut = %v after removing user 1, want %v", o.what, got, want)
		}
	}

	// A user whose credentials change is cut too (what authenticated with
	// the old ones ends), and reconnects with the new ones.
	c := s.open(s.client(xraytest.TagVLESS, other))
	changed := xraytest.TestUser(2, "plain")
	changed.Email = other.Email
	if err := s.engine.UpsertUsers([]protocol.User{changed}); err != nil {
		t.Fatal(err)
	}
	if !connCut(c) {
		t.Error("a connection with old credentials runs on after they changed")
	}
	s.mustRoundTrip(s.client(xraytest.TagVLESS, changed), "the new credentials")

	// An upsert that changes nothing Xray sees cuts nothing.
	c = s.open(s.client(xraytest.TagVLESS, changed))
	left := int64(1 << 30)
	changed.BytesLeft, changed.Expire = &left, time.Now().Add(time.Hour).Unix()
	if err := s.engine.UpsertUsers([]protocol.User{changed}); err != nil {
		t.Fatal(err)
	}
	if connCut(c) {
		t.Error("an upsert that changed only limits cut the connection")
	}
}
