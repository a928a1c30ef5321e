package api

// restartResponse is the answer of POST /api/core/restart.
type restartResponse struct {
	Detail string `json:"detail"`
	Nodes  int    `json:"nodes"`
}

func init() {
	routeTable = append(routeTable,
		routeDoc{Method: "POST", Path: "/api/core/restart", Summary: "Ask every connected node to restart its Xray core (new instance first: open connections are not cut)", Tag: "core", Auth: authSudo,
			Response: typeOf[restartResponse]()},
	)
}
