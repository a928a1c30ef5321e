package api

import (
	"reflect"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/model"
)

// Every route is one line of one table: each resource file (admins.go,
// users.go, nodes.go, ...) has a func returning its []route, routes()
// joins them, register mounts them on Fiber and /openapi.json is built from
// the same slice. Nothing registers a route any other way, so the router
// and the contract cannot drift (TestOpenAPIRoutesMatchFiber).

// route is one endpoint: where it is, who may call it, what serves it and
// how the contract describes it.
type route struct {
	Method string
	Path   string // Fiber syntax: ":name" parameters, "*" for the rest
	Auth   authLevel
	// Before runs after Auth's middleware and before Handler, calling
	// c.Next() to go on (the log sockets check the upgrade request there).
	Before []fiber.Handler
	// Handler serves the route. Nil means this server was built without
	// what the route needs (no node hub: no node or log sockets); the route
	// is then not mounted but stays in the document, which describes the
	// panel, not one test's server.
	Handler fiber.Handler
	// Doc describes the route in /openapi.json and /docs; nil keeps it out
	// of the API contract (the dashboard's pages).
	Doc *routeDoc
	// Scope is what an API key needs to call an admin or sudo route
	// (model.ScopeRead and the others, or scopeAccount: never a key).
	// Empty is filled by withScopes from the method and the path; a route
	// left without one cannot be mounted (TestRouteScopes).
	Scope string
}

// scopeAccount marks the routes of the signed-in account itself: API
// keys, sessions, two-factor sign-in, the own password. A key never calls
// them, whatever its scopes: a leaked key cannot mint more keys, end the
// owner's sessions or turn its second factor off.
const scopeAccount = "account"

// scopeByArea maps the first path segment after /api/ of a mutating route
// to the scope that allows it. A new area without a line here leaves its
// routes without a scope, which TestRouteScopes refuses.
var scopeByArea = map[string]string{
	"user": model.ScopeUsers, "users": model.ScopeUsers, "user_template": model.ScopeUsers,
	"node": model.ScopeNodes, "nodes": model.ScopeNodes, "core": model.ScopeNodes,
	"hosts": model.ScopeNodes, "inbounds": model.ScopeNodes, "subscription": model.ScopeNodes,
	"admin": model.ScopeAdmins, "admins": model.ScopeAdmins,
	"alerts": model.ScopeNodes,
}

// withScopes fills the Scope of every admin and sudo route that does not
// set one: a GET (or a socket, which reads) needs "read", anything else
// the scope of its area. The one place that decides what a key may call.
func withScopes(routes []route) []route {
	for i := range routes {
		r := &routes[i]
		if r.Scope != "" || (r.Auth != authAdmin && r.Auth != authSudo) {
			continue
		}
		if r.Method == fiber.MethodGet {
			r.Scope = model.ScopeRead
			continue
		}
		area, _, _ := strings.Cut(strings.TrimPrefix(r.Path, "/api/"), "/")
		r.Scope = scopeByArea[area]
	}
	return routes
}

// authLevel says who may call a route; register turns it into middleware.
type authLevel string

const (
	authPublic authLevel = "public" // nothing, or the handler checks for itself
	authAdmin  authLevel = "admin"  // any logged-in admin; owner rules apply
	authSudo   authLevel = "sudo"
	authNode   authLevel = "node" // a node's own token, checked by the hub
)

// routeDoc is a route's part of the API contract: summary, parameters,
// Go request and response types, and the statuses it answers with.
type routeDoc struct {
	Summary string
	Tag     string
	Query   []queryParam
	// Body is the JSON request body type (nil: none); BodyKind kindForm
	// with FormFields describes a form instead.
	Body       reflect.Type
	BodyKind   bodyKind
	FormFields []string
	// OptionalFormFields are form fields a caller may leave out.
	OptionalFormFields []string
	// Response is the JSON type of a 200 answer; ResponseKind other kinds.
	Response     reflect.Type
	ResponseKind bodyKind
	// Errors are the statuses besides those Auth implies (401, 403).
	Errors []int
}

// bodyKind is what a route answers with (or takes) besides JSON.
type bodyKind string

const (
	kindJSON      bodyKind = "json"
	kindText      bodyKind = "text"
	kindHTML      bodyKind = "html"
	kindForm      bodyKind = "form"
	kindWebSocket bodyKind = "websocket"
	kindRedirect  bodyKind = "redirect"
	kindAny       bodyKind = "any"    // a file of any type (dashboard assets)
	kindBinary    bodyKind = "binary" // a download (application/octet-stream)
)

// queryParam is one query string parameter.
type queryParam struct {
	Name        string
	Type        string // integer, string, boolean
	Multi       bool   // may repeat (username=a&username=b)
	Description string
	// Limit names the model.Ranges entry the handler checks the value
	// against; /openapi.json shows it as minimum and maximum.
	Limit string
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

// emptyObject is the {} some deletions and actions answer with (as
// Marzban does).
type emptyObject struct{}

// key identifies a route as "METHOD /path" for the drift test.
func (r route) key() string { return r.Method + " " + r.Path }

// routes is every route of the panel, in the order Fiber tries them: a
// fixed path must come before a parameter path of the same method that
// would take it (GET /api/node/settings before GET /api/node/:id), which
// TestRoutesNotShadowed checks.
func (s *server) routes() []route {
	return withScopes(slices.Concat(
		s.systemRoutes(),               // system.go: /healthz, /api/system
		s.backupRoutes(),               // backups.go: /api/system/backup, /api/system/backups*
		s.docsRoutes(),                 // docs.go: /openapi.json, /docs
		s.nodeRoutes(),                 // nodes.go: /api/node/ws, /api/node*, /api/nodes*
		s.logsRoutes(),                 // logs.go: WebSockets /api/core/logs, /api/node/:id/logs
		s.eventsRoutes(),               // events.go: WebSocket /api/events
		s.securityRoutes(),             // security.go: /api/admin/{totp,keys,sessions,password}*
		s.adminRoutes(),                // admins.go: login, /api/admin*, /api/admins
		s.userRoutes(),                 // users.go: /api/user*, /api/users*
		s.deviceRoutes(),               // devices.go: /api/user/:username/devices*
		s.bulkRoutes(),                 // bulk.go: /api/users/bulk
		s.onlineRoutes(),               // online.go: /api/user/:username/ips, /api/users/ip_limit
		s.coreRoutes(),                 // core.go: /api/core*, /api/inbounds
		s.configHistoryRoutes(),        // config_history.go: /api/core/config/history*
		s.hostRoutes(),                 // hosts.go: /api/hosts
		s.subscriptionSettingsRoutes(), // subscription_settings.go: /api/subscription/settings*
		s.subscriptionRoutes(),         // subscription.go: /sub/*
		s.overviewRoutes(),             // overview.go: /api/overview
		s.templateRoutes(),             // templates.go: /api/user_template*
		s.notificationRoutes(),         // notifications.go: /api/notifications
		s.alertRoutes(),                // alerts.go: /api/alerts*
		s.auditRoutes(),                // audit.go: /api/audit*
		s.dashboardRoutes(),            // dashboard.go: /, /dashboard/*
	))
}

// register mounts routes on app in order, each behind the middleware its
// Auth level asks for; a GET route answers HEAD too, as app.Get would.
func (s *server) register(app *fiber.App, routes []route) {
	for _, r := range routes {
		if r.Handler == nil {
			continue
		}
		var chain []fiber.Handler
		if (r.Auth == authAdmin || r.Auth == authSudo) && r.Scope == "" {
			// A programming error in a route table: see withScopes.
			panic("api: route " + r.key() + " has no API key scope")
		}
		switch r.Auth {
		case authAdmin:
			chain = append(chain, s.authenticate(r.Scope))
		case authSudo:
			chain = append(chain, s.authenticate(r.Scope), requireSudo)
		case authPublic, authNode:
		default:
			// A programming error in a route table.
			panic("api: route " + r.key() + " has auth level " + string(r.Auth))
		}
		if (r.Auth == authAdmin || r.Auth == authSudo) && r.Method != fiber.MethodGet && auditExempt[r.key()] == "" {
			// Every change through the API is logged (audit.go).
			chain = append(chain, s.auditOperation(r))
		}
		chain = append(chain, r.Before...)
		chain = append(chain, r.Handler)
		if r.Method == fiber.MethodGet {
			// As app.Get does: HEAD answers like GET, without the body.
			app.Add(fiber.MethodHead, r.Path, chain...)
		}
		app.Add(r.Method, r.Path, chain...)
	}
}
