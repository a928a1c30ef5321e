package api

import "github.com/gofiber/fiber/v2"

// hostRoutes registers hosts and subscription settings (sudo).
func (s *server) hostRoutes(app *fiber.App) {
	app.Get("/api/hosts", s.authenticate, requireSudo, s.getHosts)
	app.Put("/api/hosts", s.authenticate, requireSudo, s.putHosts)
	app.Get("/api/subscription/settings", s.authenticate, requireSudo, s.getSubscriptionSettings)
	app.Put("/api/subscription/settings", s.authenticate, requireSudo, s.putSubscriptionSettings)
}
