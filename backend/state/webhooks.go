package state

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
)

// Webhook actions: Marzban's notification set.
const (
	ActionUserCreated         = "user_created"
	ActionUserUpdated         = "user_updated"
	ActionUserDeleted         = "user_deleted"
	ActionUserLimited         = "user_limited"
	ActionUserExpired         = "user_expired"
	ActionUserEnabled         = "user_enabled"
	ActionUserDisabled        = "user_disabled"
	ActionDataUsageReset      = "data_usage_reset"
	ActionDataResetByNext     = "data_reset_by_next"
	ActionSubscriptionRevoked = "subscription_revoked"
	ActionReachedUsagePercent = "reached_usage_percent"
	ActionReachedDaysLeft     = "reached_days_left"
	// ActionIPLimitExceeded: the user was seen from more addresses than
	// its IP limit allows for the whole grace window (online.go); with the
	// disable action, user_disabled follows in the same transaction.
	ActionIPLimitExceeded = "ip_limit_exceeded"
)

// Event is one webhook notification about a user.
type Event struct {
	Action string
	User   *model.User // the user after the change (for user_deleted, before it)
	By     *model.Admin
	// UsedPercent and DaysLeft are set for the reminder actions only.
	UsedPercent *float64
	DaysLeft    *int64
	// IPCount and IPLimit are set for ip_limit_exceeded only.
	IPCount, IPLimit *int64
}

// webhookAddresses holds each State's webhook URLs. A side table rather
// than a field so this feature stays in its own file; set once at start.
var webhookAddresses sync.Map // *State -> []string

// SetWebhookAddresses sets where events go. With none (the default) no
// event is stored at all, so panels without webhooks pay nothing.
func (s *State) SetWebhookAddresses(addrs []string) {
	webhookAddresses.Store(s, append([]string(nil), addrs...))
}

func (s *State) webhookTargets() []string {
	var out []string
	if v, ok := webhookAddresses.Load(s); ok {
		out = append(out, v.([]string)...)
	}
	if v, ok := chatSettings.Load(s); ok {
		out = append(out, v.(chatConfig).global...)
	}
	return out
}

// Chat notifications (Marzban's Telegram and Discord reports) travel the
// same outbox as webhooks, under addresses of their own: "discord:" plus
// the webhook URL, "telegram:" plus the chat id. The dispatcher renders
// them as text messages.
const (
	discordScheme  = "discord:"
	telegramScheme = "telegram:"
)

// DiscordTarget is the outbox address of a Discord webhook URL.
func DiscordTarget(webhookURL string) string { return discordScheme + webhookURL }

// TelegramTarget is the outbox address of a Telegram chat.
func TelegramTarget(chatID int64) string { return telegramScheme + strconv.FormatInt(chatID, 10) }

// ChatTarget splits an outbox address made by DiscordTarget or
// TelegramTarget into "discord" or "telegram" and its destination; ok is
// false for a webhook URL.
func ChatTarget(address string) (kind, dest string, ok bool) {
	switch {
	case strings.HasPrefix(address, discordScheme):
		return "discord", strings.TrimPrefix(address, discordScheme), true
	case strings.HasPrefix(address, telegramScheme):
		return "telegram", strings.TrimPrefix(address, telegramScheme), true
	}
	return "", "", false
}

type chatConfig struct {
	global        []string // DiscordTarget / TelegramTarget addresses that get every event
	adminTelegram bool     // an admin's telegram_id gets its users' events (a bot token is set)
}

var chatSettings sync.Map // *State -> chatConfig

// SetChatNotifications sets the chat targets that get every event (the
// DISCORD_WEBHOOK_URL and the TELEGRAM_ADMIN_ID chats) and whether admins'
// telegram_id are targets too, which takes a bot token. An admin's
// discord_webhook always gets the events of the users it owns, as in
// Marzban.
func (s *State) SetChatNotifications(global []string, adminTelegram bool) {
	chatSettings.Store(s, chatConfig{global: append([]string(nil), global...), adminTelegram: adminTelegram})
}

// eventTargets is where events go: to every global address, and each
// user's event also to its owner's chats.
type eventTargets struct {
	global  []string
	byAdmin map[int64][]string
}

func (t *eventTargets) none() bool { return len(t.global) == 0 && len(t.byAdmin) == 0 }

func (t *eventTargets) of(u *model.User) []string {
	own := t.byAdmin[u.AdminID]
	if len(own) == 0 {
		return t.global
	}
	out := make([]string, 0, len(t.global)+len(own))
	out = append(out, t.global...)
	for _, a := range own {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// targets reads where events go now: the configured addresses plus the
// admins with a Discord webhook or (with a bot token) a Telegram chat, in
// one query over the admins. Admins change on any replica, so this is
// read in the transaction that enqueues rather than cached.
func (s *State) targets(tx *store.Tx) (*eventTargets, error) {
	t := &eventTargets{global: s.webhookTargets()}
	admins, err := tx.AdminChatTargets()
	if err != nil {
		return nil, err
	}
	cfg, _ := chatSettings.Load(s)
	adminTelegram := cfg != nil && cfg.(chatConfig).adminTelegram
	for id, a := range admins {
		var own []string
		if a.DiscordWebhook != nil {
			own = append(own, DiscordTarget(*a.DiscordWebhook))
		}
		if a.TelegramID != nil && adminTelegram {
			own = append(own, TelegramTarget(*a.TelegramID))
		}
		if len(own) > 0 {
			if t.byAdmin == nil {
				t.byAdmin = map[int64][]string{}
			}
			t.byAdmin[id] = own
		}
	}
	return t, nil
}

// notification is Marzban's webhook body for one event (one element of the
// JSON array a delivery carries).
type notification struct {
	Action      string      `json:"action"`
	Username    string      `json:"username"`
	User        *model.User `json:"user,omitempty"`
	By          *adminRef   `json:"by"`
	UsedPercent *float64    `json:"used_percent,omitempty"`
	DaysLeft    *int64      `json:"days_left,omitempty"`
	IPCount     *int64      `json:"ip_count,omitempty"`
	IPLimit     *int64      `json:"ip_limit,omitempty"`
	EnqueuedAt  float64     `json:"enqueued_at"`
	SendAt      float64     `json:"send_at"`
	Tries       int         `json:"tries"`
}

type adminRef struct {
	Username string `json:"username"`
	IsSudo   bool   `json:"is_sudo"`
}

// enqueueEvents stores events in the webhook outbox inside tx, the
// transaction of the change they describe: both commit or neither.
func (s *State) enqueueEvents(tx *store.Tx, events ...Event) error {
	if len(events) == 0 {
		return nil
	}
	targets, err := s.targets(tx)
	if err != nil {
		return err
	}
	return s.enqueueEventsTo(tx, targets, events...)
}

// enqueueEventsTo is enqueueEvents with the targets already read.
func (s *State) enqueueEventsTo(tx *store.Tx, targets *eventTargets, events ...Event) error {
	if len(events) == 0 || targets.none() {
		return nil
	}
	now := s.now().UTC()
	stamp := float64(now.UnixMilli()) / 1000
	rows := make([]model.WebhookRow, 0, len(events)*len(targets.global))
	for _, e := range events {
		n := notification{Action: e.Action, Username: e.User.Username, UsedPercent: e.UsedPercent, DaysLeft: e.DaysLeft,
			IPCount: e.IPCount, IPLimit: e.IPLimit, EnqueuedAt: stamp, SendAt: stamp}
		if e.Action != ActionUserDeleted {
			n.User = e.User
		}
		if e.By != nil {
			n.By = &adminRef{Username: e.By.Username, IsSudo: e.By.IsSudo}
		}
		data, err := json.Marshal(n)
		if err != nil {
			return fmt.Errorf("encoding %s notification of %s: %w", e.Action, e.User.Username, err)
		}
		for _, a := range targets.of(e.User) {
			rows = append(rows, model.WebhookRow{Address: a, Action: e.Action, Payload: data, CreatedAt: now})
		}
	}
	return tx.EnqueueWebhooks(rows)
}

// statusAction is the event of a status change, "" for none worth one.
func statusAction(before, after model.Status) string {
	if before == after {
		return ""
	}
	switch after {
	case model.StatusLimited:
		return ActionUserLimited
	case model.StatusExpired:
		return ActionUserExpired
	case model.StatusDisabled:
		return ActionUserDisabled
	case model.StatusActive:
		return ActionUserEnabled
	}
	return ""
}

// userEvents is action (if any) about u, followed by its status change.
func userEvents(action string, by *model.Admin, before model.Status, u *model.User) []Event {
	var out []Event
	if action != "" {
		out = append(out, Event{Action: action, User: u, By: by})
	}
	if sa := statusAction(before, u.Status); sa != "" {
		out = append(out, Event{Action: sa, User: u, By: by})
	}
	return out
}

// deletedEvents is user_deleted for each user.
func deletedEvents(by *model.Admin, users []model.User) []Event {
	out := make([]Event, len(users))
	for i := range users {
		out[i] = Event{Action: ActionUserDeleted, User: &users[i], By: by}
	}
	return out
}

// reviewEvents are the events of one review tick: next plans applied,
// periodic resets (of the users read in full, then unread, those of the
// users unreadResetEvents found), and status changes.
func reviewEvents(p *tickPlan, unread []Event) []Event {
	var out []Event
	planned := make(map[int64]bool, len(p.plans))
	for _, pl := range p.plans {
		planned[pl.UserID] = true
		if u := p.after[pl.UserID]; u != nil {
			out = append(out, Event{Action: ActionDataResetByNext, User: u})
		}
	}
	for _, id := range p.resetIDs {
		if u := p.after[id]; u != nil && !planned[id] {
			out = append(out, Event{Action: ActionDataUsageReset, User: u})
		}
	}
	out = append(out, unread...)
	for _, id := range p.changed() {
		if sa := statusAction(p.before[id].Status, p.after[id].Status); sa != "" {
			out = append(out, Event{Action: sa, User: p.after[id]})
		}
	}
	return out
}

// unreadResetEvents is data_usage_reset for the users whose periodic reset
// at now planTick only counted: active users without a data limit, whose
// reset nodes need not hear about (store.UsersDueForReset leaves them out)
// but a webhook receiver must. It runs before the resets, in their
// transaction, and reads nothing when webhooks are off or no such user is
// due; otherwise one range scan per strategy
// (store.UsersDueForResetWithoutLimit), like the rest of the tick.
func (s *State) unreadResetEvents(tx *store.Tx, p *tickPlan, now time.Time) ([]Event, error) {
	missing := p.resetsDue - p.resetsByPlan - int64(len(p.resetIDs))
	if missing <= 0 {
		return nil, nil
	}
	if t, err := s.targets(tx); err != nil || t.none() {
		return nil, err
	}
	planned := make(map[int64]bool, len(p.plans))
	for _, pl := range p.plans {
		planned[pl.UserID] = true
	}
	active, err := tx.UsersDueForResetWithoutLimit(now)
	if err != nil {
		return nil, fmt.Errorf("reading users due for a reset without a limit: %w", err)
	}
	var out []Event
	for i := range active {
		u := &active[i]
		if planned[u.ID] {
			continue
		}
		if a := p.after[u.ID]; a != nil {
			// Read for review too: report the status this tick gives it.
			v := *a
			u = &v
		}
		u.UsedTraffic = 0
		t := now
		u.UsageResetAt = &t
		out = append(out, Event{Action: ActionDataUsageReset, User: u})
	}
	if int64(len(out)) != missing {
		// Both counts come from the store's due condition; a difference
		// is a bug, reported rather than failing the resets.
		s.log.Warn("periodic resets without a limit: events differ from resets due",
			"events", len(out), "due", missing)
	}
	return out, nil
}

// enqueueBulkResetEvents stores the events of a usage reset of many users
// (n of them, the lifted ones moved from limited to active) after it ran in
// tx: data_usage_reset for each, and user_enabled for each lifted one,
// what ResetUserUsage sends for one. The users are read back in one query,
// so each event carries the user as the reset left it.
func (s *State) enqueueBulkResetEvents(tx *store.Tx, by *model.Admin, n int64, lifted []int64) error {
	if n == 0 {
		return nil
	}
	t, err := s.targets(tx)
	if err != nil || t.none() {
		return err
	}
	// With only admins' own chats to tell, only their users are read
	// (unless so many admins have one that the filter would not fit).
	var filter model.UserFilter
	if len(t.global) == 0 && len(t.byAdmin) <= maxAdminFilter {
		for id := range t.byAdmin {
			filter.AdminIDs = append(filter.AdminIDs, id)
		}
	}
	users, _, err := tx.ListUsers(filter)
	if err != nil {
		return fmt.Errorf("reading users after their usage reset: %w", err)
	}
	wasLimited := make(map[int64]bool, len(lifted))
	for _, id := range lifted {
		wasLimited[id] = true
	}
	events := make([]Event, 0, len(users)+len(lifted))
	for i := range users {
		u := &users[i]
		before := u.Status
		if wasLimited[u.ID] {
			before = model.StatusLimited
		}
		events = append(events, userEvents(ActionDataUsageReset, by, before, u)...)
	}
	return s.enqueueEventsTo(tx, t, events...)
}

// maxAdminFilter is the most admins a user read is filtered by (the store's
// limit on an AdminIDs filter).
const maxAdminFilter = 1000

// reminderBatch bounds the users one reminder pass handles; the next pass
// takes the rest.
const reminderBatch = 500

// NotifyReminders enqueues reached_usage_percent for active users at or
// over percent of their data limit, and reached_days_left for those whose
// expire is at most days away, each once per user per period (usage: since
// the last reset; days: per expire value). It returns how many were sent;
// with no webhook address and no chat to tell it does nothing.
func (s *State) NotifyReminders(ctx context.Context, percent, days int) (int, error) {
	// Most panels have no target at all: find that out in a read, not
	// in a write transaction every pass.
	var none bool
	if err := s.store.Read(ctx, func(tx *store.Tx) error {
		t, err := s.targets(tx)
		none = err == nil && t.none()
		return err
	}); err != nil || none {
		return 0, err
	}
	now := s.now().UTC()
	var sent int
	err := s.store.Tx(ctx, func(tx *store.Tx) error {
		sent = 0
		var events []Event
		if percent > 0 {
			users, err := tx.UsersReachingUsage(percent, reminderBatch)
			if err != nil {
				return err
			}
			for i := range users {
				u := &users[i]
				pct := math.Round(float64(u.UsedTraffic)*10000/float64(u.DataLimit)) / 100
				events = append(events, Event{Action: ActionReachedUsagePercent, User: u, UsedPercent: &pct})
			}
			if err := tx.RemindedUsers(store.ReminderUsage, users); err != nil {
				return err
			}
		}
		if days > 0 {
			users, err := tx.UsersReachingExpiry(now, time.Duration(days)*24*time.Hour, reminderBatch)
			if err != nil {
				return err
			}
			for i := range users {
				u := &users[i]
				left := int64(math.Ceil(float64(u.Expire-now.Unix()) / 86400))
				events = append(events, Event{Action: ActionReachedDaysLeft, User: u, DaysLeft: &left})
			}
			if err := tx.RemindedUsers(store.ReminderDays, users); err != nil {
				return err
			}
		}
		sent = len(events)
		return s.enqueueEvents(tx, events...)
	})
	if err != nil {
		return 0, fmt.Errorf("webhook reminders: %w", err)
	}
	return sent, nil
}

type webhookActionKey struct{}

// withWebhookAction names the event a userChange emits (besides the status
// change), keeping each caller's hook to its call.
func withWebhookAction(ctx context.Context, action string) context.Context {
	return context.WithValue(ctx, webhookActionKey{}, action)
}

func webhookAction(ctx context.Context) string {
	a, _ := ctx.Value(webhookActionKey{}).(string)
	return a
}

// NotificationStatus is the outbox per target (store.WebhookTargetStats),
// plus every target configured now that has nothing waiting or given up,
// with zeros: the webhook addresses and chats of the configuration and
// the admins' own chats.
func (s *State) NotificationStatus(ctx context.Context) ([]model.WebhookTargetStat, error) {
	var out []model.WebhookTargetStat
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		stats, err := tx.WebhookTargetStats()
		if err != nil {
			return err
		}
		t, err := s.targets(tx)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, st := range stats {
			seen[st.Address] = true
		}
		add := func(a string) {
			if !seen[a] {
				seen[a] = true
				stats = append(stats, model.WebhookTargetStat{Address: a})
			}
		}
		for _, a := range t.global {
			add(a)
		}
		for _, own := range t.byAdmin {
			for _, a := range own {
				add(a)
			}
		}
		slices.SortFunc(stats, func(a, b model.WebhookTargetStat) int { return strings.Compare(a.Address, b.Address) })
		out = stats
		return nil
	})
	return out, err
}

// Delivering the outbox: the webhook dispatcher claims due rows, sends them
// and records what came of each, through the methods below.

// WebhooksDue reports whether any outbox row is due at now, without
// locking anything: most polls find none.
func (s *State) WebhooksDue(ctx context.Context, now time.Time) (bool, error) {
	var due bool
	err := s.store.Read(ctx, func(tx *store.Tx) (err error) {
		due, err = tx.HasDueWebhooks(now)
		return err
	})
	return due, err
}

// ClaimWebhooks leases up to limit due rows to the caller for lease: no
// other dispatcher claims them until it runs out.
func (s *State) ClaimWebhooks(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]model.WebhookRow, error) {
	var rows []model.WebhookRow
	err := s.store.Tx(ctx, func(tx *store.Tx) (err error) {
		rows, err = tx.ClaimWebhooks(now, lease, limit)
		return err
	})
	return rows, err
}

// WebhookOutcome is what one delivery did to claimed rows: Delivered were
// delivered, Retry go again at RetryAt, Failed are given up; Reason is the
// error of the last two.
type WebhookOutcome struct {
	Delivered, Retry, Failed []int64
	RetryAt                  time.Time
	Reason                   string
}

// RecordWebhookOutcomes records the outcomes of deliveries that ended at at,
// in one transaction.
func (s *State) RecordWebhookOutcomes(ctx context.Context, at time.Time, outcomes []WebhookOutcome) error {
	return s.store.Tx(ctx, func(tx *store.Tx) error {
		for _, o := range outcomes {
			if len(o.Delivered) > 0 {
				if err := tx.MarkWebhooksDelivered(o.Delivered, at); err != nil {
					return err
				}
			}
			if len(o.Retry) > 0 {
				if err := tx.RetryWebhooks(o.Retry, o.RetryAt, o.Reason); err != nil {
					return err
				}
			}
			if len(o.Failed) > 0 {
				if err := tx.FailWebhooks(o.Failed, at, o.Reason); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// PruneWebhooks deletes delivered and given-up rows created before before
// and returns how many.
func (s *State) PruneWebhooks(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.store.Tx(ctx, func(tx *store.Tx) (err error) {
		n, err = tx.PruneWebhooks(before)
		return err
	})
	return n, err
}
