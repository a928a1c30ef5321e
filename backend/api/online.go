package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/state"
)

// Who is online from where, and the IP limit's settings (issue 14):
// GET /api/user/{username}/ips (the user's owner or a sudo admin) and
// GET|PUT /api/users/ip_limit (sudo).

// userIP is one address the user was seen from.
type userIP struct {
	IP string `json:"ip"`
	// NodeID and Node name the node that saw the address last (Node is
	// empty once that node was deleted).
	NodeID    int64    `json:"node_id"`
	Node      string   `json:"node"`
	FirstSeen wireTime `json:"first_seen"`
	LastSeen  wireTime `json:"last_seen"`
}

// userIPsResponse lists the distinct addresses of the last 24 hours,
// newest first, at most 64.
type userIPsResponse struct {
	Username string   `json:"username"`
	IPs      []userIP `json:"ips"`
}

func (s *server) onlineRoutes() []route {
	return []route{
		{Method: "GET", Path: "/api/user/:username/ips", Auth: authAdmin, Handler: s.userIPs, Doc: &routeDoc{
			Summary: "The source addresses the user connected from in the last 24 hours (at most 64, newest first), each with the node that saw it last (Outpost)",
			Tag:     "user", Response: typeOf[userIPsResponse](), Errors: []int{404}}},
		{Method: "GET", Path: "/api/users/ip_limit", Auth: authSudo, Handler: s.getIPLimitSettings, Doc: &routeDoc{
			Summary: "IP limit settings: the default limit, the grace window and the action (Outpost)", Tag: "user",
			Response: typeOf[state.IPLimitSettings]()}},
		{Method: "PUT", Path: "/api/users/ip_limit", Auth: authSudo, Handler: s.putIPLimitSettings, Doc: &routeDoc{
			Summary: "Change the IP limit settings; fields left out keep their values (Outpost)", Tag: "user",
			Body: typeOf[state.IPLimitSettings](), Response: typeOf[state.IPLimitSettings](), Errors: []int{400, 422}}},
	}
}

func (s *server) userIPs(c *fiber.Ctx) error {
	name := pathUsername(c)
	ips, err := s.st.UserIPs(c.UserContext(), adminOf(c), name)
	if err != nil {
		return describe(err, userTexts)
	}
	out := userIPsResponse{Username: name, IPs: make([]userIP, len(ips))}
	for i, ip := range ips {
		out.IPs[i] = userIP{IP: ip.IP, NodeID: ip.NodeID, Node: ip.NodeName, FirstSeen: wireTime{ip.FirstSeen}, LastSeen: wireTime{ip.LastSeen}}
	}
	return c.JSON(out)
}

func (s *server) getIPLimitSettings(c *fiber.Ctx) error {
	set, err := s.st.IPLimitSettings(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(set)
}

func (s *server) putIPLimitSettings(c *fiber.Ctx) error {
	set, err := s.st.IPLimitSettings(c.UserContext())
	if err != nil {
		return err
	}
	if err := decodeJSON(c.Body(), &set); err != nil {
		return err
	}
	if err := s.st.SetIPLimitSettings(c.UserContext(), set); err != nil {
		return err
	}
	return c.JSON(set)
}
