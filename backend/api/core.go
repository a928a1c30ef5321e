package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
	"github.com/outpost-panel/outpost/backend/xrayconf"
	"github.com/outpost-panel/outpost/nodes/xraycore"
)

// coreRoutes: the Xray core and config every node runs.
func (s *server) coreRoutes() []route {
	return []route{
		{Method: "GET", Path: "/api/core", Auth: authAdmin, Handler: s.coreInfo, Doc: &routeDoc{
			Summary: "Xray core version and state", Tag: "core", Response: typeOf[coreInfoResponse]()}},
		{Method: "GET", Path: "/api/core/config", Auth: authSudo, Handler: s.getCoreConfig, Doc: &routeDoc{
			Summary: "The Xray config nodes run", Tag: "core", Response: typeOf[map[string]any]()}},
		{Method: "PUT", Path: "/api/core/config", Auth: authSudo, Handler: s.putCoreConfig, Doc: &routeDoc{
			Summary: "Replace the Xray config (validated by Xray's own builder)", Tag: "core",
			Body: typeOf[map[string]any](), Response: typeOf[map[string]any](), Errors: []int{400}}},
		{Method: "POST", Path: "/api/core/config/check", Auth: authSudo, Handler: s.checkCoreConfig, Doc: &routeDoc{
			Summary: "Check an Xray config as PUT /api/core/config would, without saving it: 200 {ok: true}, or 422 with the reason (and, when one inbound is at fault, its tag and path)", Tag: "core",
			Body: typeOf[map[string]any](), Response: typeOf[checkResponse]()}},
		{Method: "POST", Path: "/api/core/restart", Auth: authSudo, Handler: s.restartCore, Doc: &routeDoc{
			Summary: "Ask every connected node to restart its Xray core (new instance first: open connections are not cut)", Tag: "core",
			Response: typeOf[restartResponse]()}},
		{Method: "GET", Path: "/api/inbounds", Auth: authAdmin, Handler: s.inbounds, Doc: &routeDoc{
			Summary: "Inbounds grouped by protocol", Tag: "core",
			Response: typeOf[map[string][]xrayconf.InboundSummary]()}},
	}
}

// coreInfoResponse is what coreInfo answers (built as a fiber.Map).
type coreInfoResponse struct {
	Version       string `json:"version"`
	Started       bool   `json:"started"`
	LogsWebsocket string `json:"logs_websocket"`
}

// checkResponse is the answer of POST /api/core/config/check for a config
// that would be accepted.
type checkResponse struct {
	OK bool `json:"ok"`
}

// restartResponse is the answer of POST /api/core/restart.
type restartResponse struct {
	Detail string `json:"detail"`
	Nodes  int    `json:"nodes"`
}

// coreInfo is Marzban's GET /api/core. The panel runs no Xray of its own:
// version is that of the Xray built into this release (nodes report theirs
// in GET /api/nodes), and the core counts as started because the panel
// serves the config nodes run. logs_websocket streams the nodes' Xray logs
// (logs.go).
func (s *server) coreInfo(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"version": xraycore.Version(), "started": true, "logs_websocket": "/api/core/logs"})
}

func (s *server) getCoreConfig(c *fiber.Ctx) error {
	raw, err := s.st.CoreConfig(c.UserContext())
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(raw)
}

// putCoreConfig replaces the Xray config. The body is any JSON object; what
// it must contain is Xray's business, checked as a node's engine checks it
// (xraycore.Check, in state.SetCoreConfig), whose message the client gets
// with a 400.
func (s *server) putCoreConfig(c *fiber.Ctx) error {
	body := c.Body()
	var obj map[string]json.RawMessage
	if err := decodeObject(body, &obj); err != nil {
		return err
	}
	if err := s.st.SetCoreConfigBy(c.UserContext(), adminOf(c).Username, body); err != nil {
		return err
	}
	s.log.Info("core config replaced", "admin", adminOf(c).Username)
	return s.getCoreConfig(c)
}

// checkCoreConfig runs the validation of putCoreConfig (state's
// ValidateCoreConfig: xraycore.Check and Outpost's inbound rules) and
// stores nothing. A config that would be refused is a 422 here, not PUT's
// 400: the request did what it was asked, the config it carried is what
// fails.
func (s *server) checkCoreConfig(c *fiber.Ctx) error {
	body := c.Body()
	var obj map[string]json.RawMessage
	if err := decodeObject(body, &obj); err != nil {
		return err
	}
	if _, err := state.ValidateCoreConfig(body); err != nil {
		if !errors.Is(err, model.ErrInvalid) {
			return err
		}
		_, detail := s.classify(c, err)
		return c.Status(fiber.StatusUnprocessableEntity).JSON(errorBodyOf(detail, err))
	}
	return c.JSON(checkResponse{OK: true})
}

// decodeObject checks that body is exactly one JSON object, without the
// field rules of decodeJSON.
func decodeObject(body []byte, dst *map[string]json.RawMessage) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return schemaErrorf("request body: must be a JSON object (the Xray config)")
	}
	if err := json.Unmarshal(trimmed, dst); err != nil {
		return describeDecodeError(err)
	}
	return nil
}

func (s *server) inbounds(c *fiber.Ctx) error {
	in, err := s.st.Inbounds(c.UserContext())
	if err != nil {
		return fmt.Errorf("loading inbounds: %w", err)
	}
	return c.JSON(xrayconf.Grouped(in))
}

// restartCore is Marzban's POST /api/core/restart. The panel has no core of
// its own; it asks every connected node to restart its Xray. Each node
// starts the new instance before it closes the old one, so open connections
// are not cut and nothing but the core's own state (DNS cache, outbound
// connections) is renewed. Nodes that are offline keep what they run.
func (s *server) restartCore(c *fiber.Ctx) error {
	n := 0
	if s.opts.Hub != nil {
		n = s.opts.Hub.RestartCores(c.UserContext())
	}
	return c.JSON(restartResponse{Detail: "core restart requested", Nodes: n})
}
