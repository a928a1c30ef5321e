package api

import (
	"encoding/json"
	"fmt"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
)

// The subscription settings (sudo): GET|PUT /api/subscription/settings,
// and POST /api/subscription/settings/test, which tells which format a
// User-Agent gets, by the stored rules or by rules being edited (sent
// along, not saved), so the dashboard's rule editor can show the effect of
// a rule before anyone's client sees it.

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
	// Rule is the index (from 0) of the rule that chose the format in the
	// rules tried (those sent, else the stored ones); null when none
	// matched and the format is the default.
	Rule *int `json:"rule"`
}

// subscriptionSettingsRoutes: the subscription settings (sudo) and a dry
// run of their User-Agent rules.
func (s *server) subscriptionSettingsRoutes() []route {
	return []route{
		{Method: "GET", Path: "/api/subscription/settings", Auth: authSudo, Handler: s.getSubscriptionSettings, Doc: &routeDoc{
			Summary: "Subscription settings: User-Agent rules and response headers", Tag: "subscription",
			Response: typeOf[subscriptionSettingsResponse]()}},
		{Method: "PUT", Path: "/api/subscription/settings", Auth: authSudo, Handler: s.putSubscriptionSettings, Doc: &routeDoc{
			Summary: "Change subscription settings; fields left out keep their values, \"rules\": null restores the defaults", Tag: "subscription",
			Body: typeOf[subscriptionSettingsResponse](), Response: typeOf[subscriptionSettingsResponse](), Errors: []int{400, 422}}},
		{Method: "POST", Path: "/api/subscription/settings/test", Auth: authSudo, Handler: s.testSubscriptionRules, Doc: &routeDoc{
			Tag: "subscription", Body: typeOf[subRuleTestBody](), Response: typeOf[subRuleTestResponse](), Errors: []int{400, 422},
			Summary: "The format a User-Agent gets, and the index of the rule that chose it, by the stored User-Agent rules or by the rules sent (tried, not saved); " +
				"a rule that does not compile is 400 as in PUT /api/subscription/settings"}},
	}
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
	out := subRuleTestResponse{}
	var i int
	out.Format, i = sel.Match(body.UserAgent)
	if i >= 0 {
		out.Rule = &i
	}
	return c.JSON(out)
}

// subscriptionSettingsResponse shows the rules in effect: the defaults
// until a sudo admin saves some.
type subscriptionSettingsResponse struct {
	Rules                 []subRule `json:"rules"`
	ProfileUpdateInterval int       `json:"profile_update_interval"`
	ProfileTitle          string    `json:"profile_title"`
	SupportURL            string    `json:"support_url"`
	ProfileWebPageURL     string    `json:"profile_web_page_url"`
	DisableHTMLPage       bool      `json:"disable_html_page"`
	// HWIDDeviceLimit is the device limit of users without one of their
	// own, 0 unlimited; HWIDMissing what a fetch without x-hwid gets
	// (Outpost).
	HWIDDeviceLimit int64  `json:"hwid_device_limit" limit:"devices"`
	HWIDMissing     string `json:"hwid_missing"`
}

func (s *server) getSubscriptionSettings(c *fiber.Ctx) error {
	set, err := s.st.SubscriptionSettings(c.UserContext())
	if err != nil {
		return err
	}
	return s.sendSubscriptionSettings(c, set)
}

func (s *server) sendSubscriptionSettings(c *fiber.Ctx, set state.SubscriptionSettings) error {
	rules, err := decodeSubRules(set.Rules)
	if err != nil {
		return fmt.Errorf("decoding stored subscription rules: %w", err)
	}
	if rules == nil {
		rules = []subRule{}
	}
	return c.JSON(subscriptionSettingsResponse{
		Rules: rules, ProfileUpdateInterval: set.ProfileUpdateInterval, ProfileTitle: set.ProfileTitle,
		SupportURL: set.SupportURL, ProfileWebPageURL: set.ProfileWebPageURL, DisableHTMLPage: set.DisableHTMLPage,
		HWIDDeviceLimit: set.HWIDDeviceLimit, HWIDMissing: set.HWIDMissing,
	})
}

// putSubscriptionSettings is PUT /api/subscription/settings. Fields left
// out keep their values; "rules": null restores the default rules. Rules
// are checked with the renderer's own validation (a pattern that does not
// compile, an unknown format: 400).
func (s *server) putSubscriptionSettings(c *fiber.Ctx) error {
	set, err := s.st.SubscriptionSettings(c.UserContext())
	if err != nil {
		return err
	}
	if err := decodeJSON(c.Body(), &set); err != nil {
		return err
	}
	rules, err := decodeSubRules(set.Rules)
	if err != nil {
		return err
	}
	if len(set.Rules) == 0 || string(set.Rules) == "null" {
		set.Rules = nil
	} else {
		if err := validateSubRules(rules); err != nil {
			msg := afterSentinel(err, model.ErrInvalid)
			if msg == "" {
				msg = err.Error()
			}
			return fmt.Errorf("%w: rules: %s", model.ErrInvalid, msg)
		}
		if set.Rules, err = json.Marshal(rules); err != nil {
			return fmt.Errorf("encoding subscription rules: %w", err)
		}
	}
	if err := s.st.SetSubscriptionSettings(c.UserContext(), set); err != nil {
		return err
	}
	s.sub.svc.DropCachedViews()
	return s.sendSubscriptionSettings(c, set)
}
