// Package webhook delivers the panel's user notifications (Marzban's event
// set) to the configured webhook addresses. Events are rows of the
// webhook_outbox table, written by backend/state in the transaction of the
// change they report, so a crash or restart loses none. The dispatcher
// claims due rows with a lease (several replicas may run one: each row goes
// to one of them), posts each address's rows as one JSON array with the
// x-webhook-secret header, and on failure retries until it gives up after
// MaxAttempts.
//
// Retries follow Marzban's recurrent notifications by default: a failed
// delivery is tried again NUMBER_OF_RECURRENT_NOTIFICATIONS times (3),
// RECURRENT_NOTIFICATIONS_TIMEOUT apart (180 s), so a receiver may be away
// for nine minutes without missing an event; each wait is stretched by up
// to a tenth at random so panels that failed together do not retry in
// step. A retried notification carries its tries and send_at, as
// Marzban's do. BaseBackoff below MaxBackoff doubles the wait from one
// retry to the next instead.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/outpost-panel/outpost/backend/jobs"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
)

// Defaults. The retry settings are Marzban's (config.Defaults has the same
// numbers for the panel's flags).
const (
	// DefaultRetries is NUMBER_OF_RECURRENT_NOTIFICATIONS.
	DefaultRetries = 3
	// DefaultRetryInterval is RECURRENT_NOTIFICATIONS_TIMEOUT.
	DefaultRetryInterval = 180 * time.Second
	DefaultMaxAttempts   = DefaultRetries + 1
	DefaultBaseBackoff   = DefaultRetryInterval
	DefaultMaxBackoff    = DefaultRetryInterval
	DefaultBatch         = 50
	DefaultTimeout       = 10 * time.Second
	DefaultPoll          = time.Second
	// DefaultRetention is how long delivered and given-up rows stay in the
	// outbox (for inspection) before they are pruned.
	DefaultRetention = 7 * 24 * time.Hour
	// ReminderEvery is how often reached_usage_percent and
	// reached_days_left are looked for (Marzban: 30 s).
	ReminderEvery = 30 * time.Second
)

// Options configure a Dispatcher. Zero values take the defaults.
type Options struct {
	Secret  string // sent as x-webhook-secret; never logged
	Client  *http.Client
	Timeout time.Duration // per request, when Client is nil
	// MaxAttempts is the first delivery plus the retries (Marzban's
	// NUMBER_OF_RECURRENT_NOTIFICATIONS + 1); 1 never retries.
	MaxAttempts int
	Batch       int // rows claimed at once
	// BaseBackoff is the wait before the first retry, doubled for each
	// later one up to MaxBackoff; both at RECURRENT_NOTIFICATIONS_TIMEOUT
	// make Marzban's fixed interval.
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	// Lease is how long claimed rows stay hidden from other dispatchers;
	// it must outlast a delivery. 0 means twice the timeout plus a minute.
	Lease     time.Duration
	Poll      time.Duration // idle wait between claims
	Retention time.Duration
	Now       func() time.Time
	Log       *slog.Logger
	// TelegramToken is the bot that sends Telegram notifications
	// (TELEGRAM_API_TOKEN); TelegramAPI the Bot API's base URL
	// (DefaultTelegramAPI when empty).
	TelegramToken string
	TelegramAPI   string
}

// Dispatcher delivers the outbox.
type Dispatcher struct {
	st   *state.State
	opts Options
}

// New builds a dispatcher over the panel's outbox, which st holds.
func New(st *state.State, opts Options) *Dispatcher {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: opts.Timeout}
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	if opts.BaseBackoff <= 0 {
		opts.BaseBackoff = DefaultBaseBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = max(DefaultMaxBackoff, opts.BaseBackoff)
	}
	opts.BaseBackoff = min(opts.BaseBackoff, opts.MaxBackoff)
	if opts.Lease <= 0 {
		opts.Lease = 2*opts.Timeout + time.Minute
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.TelegramAPI == "" {
		opts.TelegramAPI = DefaultTelegramAPI
	}
	opts.TelegramAPI = strings.TrimRight(opts.TelegramAPI, "/")
	return &Dispatcher{st: st, opts: opts}
}

// Run delivers until ctx ends: claims at once while rows are due, else
// waits Poll. It prunes old rows about once an hour.
func (d *Dispatcher) Run(ctx context.Context) {
	var lastPrune time.Time
	for {
		n, err := d.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			d.opts.Log.Warn("webhook dispatch failed", "err", err)
		}
		if now := d.opts.Now(); now.Sub(lastPrune) > time.Hour {
			lastPrune = now
			if _, err := d.st.PruneWebhooks(ctx, now.Add(-d.opts.Retention)); err != nil && ctx.Err() == nil {
				d.opts.Log.Warn("pruning webhook outbox", "err", err)
			}
		}
		if n > 0 && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(d.opts.Poll):
		}
	}
}

// RunOnce claims one batch of due rows and delivers it. It returns how
// many rows it claimed. When ctx ends mid-delivery nothing is recorded:
// the lease runs out and another dispatcher (or this one after a restart)
// sends those rows again.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	now := d.opts.Now()
	due, err := d.st.WebhooksDue(ctx, now)
	if err != nil {
		return 0, fmt.Errorf("claiming webhook notifications: %w", err)
	}
	if !due {
		return 0, nil
	}
	rows, err := d.st.ClaimWebhooks(ctx, now, d.opts.Lease, d.opts.Batch)
	if err != nil {
		return 0, fmt.Errorf("claiming webhook notifications: %w", err)
	}
	if len(rows) == 0 {
		return 0, nil
	}
	byAddr := map[string][]model.WebhookRow{}
	for _, r := range rows {
		byAddr[r.Address] = append(byAddr[r.Address], r)
	}
	addrs := make([]string, 0, len(byAddr))
	for a := range byAddr {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	type outcome struct {
		rows []model.WebhookRow
		err  error
	}
	results := make([]outcome, 0, len(addrs))
	for _, a := range addrs {
		results = append(results, outcome{byAddr[a], d.post(ctx, a, byAddr[a])})
	}
	if ctx.Err() != nil {
		return len(rows), ctx.Err()
	}
	at := d.opts.Now()
	outcomes := make([]state.WebhookOutcome, 0, len(results))
	attempted := make([]int, 0, len(results)) // the attempt a retry was, for the log
	for _, res := range results {
		if res.err == nil {
			outcomes = append(outcomes, state.WebhookOutcome{Delivered: rowIDs(res.rows)})
			attempted = append(attempted, 0)
			continue
		}
		// Rows of one batch share attempts in the common case; a row
		// that joined later retries on the batch's schedule anyway.
		o := state.WebhookOutcome{Reason: truncate(res.err.Error(), 500)}
		attempts := 0
		for _, r := range res.rows {
			if r.Attempts+1 >= d.opts.MaxAttempts {
				o.Failed = append(o.Failed, r.ID)
			} else {
				o.Retry = append(o.Retry, r.ID)
				attempts = max(attempts, r.Attempts+1)
			}
		}
		o.RetryAt = at.Add(d.backoff(attempts))
		outcomes = append(outcomes, o)
		attempted = append(attempted, attempts)
	}
	if err := d.st.RecordWebhookOutcomes(ctx, at, outcomes); err != nil {
		return len(rows), fmt.Errorf("recording webhook deliveries: %w", err)
	}
	for i, o := range outcomes {
		switch {
		case len(o.Failed) > 0:
			d.opts.Log.Error("webhook notifications given up", "address", hostOf(results[i].rows[0].Address),
				"count", len(o.Failed), "attempts", d.opts.MaxAttempts, "err", o.Reason)
		case len(o.Retry) > 0:
			d.opts.Log.Warn("webhook delivery failed; will retry", "address", hostOf(results[i].rows[0].Address),
				"count", len(o.Retry), "attempt", attempted[i], "err", o.Reason)
		}
	}
	return len(rows), nil
}

// backoff is the wait after the attempts-th failed attempt: BaseBackoff *
// 2^(attempts-1), capped at MaxBackoff, then stretched by up to a tenth at
// random, so deliveries that failed together spread out. It is never
// shorter than configured: a receiver away for the retries times the wait
// misses nothing.
func (d *Dispatcher) backoff(attempts int) time.Duration {
	b := d.opts.BaseBackoff
	for i := 1; i < attempts && b < d.opts.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, d.opts.MaxBackoff)
	// The outbox keeps whole seconds: a shorter wait would be none.
	return max(b+rand.N(b/10+1), time.Second)
}

// post sends rows to address as one JSON array; any 2xx is delivery. A
// chat address (Telegram, Discord) gets them as text messages instead.
func (d *Dispatcher) post(ctx context.Context, address string, rows []model.WebhookRow) error {
	if kind, dest, ok := state.ChatTarget(address); ok {
		return d.postChat(ctx, kind, dest, rows)
	}
	items := make([]json.RawMessage, len(rows))
	now := d.opts.Now()
	for i, r := range rows {
		items[i] = r.Payload
		if r.Attempts > 0 {
			items[i] = retried(r.Payload, r.Attempts, now)
		}
	}
	body, err := json.Marshal(items)
	if err != nil {
		return fmt.Errorf("encoding batch: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, address, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if d.opts.Secret != "" {
		req.Header.Set("x-webhook-secret", d.opts.Secret)
	}
	resp, err := d.opts.Client.Do(req)
	if err != nil {
		return fmt.Errorf("posting to %s: %w", hostOf(address), err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s answered %s", hostOf(address), resp.Status)
	}
	return nil
}

// retried is a notification as its attempts-th retry sends it: "tries" is
// the attempts made before (Marzban counts them the same way) and
// "send_at" this attempt's time. A payload that is not a JSON object goes
// as it was stored.
func retried(payload []byte, attempts int, at time.Time) json.RawMessage {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(payload, &fields); err != nil || fields == nil {
		return payload
	}
	fields["tries"] = json.RawMessage(strconv.Itoa(attempts))
	fields["send_at"] = json.RawMessage(strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', -1, 64))
	out, err := json.Marshal(fields)
	if err != nil {
		return payload
	}
	return out
}

func rowIDs(rows []model.WebhookRow) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}

// hostOf names an address in logs by its host: its path or query may
// carry a token.
func hostOf(address string) string {
	if kind, _, ok := state.ChatTarget(address); ok {
		return kind
	}
	u, err := url.Parse(address)
	if err != nil || u.Host == "" {
		return "(unparsable address)"
	}
	return u.Host
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// ReminderJob is the scheduler job that enqueues reached_usage_percent
// (at percent of the data limit) and reached_days_left (days before
// expire), each once per user per period; 0 disables either.
func ReminderJob(s *state.State, percent, days int) jobs.Job {
	return jobs.Job{Name: "webhook-reminders", Every: ReminderEvery, Run: func(ctx context.Context) error {
		_, err := s.NotifyReminders(ctx, percent, days)
		return err
	}}
}
