package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

// UserTraffic is one user's bytes in a node's usage batch.
type UserTraffic = model.UserTraffic

// usageBatch is a node batch merged per user, sorted by user id.
type usageBatch struct {
	ids      []int64
	raw      []int64 // up+down per user, before the coefficient
	up, down int64   // node totals, unknown users included
	// devices are the bytes of device identities (credentials per
	// device), also counted in their users' raw.
	devices []deviceTraffic
}

// deviceTraffic is what one device identity of a user moved.
type deviceTraffic struct {
	userID, deviceID, raw int64
}

func mergeUsage(traffic []UserTraffic) (usageBatch, error) {
	var b usageBatch
	sorted := slices.Clone(traffic)
	slices.SortFunc(sorted, func(x, y UserTraffic) int { return int(sign(x.UserID - y.UserID)) })
	for _, t := range sorted {
		if t.Up < 0 || t.Down < 0 {
			return b, fmt.Errorf("user %d: negative traffic: %w", t.UserID, errInvalid)
		}
		// Saturating: a node's absurd counters must not wrap to negative.
		b.up = model.ClampBytes(model.SatAdd(b.up, t.Up))
		b.down = model.ClampBytes(model.SatAdd(b.down, t.Down))
		sum := model.SatAdd(t.Up, t.Down)
		if sum == 0 {
			continue
		}
		if t.DeviceID > 0 {
			b.devices = append(b.devices, deviceTraffic{userID: t.UserID, deviceID: t.DeviceID, raw: sum})
		}
		if n := len(b.ids); n > 0 && b.ids[n-1] == t.UserID {
			b.raw[n-1] = model.SatAdd(b.raw[n-1], sum)
			continue
		}
		b.ids = append(b.ids, t.UserID)
		b.raw = append(b.raw, sum)
	}
	return b, nil
}

// ApplyUsage records one usage batch of a node, entries (fromSeq, toSeq], in
// one transaction: it locks the node row, checks the session fence, skips a
// batch already recorded (toSeq <= usage_seq, so a resent batch counts
// once), adds each user's bytes times the node's usage coefficient to
// used_traffic and lifetime_used_traffic (and their owner's users_usage),
// sets their online_at, adds the node's bytes to its hourly usage, appends
// the users' bytes to the usage journal for the hour of at (see
// FoldUsageJournal), and records toSeq. Unknown user ids count in the
// node's usage only. applied reports whether the batch was counted now.
func (s *Store) ApplyUsage(ctx context.Context, nodeID, fence, fromSeq, toSeq int64, at time.Time, traffic []UserTraffic) (applied bool, err error) {
	r := s.ApplyUsageMany(ctx, []UsageBatch{{NodeID: nodeID, Fence: fence, FromSeq: fromSeq, ToSeq: toSeq, At: at, Traffic: traffic}})
	return r[0].Applied, r[0].Err
}

// UsageBatch is one node's usage batch for ApplyUsageMany.
type UsageBatch = model.UsageBatch

// UsageResult is what became of one batch of ApplyUsageMany.
type UsageResult = model.UsageResult

// ApplyUsageMany records several nodes' usage batches in one transaction
// (the hub's group commit: what 1,000 nodes sent while the previous
// commit ran), each exactly as ApplyUsage would: its node row locked and
// its fence and sequence checked, its journal row, hourly node bytes and
// sequence written. A batch that is fenced, of a missing node or already
// recorded changes nothing and does not hold the others back. The users'
// bytes of all the counted batches are added to their counters in one pass
// (a user several nodes reported is updated once, online at the latest
// batch's time). If the transaction fails, every batch not refused on its
// own has that error and nothing was counted.
func (s *Store) ApplyUsageMany(ctx context.Context, bs []UsageBatch) []UsageResult {
	type prepared struct {
		batch   usageBatch
		hour    int64
		noted   []func(ids, used []int64, seqs int64)
		used    []int64
		seqs    int64
		skip    bool // refused before the transaction
		applied bool
		err     error
	}
	out := make([]UsageResult, len(bs))
	ps := make([]prepared, len(bs))
	todo := 0
	for i, b := range bs {
		p := &ps[i]
		if b.ToSeq <= b.FromSeq || b.FromSeq < 0 {
			p.skip, p.err = true, fmt.Errorf("usage of node %d: sequence range (%d, %d]: %w", b.NodeID, b.FromSeq, b.ToSeq, errInvalid)
			continue
		}
		batch, err := mergeUsage(b.Traffic)
		if err != nil {
			p.skip, p.err = true, fmt.Errorf("usage of node %d: %w", b.NodeID, err)
			continue
		}
		p.batch, p.hour, p.noted = batch, hourOf(b.At), s.hooks.usageStarting()
		todo++
	}
	// Lock order: the usage lock (lockUsage), then nodes rows in ascending
	// id order (NodeWriteBatch takes them so too), then the users'
	// counters and their owners.
	order := make([]int, len(bs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(bs[a].NodeID, bs[b].NodeID) })
	var err error
	if todo > 0 {
		err = s.Tx(ctx, func(tx *Tx) error {
			if err := tx.lockUsage(); err != nil {
				return err
			}
			users := map[int64]int64{}
			devices := map[deviceTraffic]int64{} // key without raw
			var at int64
			for _, i := range order {
				b, p := bs[i], &ps[i]
				if p.skip {
					continue
				}
				p.applied, p.seqs, p.used, p.err = false, 0, nil, nil
				var (
					sessionFence, usageSeq int64
					coefficient            float64
				)
				err := tx.queryRow(`SELECT session_fence, usage_seq, usage_coefficient FROM nodes WHERE id = $1`+tx.forUpdate(),
					b.NodeID).Scan(&sessionFence, &usageSeq, &coefficient)
				if errors.Is(err, sql.ErrNoRows) {
					p.err = errNotFound
					continue
				}
				if err != nil {
					return err
				}
				if sessionFence != b.Fence {
					p.err = ErrFenced
					continue
				}
				if b.ToSeq <= usageSeq {
					continue
				}
				if b.FromSeq != usageSeq {
					// The node sends what follows the sequence it was welcomed with;
					// anything else is a protocol bug on one side. Count the batch
					// (dropping it would lose traffic for good) and say so.
					s.log.Warn("usage batch does not follow the recorded sequence",
						"node_id", b.NodeID, "recorded_seq", usageSeq, "from_seq", b.FromSeq, "to_seq", b.ToSeq)
				}
				if len(p.batch.ids) > 0 {
					p.used = make([]int64, len(p.batch.raw))
					for j, r := range p.batch.raw {
						p.used[j] = scaledUsage(r, coefficient)
						users[p.batch.ids[j]] = model.ClampBytes(model.SatAdd(users[p.batch.ids[j]], p.used[j]))
					}
					for _, d := range p.batch.devices {
						k := deviceTraffic{userID: d.userID, deviceID: d.deviceID}
						devices[k] = model.ClampBytes(model.SatAdd(devices[k], scaledUsage(d.raw, coefficient)))
					}
					at = max(at, b.At.Unix())
					if _, err := tx.exec(`INSERT INTO usage_journal (node_id, hour, users, data) VALUES ($1, $2, $3, $4)`,
						b.NodeID, p.hour, len(p.batch.ids), encodeJournal(p.batch.ids, p.used)); err != nil {
						return fmt.Errorf("journaling user usage: %w", err)
					}
				}
				if p.batch.up+p.batch.down > 0 {
					if _, err := tx.exec(`INSERT INTO node_usages (node_id, hour, uplink, downlink) VALUES ($1, $2, $3, $4)
						ON CONFLICT (node_id, hour) DO UPDATE SET uplink = `+saturatedSum("node_usages.uplink", "excluded.uplink")+`,
							downlink = `+saturatedSum("node_usages.downlink", "excluded.downlink"),
						b.NodeID, p.hour, p.batch.up, p.batch.down); err != nil {
						return fmt.Errorf("adding node usage: %w", err)
					}
				}
				if _, err := tx.exec(`UPDATE nodes SET usage_seq = $1 WHERE id = $2`, b.ToSeq, b.NodeID); err != nil {
					return fmt.Errorf("recording usage sequence: %w", err)
				}
				p.applied, p.seqs = true, b.ToSeq-usageSeq
			}
			if len(users) == 0 {
				return nil
			}
			if err := tx.applyDeviceUsage(devices); err != nil {
				return err
			}
			ids := make([]int64, 0, len(users))
			for id := range users {
				ids = append(ids, id)
			}
			slices.Sort(ids)
			used := make([]int64, len(ids))
			for j, id := range ids {
				used[j] = users[id]
			}
			if tx.postgres() {
				return tx.applyUserUsagePostgres(at, ids, used)
			}
			return tx.applyUserUsageSQLite(at, ids, used)
		})
	}
	for i, b := range bs {
		p := &ps[i]
		switch {
		case p.skip:
			out[i].Err = p.err
		case err != nil:
			out[i].Err = fmt.Errorf("applying usage (%d, %d] of node %d: %w", b.FromSeq, b.ToSeq, b.NodeID, err)
		case p.err != nil:
			out[i].Err = fmt.Errorf("applying usage (%d, %d] of node %d: %w", b.FromSeq, b.ToSeq, b.NodeID, p.err)
		case p.applied:
			out[i].Applied = true
			for _, note := range p.noted {
				note(p.batch.ids, p.used, p.seqs)
			}
		}
	}
	return out
}

// scaledUsage is a user's bytes through a node times the node's usage
// coefficient, clamped to [0, model.MaxBytes]: a node that reports absurd
// counters (or a coefficient near its bound) cannot wrap a counter
// negative, and float64 to int64 of a value past the range is undefined.
func scaledUsage(raw int64, coefficient float64) int64 {
	v := math.Round(float64(raw) * coefficient)
	if !(v > 0) { // negative or NaN
		return 0
	}
	if v >= float64(model.MaxBytes) {
		return model.MaxBytes
	}
	return int64(v)
}

// saturatedSum is SQL for counter + delta that stops at model.MaxBytes
// instead of overflowing the column (which would fail the whole batch):
// delta is at most MaxBytes (scaledUsage), so MaxBytes - delta cannot
// overflow either.
func saturatedSum(counter, delta string) string {
	maxBytes := strconv.FormatInt(model.MaxBytes, 10)
	return `CASE WHEN ` + counter + ` >= ` + maxBytes + ` - ` + delta + ` THEN ` + maxBytes +
		` ELSE ` + counter + ` + ` + delta + ` END`
}

// applyUserUsagePostgres adds the batch to the users' counters and their
// owners' totals with one statement: the arrays are unnested server side,
// and the UPDATE's RETURNING (only users that exist, now row-locked against
// a concurrent delete) carries each row's owner to the admins update. The
// counters rows are narrow and no index names a column it changes, so
// every row is updated in place (HOT).
func (tx *Tx) applyUserUsagePostgres(at int64, ids, used []int64) error {
	// The default 4 MB of work_mem spills the 100k-row unnest and its hash
	// join to temporary files (seen in EXPLAIN ANALYZE: a third of the
	// statement's time); this transaction alone may use more.
	if _, err := tx.exec(`SET LOCAL work_mem = '64MB'`); err != nil {
		return fmt.Errorf("sizing usage batch memory: %w", err)
	}
	_, err := tx.exec(`WITH updated AS (
			UPDATE user_traffic t SET used_traffic = `+saturatedSum("t.used_traffic", "b.used")+`,
				lifetime_used_traffic = `+saturatedSum("t.lifetime_used_traffic", "b.used")+`, online_at = $3
			FROM unnest($1::bigint[], $2::bigint[]) AS b (user_id, used) WHERE t.user_id = b.user_id
			RETURNING t.admin_id, b.used
		)
		UPDATE admins a SET users_usage = LEAST(a.users_usage + s.total, `+strconv.FormatInt(model.MaxBytes, 10)+`)
		FROM (SELECT admin_id, SUM(used) AS total FROM updated WHERE admin_id IS NOT NULL GROUP BY admin_id) s
		WHERE a.id = s.admin_id`,
		ids, used, at)
	if err != nil {
		return fmt.Errorf("adding usage of %d users: %w", len(ids), err)
	}
	return nil
}

// applyUserUsageSQLite loads the batch into a connection-local temp table
// with multi-row inserts, then applies it with two set-based statements.
func (tx *Tx) applyUserUsageSQLite(at int64, ids, used []int64) error {
	if err := tx.loadUsageBatch(ids, used); err != nil {
		return err
	}
	maxBytes := strconv.FormatInt(model.MaxBytes, 10)
	steps := []struct {
		what, query string
		args        []any
	}{
		{"adding user usage", `UPDATE user_traffic SET used_traffic = ` + saturatedSum("used_traffic", "b.used") + `,
				lifetime_used_traffic = ` + saturatedSum("lifetime_used_traffic", "b.used") + `, online_at = $1
			FROM temp.usage_batch b WHERE user_traffic.user_id = b.user_id`, []any{at}},
		// SUM of many users' bytes can pass 2^63, where SQLite's SUM
		// fails: it is summed in two halves (bits 31 and up, and below),
		// neither of which can overflow, and the addition saturates.
		{"adding admin usage", `UPDATE admins SET users_usage = CASE
				WHEN s.hi >= (` + maxBytes + ` - users_usage) >> 31 THEN ` + maxBytes + `
				ELSE MIN(users_usage + s.hi * 2147483648 + s.lo, ` + maxBytes + `) END
			FROM (SELECT t.admin_id AS admin_id, SUM(b.used >> 31) AS hi, SUM(b.used & 2147483647) AS lo
				FROM temp.usage_batch b JOIN user_traffic t ON t.user_id = b.user_id
				WHERE t.admin_id IS NOT NULL GROUP BY t.admin_id) s
			WHERE admins.id = s.admin_id`, nil},
		{"clearing usage batch table", `DELETE FROM temp.usage_batch`, nil},
	}
	for _, st := range steps {
		if _, err := tx.exec(st.query, st.args...); err != nil {
			return fmt.Errorf("%s: %w", st.what, err)
		}
	}
	return nil
}

// loadUsageBatch fills the connection-local temp table usage_batch (made
// here if missing, emptied first) with ids and used. The batch goes in as
// one JSON object bound as one parameter and unpacked by json_each: the
// SQLite driver parses every statement anew on each run and binds
// parameters one by one, so the multi-row INSERTs of 250 rows this
// replaced spent more CPU parsing and binding than inserting (100k users:
// about 300 ms of the batch's CPU against about 60 ms now, measured with
// pprof on BenchmarkApplyUsage100k/sqlite).
func (tx *Tx) loadUsageBatch(ids, used []int64) error {
	if _, err := tx.exec(`CREATE TEMP TABLE IF NOT EXISTS usage_batch (
			user_id INTEGER PRIMARY KEY, used INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("creating usage batch table: %w", err)
	}
	if _, err := tx.exec(`DELETE FROM temp.usage_batch`); err != nil {
		return fmt.Errorf("clearing usage batch table: %w", err)
	}
	if _, err := tx.exec(`INSERT INTO temp.usage_batch (user_id, used)
		SELECT CAST(key AS INTEGER), value FROM json_each($1)`, usageJSON(ids, used)); err != nil {
		return fmt.Errorf("loading usage batch: %w", err)
	}
	return nil
}

// usageJSON renders {"id":used,...}; ids are ascending, so the temp
// table's inserts append.
func usageJSON(ids, used []int64) string {
	buf := make([]byte, 0, 2+len(ids)*16)
	buf = append(buf, '{')
	for i, id := range ids {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '"')
		buf = strconv.AppendInt(buf, id, 10)
		buf = append(buf, '"', ':')
		buf = strconv.AppendInt(buf, used[i], 10)
	}
	buf = append(buf, '}')
	return string(buf)
}

// UsagePoint is traffic in one hour, for usage reports.
type UsagePoint = model.UsagePoint

// UserUsage returns a user's hourly usage per node in [start, end).
func (tx *Tx) UserUsage(userID int64, start, end time.Time) ([]UsagePoint, error) {
	rows, err := tx.query(`SELECT node_id, hour, used FROM node_user_usages
		WHERE user_id = $1 AND hour >= $2 AND hour < $3 ORDER BY hour, node_id`,
		userID, hourOf(start), end.Unix())
	if err != nil {
		return nil, fmt.Errorf("reading usage of user %d: %w", userID, err)
	}
	defer rows.Close()
	out := []UsagePoint{}
	for rows.Next() {
		var p UsagePoint
		if err := rows.Scan(&p.NodeID, reqTime{&p.Hour}, &p.Used); err != nil {
			return nil, fmt.Errorf("reading usage of user %d: %w", userID, err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading usage of user %d: %w", userID, err)
	}
	return out, nil
}

// NodesUsage returns every node's hourly uplink and downlink in [start, end).
func (tx *Tx) NodesUsage(start, end time.Time) ([]UsagePoint, error) {
	rows, err := tx.query(`SELECT node_id, hour, uplink, downlink FROM node_usages
		WHERE hour >= $1 AND hour < $2 ORDER BY hour, node_id`, hourOf(start), end.Unix())
	if err != nil {
		return nil, fmt.Errorf("reading node usage: %w", err)
	}
	defer rows.Close()
	out := []UsagePoint{}
	for rows.Next() {
		var p UsagePoint
		if err := rows.Scan(&p.NodeID, reqTime{&p.Hour}, &p.Uplink, &p.Downlink); err != nil {
			return nil, fmt.Errorf("reading node usage: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading node usage: %w", err)
	}
	return out, nil
}

// NodeUsageHour is one hour of one node's traffic (node_usages).
type NodeUsageHour struct {
	NodeID           int64
	Hour             int64 // Unix seconds at the start of the hour
	Uplink, Downlink int64
}

// UserUsageHour is one hour of one user's traffic through one node
// (node_user_usages).
type UserUsageHour struct {
	UserID, NodeID int64
	Hour           int64 // Unix seconds at the start of the hour
	Used           int64
}

// historyChunk bounds the rows of one multi-row INSERT of usage history (4
// parameters each, under SQLite's and PostgreSQL's parameter limits).
const historyChunk = 500

// insertChunked writes n rows as multi-row INSERTs of at most chunk rows:
// head is the statement up to VALUES, row renders row i's tuple with its
// parameters added to a, tail follows the values (an ON CONFLICT clause).
func (tx *Tx) insertChunked(n, chunk int, head, tail string, row func(a *args, i int) string) error {
	for start := 0; start < n; start += chunk {
		end := min(start+chunk, n)
		var a args
		var q strings.Builder
		q.WriteString(head)
		for i := start; i < end; i++ {
			if i > start {
				q.WriteString(", ")
			}
			q.WriteString(row(&a, i))
		}
		q.WriteString(tail)
		if _, err := tx.exec(q.String(), a...); err != nil {
			return fmt.Errorf("%d rows: %w", end-start, err)
		}
	}
	return nil
}

// AddNodeUsageHours adds rows to the hourly node usage, summing into an
// hour a node has already: an import of another panel's history.
func (tx *Tx) AddNodeUsageHours(rows []NodeUsageHour) error {
	err := tx.insertChunked(len(rows), historyChunk, `INSERT INTO node_usages (node_id, hour, uplink, downlink) VALUES `,
		` ON CONFLICT (node_id, hour) DO UPDATE SET uplink = node_usages.uplink + excluded.uplink,
			downlink = node_usages.downlink + excluded.downlink`,
		func(a *args, i int) string {
			r := rows[i]
			return `(` + a.add(r.NodeID) + `, ` + a.add(r.Hour) + `, ` + a.add(r.Uplink) + `, ` + a.add(r.Downlink) + `)`
		})
	if err != nil {
		return fmt.Errorf("adding hours of node usage: %w", err)
	}
	return nil
}

// AddUserUsageHours adds rows to the hourly per-user, per-node usage,
// summing into an hour a user has already.
func (tx *Tx) AddUserUsageHours(rows []UserUsageHour) error {
	err := tx.insertChunked(len(rows), historyChunk, `INSERT INTO node_user_usages (user_id, node_id, hour, used) VALUES `,
		` ON CONFLICT (user_id, node_id, hour) DO UPDATE SET used = node_user_usages.used + excluded.used`,
		func(a *args, i int) string {
			r := rows[i]
			return `(` + a.add(r.UserID) + `, ` + a.add(r.NodeID) + `, ` + a.add(r.Hour) + `, ` + a.add(r.Used) + `)`
		})
	if err != nil {
		return fmt.Errorf("adding hours of user usage: %w", err)
	}
	return nil
}

// applyDeviceUsage adds device identities' bytes to user_devices.used_traffic
// with one statement: a device id that is not its user's (removed since,
// or a node's mistake) matches no row and is ignored.
func (tx *Tx) applyDeviceUsage(devices map[deviceTraffic]int64) error {
	if len(devices) == 0 {
		return nil
	}
	keys := make([]deviceTraffic, 0, len(devices))
	for k := range devices {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y deviceTraffic) int { return int(sign(x.deviceID - y.deviceID)) })
	ids, users, used := make([]int64, len(keys)), make([]int64, len(keys)), make([]int64, len(keys))
	for i, k := range keys {
		ids[i], users[i], used[i] = k.deviceID, k.userID, devices[k]
	}
	var err error
	if tx.postgres() {
		_, err = tx.exec(`UPDATE user_devices d SET used_traffic = `+saturatedSum("d.used_traffic", "b.used")+`
			FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS b (id, user_id, used)
			WHERE d.id = b.id AND d.user_id = b.user_id`, ids, users, used)
	} else {
		buf := make([]byte, 0, 2+len(keys)*32)
		buf = append(buf, '[')
		for i := range keys {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, '[')
			buf = strconv.AppendInt(buf, ids[i], 10)
			buf = append(buf, ',')
			buf = strconv.AppendInt(buf, users[i], 10)
			buf = append(buf, ',')
			buf = strconv.AppendInt(buf, used[i], 10)
			buf = append(buf, ']')
		}
		buf = append(buf, ']')
		_, err = tx.exec(`UPDATE user_devices SET used_traffic = `+saturatedSum("user_devices.used_traffic", "b.used")+`
			FROM (SELECT value ->> 0 AS id, value ->> 1 AS user_id, value ->> 2 AS used FROM json_each($1)) b
			WHERE user_devices.id = b.id AND user_devices.user_id = b.user_id`, string(buf))
	}
	if err != nil {
		return fmt.Errorf("adding usage of %d devices: %w", len(keys), err)
	}
	return nil
}
