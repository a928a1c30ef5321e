package state

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/outpost-panel/outpost/backend/change"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
)

// Device is one device (HWID) registered to a user.
type Device = store.Device

// Bounds of what a client's device headers may put in the registry.
const (
	// MaxHWID bounds x-hwid: longer values are refused as no device at
	// all would send one (Happ sends 16 to 64 characters).
	MaxHWID = 128
	// maxDeviceText bounds x-device-os, x-ver-os and x-device-model.
	maxDeviceText = 64
	// MaxDeviceName bounds the name an admin gives a device.
	MaxDeviceName = 64
	// maxRefusedDevices is how many refused devices a user keeps listed;
	// past it the least recently seen one makes room.
	maxRefusedDevices = 10
)

// DeviceFetch is what one subscription fetch says about its device.
type DeviceFetch struct {
	// HWID is x-hwid; HasHWID is false when the fetch sent none.
	HWID    string
	HasHWID bool
	Info    store.DeviceInfo
}

// NewDeviceFetch reads a fetch's device headers into storable values:
// valid UTF-8 without control characters, each bounded. An x-hwid over
// MaxHWID bytes or with anything but printable ASCII is kept out
// (ok false): the caller refuses the fetch.
func NewDeviceFetch(hwid, os, osVersion, deviceModel, userAgent string) (f DeviceFetch, ok bool) {
	hwid = strings.TrimSpace(hwid)
	if hwid != "" {
		if len(hwid) > MaxHWID {
			return f, false
		}
		for i := 0; i < len(hwid); i++ {
			if hwid[i] < 0x21 || hwid[i] > 0x7e {
				return f, false
			}
		}
		f.HWID, f.HasHWID = strings.Clone(hwid), true
	}
	f.Info = store.DeviceInfo{
		OS:        strings.Clone(cleanText(os, maxDeviceText)),
		OSVersion: strings.Clone(cleanText(osVersion, maxDeviceText)),
		Model:     strings.Clone(cleanText(deviceModel, maxDeviceText)),
		UserAgent: strings.Clone(sanitizeUserAgent(userAgent)),
	}
	return f, true
}

// cleanText is sanitizeUserAgent with another bound, trimmed.
func cleanText(s string, limit int) string {
	s = strings.TrimSpace(sanitizeUserAgent(s))
	for len(s) > limit {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// DeviceLimit is the device limit that applies to u under set: its own,
// or the global default; 0 is unlimited.
func DeviceLimit(u *model.User, set *SubscriptionSettings) int64 {
	if u.HWIDDeviceLimit != nil {
		return *u.HWIDDeviceLimit
	}
	return set.HWIDDeviceLimit
}

type deviceKey struct {
	userID int64
	hwid   string
}

type knownDevice struct {
	id      int64
	expires time.Time
}

// maxKnownDevices bounds the known-device cache like maxCachedViews.
const maxKnownDevices = 1 << 16

func (ss *Subscriptions) forgetDevices() {
	ss.deviceMu.Lock()
	clear(ss.knownDevices)
	ss.deviceMu.Unlock()
}

// errModeMoved: the user's per-device mode changed between the view and
// the registration's lock; the registration runs again in the other way.
var errModeMoved = errors.New("per-device mode changed meanwhile")

// AdmitDevice registers the device of a fetch of view's user and says
// whether it may be served, and as which registered device (id 0: served
// without a device, when the registry of an unlimited user is full). A
// device already holding a slot costs one indexed read (none while
// cached) and a batched write; a new device is registered, or refused
// past the limit, in one transaction that holds the user's devices still,
// so concurrent fetches from new devices never take more slots than the
// limit. When the user is in the credentials-per-device mode, a change
// of its admitted devices is a node change of that transaction, with a
// revision of its own; without the mode it costs no revision.
func (ss *Subscriptions) AdmitDevice(ctx context.Context, view *SubscriptionView, f DeviceFetch) (bool, int64, error) {
	u, set := view.User, view.Settings
	refuseAll := !f.HasHWID && set.HWIDMissing == HWIDMissingRefuse
	key := deviceKey{userID: u.ID, hwid: f.HWID}
	now := ss.st.now().UTC()
	if !refuseAll {
		if id, ok := ss.knownDevice(key); ok {
			ss.recordDevice(id, f.Info, now)
			return true, id, nil
		}
		var d *store.Device
		err := ss.st.store.Read(ctx, func(tx *store.Tx) (err error) { d, err = tx.DeviceByHWID(u.ID, f.HWID); return err })
		switch {
		case err == nil && !d.Refused:
			ss.rememberDevice(key, d.ID)
			ss.recordDevice(d.ID, f.Info, now)
			return true, d.ID, nil
		case err != nil && !errors.Is(err, model.ErrNotFound):
			return false, 0, err
		}
	}
	limit := DeviceLimit(u, set)
	var (
		admitted bool
		id       int64
	)
	// register runs in a transaction that holds the user's devices; it
	// says whether the set of admitted devices changed.
	register := func(tx *store.Tx, perDevice bool) (changed bool, err error) {
		admitted, id = false, 0
		on, err := tx.LockUserDevicesMode(u.ID)
		if err != nil {
			return false, err
		}
		if on != perDevice {
			return false, errModeMoved
		}
		d, err := tx.DeviceByHWID(u.ID, f.HWID)
		if err != nil && !errors.Is(err, model.ErrNotFound) {
			return false, err
		}
		if d != nil && !d.Refused && !refuseAll {
			admitted, id = true, d.ID // registered by a concurrent fetch
			return false, tx.SetDeviceRefused(u.ID, d.ID, false, f.Info, now)
		}
		accept := !refuseAll
		if accept {
			n, err := tx.CountDevices(u.ID)
			if err != nil {
				return false, err
			}
			switch {
			case limit > 0:
				accept = n < limit
			case n >= model.MaxDevices:
				// Unlimited, and the registry is full: serve the device
				// without listing it (in the per-device mode: the
				// placeholder, as it has no credentials of its own).
				admitted = true
				return false, nil
			}
		}
		if d != nil {
			if accept {
				admitted, id = true, d.ID
			}
			return d.Refused == accept, tx.SetDeviceRefused(u.ID, d.ID, !accept, f.Info, now)
		}
		if !accept {
			nr, err := tx.CountRefusedDevices(u.ID)
			if err != nil {
				return false, err
			}
			for ; nr >= maxRefusedDevices; nr-- {
				if err := tx.DropOldestRefusedDevice(u.ID); err != nil {
					return false, err
				}
			}
		}
		nd := &store.Device{UserID: u.ID, HWID: f.HWID, OS: f.Info.OS, OSVersion: f.Info.OSVersion,
			Model: f.Info.Model, UserAgent: f.Info.UserAgent, FirstFetch: now, Refused: !accept}
		if err := tx.InsertDevice(nd); err != nil {
			return false, err
		}
		if accept {
			admitted, id = true, nd.ID
		}
		return accept, nil
	}
	perDevice := u.PerDevice
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if perDevice {
			_, err = ss.st.change(ctx, func(tx *store.Tx, rev int64) (change.Change, error) {
				changed, err := register(tx, true)
				if err != nil || !changed {
					return change.Change{}, err
				}
				return deviceSetChanged(tx, u.ID, rev)
			})
		} else {
			err = ss.st.store.Tx(ctx, func(tx *store.Tx) error { _, err := register(tx, false); return err })
		}
		if !errors.Is(err, errModeMoved) {
			break
		}
		perDevice = !perDevice
	}
	if errors.Is(err, model.ErrNotFound) {
		return false, 0, nil // the user was deleted meanwhile
	}
	if err != nil {
		return false, 0, fmt.Errorf("registering a device of %q: %w", u.Username, err)
	}
	if admitted && id != 0 {
		ss.rememberDevice(key, id)
	}
	return admitted, id, nil
}

// deviceSetChanged is the node change of a user in the per-device mode
// whose admitted devices changed in tx: the user, stamped with rev, as
// nodes now run it (nothing when its status keeps it off nodes).
func deviceSetChanged(tx *store.Tx, userID, rev int64) (change.Change, error) {
	u, err := tx.UserByID(userID)
	if err != nil {
		return change.Change{}, err
	}
	if err := tx.SetUserRevision(userID, rev); err != nil {
		return change.Change{}, err
	}
	if !u.PerDevice || !u.Status.OnNodes() {
		return change.Change{}, nil
	}
	return change.UserUpserted(NodeUser(u)), nil
}

func (ss *Subscriptions) knownDevice(key deviceKey) (int64, bool) {
	if ss.viewTTL <= 0 {
		return 0, false
	}
	ss.deviceMu.RLock()
	kd, ok := ss.knownDevices[key]
	ss.deviceMu.RUnlock()
	if !ok || !ss.wallClock().Before(kd.expires) {
		return 0, false
	}
	return kd.id, true
}

func (ss *Subscriptions) rememberDevice(key deviceKey, id int64) {
	if ss.viewTTL <= 0 {
		return
	}
	ss.deviceMu.Lock()
	if ss.knownDevices == nil || len(ss.knownDevices) >= maxKnownDevices {
		ss.knownDevices = make(map[deviceKey]knownDevice)
	}
	ss.knownDevices[key] = knownDevice{id: id, expires: ss.wallClock().Add(ss.viewTTL)}
	ss.deviceMu.Unlock()
}

// recordDevice queues a fetch of a registered device for the next Flush.
func (ss *Subscriptions) recordDevice(id int64, info store.DeviceInfo, at time.Time) {
	ss.pendingMu.Lock()
	f := ss.pendingDevices[id]
	ss.pendingDevices[id] = store.DeviceFetch{DeviceID: id, At: at, Count: model.SatAdd(f.Count, 1), Info: info}
	ss.pendingMu.Unlock()
}

// userDevicesOf loads a user the admin may see, in tx.
func userDevicesOf(tx *store.Tx, admin *model.Admin, username string) (*model.User, error) {
	u, err := tx.UserByUsername(username)
	if err != nil {
		return nil, fmt.Errorf("loading user %q: %w", username, err)
	}
	if !canSee(admin, u) {
		return nil, fmt.Errorf("user %q: %w", username, model.ErrForbidden)
	}
	return u, nil
}

// UserDevices lists the devices of a user the admin may see, with the
// limit that applies to the user.
func (s *State) UserDevices(ctx context.Context, admin *model.Admin, username string) ([]Device, *model.User, error) {
	var (
		u   *model.User
		out []Device
	)
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		if u, err = userDevicesOf(tx, admin, username); err != nil {
			return err
		}
		out, err = tx.Devices(u.ID)
		return err
	})
	return out, u, err
}

// DevicesOf lists a user's devices by id, for the subscription page.
func (s *State) DevicesOf(ctx context.Context, userID int64) ([]Device, error) {
	var out []Device
	err := s.store.Read(ctx, func(tx *store.Tx) (err error) { out, err = tx.Devices(userID); return err })
	return out, err
}

// RenameDevice names a device of a user the admin may see.
func (s *State) RenameDevice(ctx context.Context, admin *model.Admin, username string, id int64, name string) (*Device, error) {
	name = strings.TrimSpace(name)
	if utf8.RuneCountInString(name) > MaxDeviceName {
		return nil, invalid("name: at most %d characters", MaxDeviceName)
	}
	if err := model.CheckText("name", name); err != nil {
		return nil, err
	}
	var d *Device
	err := s.store.Tx(ctx, func(tx *store.Tx) error {
		u, err := userDevicesOf(tx, admin, username)
		if err != nil {
			return err
		}
		before, err := deviceAuditOf(tx, u.ID, id)
		if err != nil {
			return err
		}
		if err := tx.RenameDevice(u.ID, id, name); err != nil {
			return err
		}
		all, err := tx.Devices(u.ID)
		if err != nil {
			return err
		}
		for i := range all {
			if all[i].ID == id {
				d = &all[i]
			}
		}
		if d == nil {
			return nil
		}
		return auditRow(tx, "user.device.rename", deviceTarget(u.Username, id), u.AdminID, before, deviceAudit(d))
	})
	return d, err
}

// deviceAuditOf is a user's device as its audit entry shows it, nil when
// the user has no device of that id.
func deviceAuditOf(tx *store.Tx, userID, id int64) (map[string]any, error) {
	all, err := tx.Devices(userID)
	if err != nil {
		return nil, err
	}
	for i := range all {
		if all[i].ID == id {
			return deviceAudit(&all[i]), nil
		}
	}
	return nil, nil
}

// deviceTarget is a device's audit target.
func deviceTarget(username string, id int64) string {
	return fmt.Sprintf("/api/user/%s/devices/%d", username, id)
}

// deviceAudit is a device as its audit entries show it: the hwid cut to
// its first 8 characters (enough to tell devices apart, not to pose as one).
func deviceAudit(d *Device) map[string]any {
	if d == nil {
		return nil
	}
	hwid := d.HWID
	if len(hwid) > 8 {
		hwid = hwid[:8] + "…"
	}
	return map[string]any{
		"id": d.ID, "name": d.Name, "hwid": hwid, "os": d.OS, "os_version": d.OSVersion,
		"model": d.Model, "refused": d.Refused,
	}
}

// RemoveDevice removes a device of a user the admin may see; its slot is
// free for the next new device at once on this replica (the known-device
// cache is dropped) and within DefaultLookupTTL on others.
//
// In the credentials-per-device mode the device's identity leaves the
// nodes with the same revision: new connections with its credentials are
// refused from then on.
func (s *State) RemoveDevice(ctx context.Context, admin *model.Admin, username string, id int64, subs *Subscriptions) error {
	_, err := s.change(ctx, func(tx *store.Tx, rev int64) (change.Change, error) {
		u, err := userDevicesOf(tx, admin, username)
		if err != nil {
			return change.Change{}, err
		}
		before, err := deviceAuditOf(tx, u.ID, id)
		if err != nil {
			return change.Change{}, err
		}
		wasAdmitted := slices.Contains(u.DeviceIDs, id)
		if err := tx.DeleteDevice(u.ID, id); err != nil {
			return change.Change{}, err
		}
		if err := auditRow(tx, "user.device.remove", deviceTarget(u.Username, id), u.AdminID, before, nil); err != nil {
			return change.Change{}, err
		}
		if !u.PerDevice || !wasAdmitted {
			return change.Change{}, nil
		}
		return deviceSetChanged(tx, u.ID, rev)
	})
	if err == nil && subs != nil {
		subs.forgetDevices()
	}
	return err
}

// DeviceUser is u as its device id is served in the credentials-per-device
// mode: u with the device's credentials, derived the one way nodes derive
// them (protocol.User.DeviceIdentity), everything else u's. The copy
// shares nothing mutable with u.
func DeviceUser(u *model.User, id int64) *model.User {
	nu := NodeUser(u)
	d := nu.DeviceIdentity(id)
	du := *u
	du.Proxies = make(map[string]model.ProxySettings, len(u.Proxies))
	for proto, p := range u.Proxies {
		switch {
		case proto == model.ProtoVLESS && d.VLESS != nil:
			p.ID = d.VLESS.ID
		case proto == model.ProtoVMess && d.VMess != nil:
			p.ID = d.VMess.ID
		case proto == model.ProtoTrojan && d.Trojan != nil:
			p.Password = d.Trojan.Password
		case proto == model.ProtoShadowsocks && d.Shadowsocks != nil:
			p.Password = d.Shadowsocks.Password
		}
		du.Proxies[proto] = p
	}
	return &du
}

// DeviceCredential is what an admin matches a leaked link against: the
// device's VLESS UUID, else its VMess UUID, else "" (Trojan and
// Shadowsocks passwords are secrets of the same kind as the user's and
// are not shown).
func DeviceCredential(u *model.User, id int64) string {
	du := DeviceUser(u, id)
	for _, proto := range []string{model.ProtoVLESS, model.ProtoVMess} {
		if p, ok := du.Proxies[proto]; ok && p.ID != "" {
			return p.ID
		}
	}
	return ""
}
