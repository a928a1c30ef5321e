package api

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
	"github.com/outpost-panel/outpost/backend/sub/render"
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
	// CustomJSON, when present, are tried instead of the stored
	// USE_CUSTOM_JSON_* switches (the panel's environment still wins).
	CustomJSON *render.CustomJSON `json:"custom_json"`
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
	// Switch names the USE_CUSTOM_JSON_FOR_* switch that sent this client
	// Xray JSON before any rule (also when USE_CUSTOM_JSON_DEFAULT turned
	// it on); null when the rules decided.
	Switch *string `json:"switch"`
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
	var stored state.SubscriptionSettings
	if len(raw) == 0 || string(raw) == "null" || body.CustomJSON == nil {
		var err error
		if stored, err = s.st.SubscriptionSettings(c.UserContext()); err != nil {
			return err
		}
	}
	if len(raw) == 0 || string(raw) == "null" {
		raw = stored.Rules
	}
	switches := stored.CustomJSON
	if body.CustomJSON != nil {
		switches = *body.CustomJSON
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
	d := sel.WithCustomJSON(s.sub.customJSON(switches)).Explain(body.UserAgent)
	out := subRuleTestResponse{Format: d.Format}
	if d.Rule >= 0 {
		out.Rule = &d.Rule
	}
	if d.Switch != "" {
		out.Switch = &d.Switch
	}
	return c.JSON(out)
}

// subscriptionSettingsResponse shows the rules in effect: the defaults
// until a sudo admin saves some.
type subscriptionSettingsResponse struct {
	Rules                 []subRule `json:"rules"`
	ProfileUpdateInterval int       `json:"profile_update_interval" limit:"hours"`
	ProfileTitle          string    `json:"profile_title"`
	SupportURL            string    `json:"support_url"`
	ProfileWebPageURL     string    `json:"profile_web_page_url"`
	DisableHTMLPage       bool      `json:"disable_html_page"`
	// Marzban's USE_CUSTOM_JSON_* switches in effect: v2rayN, v2rayNG,
	// Streisand and Happ get Xray JSON instead of base64 links while their
	// switch (or use_custom_json_default) is on.
	render.CustomJSON
	// CustomJSONEnv names the switches set by the panel's environment
	// variables of the same names (USE_CUSTOM_JSON_FOR_HAPP...): those win
	// over the stored value, and PUT cannot change them (read only in a
	// PUT body).
	CustomJSONEnv []string `json:"custom_json_env"`
	// HWIDDeviceLimit is the device limit of users without one of their
	// own, 0 unlimited; HWIDMissing what a fetch without x-hwid gets
	// (Outpost).
	HWIDDeviceLimit int64  `json:"hwid_device_limit" limit:"devices"`
	HWIDMissing     string `json:"hwid_missing"`
	// PerDeviceCredentials is the global default of the credentials-per-
	// device mode (users and templates with null follow it): each admitted
	// device gets an Xray identity of its own, derived from the user's
	// credentials, and the subscription serves a device its own. Nodes
	// must run an agent that knows the mode.
	PerDeviceCredentials bool `json:"per_device_credentials"`
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
		CustomJSON: s.sub.customJSON(set.CustomJSON), CustomJSONEnv: s.customJSONEnvNames(),
		HWIDDeviceLimit: set.HWIDDeviceLimit, HWIDMissing: set.HWIDMissing,
		PerDeviceCredentials: set.PerDeviceCredentials,
	})
}

// customJSONEnvNames lists the USE_CUSTOM_JSON_* variables set in the
// panel's environment, in render.CustomJSONVars order.
func (s *server) customJSONEnvNames() []string {
	out := []string{}
	for _, name := range render.CustomJSONVars {
		if _, ok := s.sub.customJSONEnv[name]; ok {
			out = append(out, name)
		}
	}
	return out
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
	stored := set.CustomJSON
	// Fields left out keep their values: for a switch the environment
	// sets, the value in effect.
	set.CustomJSON = s.sub.customJSON(stored)
	var body struct {
		state.SubscriptionSettings
		CustomJSONEnv json.RawMessage `json:"custom_json_env"` // read only: what GET said
	}
	body.SubscriptionSettings = set
	if err := decodeJSON(c.Body(), &body); err != nil {
		return err
	}
	set = body.SubscriptionSettings
	// A switch the environment sets keeps its stored value: the body may
	// repeat the value in effect (as GET showed it), not change it.
	for _, name := range render.CustomJSONVars {
		env, ok := s.sub.customJSONEnv[name]
		if !ok {
			continue
		}
		if *set.Switch(name) != env {
			return fmt.Errorf("%w: %s: set to %t by the panel's environment variable %s; change it there", model.ErrInvalid, strings.ToLower(name), env, name)
		}
		*set.Switch(name) = *stored.Switch(name)
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
