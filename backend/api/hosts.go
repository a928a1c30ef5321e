package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/state"
)

// hostRoutes: the hosts share links point at, per inbound (sudo).
func (s *server) hostRoutes() []route {
	return []route{
		{Method: "GET", Path: "/api/hosts", Auth: authSudo, Handler: s.getHosts, Doc: &routeDoc{
			Summary: "Host list of every inbound, keyed by tag; an inbound without its own list shows the default host", Tag: "hosts",
			Response: typeOf[map[string][]state.Host]()}},
		{Method: "PUT", Path: "/api/hosts", Auth: authSudo, Handler: s.putHosts, Doc: &routeDoc{
			Summary: "Replace every host list: a tag with [] gets no links, a tag left out goes back to the default host", Tag: "hosts",
			Body: typeOf[map[string][]state.Host](), Response: typeOf[map[string][]state.Host](), Errors: []int{400, 422}}},
	}
}

// getHosts is GET /api/hosts: every inbound's host list, keyed by tag.
func (s *server) getHosts(c *fiber.Ctx) error {
	hosts, err := s.st.Hosts(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(hosts)
}

// putHosts is PUT /api/hosts: the body replaces every explicit host list.
// A tag given an empty list gets no links; an inbound left out goes back to
// the default host. An unknown tag or any bad field refuses the whole body
// (400) and changes nothing.
func (s *server) putHosts(c *fiber.Ctx) error {
	var body map[string][]state.Host
	if err := decodeJSON(c.Body(), &body); err != nil {
		return err
	}
	if err := s.st.SetHosts(c.UserContext(), body); err != nil {
		return err
	}
	s.sub.svc.DropCachedViews()
	return s.getHosts(c)
}
