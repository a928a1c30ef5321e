package store

import (
	"fmt"

	"github.com/outpost-panel/outpost/backend/model"
)

// Alert state (backend/alerts): the alerts table holds the conditions the
// evaluator tracks, pending or fired. Every write is conditional on the
// state it moves from, so two evaluators that overlap (a jobs lease handed
// over mid-tick) make one transition between them, and the caller enqueues
// a notification only for the row it changed.

// Alerts reads every tracked alert, pending and fired.
func (tx *Tx) Alerts() ([]model.Alert, error) {
	rows, err := tx.query(`SELECT rule, subject, since, fired_at, value, threshold, ref, target, message FROM alerts ORDER BY rule, subject`)
	if err != nil {
		return nil, fmt.Errorf("reading alerts: %w", err)
	}
	defer rows.Close()
	var out []model.Alert
	for rows.Next() {
		var a model.Alert
		var since int64
		if err := rows.Scan(&a.Rule, &a.Subject, &since, optTime{&a.FiredAt}, &a.Value, &a.Threshold, &a.Ref, &a.Target, &a.Message); err != nil {
			return nil, fmt.Errorf("reading alerts: %w", err)
		}
		a.Since = fromUnix(since)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading alerts: %w", err)
	}
	return out, nil
}

// PutPendingAlert starts tracking a condition that has not fired, or
// updates a pending one (its since and memo); a fired row is left alone.
func (tx *Tx) PutPendingAlert(a model.Alert) error {
	_, err := tx.exec(`INSERT INTO alerts (rule, subject, since, fired_at, value, threshold, ref, target, message)
		VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8)
		ON CONFLICT (rule, subject) DO UPDATE SET since = excluded.since, value = excluded.value,
			threshold = excluded.threshold, ref = excluded.ref, target = excluded.target, message = excluded.message
		WHERE alerts.fired_at IS NULL`,
		a.Rule, a.Subject, a.Since.Unix(), a.Value, a.Threshold, a.Ref, a.Target, a.Message)
	if err != nil {
		return fmt.Errorf("recording pending alert %s %s: %w", a.Rule, a.Subject, err)
	}
	return nil
}

// FireAlert marks the alert fired at *a.FiredAt, creating the row when
// none is pending. It reports whether this call fired it: false when it
// had fired already.
func (tx *Tx) FireAlert(a model.Alert) (bool, error) {
	if a.FiredAt == nil {
		return false, fmt.Errorf("firing alert %s %s: no time: %w", a.Rule, a.Subject, errInvalid)
	}
	res, err := tx.exec(`INSERT INTO alerts (rule, subject, since, fired_at, value, threshold, ref, target, message)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (rule, subject) DO UPDATE SET fired_at = excluded.fired_at, value = excluded.value,
			threshold = excluded.threshold, ref = excluded.ref, target = excluded.target, message = excluded.message
		WHERE alerts.fired_at IS NULL`,
		a.Rule, a.Subject, a.Since.Unix(), a.FiredAt.Unix(), a.Value, a.Threshold, a.Ref, a.Target, a.Message)
	if err != nil {
		return false, fmt.Errorf("firing alert %s %s: %w", a.Rule, a.Subject, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("firing alert %s %s: %w", a.Rule, a.Subject, err)
	}
	return n > 0, nil
}

// DropAlert stops tracking rule's condition on subject. It reports
// whether the row had fired: its resolution is then the caller's to send.
func (tx *Tx) DropAlert(rule, subject string) (wasFired bool, err error) {
	res, err := tx.exec(`DELETE FROM alerts WHERE rule = $1 AND subject = $2 AND fired_at IS NOT NULL`, rule, subject)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n > 0 {
			return true, nil
		}
	}
	if err == nil {
		_, err = tx.exec(`DELETE FROM alerts WHERE rule = $1 AND subject = $2`, rule, subject)
	}
	if err != nil {
		return false, fmt.Errorf("dropping alert %s %s: %w", rule, subject, err)
	}
	return false, nil
}
