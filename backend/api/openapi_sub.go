package api

import "github.com/outpost-panel/outpost/backend/state"

// The contract of the hosts, subscription settings and /sub/ routes, kept
// beside their handlers and added to routeTable.
func init() {
	for i := range routeTable {
		if routeTable[i].key() == "GET /sub/:token" {
			routeTable[i].Summary = "Subscription in the format the User-Agent rules pick (base64 links by default); " +
				"Accept: text/html gets the page, in the language of Accept-Language"
		}
	}
	usage := []queryParam{
		{Name: "start", Type: "string", Description: "date-time like 2026-11-26T01:02:03; default 30 days ago"},
		{Name: "end", Type: "string", Description: "date-time; default now"},
	}
	routeTable = append(routeTable,
		routeDoc{Method: "GET", Path: "/api/hosts", Summary: "Host list of every inbound, keyed by tag; an inbound without its own list shows the default host", Tag: "hosts", Auth: authSudo,
			Response: typeOf[map[string][]state.Host]()},
		routeDoc{Method: "PUT", Path: "/api/hosts", Summary: "Replace every host list: a tag with [] gets no links, a tag left out goes back to the default host", Tag: "hosts", Auth: authSudo,
			Body: typeOf[map[string][]state.Host](), Response: typeOf[map[string][]state.Host](), Errors: []int{400, 422}},
		routeDoc{Method: "GET", Path: "/api/subscription/settings", Summary: "Subscription settings: User-Agent rules and response headers", Tag: "subscription", Auth: authSudo,
			Response: typeOf[subscriptionSettingsResponse]()},
		routeDoc{Method: "PUT", Path: "/api/subscription/settings", Summary: "Change subscription settings; fields left out keep their values, \"rules\": null restores the defaults", Tag: "subscription", Auth: authSudo,
			Body: typeOf[subscriptionSettingsResponse](), Response: typeOf[subscriptionSettingsResponse](), Errors: []int{400, 422}},
		routeDoc{Method: "GET", Path: "/sub/:token/info", Summary: "The subscription's user, without admin data", Tag: "subscription", Auth: authPublic,
			Response: typeOf[subUserResponse](), Errors: []int{404}},
		routeDoc{Method: "GET", Path: "/sub/:token/usage", Summary: "The subscription user's usage per node", Tag: "subscription", Auth: authPublic,
			Query: usage, Response: typeOf[subUsagesResponse](), Errors: []int{400, 404, 422}},
		routeDoc{Method: "GET", Path: "/sub/:token/:client_type", Summary: "Subscription in a forced format: v2ray, v2ray-json, clash, clash-meta, sing-box or outline (422 for anything else; 404 for a bad token first)", Tag: "subscription", Auth: authPublic,
			ResponseKind: kindText, Errors: []int{404, 422}},
	)
}
