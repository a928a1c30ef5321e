package protocol

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Credentials per device.
//
// A user with PerDevice set is not installed in Xray under its own
// credentials. Instead each device in Devices becomes an Xray identity of
// its own: its email is DeviceEmail(user email, device id) and its
// credentials are derived from the user's (DeviceIdentity), so the panel
// sends a device as one integer and both sides compute the same UUIDs and
// passwords. Traffic is reported per identity; expiry and bytes_left stay
// the user's, enforced over the sum of its identities (OwnerEmail).

// DeviceSep separates a user's email from a device id in an identity's
// email: "<id>.<username>#<device id>". User emails never contain it.
const DeviceSep = "#"

// MaxUserDevices bounds the devices of one user on the wire (the panel's
// device registry holds at most as many).
const MaxUserDevices = 256

// DeviceEmail is the Xray email of a user's device identity.
func DeviceEmail(userEmail string, deviceID int64) string {
	return userEmail + DeviceSep + strconv.FormatInt(deviceID, 10)
}

// OwnerEmail is the user email an identity email belongs to: itself for a
// user's own identity, the part before DeviceSep for a device's.
func OwnerEmail(email string) string {
	if i := strings.LastIndex(email, DeviceSep); i >= 0 {
		return email[:i]
	}
	return email
}

// DeviceOf reads the device id out of an identity email; ok is false for a
// user's own identity or a malformed suffix.
func DeviceOf(email string) (id int64, ok bool) {
	i := strings.LastIndex(email, DeviceSep)
	if i < 0 {
		return 0, false
	}
	id, err := strconv.ParseInt(email[i+len(DeviceSep):], 10, 64)
	return id, err == nil && id > 0
}

// Identities is what Xray runs for u: u itself, or with PerDevice one
// identity per device (none for a user without devices yet).
func (u *User) Identities() []User {
	if !u.PerDevice {
		return []User{*u}
	}
	out := make([]User, 0, len(u.Devices))
	for _, id := range u.Devices {
		out = append(out, u.DeviceIdentity(id))
	}
	return out
}

// DeviceIdentity is device id of u as Xray sees it: the user's expiry and
// exclusions, its own email and credentials derived from the user's.
// PerDevice, Devices and BytesLeft stay with the user (the node enforces
// them over all the user's identities).
func (u *User) DeviceIdentity(id int64) User {
	d := User{ID: u.ID, Email: DeviceEmail(u.Email, id), Excluded: u.Excluded, Expire: u.Expire}
	if u.VLESS != nil {
		d.VLESS = &VLESS{ID: DeviceUUID(u.VLESS.ID, id), Flow: u.VLESS.Flow}
	}
	if u.VMess != nil {
		d.VMess = &VMess{ID: DeviceUUID(u.VMess.ID, id)}
	}
	if u.Trojan != nil {
		d.Trojan = &Trojan{Password: DevicePassword("trojan", u.Trojan.Password, id)}
	}
	if u.Shadowsocks != nil {
		d.Shadowsocks = &Shadowsocks{Password: DevicePassword("shadowsocks", u.Shadowsocks.Password, id), Method: u.Shadowsocks.Method}
	}
	return d
}

func deviceMAC(secret, kind string, id int64) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "outpost-device\x00%s\x00%d", kind, id)
	return m.Sum(nil)
}

// DeviceUUID derives device id's UUID (VLESS, VMess) from the user's: an
// HMAC-SHA-256 keyed by the user's UUID, shaped as a version 4 UUID. Without
// the user's UUID nobody can compute it, and one device's UUID says
// nothing about another's.
func DeviceUUID(userUUID string, id int64) string {
	b := deviceMAC(strings.ToLower(userUUID), "uuid", id)[:16]
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// DevicePassword derives device id's Trojan or Shadowsocks password from the
// user's. A Shadowsocks password is 32 random-looking bytes in standard
// base64, which Shadowsocks 2022 inbounds of 32-byte methods take as the key
// itself and 16-byte ones stretch (see the node's SS2022UserKey); a Trojan
// password is 32 hex characters.
func DevicePassword(kind, userPassword string, id int64) string {
	mac := deviceMAC(userPassword, kind, id)
	if kind == "shadowsocks" {
		return base64.StdEncoding.EncodeToString(mac[:32])
	}
	return hex.EncodeToString(mac[:16])
}

// ValidateDevices checks a user's device list: only with PerDevice, at most
// MaxUserDevices, positive ids in ascending order without repeats (the order
// the state hash depends on).
func (u *User) ValidateDevices() error {
	if !u.PerDevice {
		if len(u.Devices) > 0 {
			return invalid("user %q lists devices without per_device", u.Email)
		}
		return nil
	}
	if strings.Contains(u.Email, DeviceSep) {
		return invalid("user email %q contains %q", u.Email, DeviceSep)
	}
	if len(u.Devices) > MaxUserDevices {
		return invalid("user %q has %d devices, more than %d", u.Email, len(u.Devices), MaxUserDevices)
	}
	var last int64
	for _, id := range u.Devices {
		if id <= last {
			return invalid("user %q: device ids must be positive and ascending", u.Email)
		}
		last = id
	}
	return nil
}
