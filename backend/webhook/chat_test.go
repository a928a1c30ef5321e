package webhook_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
	"github.com/outpost-panel/outpost/backend/store"
	"github.com/outpost-panel/outpost/backend/webhook"
)

const botToken = "123456:TEST-bot-token"

// chatServers stands in for api.telegram.org and discord.com: the
// dispatcher's client dials it whatever host a URL names, and it records
// each message by where it was sent.
type chatServers struct {
	t        *testing.T
	srv      *httptest.Server
	mu       sync.Mutex
	telegram map[string][]string // chat id -> message texts
	discord  map[string][]string // webhook path -> message contents
	failNext int                 // answer this many requests 429 first
}

func newChatServers(t *testing.T) *chatServers {
	c := &chatServers{t: t, telegram: map[string][]string{}, discord: map[string][]string{}}
	c.srv = httptest.NewTLSServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *chatServers) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failNext > 0 {
		c.failNext--
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 1"}`)
		return
	}
	switch {
	case r.Host == "api.telegram.org" && r.URL.Path == "/bot"+botToken+"/sendMessage":
		var m struct {
			ChatID string `json:"chat_id"`
			Text   string `json:"text"`
		}
		if err := json.Unmarshal(raw, &m); err != nil || m.ChatID == "" || len(m.Text) > 4096 {
			c.t.Errorf("bad sendMessage %s", raw)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		c.telegram[m.ChatID] = append(c.telegram[m.ChatID], m.Text)
		_, _ = io.WriteString(w, `{"ok":true}`)
	case r.Host == "discord.com" && strings.HasPrefix(r.URL.Path, "/api/webhooks/"):
		var m struct {
			Content         string `json:"content"`
			AllowedMentions struct {
				Parse []string `json:"parse"`
			} `json:"allowed_mentions"`
		}
		if err := json.Unmarshal(raw, &m); err != nil || m.Content == "" || len(m.Content) > 2000 || m.AllowedMentions.Parse == nil || len(m.AllowedMentions.Parse) != 0 {
			c.t.Errorf("bad discord message %s", raw)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		c.discord[r.URL.Path] = append(c.discord[r.URL.Path], m.Content)
		w.WriteHeader(http.StatusNoContent)
	default:
		c.t.Errorf("unexpected request to %s%s", r.Host, r.URL.Path)
		w.WriteHeader(http.StatusNotFound)
	}
}

// client reaches the stand-in for api.telegram.org and discord.com, and
// any other host (the webhook receiver) as it is.
func (c *chatServers) client() *http.Client {
	stand := c.srv.Listener.Addr().String()
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr == "api.telegram.org:443" || addr == "discord.com:443" {
				addr = stand
			}
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the stand-in's certificate names neither host
	}}
}

// lines are every line the chat got, in order.
func lines(messages []string) []string {
	var out []string
	for _, m := range messages {
		out = append(out, strings.Split(m, "\n")...)
	}
	return out
}

// Marzban's Telegram and Discord reports: every event goes to the global
// chats, and an admin's own Discord webhook and Telegram chat get the
// events of the users it owns, and only those. Messages survive a rate
// limit (429), and the bot token never reaches the log.
func TestChatNotificationsReachGlobalAndOwnersChats(t *testing.T) {
	e := newEnv(t)
	cs := newChatServers(t)
	e.st.SetChatNotifications([]string{state.TelegramTarget(1001), state.DiscordTarget("https://discord.com/api/webhooks/1/all")}, true)
	ctx := context.Background()
	tg, hook := int64(2002), "https://discord.com/api/webhooks/2/reseller"
	reseller, err := e.st.CreateAdmin(ctx, state.AdminInput{Username: "reseller", Password: "reseller-pass-1", TelegramID: &tg, DiscordWebhook: &hook})
	if err != nil {
		t.Fatal(err)
	}
	e.createUser("alice", 10<<30)
	name, limit := "bob", int64(5<<30)
	if _, err := e.st.CreateUser(ctx, reseller, state.UserInput{Username: &name, DataLimit: &limit,
		Proxies: map[string]model.ProxySettings{model.ProtoVLESS: {}}}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.DeleteUser(ctx, e.admin, "alice"); err != nil {
		t.Fatal(err)
	}

	cs.failNext = 1
	e.drain(e.dispatcher(func(o *webhook.Options) { o.Client = cs.client(); o.TelegramToken = botToken }))

	cs.mu.Lock()
	defer cs.mu.Unlock()
	created := fmt.Sprintf("🆕 alice created by %s · 10.0 GiB · never expires", e.admin.Username)
	everything := []string{created, "🆕 bob created by reseller · 5.0 GiB · never expires", fmt.Sprintf("🗑 alice deleted by %s", e.admin.Username)}
	for name, got := range map[string][]string{
		"telegram 1001": lines(cs.telegram["1001"]), "discord all": lines(cs.discord["/api/webhooks/1/all"]),
	} {
		if !slices.Equal(got, everything) {
			t.Errorf("%s got %q, want %q", name, got, everything)
		}
	}
	onlyBob := []string{"🆕 bob created by reseller · 5.0 GiB · never expires"}
	for name, got := range map[string][]string{
		"telegram 2002": lines(cs.telegram["2002"]), "discord reseller": lines(cs.discord["/api/webhooks/2/reseller"]),
	} {
		if !slices.Equal(got, onlyBob) {
			t.Errorf("%s got %q, want only bob's event %q", name, got, onlyBob)
		}
	}
	if got := e.rc.actions(); len(got) != 3 {
		t.Errorf("the webhook got %q, want the three events too", got)
	}
	e.logMu.Lock()
	defer e.logMu.Unlock()
	if strings.Contains(e.logs.String(), botToken) {
		t.Errorf("the bot token is in the log:\n%s", e.logs)
	}
	if !strings.Contains(e.logs.String(), "429") || !strings.Contains(e.logs.String(), "Too Many Requests: retry after 1") {
		t.Errorf("the rate limit was not retried, or its reason not logged:\n%s", e.logs)
	}
}

// A burst of events (a review tick that limits many users at once) goes to
// a chat as few messages, each within the service's length limit, every
// event once and in order.
func TestChatNotificationsBatchIntoFewMessages(t *testing.T) {
	e := newEnv(t)
	cs := newChatServers(t)
	e.st.SetWebhookAddresses(nil)
	e.st.SetChatNotifications([]string{state.DiscordTarget("https://discord.com/api/webhooks/1/all")}, false)
	var want []string
	for i := range 120 {
		name := fmt.Sprintf("user_%03d", i)
		e.createUser(name, 1<<30)
		want = append(want, fmt.Sprintf("🆕 %s created by %s · 1.0 GiB · never expires", name, e.admin.Username))
	}
	e.drain(e.dispatcher(func(o *webhook.Options) { o.Client = cs.client(); o.Batch = 200 }))
	cs.mu.Lock()
	defer cs.mu.Unlock()
	msgs := cs.discord["/api/webhooks/1/all"]
	if got := lines(msgs); !slices.Equal(got, want) {
		t.Fatalf("got %d lines %q..., want the 120 events in order", len(got), got[:min(3, len(got))])
	}
	if len(msgs) < 2 || len(msgs) > 10 {
		t.Fatalf("%d messages for 120 events: want them joined up to Discord's 2000 characters", len(msgs))
	}
	if len(cs.telegram) != 0 {
		t.Fatalf("telegram got messages without a chat configured: %v", cs.telegram)
	}
}

// The outbox per target, as GET /api/notifications shows it: waiting,
// retrying and given-up notifications, and the newest error of one not
// delivered; delivered ones are not counted.
func TestWebhookTargetStats(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	rows := []store.WebhookRow{
		{Address: "https://a.example/hook", Action: "user_created", Payload: []byte(`{}`), CreatedAt: now},
		{Address: "https://a.example/hook", Action: "user_updated", Payload: []byte(`{}`), CreatedAt: now},
		{Address: "https://a.example/hook", Action: "user_deleted", Payload: []byte(`{}`), CreatedAt: now},
		{Address: "telegram:1001", Action: "user_created", Payload: []byte(`{}`), CreatedAt: now},
		{Address: "telegram:1001", Action: "user_updated", Payload: []byte(`{}`), CreatedAt: now},
	}
	err := e.db.Tx(context.Background(), func(tx *store.Tx) error {
		if err := tx.EnqueueWebhooks(rows); err != nil {
			return err
		}
		claimed, err := tx.ClaimWebhooks(now, time.Minute, 10)
		if err != nil || len(claimed) != 5 {
			return fmt.Errorf("claimed %d: %v", len(claimed), err)
		}
		ids := map[string][]int64{}
		for _, r := range claimed {
			ids[r.Address] = append(ids[r.Address], r.ID)
		}
		a, tg := ids["https://a.example/hook"], ids["telegram:1001"]
		if err := tx.MarkWebhooksDelivered(a[:1], now); err != nil {
			return err
		}
		if err := tx.RetryWebhooks(a[1:2], now.Add(time.Minute), "a.example answered 502 Bad Gateway"); err != nil {
			return err
		}
		if err := tx.FailWebhooks(tg[:1], now, "telegram answered 400 Bad Request: chat not found"); err != nil {
			return err
		}
		return tx.RetryWebhooks(tg[1:], now.Add(time.Minute), "telegram answered 400 Bad Request: chat not found")
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []store.WebhookTargetStat
	if err := e.db.Read(context.Background(), func(tx *store.Tx) (err error) { got, err = tx.WebhookTargetStats(); return err }); err != nil {
		t.Fatal(err)
	}
	want := []store.WebhookTargetStat{
		{Address: "https://a.example/hook", Pending: 2, Retrying: 1, LastError: "a.example answered 502 Bad Gateway"},
		{Address: "telegram:1001", Pending: 1, Retrying: 1, Failed: 1, LastError: "telegram answered 400 Bad Request: chat not found"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("stats %+v\nwant %+v", got, want)
	}
}

// A reset of every user's usage, with no webhook and no global chat, tells
// an admin's own chat about that admin's users only.
func TestBulkResetTellsOnlyOwnersChats(t *testing.T) {
	e := newEnv(t)
	cs := newChatServers(t)
	e.st.SetWebhookAddresses(nil)
	ctx := context.Background()
	hook := "https://discord.com/api/webhooks/5/shop"
	shop, err := e.st.CreateAdmin(ctx, state.AdminInput{Username: "shop", Password: "shop-pass-12", DiscordWebhook: &hook})
	if err != nil {
		t.Fatal(err)
	}
	e.createUser("alice", 1<<30)
	name, limit := "bob", int64(1<<30)
	if _, err := e.st.CreateUser(ctx, shop, state.UserInput{Username: &name, DataLimit: &limit,
		Proxies: map[string]model.ProxySettings{model.ProtoVLESS: {}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.ResetAllUsage(ctx, e.admin); err != nil {
		t.Fatal(err)
	}
	e.drain(e.dispatcher(func(o *webhook.Options) { o.Client = cs.client() }))
	cs.mu.Lock()
	defer cs.mu.Unlock()
	got := lines(cs.discord["/api/webhooks/5/shop"])
	want := []string{"🆕 bob created by shop · 1.0 GiB · never expires", fmt.Sprintf("🔁 bob's usage reset by %s", e.admin.Username)}
	if !slices.Equal(got, want) {
		t.Fatalf("shop's Discord got %q, want %q", got, want)
	}
}
