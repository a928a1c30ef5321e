package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/outpost-panel/outpost/backend/state"
)

// GET /api/notifications lists every target with its outbox, named
// without secrets, to sudo admins only.
func TestNotificationsStatus(t *testing.T) {
	e := newEnv(t)
	e.st.SetWebhookAddresses([]string{"https://hooks.example.net/outpost?key=webhook-secret-key"})
	e.st.SetChatNotifications([]string{state.TelegramTarget(1001)}, true)
	reseller := e.createAdmin("shop", false)
	hook, tg := "https://discord.com/api/webhooks/77/discord-secret-token", int64(2002)
	if _, err := e.st.ModifyAdmin(context.Background(), e.sudo, "shop", state.AdminChanges{DiscordWebhook: &hook, TelegramID: &tg}); err != nil {
		t.Fatal(err)
	}
	e.createUser(e.sudo, "alice_n")
	e.createUser(reseller, "bob_n")

	e.expect(e.do("GET", "/api/notifications", "", nil), 401, "anonymous")
	e.expect(e.do("GET", "/api/notifications", e.token(reseller), nil), 403, "regular admin")
	r := e.do("GET", "/api/notifications", e.token(e.sudo), nil)
	e.expect(r, 200, "sudo")
	for _, secret := range []string{"webhook-secret-key", "discord-secret-token"} {
		if strings.Contains(string(r.body), secret) {
			t.Fatalf("the answer shows a secret: %s", r.body)
		}
	}
	var got struct {
		Targets []struct {
			Kind    string `json:"kind"`
			Target  string `json:"target"`
			Pending int    `json:"pending"`
		} `json:"targets"`
	}
	r.decode(t, &got)
	pending := map[string]int{}
	for _, tg := range got.Targets {
		pending[tg.Kind+" "+tg.Target] = tg.Pending
	}
	// Both users' user_created go to the global targets; bob's also to
	// his owner's own chats.
	want := map[string]int{
		"webhook hooks.example.net": 2, "telegram Telegram chat 1001": 2,
		"telegram Telegram chat 2002": 1, "discord Discord webhook 77": 1,
	}
	if len(pending) != len(want) {
		t.Fatalf("targets %v, want %v", pending, want)
	}
	for k, n := range want {
		if pending[k] != n {
			t.Errorf("%s: %d pending, want %d (all: %v)", k, pending[k], n, pending)
		}
	}
}
