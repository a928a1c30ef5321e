package state

import (
	"context"
	"fmt"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
)

// OnlineWindow is how recently a user must have been seen to count as
// online in the system stats: Marzban's count_online_users uses 2 minutes.
const OnlineWindow = 2 * time.Minute

// SystemCounts are the user and traffic figures of GET /api/system.
type SystemCounts struct {
	Total, Online                              int
	Active, OnHold, Disabled, Expired, Limited int
	// Uplink and Downlink are every node's traffic ever recorded: node
	// traffic belongs to no admin, so every admin sees the same.
	Uplink, Downlink int64
}

// SystemCounts counts the users admin may see (sudo: everyone) with a few
// COUNT queries in one snapshot.
func (s *State) SystemCounts(ctx context.Context, admin *model.Admin) (SystemCounts, error) {
	var c SystemCounts
	owner := ownedAdminID(admin)
	since := s.now().Add(-OnlineWindow)
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		byStatus, err := tx.CountUsersByStatus(owner)
		if err != nil {
			return err
		}
		for _, n := range byStatus {
			c.Total += n
		}
		c.Active, c.OnHold, c.Disabled = byStatus[model.StatusActive], byStatus[model.StatusOnHold], byStatus[model.StatusDisabled]
		c.Expired, c.Limited = byStatus[model.StatusExpired], byStatus[model.StatusLimited]
		if c.Online, err = tx.CountOnlineUsers(since, owner); err != nil {
			return err
		}
		c.Uplink, c.Downlink, err = tx.TotalNodeTraffic()
		return err
	})
	return c, err
}

// NodeTraffic is one node's uplink and downlink over a range.
type NodeTraffic struct {
	NodeID   int64
	NodeName string
	Uplink   int64
	Downlink int64
}

// NodesTraffic is every node's traffic over [start, end): each existing
// node (zero when idle), then nodes deleted since that carried traffic.
func (s *State) NodesTraffic(ctx context.Context, start, end time.Time) ([]NodeTraffic, error) {
	var out []NodeTraffic
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		nodes, err := tx.ListNodes()
		if err != nil {
			return err
		}
		sums, err := tx.NodesTraffic(start, end)
		if err != nil {
			return err
		}
		byID := make(map[int64]store.NodeTraffic, len(sums))
		for _, t := range sums {
			byID[t.NodeID] = t
		}
		out = make([]NodeTraffic, 0, len(nodes)+len(sums))
		for _, n := range nodes {
			t := byID[n.ID]
			delete(byID, n.ID)
			out = append(out, NodeTraffic{NodeID: n.ID, NodeName: n.Name, Uplink: t.Uplink, Downlink: t.Downlink})
		}
		for _, t := range sums {
			if _, gone := byID[t.NodeID]; gone {
				out = append(out, NodeTraffic{NodeID: t.NodeID, NodeName: fmtDeleted(t.NodeID), Uplink: t.Uplink, Downlink: t.Downlink})
			}
		}
		return nil
	})
	return out, err
}

func fmtDeleted(id int64) string { return fmt.Sprintf("deleted node %d", id) }
