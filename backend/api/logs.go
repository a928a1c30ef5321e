package api

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/websocket/v2"

	"github.com/outpost-panel/outpost/backend/hub"
	"github.com/outpost-panel/outpost/backend/model"
)

// Marzban's live logs: WS /api/core/logs (every node's Xray, or one with
// ?node_id=) and WS /api/node/{id}/logs. Browsers cannot set headers on a
// WebSocket, so the admin token may come as ?token= as well as in
// Authorization. As in Marzban, a refused socket is accepted and closed at
// once with a code in the 4000 range: 4401 not authenticated, 4403 not a
// sudo admin, 4400 a bad interval (or node id), 4404 no such node. Each
// message is one log line; with ?interval=seconds (more than 0, at most 10)
// the lines of each interval come joined by newlines in one message. Lines
// of /api/core/logs carry the node's name in brackets first. A watcher that
// cannot keep up loses lines and is told so in a line of its own.

const logsRefusal = "outpost.logs.refusal"

type logsRefused struct {
	code   int
	reason string
}

type logsRequest struct {
	nodeID   int64
	interval time.Duration
}

const logsRequestLocal = "outpost.logs.request"

// logsRoutes: the log sockets. They check the token themselves, before
// the upgrade, and refuse with a close code rather than a status (a
// browser's WebSocket sees no status), so they are public to the router.
func (s *server) logsRoutes() []route {
	var ws fiber.Handler
	if s.opts.Hub != nil {
		ws = websocket.New(s.serveLogs, websocket.Config{WriteBufferSize: 32 << 10})
	}
	q := []queryParam{
		{Name: "token", Type: "string", Description: "a sudo admin's access token (or send Authorization: Bearer)"},
		{Name: "interval", Type: "number", Description: "seconds, more than 0 and at most 10: send each interval's lines as one message, joined by newlines"},
	}
	return []route{
		{Method: "GET", Path: "/api/core/logs", Auth: authPublic, Before: []fiber.Handler{s.prepareLogs(false)}, Handler: ws, Doc: &routeDoc{
			Tag: "core", ResponseKind: kindText, Errors: []int{426},
			Summary: "WebSocket: live Xray log lines of every connected node (each after [node name]), or of one with node_id; " +
				"refusals close the socket with 4401 (no or bad token), 4403 (not sudo), 4400 (bad interval or node id), 4404 (no such node)",
			Query: append(q, queryParam{Name: "node_id", Type: "integer", Description: "only this node's lines"})}},
		{Method: "GET", Path: "/api/node/:id/logs", Auth: authPublic, Before: []fiber.Handler{s.prepareLogs(true)}, Handler: ws, Doc: &routeDoc{
			Tag: "nodes", ResponseKind: kindText, Errors: []int{426},
			Summary: "WebSocket: live Xray log lines of one node; closes with 4401, 4403, 4400 or 4404 as /api/core/logs does",
			Query:   q}},
	}
}

// prepareLogs checks the request before the upgrade and leaves what the
// socket must do (serve, or close with a code) in Locals.
func (s *server) prepareLogs(perNode bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !websocket.IsWebSocketUpgrade(c) {
			return fiber.NewError(fiber.StatusUpgradeRequired, "This is a WebSocket endpoint")
		}
		refuse := func(code int, reason string) error {
			c.Locals(logsRefusal, &logsRefused{code, reason})
			return c.Next()
		}
		token := c.Query("token")
		if token == "" {
			if scheme, t, ok := strings.Cut(c.Get(fiber.HeaderAuthorization), " "); ok && strings.EqualFold(scheme, "bearer") {
				token = strings.TrimSpace(t)
			}
		}
		if token == "" {
			return refuse(4401, "Unauthorized")
		}
		admin, err := s.adminForToken(c.UserContext(), token)
		if err != nil {
			return refuse(4401, "Unauthorized")
		}
		if !admin.IsSudo {
			return refuse(4403, "You're not allowed")
		}
		req := &logsRequest{}
		if v := c.Query("interval"); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return refuse(4400, "Invalid interval value")
			}
			if !(f > 0 && f <= 10) {
				return refuse(4400, "Interval must be more than 0 and at most 10 seconds")
			}
			req.interval = time.Duration(f * float64(time.Second))
		}
		idText := c.Query("node_id")
		if perNode {
			idText = c.Params("id")
		}
		if idText != "" {
			id, err := strconv.ParseInt(idText, 10, 64)
			if err != nil || id <= 0 {
				return refuse(4400, "Invalid node id")
			}
			if _, err := s.st.Node(c.UserContext(), id); err != nil {
				if errors.Is(err, model.ErrNotFound) {
					return refuse(4404, "Node not found")
				}
				return err
			}
			req.nodeID = id
		}
		c.Locals(logsRequestLocal, req)
		return c.Next()
	}
}

func (s *server) serveLogs(c *websocket.Conn) {
	if r, ok := c.Locals(logsRefusal).(*logsRefused); ok {
		_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(r.code, r.reason), time.Now().Add(time.Second))
		return
	}
	req, _ := c.Locals(logsRequestLocal).(*logsRequest)
	if req == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The reader notices the client leaving (and answers its pings).
	go func() {
		defer cancel()
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	events := s.opts.Hub.WatchLogs(ctx, req.nodeID)
	var (
		pending []string
		flush   <-chan time.Time
	)
	if req.interval > 0 {
		t := time.NewTicker(req.interval)
		defer t.Stop()
		flush = t.C
	}
	write := func(text string) bool {
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		return c.WriteMessage(websocket.TextMessage, []byte(text)) == nil
	}
	// Idle sockets get a ping now and then, so proxies keep them open and
	// a vanished client is noticed.
	ping := time.NewTicker(30 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ping.C:
			if c.WriteControl(websocket.PingMessage, nil, time.Now().Add(5*time.Second)) != nil {
				return
			}
		case <-flush:
			if len(pending) > 0 {
				if !write(strings.Join(pending, "\n")) {
					return
				}
				pending = pending[:0]
			}
		case ev, ok := <-events:
			if !ok {
				return
			}
			lines := logLines(ev, req.nodeID == 0) // several nodes: name each line's
			if req.interval > 0 {
				pending = append(pending, lines...)
				continue
			}
			for _, l := range lines {
				if !write(l) {
					return
				}
			}
		}
	}
}

// logLines renders one batch: a note of lines lost first, then the lines,
// each after the node's name when several nodes share the socket.
func logLines(ev hub.LogEvent, prefix bool) []string {
	out := make([]string, 0, len(ev.Lines)+1)
	tag := ""
	if prefix {
		tag = "[" + ev.Node + "] "
	}
	if ev.Dropped > 0 {
		out = append(out, fmt.Sprintf("%s(%d log lines dropped: the log stream could not keep up)", tag, ev.Dropped))
	}
	for _, l := range ev.Lines {
		out = append(out, tag+l)
	}
	return out
}
