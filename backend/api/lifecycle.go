package api

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
)

// Handlers of the user lifecycle routes (routes_lifecycle.go): Marzban's
// paths, parameters and JSON.

// defaultUsageWindow is Marzban's range when start is not given.
const defaultUsageWindow = 30 * 24 * time.Hour

var errBadDates = &publicError{err: fmt.Errorf("%w: bad date range", model.ErrInvalid), detail: "Invalid date range or format"}

// dateRange reads two optional ISO 8601 date-time query parameters the way
// Marzban does: a missing start is 30 days ago, a missing end is now; a
// date without a zone is UTC. An unparsable value or an end before the
// start is 400.
func (s *server) dateRange(c *fiber.Ctx, startName, endName string) (start, end time.Time, err error) {
	if err := checkQuery(c); err != nil {
		return time.Time{}, time.Time{}, err
	}
	now := s.now().UTC()
	start, end = now.Add(-defaultUsageWindow), now
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{startName, &start}, {endName, &end}} {
		raw := strings.TrimSpace(c.Query(p.name))
		if raw == "" {
			continue
		}
		t, ok := parseQueryTime(raw)
		if !ok {
			return time.Time{}, time.Time{}, errBadDates
		}
		*p.dst = t
	}
	if end.Before(start) {
		return time.Time{}, time.Time{}, errBadDates
	}
	return start, end, nil
}

func parseQueryTime(raw string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999",
		"2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, raw); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

var nextPlanTexts = map[error]string{
	state.ErrNoNextPlan: "User doesn't have next plan",
	model.ErrNotFound:   "User not found",
	model.ErrForbidden:  "You're not allowed",
}

func (s *server) resetUserUsage(c *fiber.Ctx) error {
	u, err := s.st.ResetUserUsage(c.UserContext(), adminOf(c), pathUsername(c))
	if err != nil {
		return describe(err, userTexts)
	}
	s.log.Info("user usage reset", "username", u.Username, "admin", adminOf(c).Username)
	return s.respondUser(c, u)
}

func (s *server) revokeSubscription(c *fiber.Ctx) error {
	u, err := s.st.RevokeSubscription(c.UserContext(), adminOf(c), pathUsername(c))
	if err != nil {
		return describe(err, userTexts)
	}
	s.log.Info("user subscription revoked", "username", u.Username, "admin", adminOf(c).Username)
	return s.respondUser(c, u)
}

func (s *server) activateNextPlan(c *fiber.Ctx) error {
	u, err := s.st.ActivateNextPlan(c.UserContext(), adminOf(c), pathUsername(c))
	if err != nil {
		if errors.Is(err, state.ErrNoNextPlan) {
			return &publicError{err: err, detail: nextPlanTexts[state.ErrNoNextPlan]}
		}
		return describe(err, userTexts)
	}
	s.log.Info("user next plan applied", "username", u.Username, "admin", adminOf(c).Username)
	return s.respondUser(c, u)
}

func (s *server) setOwner(c *fiber.Ctx) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	name := c.Query("admin_username")
	if name == "" {
		return schemaErrorf("admin_username: required")
	}
	if _, err := s.st.AdminByUsername(c.UserContext(), name); err != nil {
		return describe(fmt.Errorf("admin %q: %w", name, err), map[error]string{model.ErrNotFound: "Admin not found"})
	}
	u, err := s.st.SetOwner(c.UserContext(), pathUsername(c), name)
	if err != nil {
		return describe(err, userTexts)
	}
	s.log.Info("user owner set", "username", u.Username, "owner", name, "admin", adminOf(c).Username)
	return s.respondUser(c, u)
}

func (s *server) resetAllUsage(c *fiber.Ctx) error {
	n, err := s.st.ResetAllUsage(c.UserContext(), adminOf(c))
	if err != nil {
		return err
	}
	s.log.Info("all users' usage reset", "users", n, "admin", adminOf(c).Username)
	return c.JSON(fiber.Map{})
}

// nodeUsage is Marzban's UserUsageResponse: bytes through one node.
type nodeUsage struct {
	NodeID      *int64 `json:"node_id"`
	NodeName    string `json:"node_name"`
	UsedTraffic int64  `json:"used_traffic"`
}

func nodeUsageJSON(in []state.NodeUsage) []nodeUsage {
	out := make([]nodeUsage, 0, len(in))
	for _, u := range in {
		id := u.NodeID
		out = append(out, nodeUsage{NodeID: &id, NodeName: u.NodeName, UsedTraffic: u.Used})
	}
	return out
}

// userUsageResponse is Marzban's UserUsagesResponse.
type userUsageResponse struct {
	Username string      `json:"username"`
	Usages   []nodeUsage `json:"usages"`
}

// usersUsageResponse is Marzban's UsersUsagesResponse.
type usersUsageResponse struct {
	Usages []nodeUsage `json:"usages"`
}

func (s *server) userUsage(c *fiber.Ctx) error {
	start, end, err := s.dateRange(c, "start", "end")
	if err != nil {
		return err
	}
	u, usages, err := s.st.UserUsage(c.UserContext(), adminOf(c), pathUsername(c), start, end)
	if err != nil {
		return describe(err, userTexts)
	}
	return c.JSON(userUsageResponse{Username: u.Username, Usages: nodeUsageJSON(usages)})
}

// dayUsage is one UTC day of a user's traffic (an Outpost extension).
type dayUsage struct {
	Date        string `json:"date"` // YYYY-MM-DD, UTC
	UsedTraffic int64  `json:"used_traffic"`
}

type userDailyUsageResponse struct {
	Username string     `json:"username"`
	Days     []dayUsage `json:"days"`
}

// userUsageDaily is GET /api/user/{username}/usage/daily: the user's
// traffic over every node per UTC day, days without traffic left out.
func (s *server) userUsageDaily(c *fiber.Ctx) error {
	start, end, err := s.dateRange(c, "start", "end")
	if err != nil {
		return err
	}
	u, days, err := s.st.UserUsageDaily(c.UserContext(), adminOf(c), pathUsername(c), start, end)
	if err != nil {
		return describe(err, userTexts)
	}
	out := userDailyUsageResponse{Username: u.Username, Days: make([]dayUsage, 0, len(days))}
	for _, d := range days {
		out.Days = append(out.Days, dayUsage{Date: time.Unix(d.Day, 0).UTC().Format("2006-01-02"), UsedTraffic: d.Used})
	}
	return c.JSON(out)
}

func (s *server) usersUsage(c *fiber.Ctx) error {
	start, end, err := s.dateRange(c, "start", "end")
	if err != nil {
		return err
	}
	var admins []string
	for _, v := range c.Context().QueryArgs().PeekMulti("admin") {
		if len(v) > 0 {
			admins = append(admins, string(v))
		}
	}
	if len(admins) > maxFilterValues {
		return fmt.Errorf("%w: admin: at most %d values", model.ErrInvalid, maxFilterValues)
	}
	usages, err := s.st.UsersUsage(c.UserContext(), adminOf(c), admins, start, end)
	if err != nil {
		return err
	}
	return c.JSON(usersUsageResponse{Usages: nodeUsageJSON(usages)})
}

func (s *server) expiredUsers(c *fiber.Ctx) error {
	after, before, err := s.dateRange(c, "expired_after", "expired_before")
	if err != nil {
		return err
	}
	names, err := s.st.ExpiredUsers(c.UserContext(), adminOf(c), after, before)
	if err != nil {
		return err
	}
	return c.JSON(names)
}

func (s *server) deleteExpiredUsers(c *fiber.Ctx) error {
	after, before, err := s.dateRange(c, "expired_after", "expired_before")
	if err != nil {
		return err
	}
	names, err := s.st.DeleteExpiredUsers(c.UserContext(), adminOf(c), after, before)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		// Marzban answers 404 when the range holds no expired user.
		return &publicError{err: fmt.Errorf("no expired users: %w", model.ErrNotFound),
			detail: "No expired users found in the specified date range"}
	}
	s.log.Info("expired users deleted", "count", len(names), "admin", adminOf(c).Username)
	return c.JSON(names)
}
