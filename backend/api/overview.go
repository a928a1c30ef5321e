package api

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/feed"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
)

// GET /api/overview: what the dashboard's first page shows, in one
// request: users by status and online (of the admin's own users for a
// regular admin, as GET /api/system counts them), every node's traffic
// today per hour and over 7 and 30 days per day (UTC; node traffic
// belongs to no admin, so every admin sees the same), nodes up and down
// with how far each is behind the panel's revision and how much usage
// journal it holds unsent (sudo), the panel's
// version and how many replicas run.

type overviewUsers struct {
	Total    int `json:"total"`
	Online   int `json:"online"`
	Active   int `json:"active"`
	OnHold   int `json:"on_hold"`
	Disabled int `json:"disabled"`
	Expired  int `json:"expired"`
	Limited  int `json:"limited"`
}

type trafficPoint struct {
	At       wireTime `json:"at"`
	Uplink   int64    `json:"uplink"`
	Downlink int64    `json:"downlink"`
}

type overviewTraffic struct {
	// Today is per hour from 00:00 UTC to the current hour.
	Today []trafficPoint `json:"today"`
	// Week and Month are per day, the last 7 and 30 days, today last.
	Week  []trafficPoint `json:"week"`
	Month []trafficPoint `json:"month"`
}

type overviewNode struct {
	ID              int64            `json:"id"`
	Name            string           `json:"name"`
	Status          model.NodeStatus `json:"status"`
	Message         *string          `json:"message"`
	AppliedRevision int64            `json:"applied_revision"`
	// RevisionLag is how many revisions the node's applied state is behind
	// the panel's (0: up to date).
	RevisionLag  int64     `json:"revision_lag"`
	LastSeen     *wireTime `json:"last_seen"`
	XrayVersion  *string   `json:"xray_version"`
	AgentVersion *string   `json:"agent_version"`
	// JournalBacklog is how many usage journal entries the node held
	// unsent at its last status report (0: all delivered); null when this
	// replica does not hold the node's session (down, or on another
	// replica) or the node has not reported yet.
	JournalBacklog *int `json:"journal_backlog"`
}

type overviewNodes struct {
	Up    int            `json:"up"`
	Down  int            `json:"down"`
	Nodes []overviewNode `json:"nodes"`
}

type overviewResponse struct {
	Version  string `json:"version"`
	Revision int64  `json:"revision"`
	// Replicas is how many panel processes follow the change feed (1
	// without REDIS_URL); null when Redis cannot be asked.
	Replicas *int            `json:"replicas"`
	Users    overviewUsers   `json:"users"`
	Traffic  overviewTraffic `json:"traffic"`
	// Nodes is null for a regular admin.
	Nodes *overviewNodes `json:"nodes"`
}

// overviewRoutes: the dashboard's first page in one request.
func (s *server) overviewRoutes() []route {
	return []route{
		{Method: "GET", Path: "/api/overview", Auth: authAdmin, Handler: s.overview, Doc: &routeDoc{
			Tag: "system", Response: typeOf[overviewResponse](),
			Summary: "The dashboard's overview in one request: users by status and online (a regular admin's own), every node's " +
				"traffic today per hour and over 7 and 30 days per day (UTC, from the hourly buckets), nodes up and down with " +
				"their revision lag and unsent usage journal (sudo), the panel version, revision and replica count"}},
	}
}

// backlogReporter is the hub's report of a node's unsent usage journal.
type backlogReporter interface {
	JournalBacklog(nodeID int64) (int, bool)
}

func (s *server) journalBacklog(nodeID int64) *int {
	br, ok := s.opts.Hub.(backlogReporter)
	if !ok {
		return nil
	}
	if n, ok := br.JournalBacklog(nodeID); ok {
		return &n
	}
	return nil
}

func trafficJSON(in []state.TrafficPoint) []trafficPoint {
	out := make([]trafficPoint, len(in))
	for i, p := range in {
		out[i] = trafficPoint{At: wireTime{p.At}, Uplink: p.Uplink, Downlink: p.Downlink}
	}
	return out
}

func (s *server) overview(c *fiber.Ctx) error {
	ctx := c.UserContext()
	admin := adminOf(c)
	counts, err := s.st.SystemCounts(ctx, admin)
	if err != nil {
		return err
	}
	traffic, err := s.st.TrafficOverview(ctx)
	if err != nil {
		return err
	}
	rev, err := s.st.UsersChangedSince(ctx, 1<<62, 1)
	if err != nil {
		return err
	}
	out := overviewResponse{
		Version: s.opts.Version, Revision: rev.Revision,
		Users: overviewUsers{Total: counts.Total, Online: counts.Online, Active: counts.Active, OnHold: counts.OnHold,
			Disabled: counts.Disabled, Expired: counts.Expired, Limited: counts.Limited},
		Traffic: overviewTraffic{Today: trafficJSON(traffic.Today), Week: trafficJSON(traffic.Week), Month: trafficJSON(traffic.Month)},
	}
	if out.Version == "" {
		out.Version = apiDocVersion
	}
	if rc, ok := s.st.Feed().(feed.ReplicaCounter); ok {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		if n, err := rc.Replicas(rctx); err == nil {
			out.Replicas = &n
		}
		cancel()
	}
	if admin.IsSudo {
		nodes, err := s.st.Nodes(ctx)
		if err != nil {
			return err
		}
		on := &overviewNodes{Nodes: make([]overviewNode, 0, len(nodes))}
		for i := range nodes {
			j := s.nodeJSON(&nodes[i])
			if j.Status == model.NodeConnected {
				on.Up++
			} else if j.Status != model.NodeDisabled {
				on.Down++
			}
			on.Nodes = append(on.Nodes, overviewNode{ID: j.ID, Name: j.Name, Status: j.Status, Message: j.Message,
				AppliedRevision: j.AppliedRevision, RevisionLag: max(0, rev.Revision-j.AppliedRevision),
				LastSeen: j.LastSeen, XrayVersion: j.XrayVersion, AgentVersion: j.AgentVersion,
				JournalBacklog: s.journalBacklog(j.ID)})
		}
		out.Nodes = on
	}
	return c.JSON(out)
}
