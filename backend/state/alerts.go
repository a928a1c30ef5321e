package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
)

// Fleet alerts: the thresholds an operator sets (a settings row), the
// alert state the evaluator (backend/alerts) keeps in the alerts table, and
// the notifications a transition enqueues in the webhook outbox, in the
// transaction of the transition itself: a fired alert is notified exactly
// once whichever replica evaluates, and a new jobs leader reads what fired
// instead of firing it again.

// Alert notification actions, next to Marzban's user events in the outbox.
const (
	ActionAlertFired    = "alert.fired"
	ActionAlertResolved = "alert.resolved"
)

// alertSettingsKey is the settings row holding AlertSettings as JSON.
const alertSettingsKey = "alert_settings"

// AlertSettings are the operator's thresholds, one per rule; 0 turns that
// rule (or that half of a rule) off. Durations are seconds so a test can
// use a short one; the dashboard edits minutes.
type AlertSettings struct {
	// NodeOfflineSeconds: a node that has been seen is offline this long.
	NodeOfflineSeconds int64 `json:"node_offline_seconds"`
	// RevisionLagRevisions: a connected node's applied revision is more
	// than this far behind the panel's.
	RevisionLagRevisions int64 `json:"revision_lag_revisions"`
	// RevisionLagSeconds: a connected node has not reached a revision
	// this long after the panel was at it.
	RevisionLagSeconds int64 `json:"revision_lag_seconds"`
	// BacklogReports: a connected node's usage journal backlog rose in
	// this many status reports in a row.
	BacklogReports int64 `json:"backlog_reports"`
	// BacklogSize: a connected node's backlog is at least this many entries.
	BacklogSize int64 `json:"backlog_size"`
	// CertExpiryDays: a TLS certificate the panel knows of expires within
	// this many days.
	CertExpiryDays int64 `json:"cert_expiry_days"`
}

// DefaultAlertSettings apply until a sudo admin saves others.
func DefaultAlertSettings() AlertSettings {
	return AlertSettings{
		NodeOfflineSeconds:   300,
		RevisionLagRevisions: 10000,
		RevisionLagSeconds:   600,
		BacklogReports:       5,
		BacklogSize:          500,
		CertExpiryDays:       14,
	}
}

// alertLimits is the one place the thresholds' ranges live: each is 0 (off)
// or within [min, max].
var alertLimits = []struct {
	field    string
	min, max int64
	get      func(*AlertSettings) int64
}{
	{"node_offline_seconds", 10, 7 * 24 * 3600, func(a *AlertSettings) int64 { return a.NodeOfflineSeconds }},
	{"revision_lag_revisions", 1, 1_000_000_000, func(a *AlertSettings) int64 { return a.RevisionLagRevisions }},
	{"revision_lag_seconds", 10, 7 * 24 * 3600, func(a *AlertSettings) int64 { return a.RevisionLagSeconds }},
	{"backlog_reports", 2, 1000, func(a *AlertSettings) int64 { return a.BacklogReports }},
	{"backlog_size", 1, 1_000_000_000, func(a *AlertSettings) int64 { return a.BacklogSize }},
	{"cert_expiry_days", 1, 365, func(a *AlertSettings) int64 { return a.CertExpiryDays }},
}

// Validate checks every threshold's range and names each one out of it.
func (a *AlertSettings) Validate() error {
	var bad []string
	for _, l := range alertLimits {
		if v := l.get(a); v != 0 && (v < l.min || v > l.max) {
			bad = append(bad, fmt.Sprintf("%s: 0 (off) or between %d and %d", l.field, l.min, l.max))
		}
	}
	if len(bad) > 0 {
		return invalid("%s", strings.Join(bad, "; "))
	}
	return nil
}

// AlertSettings returns the stored thresholds, the defaults for any not
// stored.
func (s *State) AlertSettings(ctx context.Context) (AlertSettings, error) {
	out := DefaultAlertSettings()
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		v, ok, err := tx.Setting(alertSettingsKey)
		if err != nil || !ok {
			return err
		}
		return json.Unmarshal([]byte(v), &out)
	})
	if err != nil {
		return AlertSettings{}, fmt.Errorf("loading alert settings: %w", err)
	}
	return out, nil
}

// SetAlertSettings validates and stores the thresholds.
func (s *State) SetAlertSettings(ctx context.Context, a AlertSettings) error {
	if err := a.Validate(); err != nil {
		return err
	}
	data, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encoding alert settings: %w", err)
	}
	return s.store.Tx(ctx, func(tx *store.Tx) error {
		before := DefaultAlertSettings()
		v, ok, err := tx.Setting(alertSettingsKey)
		if err != nil {
			return err
		}
		if ok {
			if err := json.Unmarshal([]byte(v), &before); err != nil {
				return fmt.Errorf("decoding stored alert settings: %w", err)
			}
		}
		if err := tx.SetSetting(alertSettingsKey, string(data)); err != nil {
			return err
		}
		return auditRow(tx, "alerts.settings", "/api/alerts/settings", 0, before, a)
	})
}

// Alerts reads every tracked alert, pending and fired.
func (s *State) Alerts(ctx context.Context) ([]model.Alert, error) {
	var out []model.Alert
	err := s.store.Read(ctx, func(tx *store.Tx) (err error) {
		out, err = tx.Alerts()
		return err
	})
	return out, err
}

// AlertTransitions are what one evaluation changes: conditions that began
// or whose memo moved (Pending), alerts that fire now (Fire, FiredAt set),
// and conditions that ended (Drop, with the value they ended at).
type AlertTransitions struct {
	Pending []model.Alert
	Fire    []model.Alert
	Drop    []model.Alert
}

func (t *AlertTransitions) Empty() bool {
	return len(t.Pending) == 0 && len(t.Fire) == 0 && len(t.Drop) == 0
}

// ApplyAlerts records t in one transaction and enqueues alert.fired for
// each alert this call fired and alert.resolved for each fired one it
// dropped. Another evaluator that made a transition first wins it, and
// this call sends nothing for it. It returns the alerts that fired and
// resolved here.
func (s *State) ApplyAlerts(ctx context.Context, t AlertTransitions) (fired, resolved []model.Alert, err error) {
	if t.Empty() {
		return nil, nil, nil
	}
	now := s.now().UTC()
	err = s.store.Tx(ctx, func(tx *store.Tx) error {
		fired, resolved = nil, nil
		for _, a := range t.Pending {
			if err := tx.PutPendingAlert(a); err != nil {
				return err
			}
		}
		for _, a := range t.Fire {
			ok, err := tx.FireAlert(a)
			if err != nil {
				return err
			}
			if ok {
				fired = append(fired, a)
			}
		}
		for _, a := range t.Drop {
			was, err := tx.DropAlert(a.Rule, a.Subject)
			if err != nil {
				return err
			}
			if was {
				resolved = append(resolved, a)
			}
		}
		if len(fired)+len(resolved) == 0 {
			return nil
		}
		targets := s.webhookTargets()
		if len(targets) == 0 {
			return nil
		}
		var rows []model.WebhookRow
		add := func(action string, a model.Alert) error {
			data, err := json.Marshal(alertNotificationOf(action, a, now))
			if err != nil {
				return fmt.Errorf("encoding %s of %s %s: %w", action, a.Rule, a.Subject, err)
			}
			for _, addr := range targets {
				rows = append(rows, model.WebhookRow{Address: addr, Action: action, Payload: data, CreatedAt: now})
			}
			return nil
		}
		for _, a := range fired {
			if err := add(ActionAlertFired, a); err != nil {
				return err
			}
		}
		for _, a := range resolved {
			if err := add(ActionAlertResolved, a); err != nil {
				return err
			}
		}
		return tx.EnqueueWebhooks(rows)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("recording alerts: %w", err)
	}
	return fired, resolved, nil
}

// AlertNotification is the webhook body of alert.fired and alert.resolved
// (one element of the JSON array a delivery carries, like a user event).
type AlertNotification struct {
	Action    string  `json:"action"`
	Rule      string  `json:"rule"`
	Subject   string  `json:"subject"`
	Target    string  `json:"target"`
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold"`
	Message   string  `json:"message"`
	// Since is when the condition began; FiredAt when the alert fired
	// (both Unix seconds); ResolvedAt is set on alert.resolved.
	Since      int64   `json:"since"`
	FiredAt    int64   `json:"fired_at"`
	ResolvedAt *int64  `json:"resolved_at,omitempty"`
	EnqueuedAt float64 `json:"enqueued_at"`
	SendAt     float64 `json:"send_at"`
	Tries      int     `json:"tries"`
}

func alertNotificationOf(action string, a model.Alert, now time.Time) AlertNotification {
	stamp := float64(now.UnixMilli()) / 1000
	n := AlertNotification{Action: action, Rule: a.Rule, Subject: a.Subject, Target: a.Target, Value: a.Value,
		Threshold: a.Threshold, Message: a.Message, Since: a.Since.Unix(), EnqueuedAt: stamp, SendAt: stamp}
	if a.FiredAt != nil {
		n.FiredAt = a.FiredAt.Unix()
	}
	if action == ActionAlertResolved {
		at := now.Unix()
		n.ResolvedAt = &at
	}
	return n
}

// AlertsMark moves whenever GET /api/alerts would answer differently: the
// alerts that fired, by rule, subject and time.
func (s *State) AlertsMark(ctx context.Context) (string, error) {
	rows, err := s.Alerts(ctx)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, a := range rows {
		if a.FiredAt != nil {
			fmt.Fprintf(h, "%q %q %d\n", a.Rule, a.Subject, a.FiredAt.Unix())
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
