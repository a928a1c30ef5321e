package api

import (
	"context"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/websocket/v2"

	"github.com/outpost-panel/outpost/backend/events"
	"github.com/outpost-panel/outpost/backend/model"
)

// GET /api/events: the dashboard's live events, one WebSocket per tab.
// Any admin, with ?token= (browsers cannot set headers on a WebSocket) or
// Authorization: Bearer. A refused socket is accepted and closed at once,
// as the log sockets are: 4401 no or bad token. Messages are JSON objects
// with a "type":
//
//   - hello {revision}: first, the revision the socket starts at; after it
//     (and after every reconnect) the client refetches what it shows.
//   - users {revision, usernames, all}: users created, changed or deleted
//     (status changes by jobs included). A regular admin gets only its own
//     users' names and no event when none of them changed; all=true means
//     too many changed to name (more than 1000) and everything is stale.
//   - node {id, name, status, message, applied_revision, last_seen,
//     revision, deleted}: a node's status, message or applied revision
//     changed (revision is the panel's current one). Sudo only.
//   - usage {online}: usage batches were recorded (at most one a second);
//     sudo admins get the count of users online now with it.
//   - notifications {}: notification delivery status changed. Sudo only.
//   - alerts {}: the fleet alerts that fired changed (GET /api/alerts).
//     Sudo only.
//
// Events come from the database every replica shares (package events), so
// a change made through any replica shows on every replica's sockets
// within a second. A socket whose client falls 256 messages behind is
// closed with 1013: it reconnects and refetches.

const eventsAdminLocal = "outpost.events.admin"

// eventMessage documents every field an event may carry; which ones are
// present depends on its type.
type eventMessage struct {
	// Type is hello, users, node, usage, notifications or alerts.
	Type            string    `json:"type"`
	Revision        int64     `json:"revision,omitempty"`
	Usernames       []string  `json:"usernames,omitempty"`
	All             bool      `json:"all,omitempty"`
	ID              int64     `json:"id,omitempty"`
	Name            string    `json:"name,omitempty"`
	Status          string    `json:"status,omitempty"`
	Message         *string   `json:"message,omitempty"`
	AppliedRevision int64     `json:"applied_revision,omitempty"`
	LastSeen        *wireTime `json:"last_seen,omitempty"`
	Deleted         bool      `json:"deleted,omitempty"`
	Online          *int      `json:"online,omitempty"`
}

// eventsRoutes: the dashboard's live events socket. Like the log sockets
// it checks the token itself before the upgrade and refuses with a close
// code, so it is public to the router.
func (s *server) eventsRoutes() []route {
	broker := events.New(eventSource{s}, s.log, 0)
	ws := websocket.New(func(c *websocket.Conn) { s.serveEvents(c, broker) }, websocket.Config{WriteBufferSize: 8 << 10})
	return []route{
		{Method: "GET", Path: "/api/events", Auth: authPublic, Before: []fiber.Handler{s.prepareEvents}, Handler: ws, Doc: &routeDoc{
			Tag: "admin", Response: typeOf[eventMessage](), Errors: []int{426},
			Summary: "WebSocket: the dashboard's live events, each message one JSON object (this schema) with a type: " +
				"hello {revision} first; users {revision, usernames, all} (a regular admin: its own users only); " +
				"node {id, name, status, message, applied_revision, last_seen, revision, deleted} (sudo); " +
				"usage {online} at most once a second; notifications {} (sudo); alerts {} (sudo). " +
				"Refusal closes the socket with 4401 (no or bad token); a client 256 messages behind is closed with 1013",
			Query: []queryParam{{Name: "token", Type: "string", Description: "an admin's access token (or send Authorization: Bearer)"}}}},
	}
}

func (s *server) prepareEvents(c *fiber.Ctx) error {
	if !websocket.IsWebSocketUpgrade(c) {
		return fiber.NewError(fiber.StatusUpgradeRequired, "This is a WebSocket endpoint")
	}
	token := c.Query("token")
	if token == "" {
		if scheme, t, ok := strings.Cut(c.Get(fiber.HeaderAuthorization), " "); ok && strings.EqualFold(scheme, "bearer") {
			token = strings.TrimSpace(t)
		}
	}
	if token != "" {
		if admin, err := s.adminForToken(c.UserContext(), token); err == nil {
			c.Locals(eventsAdminLocal, admin)
			return c.Next()
		}
	}
	c.Locals(logsRefusal, &logsRefused{4401, "Unauthorized"})
	return c.Next()
}

func (s *server) serveEvents(c *websocket.Conn, broker *events.Broker) {
	closeWith := func(code int, reason string) {
		_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	}
	if r, ok := c.Locals(logsRefusal).(*logsRefused); ok {
		closeWith(r.code, r.reason)
		return
	}
	admin, _ := c.Locals(eventsAdminLocal).(*model.Admin)
	if admin == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	from, err := broker.Revision(ctx)
	if err != nil {
		s.log.Warn("events socket: reading revision", "err", err)
		closeWith(websocket.CloseInternalServerErr, "try again")
		return
	}
	sub := broker.Subscribe(admin.ID, admin.IsSudo, from)
	defer broker.Unsubscribe(sub)
	// The reader notices the client leaving (and answers its pings).
	go func() {
		defer cancel()
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	write := func(msg []byte) bool {
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		return c.WriteMessage(websocket.TextMessage, msg) == nil
	}
	if !write(events.Hello(from)) {
		return
	}
	ping := time.NewTicker(30 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sub.Done():
			closeWith(websocket.CloseTryAgainLater, "too far behind: reconnect and refetch")
			return
		case <-ping.C:
			if c.WriteControl(websocket.PingMessage, nil, time.Now().Add(5*time.Second)) != nil {
				return
			}
		case msg := <-sub.Messages():
			if !write(msg) {
				return
			}
		}
	}
}

// eventSource is what the events broker reads, through state.
type eventSource struct{ s *server }

func (e eventSource) Wake(ctx context.Context) <-chan struct{} { return e.s.st.Feed().Wake(ctx) }

func (e eventSource) UsersSince(ctx context.Context, after int64) (events.UserBatch, error) {
	ch, err := e.s.st.UsersChangedSince(ctx, after, events.MaxUsernames)
	if err != nil {
		return events.UserBatch{}, err
	}
	b := events.UserBatch{Revision: ch.Revision, All: ch.Truncated || ch.Pruned, Users: make([]events.UserChange, 0, len(ch.Users))}
	for _, u := range ch.Users {
		if u.Username == "" {
			// A tombstone from before migration 0008 does not say who.
			b.All = true
			continue
		}
		b.Users = append(b.Users, events.UserChange{Username: u.Username, AdminID: u.AdminID})
	}
	return b, nil
}

// Nodes reports each node as GET /api/nodes does: its stored status
// corrected by whether any replica holds its session now.
func (e eventSource) Nodes(ctx context.Context) ([]events.Node, error) {
	nodes, err := e.s.st.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]events.Node, len(nodes))
	for i := range nodes {
		j := e.s.nodeJSON(&nodes[i])
		out[i] = events.Node{ID: j.ID, Name: j.Name, Status: string(j.Status), Message: j.Message,
			AppliedRevision: j.AppliedRevision, LastSeen: j.LastSeen}
	}
	return out, nil
}

func (e eventSource) UsageMark(ctx context.Context) (string, error) { return e.s.st.UsageMark(ctx) }

func (e eventSource) Online(ctx context.Context) (int, error) { return e.s.st.OnlineNow(ctx) }

func (e eventSource) AlertsMark(ctx context.Context) (string, error) {
	return e.s.st.AlertsMark(ctx)
}

func (e eventSource) NotificationsMark(ctx context.Context) (string, error) {
	return e.s.st.NotificationsMark(ctx)
}
