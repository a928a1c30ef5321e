package api

// The panel itself: liveness and host and user statistics. The figures of
// the host come from sysinfo.go.

import (
	"runtime"

	"github.com/gofiber/fiber/v2"
)

// systemRoutes: liveness and the panel's statistics.
func (s *server) systemRoutes() []route {
	return []route{
		{Method: "GET", Path: "/healthz", Auth: authPublic, Handler: healthz, Doc: &routeDoc{
			Summary: "Liveness probe", Tag: "system", Response: typeOf[healthResponse]()}},
		{Method: "GET", Path: "/api/system", Auth: authAdmin, Handler: s.systemStats, Doc: &routeDoc{
			Summary: "Panel host and user statistics (a regular admin's counts cover its own users); online means seen in the last 2 minutes", Tag: "system",
			Response: typeOf[systemResponse]()}},
	}
}

type healthResponse struct {
	Status string `json:"status"`
}

func healthz(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) }

// systemResponse is Marzban's SystemStats. Bandwidth is bytes through every
// node ever recorded (node traffic belongs to no admin).
type systemResponse struct {
	Version                string  `json:"version"`
	MemTotal               uint64  `json:"mem_total"`
	MemUsed                uint64  `json:"mem_used"`
	CPUCores               int     `json:"cpu_cores"`
	CPUUsage               float64 `json:"cpu_usage"`
	TotalUser              int     `json:"total_user"`
	OnlineUsers            int     `json:"online_users"`
	UsersActive            int     `json:"users_active"`
	UsersOnHold            int     `json:"users_on_hold"`
	UsersDisabled          int     `json:"users_disabled"`
	UsersExpired           int     `json:"users_expired"`
	UsersLimited           int     `json:"users_limited"`
	IncomingBandwidth      int64   `json:"incoming_bandwidth"`
	OutgoingBandwidth      int64   `json:"outgoing_bandwidth"`
	IncomingBandwidthSpeed int64   `json:"incoming_bandwidth_speed"`
	OutgoingBandwidthSpeed int64   `json:"outgoing_bandwidth_speed"`
}

func (s *server) systemStats(c *fiber.Ctx) error {
	counts, err := s.st.SystemCounts(c.UserContext(), adminOf(c))
	if err != nil {
		return err
	}
	memTotal, memUsed := readMemInfo()
	version := s.opts.Version
	if version == "" {
		version = apiDocVersion
	}
	return c.JSON(systemResponse{
		Version:  version,
		MemTotal: memTotal, MemUsed: memUsed,
		CPUCores: runtime.NumCPU(), CPUUsage: cpuUsage.sample(),
		TotalUser: counts.Total, OnlineUsers: counts.Online,
		UsersActive: counts.Active, UsersOnHold: counts.OnHold, UsersDisabled: counts.Disabled,
		UsersExpired: counts.Expired, UsersLimited: counts.Limited,
		// Marzban's incoming is what users sent (uplink), outgoing what
		// they received (downlink).
		IncomingBandwidth: counts.Uplink, OutgoingBandwidth: counts.Downlink,
		// Marzban reports the panel host's own NIC rate here, which in
		// Outpost carries no user traffic (nodes do): always 0.
		IncomingBandwidthSpeed: 0, OutgoingBandwidthSpeed: 0,
	})
}
