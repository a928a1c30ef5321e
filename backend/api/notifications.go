package api

import (
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/state"
)

// notificationRoutes: where user events go and how their delivery stands.
func (s *server) notificationRoutes() []route {
	return []route{
		{Method: "GET", Path: "/api/notifications", Auth: authSudo, Handler: s.notifications, Doc: &routeDoc{
			Summary: "Where user events go (webhooks, Telegram chats, Discord webhooks, named without their secrets) and how delivery stands for each: waiting, retrying, given up, the newest error", Tag: "system",
			Response: typeOf[notificationsResponse]()}},
	}
}

// GET /api/notifications (sudo): where user events go and how delivery
// stands, per target, so an operator sees a wrong bot token or a dead
// webhook without reading the panel's log. Targets are named without their
// secrets: a webhook by its host, a Telegram chat by its id, a Discord
// webhook by its id (its URL carries a token).

type notificationTarget struct {
	// Kind is webhook, telegram or discord.
	Kind   string `json:"kind"`
	Target string `json:"target"`
	// Pending notifications wait for delivery; Retrying of them failed at
	// least once; Failed were given up after every retry (kept 7 days).
	Pending   int    `json:"pending"`
	Retrying  int    `json:"retrying"`
	Failed    int    `json:"failed"`
	LastError string `json:"last_error"`
}

type notificationsResponse struct {
	Targets []notificationTarget `json:"targets"`
}

func (s *server) notifications(c *fiber.Ctx) error {
	stats, err := s.st.NotificationStatus(c.UserContext())
	if err != nil {
		return err
	}
	out := notificationsResponse{Targets: make([]notificationTarget, 0, len(stats))}
	for _, st := range stats {
		kind, name := targetName(st.Address)
		out.Targets = append(out.Targets, notificationTarget{Kind: kind, Target: name, Pending: st.Pending,
			Retrying: st.Retrying, Failed: st.Failed, LastError: st.LastError})
	}
	return c.JSON(out)
}

// targetName names an outbox address without its secret.
func targetName(address string) (kind, name string) {
	if k, dest, ok := state.ChatTarget(address); ok {
		if k == "telegram" {
			return k, "Telegram chat " + dest
		}
		// https://discord.com/api/webhooks/<id>/<token>
		if u, err := url.Parse(dest); err == nil {
			parts := strings.Split(strings.Trim(u.Path, "/"), "/")
			for i, p := range parts {
				if p == "webhooks" && i+1 < len(parts) {
					return k, "Discord webhook " + parts[i+1]
				}
			}
			return k, "Discord webhook at " + u.Host
		}
		return k, "Discord webhook"
	}
	if u, err := url.Parse(address); err == nil && u.Host != "" {
		return "webhook", u.Host
	}
	return "webhook", "(unparsable address)"
}
