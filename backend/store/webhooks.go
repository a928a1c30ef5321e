package store

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

// WebhookRow is one notification bound for one webhook address.
type WebhookRow = model.WebhookRow

// webhookChunk bounds the rows of one multi-row INSERT (4 parameters each).
const webhookChunk = 200

// EnqueueWebhooks writes rows to the outbox, due at once. Callers run it in
// the transaction of the change the rows describe, so both commit or
// neither does.
func (tx *Tx) EnqueueWebhooks(rows []WebhookRow) error {
	err := tx.insertChunked(len(rows), webhookChunk,
		`INSERT INTO webhook_outbox (address, action, payload, created_at, next_attempt_at) VALUES `, "",
		func(a *args, i int) string {
			r := rows[i]
			at := r.CreatedAt.Unix()
			return `(` + a.add(r.Address) + `, ` + a.add(r.Action) + `, ` + a.add(string(r.Payload)) + `, ` + a.add(at) + `, ` + a.add(at) + `)`
		})
	if err != nil {
		return fmt.Errorf("enqueueing webhook notifications: %w", err)
	}
	return nil
}

// HasDueWebhooks reports whether any pending row is due at now: one probe
// of the pending index, so an idle dispatcher reads instead of opening a
// write transaction every poll.
func (tx *Tx) HasDueWebhooks(now time.Time) (bool, error) {
	var one int
	err := tx.queryRow(`SELECT 1 FROM webhook_outbox
		WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1 LIMIT 1`, now.Unix()).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("looking for due webhook notifications: %w", err)
	}
	return true, nil
}

// ClaimWebhooks takes up to limit pending rows due at now, oldest first, and
// pushes their next attempt to now+lease so no other dispatcher takes them
// while this one delivers. A dispatcher that dies holding rows releases
// them when the lease runs out: delivery is at least once.
func (tx *Tx) ClaimWebhooks(now time.Time, lease time.Duration, limit int) ([]WebhookRow, error) {
	q := `SELECT id, address, action, payload, created_at, attempts FROM webhook_outbox
		WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2`
	if tx.postgres() {
		// Replicas claiming at once skip each other's rows instead of
		// queueing on their locks.
		q += ` FOR UPDATE SKIP LOCKED`
	}
	rows, err := tx.query(q, now.Unix(), limit)
	if err != nil {
		return nil, fmt.Errorf("claiming webhook notifications: %w", err)
	}
	out := []WebhookRow{}
	for rows.Next() {
		var (
			r       WebhookRow
			payload string
			created int64
		)
		if err := rows.Scan(&r.ID, &r.Address, &r.Action, &payload, &created, &r.Attempts); err != nil {
			rows.Close()
			return nil, fmt.Errorf("claiming webhook notifications: %w", err)
		}
		r.Payload, r.CreatedAt = []byte(payload), fromUnix(created)
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claiming webhook notifications: %w", err)
	}
	if err := tx.updateWebhooks(webhookIDs(out), `next_attempt_at = $1`, now.Add(lease).Unix()); err != nil {
		return nil, fmt.Errorf("leasing webhook notifications: %w", err)
	}
	return out, nil
}

func webhookIDs(rows []WebhookRow) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}

// updateWebhooks applies set (whose parameters are first) to the rows ids.
func (tx *Tx) updateWebhooks(ids []int64, set string, setArgs ...any) error {
	if len(ids) == 0 {
		return nil
	}
	return tx.eachIDChunk(ids, func(chunk []int64) error {
		a := args(append([]any(nil), setArgs...))
		in := a.addList(len(chunk), func(i int) any { return chunk[i] })
		_, err := tx.exec(`UPDATE webhook_outbox SET `+set+` WHERE id IN `+in, a...)
		return err
	})
}

// MarkWebhooksDelivered records a successful delivery.
func (tx *Tx) MarkWebhooksDelivered(ids []int64, at time.Time) error {
	if err := tx.updateWebhooks(ids, `delivered_at = $1, attempts = attempts + 1, last_error = ''`, at.Unix()); err != nil {
		return fmt.Errorf("marking %d webhook notifications delivered: %w", len(ids), err)
	}
	return nil
}

// RetryWebhooks records a failed attempt and when to try again.
func (tx *Tx) RetryWebhooks(ids []int64, next time.Time, reason string) error {
	if err := tx.updateWebhooks(ids, `attempts = attempts + 1, next_attempt_at = $1, last_error = $2`, next.Unix(), reason); err != nil {
		return fmt.Errorf("rescheduling %d webhook notifications: %w", len(ids), err)
	}
	return nil
}

// FailWebhooks records a last failed attempt: the rows are given up.
func (tx *Tx) FailWebhooks(ids []int64, at time.Time, reason string) error {
	if err := tx.updateWebhooks(ids, `attempts = attempts + 1, failed_at = $1, last_error = $2`, at.Unix(), reason); err != nil {
		return fmt.Errorf("giving up %d webhook notifications: %w", len(ids), err)
	}
	return nil
}

// PruneWebhooks deletes delivered and given-up rows created before before.
func (tx *Tx) PruneWebhooks(before time.Time) (int64, error) {
	res, err := tx.exec(`DELETE FROM webhook_outbox WHERE (delivered_at IS NOT NULL OR failed_at IS NOT NULL) AND created_at < $1`, before.Unix())
	if err != nil {
		return 0, fmt.Errorf("pruning webhook outbox: %w", err)
	}
	return res.RowsAffected()
}

// WebhookCounts is the outbox by state.
type WebhookCounts struct {
	Pending, Delivered, Failed int
}

// CountWebhooks counts outbox rows by state.
func (tx *Tx) CountWebhooks() (WebhookCounts, error) {
	var c WebhookCounts
	err := tx.queryRow(`SELECT
		COALESCE(SUM(CASE WHEN delivered_at IS NULL AND failed_at IS NULL THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN delivered_at IS NOT NULL THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN failed_at IS NOT NULL THEN 1 ELSE 0 END), 0) FROM webhook_outbox`).Scan(&c.Pending, &c.Delivered, &c.Failed)
	if err != nil {
		return c, fmt.Errorf("counting webhook outbox: %w", err)
	}
	return c, nil
}

// Reminder kinds in webhook_reminders.
const (
	ReminderUsage = "usage"
	ReminderDays  = "days"
)

// UsersReachingUsage returns up to limit active users with a data limit
// whose usage is at least percent of it and who were not yet reminded in
// their current usage period (since their last reset). used_traffic has no
// index by design (every usage batch rewrites it), so this is one scan of
// the narrow user_traffic table in SQL, never a row per user in Go; the job runs it once a
// minute.
func (tx *Tx) UsersReachingUsage(percent, limit int) ([]model.User, error) {
	users, err := tx.collectUsers(`SELECT `+userColumns+userFrom+`
		LEFT JOIN webhook_reminders r ON r.user_id = u.id AND r.kind = $1 AND r.period = COALESCE(u.usage_reset_at, u.created_at)
		WHERE u.status = 'active' AND t.data_limit > 0 AND t.used_traffic * 100 >= t.data_limit * $2
		AND r.user_id IS NULL ORDER BY u.id LIMIT $3`, ReminderUsage, percent, limit)
	if err != nil {
		return nil, fmt.Errorf("finding users at %d%% of their limit: %w", percent, err)
	}
	return users, nil
}

// UsersReachingExpiry returns up to limit active users whose expire falls
// in (now, now+within] and who were not yet reminded for that expire (an
// index range scan over users_expire).
func (tx *Tx) UsersReachingExpiry(now time.Time, within time.Duration, limit int) ([]model.User, error) {
	users, err := tx.collectUsers(`SELECT `+userColumns+userFrom+`
		LEFT JOIN webhook_reminders r ON r.user_id = u.id AND r.kind = $1 AND r.period = u.expire
		WHERE u.expire > $2 AND u.expire <= $3 AND u.status = 'active'
		AND r.user_id IS NULL ORDER BY u.expire, u.id LIMIT $4`, ReminderDays, now.Unix(), now.Add(within).Unix(), limit)
	if err != nil {
		return nil, fmt.Errorf("finding users expiring within %s: %w", within, err)
	}
	return users, nil
}

// RemindedUsers records that each user got the reminder kind for period.
func (tx *Tx) RemindedUsers(kind string, users []model.User) error {
	for i := range users {
		u := &users[i]
		period := u.Expire
		if kind == ReminderUsage {
			period = u.CreatedAt.Unix()
			if u.UsageResetAt != nil {
				period = u.UsageResetAt.Unix()
			}
		}
		if _, err := tx.exec(`INSERT INTO webhook_reminders (user_id, kind, period) VALUES ($1, $2, $3)
			ON CONFLICT (user_id, kind) DO UPDATE SET period = excluded.period`, u.ID, kind, period); err != nil {
			return fmt.Errorf("recording %s reminder of user %d: %w", kind, u.ID, err)
		}
	}
	return nil
}

// WebhookTargetStat is the outbox as one target sees it.
type WebhookTargetStat = model.WebhookTargetStat

// WebhookTargetStats reads the pending and given-up notifications per
// target, through the pending and failed partial indexes: delivered ones,
// the bulk of the outbox, are not read.
func (tx *Tx) WebhookTargetStats() ([]WebhookTargetStat, error) {
	stats := map[string]*WebhookTargetStat{}
	newest := map[string]int64{} // address -> id of its newest errored row
	get := func(a string) *WebhookTargetStat {
		if stats[a] == nil {
			stats[a] = &WebhookTargetStat{Address: a}
		}
		return stats[a]
	}
	scan := func(q string, each func(st *WebhookTargetStat, n, retrying int)) error {
		rows, err := tx.query(q)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				addr        string
				n, retrying int
				errID       sql.NullInt64
			)
			if err := rows.Scan(&addr, &n, &retrying, &errID); err != nil {
				return err
			}
			each(get(addr), n, retrying)
			if errID.Valid && errID.Int64 > newest[addr] {
				newest[addr] = errID.Int64
			}
		}
		return rows.Err()
	}
	err := scan(`SELECT address, COUNT(*), COALESCE(SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END), 0),
			MAX(CASE WHEN last_error <> '' THEN id END)
		FROM webhook_outbox WHERE delivered_at IS NULL AND failed_at IS NULL GROUP BY address`,
		func(st *WebhookTargetStat, n, retrying int) { st.Pending, st.Retrying = n, retrying })
	if err == nil {
		err = scan(`SELECT address, COUNT(*), 0, MAX(CASE WHEN last_error <> '' THEN id END)
			FROM webhook_outbox WHERE failed_at IS NOT NULL GROUP BY address`,
			func(st *WebhookTargetStat, n, _ int) { st.Failed = n })
	}
	if err != nil {
		return nil, fmt.Errorf("reading the webhook outbox per target: %w", err)
	}
	for addr, id := range newest {
		if err := tx.queryRow(`SELECT last_error FROM webhook_outbox WHERE id = $1`, id).Scan(&stats[addr].LastError); err != nil {
			return nil, fmt.Errorf("reading the webhook outbox per target: %w", err)
		}
	}
	out := make([]WebhookTargetStat, 0, len(stats))
	for _, st := range stats {
		out = append(out, *st)
	}
	slices.SortFunc(out, func(a, b WebhookTargetStat) int { return strings.Compare(a.Address, b.Address) })
	return out, nil
}
