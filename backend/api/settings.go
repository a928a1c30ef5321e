package api

import (
	"encoding/json"
	"fmt"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/model"
)

// POST /api/subscription/settings/test (sudo): which format a User-Agent
// gets, by the stored rules or by rules being edited (sent along, not
// saved), so the dashboard's rule editor can show the effect of a rule
// before anyone's client sees it. The settings themselves are GET|PUT
// /api/subscription/settings (hosts.go).

type subRuleTestBody struct {
	UserAgent string `json:"user_agent" required:"true"`
	// Rules, when present, are tried instead of the stored ones (null or
	// absent: the stored rules).
	Rules json.RawMessage `json:"rules"`
}

type subRuleTestResponse struct {
	// Format is what a subscription fetch with this User-Agent is rendered
	// as (v2ray when no rule matches). A browser asking for HTML gets the
	// subscription page instead unless disable_html_page is set.
	Format subFormat `json:"format"`
}

func (s *server) settingsRoutes(app *fiber.App) {
	app.Post("/api/subscription/settings/test", s.authenticate, requireSudo, s.testSubscriptionRules)
}

func (s *server) testSubscriptionRules(c *fiber.Ctx) error {
	var body subRuleTestBody
	if err := decodeJSON(c.Body(), &body); err != nil {
		return err
	}
	if len(body.UserAgent) > 1024 {
		return fmt.Errorf("%w: user_agent: at most 1024 bytes", model.ErrInvalid)
	}
	raw := body.Rules
	if len(raw) == 0 || string(raw) == "null" {
		set, err := s.st.SubscriptionSettings(c.UserContext())
		if err != nil {
			return err
		}
		raw = set.Rules
	}
	rules, err := decodeSubRules(raw)
	if err != nil {
		return err
	}
	sel, err := newSubSelector(rules)
	if err != nil {
		msg := afterSentinel(err, model.ErrInvalid)
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("%w: rules: %s", model.ErrInvalid, msg)
	}
	return c.JSON(subRuleTestResponse{Format: sel.Select(body.UserAgent)})
}

func init() {
	routeTable = append(routeTable, routeDoc{Method: "POST", Path: "/api/subscription/settings/test", Tag: "subscription", Auth: authSudo,
		Body: typeOf[subRuleTestBody](), Response: typeOf[subRuleTestResponse](), Errors: []int{400, 422},
		Summary: "The format a User-Agent gets by the stored User-Agent rules, or by the rules sent (tried, not saved); " +
			"a rule that does not compile is 400 as in PUT /api/subscription/settings"})
}
