package api

import (
	"encoding/json"
	"fmt"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/model"
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

// subscriptionSettingsResponse shows the rules in effect: the defaults
// until a sudo admin saves some.
type subscriptionSettingsResponse struct {
	Rules                 []subRule `json:"rules"`
	ProfileUpdateInterval int       `json:"profile_update_interval"`
	ProfileTitle          string    `json:"profile_title"`
	SupportURL            string    `json:"support_url"`
	ProfileWebPageURL     string    `json:"profile_web_page_url"`
	DisableHTMLPage       bool      `json:"disable_html_page"`
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
