package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/state"
)

// Fleet alerts (sudo): the alerts that fired and have not resolved, and the
// thresholds of the rules (backend/alerts evaluates them on the jobs
// leader; fired and resolved alerts go out through the notification
// targets as alert.fired and alert.resolved).

// alertJSON is one active alert.
type alertJSON struct {
	// Rule is node_offline, node_revision_lag, node_journal_backlog or cert_expiry.
	Rule string `json:"rule"`
	// Subject is what it is about: "node:<id>", "panel" or "inbound:<tag>".
	Subject string `json:"subject"`
	// Target names the subject for people ("node de-1").
	Target  string `json:"target"`
	Message string `json:"message"`
	// Value is the measure when it fired, Threshold the rule's setting:
	// seconds offline, revisions behind, journal entries, days left.
	Value     float64  `json:"value"`
	Threshold float64  `json:"threshold"`
	Since     wireTime `json:"since"`
	FiredAt   wireTime `json:"fired_at"`
}

type alertsResponse struct {
	Alerts []alertJSON `json:"alerts"`
}

func (s *server) alertRoutes() []route {
	return []route{
		{Method: "GET", Path: "/api/alerts", Auth: authSudo, Handler: s.listAlerts, Doc: &routeDoc{
			Summary: "Fleet alerts that fired and have not resolved (node offline, revision lag, usage journal backlog, certificate expiry)", Tag: "system",
			Response: typeOf[alertsResponse]()}},
		{Method: "GET", Path: "/api/alerts/settings", Auth: authSudo, Handler: s.getAlertSettings, Doc: &routeDoc{
			Summary: "Thresholds of the fleet alert rules; 0 turns a rule (or that half of one) off", Tag: "system",
			Response: typeOf[state.AlertSettings]()}},
		{Method: "PUT", Path: "/api/alerts/settings", Auth: authSudo, Handler: s.putAlertSettings, Doc: &routeDoc{
			Summary: "Change alert thresholds; fields left out keep their values. Each is 0 (off) or within its range, else 400 naming every field out of range", Tag: "system",
			Body: typeOf[state.AlertSettings](), Response: typeOf[state.AlertSettings](), Errors: []int{400, 422}}},
	}
}

func (s *server) listAlerts(c *fiber.Ctx) error {
	rows, err := s.st.Alerts(c.UserContext())
	if err != nil {
		return err
	}
	out := alertsResponse{Alerts: []alertJSON{}}
	for _, a := range rows {
		if a.FiredAt == nil {
			continue
		}
		out.Alerts = append(out.Alerts, alertJSON{Rule: a.Rule, Subject: a.Subject, Target: a.Target, Message: a.Message,
			Value: a.Value, Threshold: a.Threshold, Since: wireTime{a.Since}, FiredAt: wireTime{*a.FiredAt}})
	}
	return c.JSON(out)
}

func (s *server) getAlertSettings(c *fiber.Ctx) error {
	set, err := s.st.AlertSettings(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(set)
}

func (s *server) putAlertSettings(c *fiber.Ctx) error {
	set, err := s.st.AlertSettings(c.UserContext())
	if err != nil {
		return err
	}
	if err := decodeJSON(c.Body(), &set); err != nil {
		return err
	}
	if err := s.st.SetAlertSettings(c.UserContext(), set); err != nil {
		return err
	}
	return c.JSON(set)
}
