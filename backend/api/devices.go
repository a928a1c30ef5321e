package api

import (
	"fmt"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
)

// deviceRoutes: the HWID device registry of a user (Outpost). Every
// device that fetched the user's subscription with x-hwid (and the one
// "unknown device" of fetches without it) is listed; removing one frees
// its slot under the device limit.
func (s *server) deviceRoutes() []route {
	return []route{
		{Method: "GET", Path: "/api/user/:username/devices", Auth: authAdmin, Handler: s.listDevices, Doc: &routeDoc{
			Summary: "The user's devices (HWIDs that fetched its subscription) and the device limit that applies (Outpost)", Tag: "user",
			Response: typeOf[devicesResponse](), Errors: []int{403, 404}}},
		{Method: "PUT", Path: "/api/user/:username/devices/:id", Auth: authAdmin, Handler: s.renameDevice, Doc: &routeDoc{
			Summary: "Rename one of the user's devices (Outpost)", Tag: "user",
			Body: typeOf[deviceRenameBody](), Response: typeOf[deviceJSON](), Errors: []int{403, 404, 422}}},
		{Method: "DELETE", Path: "/api/user/:username/devices/:id", Auth: authAdmin, Handler: s.removeDevice, Doc: &routeDoc{
			Summary: "Remove one of the user's devices, freeing its slot under the device limit (Outpost)", Tag: "user",
			Response: typeOf[emptyObject](), Errors: []int{403, 404, 422}}},
	}
}

var deviceTexts = map[error]string{
	model.ErrNotFound:  "Device not found",
	model.ErrForbidden: "You're not allowed",
}

// deviceJSON is one registered device.
type deviceJSON struct {
	ID   int64  `json:"id"`
	HWID string `json:"hwid"` // "" for the "unknown device" (fetches without x-hwid)
	// Name is the admin's name for it; "" when none was given.
	Name       string   `json:"name"`
	OS         string   `json:"os"`
	OSVersion  string   `json:"os_version"`
	Model      string   `json:"model"`
	UserAgent  string   `json:"user_agent"`
	FirstSeen  wireTime `json:"first_seen"`
	LastSeen   wireTime `json:"last_seen"`
	FetchCount int64    `json:"fetch_count"`
	// Refused: the device came past the limit and got the placeholder; it
	// holds no slot and is admitted when one frees up.
	Refused bool `json:"refused"`
	// UsedTraffic is what the device's own identity moved (bytes) since
	// the user's last usage reset: counted in the credentials-per-device
	// mode only.
	UsedTraffic int64 `json:"used_traffic"`
	// Credential is the device's own VLESS UUID (else VMess UUID, else "")
	// while the user is in the credentials-per-device mode, "" otherwise:
	// the id in a leaked link names the device it was served to.
	Credential string `json:"credential"`
}

type devicesResponse struct {
	// Limit is the device limit that applies: the user's own, else the
	// global default; 0 is unlimited.
	Limit int64 `json:"limit"`
	// OwnLimit is the user's own hwid_device_limit (null: the default).
	OwnLimit *int64 `json:"own_limit"`
	// PerDevice is the user's effective credentials-per-device mode (the
	// user's per_device_active).
	PerDevice bool         `json:"per_device"`
	Devices   []deviceJSON `json:"devices"`
}

type deviceRenameBody struct {
	Name string `json:"name"`
}

func deviceOut(d *state.Device) deviceJSON {
	return deviceJSON{ID: d.ID, HWID: d.HWID, Name: d.Name, OS: d.OS, OSVersion: d.OSVersion, Model: d.Model,
		UserAgent: d.UserAgent, FirstSeen: wireTime{d.FirstFetch}, LastSeen: wireTime{d.LastFetch},
		FetchCount: d.FetchCount, Refused: d.Refused, UsedTraffic: d.UsedTraffic}
}

// deviceID reads {id}: a positive integer, else 422.
func deviceID(c *fiber.Ctx) (int64, error) {
	raw := c.Params("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return 0, schemaErrorf("id: expected a positive integer, got %q", truncate(raw, 20))
	}
	return id, nil
}

func (s *server) listDevices(c *fiber.Ctx) error {
	devices, u, err := s.st.UserDevices(c.UserContext(), adminOf(c), pathUsername(c))
	if err != nil {
		return describe(err, userTexts)
	}
	set, err := s.st.SubscriptionSettings(c.UserContext())
	if err != nil {
		return err
	}
	resp := devicesResponse{Limit: state.DeviceLimit(u, &set), OwnLimit: u.HWIDDeviceLimit, PerDevice: u.PerDevice,
		Devices: make([]deviceJSON, 0, len(devices))}
	for i := range devices {
		d := deviceOut(&devices[i])
		if u.PerDevice {
			d.Credential = state.DeviceCredential(u, devices[i].ID)
		}
		resp.Devices = append(resp.Devices, d)
	}
	return c.JSON(resp)
}

func (s *server) renameDevice(c *fiber.Ctx) error {
	id, err := deviceID(c)
	if err != nil {
		return err
	}
	var body deviceRenameBody
	if err := decodeJSON(c.Body(), &body); err != nil {
		return err
	}
	d, err := s.st.RenameDevice(c.UserContext(), adminOf(c), pathUsername(c), id, body.Name)
	if err != nil {
		return describe(asFieldError(err), deviceTexts)
	}
	if d == nil {
		return describe(fmt.Errorf("device %d: %w", id, model.ErrNotFound), deviceTexts)
	}
	out := deviceOut(d)
	if u, err := s.st.User(c.UserContext(), adminOf(c), pathUsername(c)); err == nil && u.PerDevice {
		out.Credential = state.DeviceCredential(u, d.ID) // as the list shows it
	}
	return c.JSON(out)
}

func (s *server) removeDevice(c *fiber.Ctx) error {
	id, err := deviceID(c)
	if err != nil {
		return err
	}
	if err := s.st.RemoveDevice(c.UserContext(), adminOf(c), pathUsername(c), id, s.sub.svc); err != nil {
		return describe(err, deviceTexts)
	}
	s.log.Info("device removed", "username", pathUsername(c), "device", id, "admin", adminOf(c).Username)
	return c.JSON(emptyObject{})
}
