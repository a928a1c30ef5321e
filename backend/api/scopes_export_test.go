package api

// RouteScope is one route of the table with its auth level and API key
// scope, for TestRouteScopes.
type RouteScope struct {
	Key, Method, Auth, Scope string
}

// RouteScopes lists every route of the table with its scope.
func RouteScopes() []RouteScope {
	var out []RouteScope
	for _, r := range tableServer.routes() {
		out = append(out, RouteScope{Key: r.key(), Method: r.Method, Auth: string(r.Auth), Scope: r.Scope})
	}
	return out
}
