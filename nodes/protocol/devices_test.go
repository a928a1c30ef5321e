package protocol

import (
	"crypto/sha256"
	"regexp"
	"testing"
)

func TestDeviceIdentities(t *testing.T) {
	left := int64(5)
	u := User{ID: 7, Email: "7.alice", Excluded: []string{"b", "a"}, Expire: 99, BytesLeft: &left,
		VLESS:       &VLESS{ID: "0b1c2d3e-4f50-4a61-8b72-93a4b5c6d7e8", Flow: "xtls-rprx-vision"},
		VMess:       &VMess{ID: "1b1c2d3e-4f50-4a61-8b72-93a4b5c6d7e8"},
		Trojan:      &Trojan{Password: "pw"},
		Shadowsocks: &Shadowsocks{Password: "sspw", Method: "aes-128-gcm"},
	}
	if ids := u.Identities(); len(ids) != 1 || ids[0].Email != "7.alice" || ids[0].VLESS.ID != u.VLESS.ID {
		t.Fatalf("without per_device the user is its own identity: %+v", ids)
	}
	u.PerDevice = true
	if ids := u.Identities(); len(ids) != 0 {
		t.Fatalf("per_device without devices runs nothing: %+v", ids)
	}
	u.Devices = []int64{3, 12}
	ids := u.Identities()
	if len(ids) != 2 || ids[0].Email != "7.alice#3" || ids[1].Email != "7.alice#12" {
		t.Fatalf("identities: %+v", ids)
	}
	uuidRe := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{u.VLESS.ID: true, u.VMess.ID: true, u.Trojan.Password: true, u.Shadowsocks.Password: true}
	for _, d := range ids {
		if d.ID != 7 || d.Expire != 99 || d.BytesLeft != nil || d.PerDevice || len(d.Devices) != 0 || len(d.Excluded) != 2 {
			t.Fatalf("identity %s carries the wrong user fields: %+v", d.Email, d)
		}
		for _, v := range []string{d.VLESS.ID, d.VMess.ID} {
			if !uuidRe.MatchString(v) {
				t.Fatalf("%q is not a version 4 UUID", v)
			}
		}
		if d.VLESS.Flow != "xtls-rprx-vision" || d.Shadowsocks.Method != "aes-128-gcm" {
			t.Fatalf("flow or method not kept: %+v", d)
		}
		for _, v := range []string{d.VLESS.ID, d.VMess.ID, d.Trojan.Password, d.Shadowsocks.Password} {
			if seen[v] {
				t.Fatalf("credential %q repeats the user's or another device's", v)
			}
			seen[v] = true
		}
	}
	// Derivation is a pure function of the user's credential and the id.
	if again := u.DeviceIdentity(3); again.VLESS.ID != ids[0].VLESS.ID || again.Trojan.Password != ids[0].Trojan.Password {
		t.Fatal("derivation is not deterministic")
	}
	if DeviceUUID("0B1C2D3E-4F50-4A61-8B72-93A4B5C6D7E8", 3) != ids[0].VLESS.ID {
		t.Fatal("a UUID's case changes its devices' UUIDs")
	}
	if OwnerEmail("7.alice#12") != "7.alice" || OwnerEmail("7.alice") != "7.alice" {
		t.Fatal("OwnerEmail")
	}
	if id, ok := DeviceOf("7.alice#12"); !ok || id != 12 {
		t.Fatal("DeviceOf")
	}
	for _, bad := range []string{"7.alice", "7.alice#", "7.alice#x", "7.alice#-1", "7.alice#0"} {
		if _, ok := DeviceOf(bad); ok {
			t.Fatalf("DeviceOf(%q) accepted", bad)
		}
	}
}

func TestValidateDevices(t *testing.T) {
	ok := User{Email: "1.a", PerDevice: true, Devices: []int64{1, 2, 9}}
	if err := ok.ValidateDevices(); err != nil {
		t.Fatal(err)
	}
	many := make([]int64, MaxUserDevices+1)
	for i := range many {
		many[i] = int64(i + 1)
	}
	for name, u := range map[string]User{
		"devices without per_device": {Email: "1.a", Devices: []int64{1}},
		"unsorted":                   {Email: "1.a", PerDevice: true, Devices: []int64{2, 1}},
		"repeated":                   {Email: "1.a", PerDevice: true, Devices: []int64{2, 2}},
		"zero":                       {Email: "1.a", PerDevice: true, Devices: []int64{0}},
		"too many":                   {Email: "1.a", PerDevice: true, Devices: many},
		"separator in email":         {Email: "1.a#2", PerDevice: true, Devices: []int64{1}},
	} {
		if err := u.ValidateDevices(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestDigestUnchangedWithoutDevices(t *testing.T) {
	// States stored before per-device credentials hash the same.
	u := User{ID: 1, Email: "1.a", VLESS: &VLESS{ID: "x"}}
	before := UserDigest(u)
	if want := sha256.Sum256([]byte(`user` + "\x00" + `{"id":1,"email":"1.a","vless":{"id":"x"}}`)); before != want {
		t.Fatal("a user without devices no longer hashes as before per_device existed")
	}
	u.PerDevice, u.Devices = true, []int64{1}
	if UserDigest(u) == before {
		t.Fatal("devices do not change the digest")
	}
}
