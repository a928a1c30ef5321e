package store

import (
	"fmt"
	"strings"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

// Who is online from where (user_ips): the distinct source addresses each
// user was seen from, with the node that saw each last. Rows are written
// from the nodes' usage batches, trimmed to model.MaxUserIPs per user in
// the same statement group, and pruned by age in a job.

// userIPsChunk is how many rows one upsert carries: 5 parameters each.
const userIPsChunk = 500

// RecordUserIPs upserts the addresses of seen as seen by node at at, then
// keeps the model.MaxUserIPs most recent per user of the batch. Work is
// proportional to the batch, never to all users. A row for a user deleted
// meanwhile is harmless: reads join users, and the age prune removes it.
func (tx *Tx) RecordUserIPs(nodeID int64, at time.Time, seen []model.UserIPs) error {
	type row struct {
		user int64
		ip   string
	}
	rows := make([]row, 0, len(seen))
	ids := make([]int64, 0, len(seen))
	for _, s := range seen {
		ids = append(ids, s.UserID)
		for _, ip := range s.IPs {
			rows = append(rows, row{s.UserID, ip})
		}
	}
	ts := at.Unix()
	for start := 0; start < len(rows); start += userIPsChunk {
		chunk := rows[start:min(start+userIPsChunk, len(rows))]
		var a args
		var q strings.Builder
		q.WriteString(`INSERT INTO user_ips (user_id, ip, node_id, first_seen, last_seen) VALUES `)
		for i, r := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			vals := [...]any{r.user, r.ip, nodeID, ts, ts}
			q.WriteString(a.addList(len(vals), func(i int) any { return vals[i] }))
		}
		// A report older than what another node said keeps the newer row.
		q.WriteString(` ON CONFLICT (user_id, ip) DO UPDATE SET node_id = excluded.node_id, last_seen = excluded.last_seen
			WHERE excluded.last_seen >= user_ips.last_seen`)
		if _, err := tx.exec(q.String(), a...); err != nil {
			return fmt.Errorf("recording %d addresses of node %d: %w", len(chunk), nodeID, err)
		}
	}
	for start := 0; start < len(ids); start += userIPsChunk {
		chunk := ids[start:min(start+userIPsChunk, len(ids))]
		a := args{int64(model.MaxUserIPs)}
		in := a.addList(len(chunk), func(i int) any { return chunk[i] })
		_, err := tx.exec(`DELETE FROM user_ips WHERE user_id IN `+in+` AND (user_id, ip) IN (
			SELECT user_id, ip FROM (
				SELECT user_id, ip, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY last_seen DESC, ip) AS rn
				FROM user_ips WHERE user_id IN `+in+`) ranked
			WHERE rn > $1)`, a...)
		if err != nil {
			return fmt.Errorf("trimming addresses of %d users: %w", len(chunk), err)
		}
	}
	return nil
}

// UserIPs lists the addresses of one user seen at or after since, newest
// first, with the name of the node that saw each last ("" once deleted).
func (tx *Tx) UserIPs(userID int64, since time.Time) ([]model.UserIP, error) {
	rows, err := tx.query(`SELECT i.ip, i.node_id, COALESCE(n.name, ''), i.first_seen, i.last_seen
		FROM user_ips i LEFT JOIN nodes n ON n.id = i.node_id
		WHERE i.user_id = $1 AND i.last_seen >= $2 ORDER BY i.last_seen DESC, i.ip LIMIT $3`,
		userID, since.Unix(), int64(model.MaxUserIPs))
	if err != nil {
		return nil, fmt.Errorf("listing addresses of user %d: %w", userID, err)
	}
	defer rows.Close()
	out := []model.UserIP{}
	for rows.Next() {
		var ip model.UserIP
		var first, last int64
		if err := rows.Scan(&ip.IP, &ip.NodeID, &ip.NodeName, &first, &last); err != nil {
			return nil, fmt.Errorf("listing addresses of user %d: %w", userID, err)
		}
		ip.FirstSeen, ip.LastSeen = fromUnix(first), fromUnix(last)
		out = append(out, ip)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing addresses of user %d: %w", userID, err)
	}
	return out, nil
}

// PruneUserIPs deletes addresses last seen before before.
func (tx *Tx) PruneUserIPs(before time.Time) (int64, error) {
	res, err := tx.exec(`DELETE FROM user_ips WHERE last_seen < $1`, before.Unix())
	if err != nil {
		return 0, fmt.Errorf("pruning addresses seen before %s: %w", before.Format(time.RFC3339), err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// IPCount is how many distinct addresses a user was seen from in a window,
// against the limit that applies to it.
type IPCount struct {
	UserID int64
	Count  int64
	Limit  int64
}

// UsersOverIPLimit lists the active and on-hold users seen from more
// distinct addresses at or after since than their limit (their ip_limit,
// or def where it is NULL; 0 is unlimited). It reads the recent rows of
// user_ips by their last_seen index: the work follows who was online in
// the window, not the number of users.
func (tx *Tx) UsersOverIPLimit(since time.Time, def int64) ([]IPCount, error) {
	rows, err := tx.query(`SELECT r.user_id, r.n, COALESCE(u.ip_limit, $2) FROM (
			SELECT user_id, COUNT(*) AS n FROM user_ips WHERE last_seen >= $1 GROUP BY user_id HAVING COUNT(*) > 1
		) r JOIN users u ON u.id = r.user_id
		WHERE u.status IN ('active', 'on_hold') AND COALESCE(u.ip_limit, $2) > 0 AND r.n > COALESCE(u.ip_limit, $2)
		ORDER BY r.user_id`, since.Unix(), def)
	if err != nil {
		return nil, fmt.Errorf("counting addresses since %s: %w", since.Format(time.RFC3339), err)
	}
	defer rows.Close()
	var out []IPCount
	for rows.Next() {
		var c IPCount
		if err := rows.Scan(&c.UserID, &c.Count, &c.Limit); err != nil {
			return nil, fmt.Errorf("counting addresses: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// UsersIPLimitDue lists the users the IP limit disabled whose time is up.
func (tx *Tx) UsersIPLimitDue(now time.Time) ([]int64, error) {
	return tx.queryIDs(`SELECT id FROM users WHERE ip_limit_until IS NOT NULL AND ip_limit_until <= $1 ORDER BY id`, now.Unix())
}
