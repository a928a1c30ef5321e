package api

// The contract of routes_extra.go, added to routeTable.
func init() {
	routeTable = append(routeTable,
		routeDoc{Method: "GET", Path: "/api/system", Summary: "Panel host and user statistics (a regular admin's counts cover its own users); online means seen in the last 2 minutes", Tag: "system", Auth: authAdmin,
			Response: typeOf[systemResponse]()},
		routeDoc{Method: "GET", Path: "/api/notifications", Summary: "Where user events go (webhooks, Telegram chats, Discord webhooks, named without their secrets) and how delivery stands for each: waiting, retrying, given up, the newest error", Tag: "system", Auth: authSudo,
			Response: typeOf[notificationsResponse]()},
		routeDoc{Method: "GET", Path: "/api/user_template", Summary: "List user templates", Tag: "user_template", Auth: authAdmin,
			Query: []queryParam{
				{Name: "offset", Type: "integer", Description: "templates to skip"},
				{Name: "limit", Type: "integer", Description: "at most this many; 0 or missing for all"},
			},
			Response: typeOf[[]templateResponse](), Errors: []int{400, 422}},
		routeDoc{Method: "GET", Path: "/api/user_template/:id", Summary: "One user template", Tag: "user_template", Auth: authAdmin,
			Response: typeOf[templateResponse](), Errors: []int{404, 422}},
		routeDoc{Method: "POST", Path: "/api/user_template", Summary: "Create a user template; inbound tags must exist in the core config under their protocol", Tag: "user_template", Auth: authSudo,
			Body: typeOf[templateBody](), Response: typeOf[templateResponse](), Errors: []int{400, 409, 422}},
		routeDoc{Method: "PUT", Path: "/api/user_template/:id", Summary: "Modify a user template; missing fields are unchanged", Tag: "user_template", Auth: authSudo,
			Body: typeOf[templateBody](), Response: typeOf[templateResponse](), Errors: []int{400, 404, 409, 422}},
		routeDoc{Method: "DELETE", Path: "/api/user_template/:id", Summary: "Delete a user template", Tag: "user_template", Auth: authSudo,
			Response: typeOf[emptyObject](), Errors: []int{404, 422}},
		routeDoc{Method: "POST", Path: "/api/node/:id/reconnect", Summary: "End the node's session; it redials at once. Its Xray keeps running: no client connection drops", Tag: "node", Auth: authSudo,
			Response: typeOf[emptyObject](), Errors: []int{404, 422}},
		routeDoc{Method: "GET", Path: "/api/nodes/usage", Summary: "Uplink and downlink of every node over a time range", Tag: "node", Auth: authSudo,
			Query: []queryParam{
				{Name: "start", Type: "string", Description: "date-time like 2026-11-26T01:02:03 (UTC unless a zone is given); default 30 days ago"},
				{Name: "end", Type: "string", Description: "date-time; default now"},
			},
			Response: typeOf[nodesUsageResponse](), Errors: []int{400}},
	)
}
