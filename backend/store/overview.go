package store

import (
	"fmt"
	"time"
)

// HourTraffic is every node's traffic in one hour.
type HourTraffic struct {
	Hour             time.Time
	Uplink, Downlink int64
}

// TrafficByHour sums every node's hourly buckets from start on, one row per
// hour with traffic, ascending: one aggregate over node_usages (by its hour
// index), at most 24 rows a day whatever the number of users.
func (tx *Tx) TrafficByHour(start time.Time) ([]HourTraffic, error) {
	rows, err := tx.query(`SELECT hour, CAST(SUM(uplink) AS BIGINT), CAST(SUM(downlink) AS BIGINT) FROM node_usages
		WHERE hour >= $1 GROUP BY hour ORDER BY hour`, hourOf(start))
	if err != nil {
		return nil, fmt.Errorf("summing hourly traffic: %w", err)
	}
	defer rows.Close()
	var out []HourTraffic
	for rows.Next() {
		var (
			h    HourTraffic
			unix int64
		)
		if err := rows.Scan(&unix, &h.Uplink, &h.Downlink); err != nil {
			return nil, fmt.Errorf("summing hourly traffic: %w", err)
		}
		h.Hour = time.Unix(unix, 0).UTC()
		out = append(out, h)
	}
	return out, rows.Err()
}
