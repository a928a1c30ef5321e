package api

import (
	"fmt"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/model"
)

// The users list filters of the dashboard, on GET /api/users besides
// Marzban's: expiring_within_days=N (users that expire after now and
// within N days), on_hold=true (status on_hold) and
// data_left_below_percent=N (users with a data limit that have less than
// N% of it left, those over it included). The user directory serves them
// with the rest of the list, without a query per user.

const maxExpiringDays = 36500

func (s *server) dashboardUserFilters(c *fiber.Ctx, f *model.UserFilter) error {
	args := c.Context().QueryArgs()
	intArg := func(name string, lo, hi int) (int, bool, error) {
		raw := string(args.Peek(name))
		if raw == "" {
			return 0, false, nil
		}
		n, err := strconv.Atoi(raw)
		if err != nil {
			return 0, false, schemaErrorf("%s: expected an integer, got %q", name, truncate(raw, 20))
		}
		if n < lo || n > hi {
			return 0, false, fmt.Errorf("%w: %s: must be between %d and %d", model.ErrInvalid, name, lo, hi)
		}
		return n, true, nil
	}
	days, ok, err := intArg("expiring_within_days", 1, maxExpiringDays)
	if err != nil {
		return err
	}
	if ok {
		now := s.now().Unix()
		f.ExpireAfter, f.ExpireBefore = now, now+int64(days)*86400
	}
	if f.DataLeftBelowPercent, _, err = intArg("data_left_below_percent", 1, 100); err != nil {
		return err
	}
	switch raw := string(args.Peek("on_hold")); raw {
	case "", "false":
	case "true":
		if f.Status != "" && f.Status != model.StatusOnHold {
			return fmt.Errorf("%w: on_hold=true contradicts status=%s", model.ErrInvalid, f.Status)
		}
		f.Status = model.StatusOnHold
	default:
		return schemaErrorf("on_hold: expected true or false, got %q", truncate(raw, 20))
	}
	return nil
}

// usersFilterQuery documents the filters dashboardUserFilters reads.
var usersFilterQuery = []queryParam{
	{Name: "expiring_within_days", Type: "integer", Description: "only users that expire after now and within this many days (1 to 36500)"},
	{Name: "on_hold", Type: "boolean", Description: "true: only on_hold users (as status=on_hold)"},
	{Name: "data_left_below_percent", Type: "integer", Description: "only users with a data limit that have less than this share of it left, users over it included (1 to 100)"},
}
