package webhook

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
)

// Chat notifications: Marzban's Telegram and Discord reports. Rows whose
// address is a state.DiscordTarget or state.TelegramTarget are rendered as
// one line of text per event, and a batch goes out as few messages as the
// service's length limit allows, so a review tick that expires a thousand
// users sends a handful of messages rather than a thousand (both services
// rate-limit a chat to a few messages a second or less).

// DefaultTelegramAPI is the Bot API's base URL.
const DefaultTelegramAPI = "https://api.telegram.org"

// Message length limits: Telegram's sendMessage takes 4096 characters,
// Discord's content 2000.
const (
	telegramLimit = 4096
	discordLimit  = 2000
)

// chatEvent is the part of a notification (state's webhook body) a chat
// line shows.
type chatEvent struct {
	Action   string `json:"action"`
	Username string `json:"username"`
	User     *struct {
		DataLimit   int64 `json:"data_limit"`
		UsedTraffic int64 `json:"used_traffic"`
		Expire      int64 `json:"expire"`
	} `json:"user"`
	By *struct {
		Username string `json:"username"`
	} `json:"by"`
	UsedPercent *float64 `json:"used_percent"`
	DaysLeft    *int64   `json:"days_left"`
	// Fleet alerts (state.AlertNotification).
	Target  string `json:"target"`
	Message string `json:"message"`
	IPCount *int64 `json:"ip_count"`
	IPLimit *int64 `json:"ip_limit"`
}

// chatLine renders one notification as a line of plain text.
func chatLine(payload []byte) string {
	var e chatEvent
	if err := json.Unmarshal(payload, &e); err == nil && (e.Action == state.ActionAlertFired || e.Action == state.ActionAlertResolved) {
		return alertLine(e)
	}
	if err := json.Unmarshal(payload, &e); err != nil || e.Username == "" {
		return "unreadable notification"
	}
	by := ""
	if e.By != nil && e.By.Username != "" {
		by = " by " + e.By.Username
	}
	plan := ""
	if e.User != nil {
		plan = " · " + limitText(e.User.DataLimit) + " · " + expiryText(e.User.Expire)
	}
	u := e.Username
	switch e.Action {
	case state.ActionUserCreated:
		return "🆕 " + u + " created" + by + plan
	case state.ActionUserUpdated:
		return "✏️ " + u + " modified" + by + plan
	case state.ActionUserDeleted:
		return "🗑 " + u + " deleted" + by
	case state.ActionUserLimited:
		limit := ""
		if e.User != nil && e.User.DataLimit > 0 {
			limit = " (" + bytesText(e.User.DataLimit) + ")"
		}
		return "🪫 " + u + " reached the data limit" + limit
	case state.ActionUserExpired:
		return "📅 " + u + " expired"
	case state.ActionUserEnabled:
		return "✅ " + u + " enabled" + by
	case state.ActionUserDisabled:
		return "⛔ " + u + " disabled" + by
	case state.ActionDataUsageReset:
		return "🔁 " + u + "'s usage reset" + by
	case state.ActionDataResetByNext:
		return "⏭ " + u + " moved to the next plan" + plan
	case state.ActionSubscriptionRevoked:
		return "🔑 " + u + "'s subscription revoked" + by
	case state.ActionReachedUsagePercent:
		line := "⚠️ " + u + " used "
		if e.UsedPercent != nil {
			line += fmt.Sprintf("%g%%", *e.UsedPercent)
		} else {
			line += "most"
		}
		line += " of the data limit"
		if e.User != nil && e.User.DataLimit > 0 {
			line += " (" + bytesText(e.User.UsedTraffic) + " of " + bytesText(e.User.DataLimit) + ")"
		}
		return line
	case state.ActionReachedDaysLeft:
		if e.DaysLeft != nil {
			return fmt.Sprintf("⏳ %s expires in %d day%s", u, *e.DaysLeft, map[bool]string{true: "", false: "s"}[*e.DaysLeft == 1])
		}
		return "⏳ " + u + " expires soon"
	case state.ActionIPLimitExceeded:
		if e.IPCount != nil && e.IPLimit != nil {
			return fmt.Sprintf("🌐 %s connected from %d addresses at once (limit %d)", u, *e.IPCount, *e.IPLimit)
		}
		return "🌐 " + u + " connected from more addresses than allowed"
	}
	return e.Action + ": " + u
}

// alertLine renders a fleet alert: the evaluator's sentence, which names
// the node or certificate, the measure and the threshold.
func alertLine(e chatEvent) string {
	what := cmp.Or(e.Message, e.Target)
	if e.Action == state.ActionAlertResolved {
		return "✅ Resolved: " + what
	}
	return "🚨 Alert: " + what
}

func limitText(limit int64) string {
	if limit <= 0 {
		return "unlimited"
	}
	return bytesText(limit)
}

func expiryText(expire int64) string {
	if expire <= 0 {
		return "never expires"
	}
	return "expires " + time.Unix(expire, 0).UTC().Format("2006-01-02 15:04") + " UTC"
}

func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), -1
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i])
}

// chatMessages joins lines into messages of at most limit bytes (a longer
// line is cut), in order.
func chatMessages(lines []string, limit int) []string {
	var out []string
	var cur strings.Builder
	for _, l := range lines {
		if len(l) > limit {
			l = truncateUTF8(l, limit)
		}
		if cur.Len() > 0 && cur.Len()+1+len(l) > limit {
			out = append(out, cur.String())
			cur.Reset()
		}
		if cur.Len() > 0 {
			cur.WriteByte('\n')
		}
		cur.WriteString(l)
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// postChat sends rows to one chat as text messages. All must go for the
// batch to count as delivered; a failure retries the whole batch, so a
// message may arrive twice but none is lost.
func (d *Dispatcher) postChat(ctx context.Context, kind, dest string, rows []model.WebhookRow) error {
	lines := make([]string, len(rows))
	for i, r := range rows {
		lines[i] = chatLine(r.Payload)
	}
	switch kind {
	case "telegram":
		if d.opts.TelegramToken == "" {
			return fmt.Errorf("telegram: no bot token (TELEGRAM_API_TOKEN) to send with")
		}
		for _, m := range chatMessages(lines, telegramLimit) {
			body := map[string]any{"chat_id": dest, "text": m, "disable_web_page_preview": true}
			if err := d.postJSON(ctx, "telegram", d.opts.TelegramAPI+"/bot"+d.opts.TelegramToken+"/sendMessage", body); err != nil {
				return err
			}
		}
	case "discord":
		for _, m := range chatMessages(lines, discordLimit) {
			// No mentions: a note or name must not ping a whole server.
			body := map[string]any{"content": m, "allowed_mentions": map[string]any{"parse": []string{}}}
			if err := d.postJSON(ctx, "discord", dest, body); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unknown chat %q", kind)
	}
	return nil
}

// postJSON posts body to address; any 2xx is success. Errors name the
// service, never the address: a Telegram URL carries the bot token and a
// Discord one its secret.
func (d *Dispatcher) postJSON(ctx context.Context, service, address string, body any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("%s: encoding message: %w", service, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, address, bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("%s: building request: bad address", service)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.opts.Client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %s", service, redact(err, address, d.opts.TelegramToken))
	}
	defer resp.Body.Close()
	raw, _ = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// Both services say why in JSON: Telegram in "description"
		// ("Bad Request: chat not found"), Discord in "message"
		// ("Unknown Webhook"). That is what the operator needs to fix.
		var why struct {
			Description string `json:"description"`
			Message     string `json:"message"`
		}
		_ = json.Unmarshal(raw, &why)
		if reason := cmp.Or(why.Description, why.Message); reason != "" {
			return fmt.Errorf("%s answered %s: %s", service, resp.Status, truncate(redact(errors.New(reason), address, d.opts.TelegramToken), 200))
		}
		return fmt.Errorf("%s answered %s", service, resp.Status)
	}
	return nil
}

// redact removes secrets from an HTTP client error, which quotes the URL.
func redact(err error, secrets ...string) string {
	msg := err.Error()
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "…")
		}
	}
	return msg
}
