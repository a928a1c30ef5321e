package api

// tableServer is a server built only to read its route table, which does
// not depend on the options (a route whose dependency is missing keeps its
// line, with a nil Handler).
var tableServer = &server{}

// DocumentedRoutes lists the routes of the API contract as "METHOD /path"
// (Fiber syntax), in the table's order.
func DocumentedRoutes() []string {
	var out []string
	for _, r := range documented(tableServer.routes()) {
		out = append(out, r.key())
	}
	return out
}

// TableRoutes lists every route of the table, documented or not, as
// "METHOD /path", in the order register mounts them.
func TableRoutes() []string {
	var out []string
	for _, r := range tableServer.routes() {
		out = append(out, r.key())
	}
	return out
}

// DocumentedAuth maps "METHOD /path" to the route's documented auth level.
func DocumentedAuth() map[string]string {
	out := map[string]string{}
	for _, r := range documented(tableServer.routes()) {
		out[r.key()] = string(r.Auth)
	}
	return out
}
