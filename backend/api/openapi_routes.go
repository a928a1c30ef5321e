package api

import (
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/xrayconf"
)

// routeTable is the API contract: every route the panel registers under
// /api and /sub (and the few public ones beside them). Adding a route to
// Fiber without a line here, or leaving a line for a route that is gone,
// fails TestOpenAPIRoutesMatchFiber. An area may keep its lines beside its
// handlers, appending to routeTable from an init (see openapi_sub.go).

// Response shapes of handlers that answer with fiber.Map; the handlers and
// these types must agree (TestOpenAPIResponsesMatchHandlers checks the
// ones it can call).
type (
	tokenResponse struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	coreInfoResponse struct {
		Version       string `json:"version"`
		Started       bool   `json:"started"`
		LogsWebsocket string `json:"logs_websocket"`
	}
	nodeSettingsResponse struct {
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
	nodeTokenResponse struct {
		Token string `json:"token"`
	}
	healthResponse struct {
		Status string `json:"status"`
	}
	// emptyObject is the {} some deletions answer with (as Marzban does).
	emptyObject struct{}
)

var (
	adminQuery = []queryParam{
		{Name: "offset", Type: "integer", Description: "admins to skip"},
		{Name: "limit", Type: "integer", Description: "at most this many; 0 or missing for all"},
		{Name: "username", Type: "string", Description: "case-insensitive substring of the username"},
	}
	usersQuery = []queryParam{
		{Name: "offset", Type: "integer"},
		{Name: "limit", Type: "integer", Description: "page size, at most 1000 (also when missing or 0)"},
		{Name: "username", Type: "string", Multi: true, Description: "only these usernames"},
		{Name: "search", Type: "string", Description: "substring of username or note"},
		{Name: "admin", Type: "string", Multi: true, Description: "only users of these admins (sudo only)"},
		{Name: "status", Type: "string", Description: "active, disabled, limited, expired or on_hold"},
		{Name: "sort", Type: "string", Description: "username, used_traffic, data_limit, expire or created_at; prefix - for descending"},
	}
)

var routeTable = []routeDoc{
	// Public.
	{Method: "GET", Path: "/healthz", Summary: "Liveness probe", Tag: "system", Auth: authPublic, Response: typeOf[healthResponse]()},
	{Method: "GET", Path: "/openapi.json", Summary: "This OpenAPI document", Tag: "system", Auth: authPublic, Response: typeOf[map[string]any]()},
	{Method: "GET", Path: "/docs", Summary: "API reference page rendered from this document", Tag: "system", Auth: authPublic, ResponseKind: kindHTML},
	{Method: "GET", Path: "/api/node/ws", Summary: "Node session (WebSocket); the node authenticates with its token", Tag: "node", Auth: authNode, ResponseKind: kindWebSocket, Errors: []int{401}},

	// Admins.
	{Method: "POST", Path: "/api/admin/token", Summary: "Log in (OAuth2 password form); returns a bearer token", Tag: "admin", Auth: authPublic,
		BodyKind: kindForm, FormFields: []string{"username", "password"}, Response: typeOf[tokenResponse](), Errors: []int{401, 422, 429}},
	{Method: "GET", Path: "/api/admin", Summary: "The admin behind the token", Tag: "admin", Auth: authAdmin, Response: typeOf[model.Admin]()},
	{Method: "GET", Path: "/api/admins", Summary: "List admins", Tag: "admin", Auth: authSudo, Query: adminQuery,
		Response: typeOf[[]model.Admin](), Errors: []int{400, 422}},
	{Method: "POST", Path: "/api/admin", Summary: "Create an admin", Tag: "admin", Auth: authSudo,
		Body: typeOf[adminCreateBody](), Response: typeOf[model.Admin](), Errors: []int{400, 409}},
	{Method: "PUT", Path: "/api/admin/:username", Summary: "Modify an admin; a new password ends its older sessions. Another sudo's account is refused", Tag: "admin", Auth: authSudo,
		Body: typeOf[adminModifyBody](), Response: typeOf[model.Admin](), Errors: []int{400, 404}},
	{Method: "DELETE", Path: "/api/admin/:username", Summary: "Delete an admin (not a sudo); its users remain, owned by nobody", Tag: "admin", Auth: authSudo,
		Response: typeOf[detailBody](), Errors: []int{404}},
	{Method: "POST", Path: "/api/admin/:username/users/disable", Summary: "Disable every user of the admin (one change for all nodes)", Tag: "admin", Auth: authSudo,
		Response: typeOf[detailBody](), Errors: []int{404}},
	{Method: "POST", Path: "/api/admin/:username/users/activate", Summary: "Re-enable every disabled user of the admin", Tag: "admin", Auth: authSudo,
		Response: typeOf[detailBody](), Errors: []int{404}},
	{Method: "GET", Path: "/api/admin/usage/:username", Summary: "Traffic of the admin's users since its last usage reset, in bytes", Tag: "admin", Auth: authSudo,
		Response: typeOf[int64](), Errors: []int{404}},
	{Method: "POST", Path: "/api/admin/usage/reset/:username", Summary: "Reset the admin's users_usage to zero", Tag: "admin", Auth: authSudo,
		Response: typeOf[model.Admin](), Errors: []int{404}},

	// Users.
	{Method: "POST", Path: "/api/user", Summary: "Create a user owned by the caller", Tag: "user", Auth: authAdmin,
		Body: typeOf[userBody](), Response: typeOf[userResponse](), Errors: []int{400, 409}},
	{Method: "GET", Path: "/api/user/:username", Summary: "One user (owner or sudo)", Tag: "user", Auth: authAdmin,
		Response: typeOf[userResponse](), Errors: []int{403, 404}},
	{Method: "PUT", Path: "/api/user/:username", Summary: "Modify a user; missing fields are unchanged", Tag: "user", Auth: authAdmin,
		Body: typeOf[userBody](), Response: typeOf[userResponse](), Errors: []int{400, 403, 404}},
	{Method: "DELETE", Path: "/api/user/:username", Summary: "Delete a user", Tag: "user", Auth: authAdmin,
		Response: typeOf[emptyObject](), Errors: []int{403, 404}},
	{Method: "GET", Path: "/api/users", Summary: "List users the caller may see, with search, filters, sort and pagination", Tag: "user", Auth: authAdmin,
		Query: usersQuery, Response: typeOf[usersPage](), Errors: []int{400, 422}},

	// Core.
	{Method: "GET", Path: "/api/core", Summary: "Xray core version and state", Tag: "core", Auth: authAdmin, Response: typeOf[coreInfoResponse]()},
	{Method: "GET", Path: "/api/core/config", Summary: "The Xray config nodes run", Tag: "core", Auth: authSudo, Response: typeOf[map[string]any]()},
	{Method: "PUT", Path: "/api/core/config", Summary: "Replace the Xray config (validated by Xray's own builder)", Tag: "core", Auth: authSudo,
		Body: typeOf[map[string]any](), Response: typeOf[map[string]any](), Errors: []int{400}},
	{Method: "GET", Path: "/api/inbounds", Summary: "Inbounds grouped by protocol", Tag: "core", Auth: authAdmin,
		Response: typeOf[map[string][]xrayconf.InboundSummary]()},

	// Nodes.
	{Method: "GET", Path: "/api/node/settings", Summary: "How nodes connect to this panel", Tag: "node", Auth: authSudo, Response: typeOf[nodeSettingsResponse]()},
	{Method: "POST", Path: "/api/node", Summary: "Register a node; the answer carries its token, shown only once", Tag: "node", Auth: authSudo,
		Body: typeOf[nodeBody](), Response: typeOf[nodeResponse](), Errors: []int{400, 409}},
	{Method: "GET", Path: "/api/nodes", Summary: "List nodes", Tag: "node", Auth: authSudo, Response: typeOf[[]nodeResponse]()},
	{Method: "GET", Path: "/api/node/:id", Summary: "One node", Tag: "node", Auth: authSudo, Response: typeOf[nodeResponse](), Errors: []int{404, 422}},
	{Method: "PUT", Path: "/api/node/:id", Summary: "Modify a node", Tag: "node", Auth: authSudo,
		Body: typeOf[nodeBody](), Response: typeOf[nodeResponse](), Errors: []int{400, 404, 409}},
	{Method: "DELETE", Path: "/api/node/:id", Summary: "Delete a node and end its session", Tag: "node", Auth: authSudo,
		Response: typeOf[emptyObject](), Errors: []int{404, 422}},
	{Method: "POST", Path: "/api/node/:id/token", Summary: "Issue a new node token; the old one and its session end", Tag: "node", Auth: authSudo,
		Response: typeOf[nodeTokenResponse](), Errors: []int{404, 422}},

	// Subscription.
	{Method: "GET", Path: "/sub/:token", Summary: "Subscription: the user's links, base64 encoded", Tag: "subscription", Auth: authPublic,
		ResponseKind: kindText, Errors: []int{404}},
}

// routeKey identifies a route for the drift test and the reference page.
func (r routeDoc) key() string { return r.Method + " " + r.Path }
