package api

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
	"github.com/outpost-panel/outpost/nodes/protocol"
)

// nodeRoutes: the node session socket and node management (sudo). The
// fixed /api/node/ws and /api/node/settings come before /api/node/:id,
// which would take them for an id.
func (s *server) nodeRoutes() []route {
	var session fiber.Handler
	if s.opts.Hub != nil {
		session = s.opts.Hub.Handler()
	}
	return []route{
		// Nodes authenticate inside the hub's handler, with their own token.
		{Method: "GET", Path: protocol.WSPath, Auth: authNode, Handler: session, Doc: &routeDoc{
			Summary: "Node session (WebSocket); the node authenticates with its token", Tag: "node",
			ResponseKind: kindWebSocket, Errors: []int{401}}},
		{Method: "GET", Path: "/api/node/settings", Auth: authSudo, Handler: s.nodeSettings, Doc: &routeDoc{
			Summary: "How nodes connect to this panel", Tag: "node", Response: typeOf[nodeSettingsResponse]()}},
		{Method: "POST", Path: "/api/node", Auth: authSudo, Handler: s.createNode, Doc: &routeDoc{
			Summary: "Register a node; the answer carries its token, shown only once", Tag: "node",
			Body: typeOf[nodeBody](), Response: typeOf[nodeResponse](), Errors: []int{400, 409}}},
		{Method: "GET", Path: "/api/nodes", Auth: authSudo, Handler: s.listNodes, Doc: &routeDoc{
			Summary: "List nodes", Tag: "node", Response: typeOf[[]nodeResponse]()}},
		{Method: "GET", Path: "/api/node/:id", Auth: authSudo, Handler: s.getNode, Doc: &routeDoc{
			Summary: "One node", Tag: "node", Response: typeOf[nodeResponse](), Errors: []int{404, 422}}},
		{Method: "PUT", Path: "/api/node/:id", Auth: authSudo, Handler: s.modifyNode, Doc: &routeDoc{
			Summary: "Modify a node", Tag: "node",
			Body: typeOf[nodeBody](), Response: typeOf[nodeResponse](), Errors: []int{400, 404, 409}}},
		{Method: "DELETE", Path: "/api/node/:id", Auth: authSudo, Handler: s.deleteNode, Doc: &routeDoc{
			Summary: "Delete a node and end its session", Tag: "node",
			Response: typeOf[emptyObject](), Errors: []int{404, 422}}},
		{Method: "POST", Path: "/api/node/:id/token", Auth: authSudo, Handler: s.rotateNodeToken, Doc: &routeDoc{
			Summary: "Issue a new node token; the old one and its session end", Tag: "node",
			Response: typeOf[nodeTokenResponse](), Errors: []int{404, 422}}},
		{Method: "POST", Path: "/api/node/:id/reconnect", Auth: authSudo, Handler: s.reconnectNode, Doc: &routeDoc{
			Summary: "End the node's session; it redials at once. Its Xray keeps running: no client connection drops", Tag: "node",
			Response: typeOf[emptyObject](), Errors: []int{404, 422}}},
		{Method: "POST", Path: "/api/node/:id/restart", Auth: authSudo, Handler: s.restartNodeCore, Doc: &routeDoc{
			Summary: "Restart the node's Xray core (new instance first: open connections are not cut); 409 when the node is not connected", Tag: "node",
			Response: typeOf[emptyObject](), Errors: []int{404, 409, 422}}},
		{Method: "GET", Path: "/api/nodes/usage", Auth: authSudo, Handler: s.nodesUsage, Doc: &routeDoc{
			Summary: "Uplink and downlink of every node over a time range", Tag: "node",
			Query: dateRangeQuery("start", "end"), Response: typeOf[nodesUsageResponse](), Errors: []int{400}}},
	}
}

type nodeSettingsResponse struct {
	MinNodeVersion string `json:"min_node_version"`
	// Certificate is the panel's HTTPS certificate, PEM; "" without TLS.
	Certificate string `json:"certificate"`
	// CertificateSHA256 is what bin/node --panel-cert-sha256 takes.
	CertificateSHA256 string `json:"certificate_sha256"`
	// CertificatePubliclyTrusted is false for a self-signed
	// certificate: nodes must pin it.
	CertificatePubliclyTrusted bool   `json:"certificate_publicly_trusted"`
	ProtocolVersion            int    `json:"protocol_version"`
	WSPath                     string `json:"ws_path"`
}

type nodeTokenResponse struct {
	Token string `json:"token"`
}

// MinNodeVersion is the oldest node agent this panel serves, reported by
// GET /api/node/settings. What actually decides compatibility is the wire
// protocol version both sides exchange in hello/welcome.
const MinNodeVersion = "0.1.0"

var nodeTexts = map[error]string{
	model.ErrNotFound: "Node not found",
	model.ErrConflict: "Node already exists",
}

// nodeResponse is Marzban's NodeResponse plus what Outpost knows of the
// session. Port and api_port are informational: an Outpost node dials the
// panel, the panel never connects to it.
type nodeResponse struct {
	ID               int64            `json:"id"`
	Name             string           `json:"name"`
	Address          string           `json:"address"`
	Port             int              `json:"port"`
	APIPort          int              `json:"api_port"`
	UsageCoefficient float64          `json:"usage_coefficient"`
	XrayVersion      *string          `json:"xray_version"`
	AgentVersion     *string          `json:"agent_version"`
	Status           model.NodeStatus `json:"status"`
	Message          *string          `json:"message"`
	LastSeen         *wireTime        `json:"last_seen"`
	AppliedRevision  int64            `json:"applied_revision"`
	// PanelRevision is the panel's current revision, so applied_revision
	// reads as "serving 4,812 of 4,820".
	PanelRevision int64 `json:"panel_revision"`
	// Health is the node's last status report; null until one is heard
	// (nodes report every 30 s and after each apply or core restart).
	Health    *nodeHealth `json:"health"`
	CreatedAt wireTime    `json:"created_at"`
	// Token is set only in the answer to POST /api/node: it is stored
	// hashed and cannot be shown again.
	Token string `json:"token,omitempty"`
}

// nodeHealth is what the node's agent last reported about itself.
type nodeHealth struct {
	// Users is how many users the node's Xray serves.
	Users int `json:"users"`
	// JournalBacklog is how many usage batches the node holds unacknowledged.
	JournalBacklog int `json:"journal_backlog"`
	// InboundErrors maps an inbound's tag to why Xray could not start it.
	InboundErrors map[string]string `json:"inbound_errors"`
	// CoreRestarts counts the agent's Xray restarts since it started.
	CoreRestarts int      `json:"core_restarts"`
	ReportedAt   wireTime `json:"reported_at"`
	// Certs are the certificate files the node's inbounds read from the
	// node's own disk, with their expiry (or why one could not be read).
	Certs []nodeCert `json:"certs"`
}

// nodeCert is one certificate file a node's inbound reads.
type nodeCert struct {
	Inbound string `json:"inbound"`
	File    string `json:"file"`
	// NotAfter is when its leaf expires; null when Error says why it could
	// not be read.
	NotAfter *wireTime `json:"not_after"`
	Error    string    `json:"error"`
}

// nodesJSON answers for nodes with the panel's current revision.
func (s *server) nodesJSON(ctx context.Context, nodes ...*model.Node) ([]nodeResponse, error) {
	rev, err := s.st.Revision(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]nodeResponse, 0, len(nodes))
	for _, n := range nodes {
		j := s.nodeJSON(n)
		j.PanelRevision = rev
		out = append(out, j)
	}
	return out, nil
}

func (s *server) nodeJSON(n *model.Node) nodeResponse {
	status := n.Status
	var health *nodeHealth
	// The stored status is only the last write of whichever replica held
	// the session; a replica killed outright never writes "connecting".
	// The hub knows (its own sessions, plus the renewed presence claims of
	// every replica) whether a session is live now.
	if s.opts.Hub != nil {
		live := s.opts.Hub.Connected(n.ID)
		switch {
		case live:
			status = model.NodeConnected
		case status == model.NodeConnected:
			status = model.NodeConnecting
		}
		if r, ok := s.opts.Hub.Health(n.ID); ok {
			health = &nodeHealth{Users: r.Users, JournalBacklog: r.JournalBacklog, InboundErrors: r.InboundErrors,
				CoreRestarts: r.CoreRestarts, ReportedAt: wireTime{r.ReportedAt}, Certs: make([]nodeCert, 0, len(r.Certs))}
			for _, c := range r.Certs {
				nc := nodeCert{Inbound: c.Inbound, File: c.File, Error: c.Error}
				if c.Error == "" && c.NotAfter > 0 {
					nc.NotAfter = &wireTime{time.Unix(c.NotAfter, 0).UTC()}
				}
				health.Certs = append(health.Certs, nc)
			}
		}
	}
	return nodeResponse{
		ID: n.ID, Name: n.Name, Address: n.Address, Port: n.Port, APIPort: n.APIPort,
		UsageCoefficient: n.UsageCoefficient,
		XrayVersion:      nonEmpty(n.XrayVersion),
		AgentVersion:     nonEmpty(n.AgentVersion),
		Status:           status,
		Message:          nonEmpty(n.Message),
		LastSeen:         optTime(n.LastSeen),
		AppliedRevision:  n.AppliedRevision,
		Health:           health,
		CreatedAt:        wireTime{n.CreatedAt},
	}
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// nodeBody is Marzban's NodeCreate / NodeModify.
type nodeBody struct {
	Name             *string  `json:"name"`
	Address          *string  `json:"address"`
	Port             *int     `json:"port" limit:"port"`
	APIPort          *int     `json:"api_port" limit:"port"`
	UsageCoefficient *float64 `json:"usage_coefficient" limit:"coefficient"`
	// Marzban's dashboard sends it on create; hosts are configured
	// separately in Outpost, so it has no effect.
	AddAsNewHost *bool `json:"add_as_new_host"`
}

// validate checks the fields the state does not own (address and ports) and
// Marzban's rule that a coefficient given must be positive.
func (b *nodeBody) validate() error {
	if b.Address != nil {
		a := *b.Address
		if len(a) > 255 || strings.ContainsAny(a, " \t\r\n/") {
			return fmt.Errorf("%w: address: a host name or IP address of at most 255 characters", model.ErrInvalid)
		}
	}
	for name, p := range map[string]*int{"port": b.Port, "api_port": b.APIPort} {
		if p != nil && (*p < 0 || *p > 65535) {
			return fmt.Errorf("%w: %s: must be between 0 and 65535", model.ErrInvalid, name)
		}
	}
	if b.UsageCoefficient != nil && *b.UsageCoefficient <= 0 {
		return fmt.Errorf("%w: usage_coefficient: must be greater than 0", model.ErrInvalid)
	}
	return nil
}

func (s *server) createNode(c *fiber.Ctx) error {
	var body nodeBody
	if err := decodeJSON(c.Body(), &body); err != nil {
		return err
	}
	if body.Name == nil {
		return fmt.Errorf("%w: name: required", model.ErrInvalid)
	}
	if err := body.validate(); err != nil {
		return err
	}
	n := &model.Node{Name: strings.TrimSpace(*body.Name)}
	if body.Address != nil {
		n.Address = *body.Address
	}
	if body.Port != nil {
		n.Port = *body.Port
	}
	if body.APIPort != nil {
		n.APIPort = *body.APIPort
	}
	if body.UsageCoefficient != nil {
		n.UsageCoefficient = *body.UsageCoefficient
	}
	token, err := s.st.CreateNode(c.UserContext(), n)
	if err != nil {
		return describe(err, nodeTexts)
	}
	s.log.Info("node created", "node", n.ID, "name", n.Name)
	resp, err := s.nodesJSON(c.UserContext(), n)
	if err != nil {
		return err
	}
	resp[0].Token = token
	return c.JSON(resp[0])
}

// nodeID reads {id}; FastAPI answers a non-integer path parameter with 422.
func nodeID(c *fiber.Ctx) (int64, error) {
	raw := c.Params("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return 0, schemaErrorf("node_id: expected an integer, got %q", truncate(raw, 20))
	}
	if id <= 0 {
		return 0, describe(fmt.Errorf("node %d: %w", id, model.ErrNotFound), nodeTexts)
	}
	return id, nil
}

func (s *server) getNode(c *fiber.Ctx) error {
	id, err := nodeID(c)
	if err != nil {
		return err
	}
	n, err := s.st.Node(c.UserContext(), id)
	if err != nil {
		return describe(err, nodeTexts)
	}
	out, err := s.nodesJSON(c.UserContext(), n)
	if err != nil {
		return err
	}
	return c.JSON(out[0])
}

func (s *server) listNodes(c *fiber.Ctx) error {
	nodes, err := s.st.Nodes(c.UserContext())
	if err != nil {
		return err
	}
	ptrs := make([]*model.Node, len(nodes))
	for i := range nodes {
		ptrs[i] = &nodes[i]
	}
	out, err := s.nodesJSON(c.UserContext(), ptrs...)
	if err != nil {
		return err
	}
	return c.JSON(out)
}

func (s *server) modifyNode(c *fiber.Ctx) error {
	id, err := nodeID(c)
	if err != nil {
		return err
	}
	var body nodeBody
	if err := decodeJSON(c.Body(), &body); err != nil {
		return err
	}
	if err := body.validate(); err != nil {
		return err
	}
	ch := state.NodeChanges{
		Address: body.Address, Port: body.Port, APIPort: body.APIPort,
		UsageCoefficient: body.UsageCoefficient,
	}
	if body.Name != nil {
		name := strings.TrimSpace(*body.Name)
		ch.Name = &name
	}
	n, err := s.st.ModifyNode(c.UserContext(), id, ch)
	if err != nil {
		return describe(err, nodeTexts)
	}
	s.log.Info("node modified", "node", id)
	out, err := s.nodesJSON(c.UserContext(), n)
	if err != nil {
		return err
	}
	return c.JSON(out[0])
}

func (s *server) deleteNode(c *fiber.Ctx) error {
	id, err := nodeID(c)
	if err != nil {
		return err
	}
	if err := s.st.DeleteNode(c.UserContext(), id); err != nil {
		return describe(err, nodeTexts)
	}
	if s.opts.Hub != nil {
		s.opts.Hub.Disconnect(id)
	}
	s.log.Info("node deleted", "node", id)
	return c.JSON(fiber.Map{})
}

func (s *server) rotateNodeToken(c *fiber.Ctx) error {
	id, err := nodeID(c)
	if err != nil {
		return err
	}
	token, err := s.st.RotateNodeToken(c.UserContext(), id)
	if err != nil {
		return describe(err, nodeTexts)
	}
	// The session authenticated with the old token must not outlive it.
	if s.opts.Hub != nil {
		s.opts.Hub.Disconnect(id)
	}
	s.log.Info("node token rotated", "node", id)
	return c.JSON(fiber.Map{"token": token})
}

// nodeSettings answers Marzban's GET /api/node/settings. Marzban returns the
// client certificate its nodes must trust, because the Marzban panel dials
// the nodes with mutual TLS. An Outpost node dials the panel instead and
// proves itself with its token; "certificate" is the panel's own HTTPS
// certificate (PEM, "" without TLS), with its SHA-256 (what bin/node
// --panel-cert-sha256 takes) and whether it verifies against this
// machine's public roots. A certificate that does not (self-signed) is
// what a node must pin; pinning a publicly trusted one would cut the
// nodes off at its next renewal.
func (s *server) nodeSettings(c *fiber.Ctx) error {
	return c.JSON(s.nodeSettingsBody())
}

func (s *server) nodeSettingsBody() nodeSettingsResponse {
	out := nodeSettingsResponse{MinNodeVersion: MinNodeVersion, ProtocolVersion: protocol.Version, WSPath: protocol.WSPath}
	chain := s.opts.TLSChain
	if len(chain) == 0 {
		return out
	}
	out.Certificate = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: chain[0]}))
	out.CertificateSHA256 = CertificatePin(chain)
	out.CertificatePubliclyTrusted = publiclyTrusted(chain)
	return out
}

// CertificatePin is the hex SHA-256 of the chain's leaf: what a node pins.
// Empty for an empty chain.
func CertificatePin(chain [][]byte) string {
	if len(chain) == 0 {
		return ""
	}
	sum := sha256.Sum256(chain[0])
	return hex.EncodeToString(sum[:])
}

// publiclyTrusted reports whether the leaf verifies, through the chain's
// intermediates, against the system's root certificates. The host name is
// not checked: nodes may reach the panel by any name the certificate has.
func publiclyTrusted(chain [][]byte) bool {
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return false
	}
	inter := x509.NewCertPool()
	for _, der := range chain[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	_, err = leaf.Verify(x509.VerifyOptions{Intermediates: inter})
	return err == nil
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

// restartNodeCore asks one node's agent to restart its Xray core, as POST
// /api/core/restart does for every node. The agent starts the new
// instance before closing the old one and reports its health once it has.
func (s *server) restartNodeCore(c *fiber.Ctx) error {
	id, err := nodeID(c)
	if err != nil {
		return err
	}
	if _, err := s.st.Node(c.UserContext(), id); err != nil {
		return describe(err, nodeTexts)
	}
	if s.opts.Hub == nil || !s.opts.Hub.RestartCore(c.UserContext(), id) {
		return describe(fmt.Errorf("node %d: not connected: %w", id, model.ErrConflict),
			map[error]string{model.ErrConflict: "Node is not connected"})
	}
	s.log.Info("node core restart requested", "node", id, "admin", adminOf(c).Username)
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
