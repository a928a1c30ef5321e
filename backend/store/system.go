package store

import (
	"fmt"
	"time"
)

// CountOnlineUsers counts users seen online at or after since, of one admin
// when adminID is not nil. One COUNT in the database: online_at has no
// index on purpose (usage batches rewrite it), so this scans the narrow
// user_traffic table (which carries a copy of admin_id) in SQL.
func (tx *Tx) CountOnlineUsers(since time.Time, adminID *int64) (int, error) {
	q := `SELECT COUNT(*) FROM user_traffic WHERE online_at >= $1`
	a := []any{since.Unix()}
	if adminID != nil {
		q += ` AND admin_id = $2`
		a = append(a, *adminID)
	}
	var n int
	if err := tx.queryRow(q, a...).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting online users: %w", err)
	}
	return n, nil
}

// TotalNodeTraffic sums every node's uplink and downlink ever recorded.
func (tx *Tx) TotalNodeTraffic() (uplink, downlink int64, err error) {
	if err := tx.queryRow(`SELECT COALESCE(SUM(uplink), 0), COALESCE(SUM(downlink), 0) FROM node_usages`).Scan(&uplink, &downlink); err != nil {
		return 0, 0, fmt.Errorf("summing node traffic: %w", err)
	}
	return uplink, downlink, nil
}

// NodeTraffic is one node's uplink and downlink over a range.
type NodeTraffic struct {
	NodeID   int64
	Uplink   int64
	Downlink int64
}

// NodesTraffic sums each node's uplink and downlink over the hours in
// [start, end), by node id.
func (tx *Tx) NodesTraffic(start, end time.Time) ([]NodeTraffic, error) {
	rows, err := tx.query(`SELECT node_id, SUM(uplink), SUM(downlink) FROM node_usages
		WHERE hour >= $1 AND hour < $2 GROUP BY node_id ORDER BY node_id`, hourOf(start), end.Unix())
	if err != nil {
		return nil, fmt.Errorf("summing node usage: %w", err)
	}
	defer rows.Close()
	out := []NodeTraffic{}
	for rows.Next() {
		var n NodeTraffic
		if err := rows.Scan(&n.NodeID, &n.Uplink, &n.Downlink); err != nil {
			return nil, fmt.Errorf("summing node usage: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("summing node usage: %w", err)
	}
	return out, nil
}
