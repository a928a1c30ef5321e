package api

import (
	"fmt"
	"runtime"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
)

// Handlers of routes_extra.go: user templates, system stats, node
// reconnect and node usage, with Marzban's paths and JSON.

var templateTexts = map[error]string{
	model.ErrNotFound: "User Template not found",
	model.ErrConflict: "Template by this name already exists",
}

// templateBody is Marzban's UserTemplateCreate / UserTemplateModify.
type templateBody struct {
	Name           *string             `json:"name"`
	DataLimit      *int64              `json:"data_limit" limit:"bytes"`
	ExpireDuration *int64              `json:"expire_duration" limit:"duration"`
	UsernamePrefix *string             `json:"username_prefix"`
	UsernameSuffix *string             `json:"username_suffix"`
	Inbounds       map[string][]string `json:"inbounds"`
}

func (b *templateBody) input() state.TemplateInput {
	return state.TemplateInput{Name: b.Name, DataLimit: b.DataLimit, ExpireDuration: b.ExpireDuration,
		UsernamePrefix: b.UsernamePrefix, UsernameSuffix: b.UsernameSuffix, Inbounds: b.Inbounds}
}

// templateResponse is Marzban's UserTemplateResponse.
type templateResponse struct {
	ID             int64               `json:"id"`
	Name           string              `json:"name"`
	DataLimit      int64               `json:"data_limit"`
	ExpireDuration int64               `json:"expire_duration"`
	UsernamePrefix *string             `json:"username_prefix"`
	UsernameSuffix *string             `json:"username_suffix"`
	Inbounds       map[string][]string `json:"inbounds"`
}

func templateJSON(t *state.UserTemplate) templateResponse {
	in := t.Inbounds
	if in == nil {
		in = map[string][]string{}
	}
	return templateResponse{ID: t.ID, Name: t.Name, DataLimit: t.DataLimit, ExpireDuration: t.ExpireDuration,
		UsernamePrefix: t.UsernamePrefix, UsernameSuffix: t.UsernameSuffix, Inbounds: in}
}

// templateID reads {id}; FastAPI answers a non-integer with 422.
func templateID(c *fiber.Ctx) (int64, error) {
	raw := c.Params("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return 0, schemaErrorf("template_id: expected an integer, got %q", truncate(raw, 20))
	}
	if id <= 0 {
		return 0, describe(fmt.Errorf("template %d: %w", id, model.ErrNotFound), templateTexts)
	}
	return id, nil
}

func (s *server) createTemplate(c *fiber.Ctx) error {
	var body templateBody
	if err := decodeJSON(c.Body(), &body); err != nil {
		return err
	}
	if body.Name == nil {
		return schemaErrorf("name: field required")
	}
	t, err := s.st.CreateTemplate(c.UserContext(), body.input())
	if err != nil {
		return describe(err, templateTexts)
	}
	s.log.Info("user template created", "template", t.ID, "name", t.Name, "admin", adminOf(c).Username)
	return c.JSON(templateJSON(t))
}

func (s *server) getTemplate(c *fiber.Ctx) error {
	id, err := templateID(c)
	if err != nil {
		return err
	}
	t, err := s.st.Template(c.UserContext(), id)
	if err != nil {
		return describe(err, templateTexts)
	}
	return c.JSON(templateJSON(t))
}

func (s *server) listTemplates(c *fiber.Ctx) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	args := c.Context().QueryArgs()
	offset, err := nonNegativeQuery(string(args.Peek("offset")), "offset")
	if err != nil {
		return err
	}
	limit, err := nonNegativeQuery(string(args.Peek("limit")), "limit")
	if err != nil {
		return err
	}
	ts, err := s.st.Templates(c.UserContext(), offset, limit)
	if err != nil {
		return err
	}
	out := make([]templateResponse, 0, len(ts))
	for i := range ts {
		out = append(out, templateJSON(&ts[i]))
	}
	return c.JSON(out)
}

func (s *server) modifyTemplate(c *fiber.Ctx) error {
	id, err := templateID(c)
	if err != nil {
		return err
	}
	var body templateBody
	if err := decodeJSON(c.Body(), &body); err != nil {
		return err
	}
	t, err := s.st.ModifyTemplate(c.UserContext(), id, body.input())
	if err != nil {
		return describe(err, templateTexts)
	}
	s.log.Info("user template modified", "template", t.ID, "admin", adminOf(c).Username)
	return c.JSON(templateJSON(t))
}

func (s *server) deleteTemplate(c *fiber.Ctx) error {
	id, err := templateID(c)
	if err != nil {
		return err
	}
	if err := s.st.DeleteTemplate(c.UserContext(), id); err != nil {
		return describe(err, templateTexts)
	}
	s.log.Info("user template deleted", "template", id, "admin", adminOf(c).Username)
	return c.JSON(emptyObject{})
}

// systemResponse is Marzban's SystemStats. Bandwidth is bytes through every
// node ever recorded (node traffic belongs to no admin).
type systemResponse struct {
	Version                string  `json:"version"`
	MemTotal               uint64  `json:"mem_total"`
	MemUsed                uint64  `json:"mem_used"`
	CPUCores               int     `json:"cpu_cores"`
	CPUUsage               float64 `json:"cpu_usage"`
	TotalUser              int     `json:"total_user"`
	OnlineUsers            int     `json:"online_users"`
	UsersActive            int     `json:"users_active"`
	UsersOnHold            int     `json:"users_on_hold"`
	UsersDisabled          int     `json:"users_disabled"`
	UsersExpired           int     `json:"users_expired"`
	UsersLimited           int     `json:"users_limited"`
	IncomingBandwidth      int64   `json:"incoming_bandwidth"`
	OutgoingBandwidth      int64   `json:"outgoing_bandwidth"`
	IncomingBandwidthSpeed int64   `json:"incoming_bandwidth_speed"`
	OutgoingBandwidthSpeed int64   `json:"outgoing_bandwidth_speed"`
}

func (s *server) systemStats(c *fiber.Ctx) error {
	counts, err := s.st.SystemCounts(c.UserContext(), adminOf(c))
	if err != nil {
		return err
	}
	memTotal, memUsed := readMemInfo()
	version := s.opts.Version
	if version == "" {
		version = apiDocVersion
	}
	return c.JSON(systemResponse{
		Version:  version,
		MemTotal: memTotal, MemUsed: memUsed,
		CPUCores: runtime.NumCPU(), CPUUsage: cpuUsage.sample(),
		TotalUser: counts.Total, OnlineUsers: counts.Online,
		UsersActive: counts.Active, UsersOnHold: counts.OnHold, UsersDisabled: counts.Disabled,
		UsersExpired: counts.Expired, UsersLimited: counts.Limited,
		// Marzban's incoming is what users sent (uplink), outgoing what
		// they received (downlink).
		IncomingBandwidth: counts.Uplink, OutgoingBandwidth: counts.Downlink,
		// Marzban reports the panel host's own NIC rate here, which in
		// Outpost carries no user traffic (nodes do): always 0.
		IncomingBandwidthSpeed: 0, OutgoingBandwidthSpeed: 0,
	})
}

// reconnectNode ends the node's session on this panel. The node agent
// dials again at once (its backoff starts small) and resumes with a diff
// of what changed; its Xray keeps running throughout, so no client
// connection drops (unlike Marzban, whose reconnect restarts Xray).
func (s *server) reconnectNode(c *fiber.Ctx) error {
	id, err := nodeID(c)
	if err != nil {
		return err
	}
	if _, err := s.st.Node(c.UserContext(), id); err != nil {
		return describe(err, nodeTexts)
	}
	if s.opts.Hub != nil {
		s.opts.Hub.Disconnect(id)
	}
	s.log.Info("node reconnect requested", "node", id, "admin", adminOf(c).Username)
	return c.JSON(emptyObject{})
}

// nodeUsageItem is Marzban's NodeUsageResponse.
type nodeUsageItem struct {
	NodeID   *int64 `json:"node_id"`
	NodeName string `json:"node_name"`
	Uplink   int64  `json:"uplink"`
	Downlink int64  `json:"downlink"`
}

// nodesUsageResponse is Marzban's NodesUsageResponse.
type nodesUsageResponse struct {
	Usages []nodeUsageItem `json:"usages"`
}

func (s *server) nodesUsage(c *fiber.Ctx) error {
	start, end, err := s.dateRange(c, "start", "end")
	if err != nil {
		return err
	}
	traffic, err := s.st.NodesTraffic(c.UserContext(), start, end)
	if err != nil {
		return err
	}
	out := nodesUsageResponse{Usages: make([]nodeUsageItem, 0, len(traffic))}
	for _, t := range traffic {
		id := t.NodeID
		out.Usages = append(out.Usages, nodeUsageItem{NodeID: &id, NodeName: t.NodeName, Uplink: t.Uplink, Downlink: t.Downlink})
	}
	return c.JSON(out)
}
