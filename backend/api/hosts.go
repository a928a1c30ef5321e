package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/state"
)

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
