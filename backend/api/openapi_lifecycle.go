package api

// The contract of the user lifecycle routes (routes_lifecycle.go), kept
// beside their handlers and added to routeTable.
func init() {
	dates := func(start, end string) []queryParam {
		return []queryParam{
			{Name: start, Type: "string", Description: "date-time like 2026-11-26T01:02:03 (UTC unless a zone is given); default 30 days ago"},
			{Name: end, Type: "string", Description: "date-time; default now"},
		}
	}
	expiredDesc := "expired users whose expire, and limited users whose limit was reached, fall in the range"
	routeTable = append(routeTable,
		routeDoc{Method: "POST", Path: "/api/user/:username/reset", Summary: "Reset the user's used traffic (logged; lifetime usage kept); a limited user becomes active", Tag: "user", Auth: authAdmin,
			Response: typeOf[userResponse](), Errors: []int{404}},
		routeDoc{Method: "POST", Path: "/api/user/:username/revoke_sub", Summary: "New credentials for every proxy; earlier subscription links stop working", Tag: "user", Auth: authAdmin,
			Response: typeOf[userResponse](), Errors: []int{404}},
		routeDoc{Method: "POST", Path: "/api/user/:username/active-next", Summary: "Apply the user's next plan now (404 when it has none)", Tag: "user", Auth: authAdmin,
			Response: typeOf[userResponse](), Errors: []int{404}},
		routeDoc{Method: "GET", Path: "/api/user/:username/usage", Summary: "The user's usage per node over a time range", Tag: "user", Auth: authAdmin,
			Query: dates("start", "end"), Response: typeOf[userUsageResponse](), Errors: []int{400, 404}},
		routeDoc{Method: "GET", Path: "/api/user/:username/usage/daily", Summary: "The user's usage over every node per UTC day over a time range, days without traffic left out (Outpost)", Tag: "user", Auth: authAdmin,
			Query: dates("start", "end"), Response: typeOf[userDailyUsageResponse](), Errors: []int{400, 404}},
		routeDoc{Method: "PUT", Path: "/api/user/:username/set-owner", Summary: "Give the user to another admin", Tag: "user", Auth: authSudo,
			Query:    []queryParam{{Name: "admin_username", Type: "string", Description: "the new owner (required)"}},
			Response: typeOf[userResponse](), Errors: []int{404, 422}},
		routeDoc{Method: "POST", Path: "/api/users/reset", Summary: "Reset every user's used traffic in one transaction (logged; lifetime usage kept)", Tag: "user", Auth: authSudo,
			Response: typeOf[emptyObject]()},
		routeDoc{Method: "GET", Path: "/api/users/usage", Summary: "Usage per node of the caller's users (sudo: of the admins named, else everyone's)", Tag: "user", Auth: authAdmin,
			Query:    append(dates("start", "end"), queryParam{Name: "admin", Type: "string", Multi: true, Description: "admin usernames (sudo only)"}),
			Response: typeOf[usersUsageResponse](), Errors: []int{400}},
		routeDoc{Method: "GET", Path: "/api/users/expired", Summary: "Usernames of the " + expiredDesc, Tag: "user", Auth: authAdmin,
			Query: dates("expired_after", "expired_before"), Response: typeOf[[]string](), Errors: []int{400}},
		routeDoc{Method: "DELETE", Path: "/api/users/expired", Summary: "Delete the " + expiredDesc + "; returns their usernames (404 when none)", Tag: "user", Auth: authAdmin,
			Query: dates("expired_after", "expired_before"), Response: typeOf[[]string](), Errors: []int{400, 404}},
	)
}
