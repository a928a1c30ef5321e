package api

// DocumentedRoutes lists the route table as "METHOD /path" (Fiber syntax),
// for the drift test in package api_test.
func DocumentedRoutes() []string {
	out := make([]string, len(routeTable))
	for i, r := range routeTable {
		out[i] = r.key()
	}
	return out
}

// DocumentedAuth maps "METHOD /path" to the route's documented auth level.
func DocumentedAuth() map[string]string {
	out := make(map[string]string, len(routeTable))
	for _, r := range routeTable {
		out[r.key()] = string(r.Auth)
	}
	return out
}
