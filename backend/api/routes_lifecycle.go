package api

import "github.com/gofiber/fiber/v2"

// lifecycleRoutes registers user lifecycle, usage, templates and system routes.
func (s *server) lifecycleRoutes(app *fiber.App) {
	// Owner (sudo, or the admin owning the user).
	app.Post("/api/user/:username/reset", s.authenticate, s.resetUserUsage)
	app.Post("/api/user/:username/revoke_sub", s.authenticate, s.revokeSubscription)
	app.Post("/api/user/:username/active-next", s.authenticate, s.activateNextPlan)
	app.Get("/api/user/:username/usage", s.authenticate, s.userUsage)
	app.Get("/api/user/:username/usage/daily", s.authenticate, s.userUsageDaily)
	// Any admin, over its own users (sudo: everyone's).
	app.Get("/api/users/usage", s.authenticate, s.usersUsage)
	app.Get("/api/users/expired", s.authenticate, s.expiredUsers)
	app.Delete("/api/users/expired", s.authenticate, s.deleteExpiredUsers)
	// Sudo.
	app.Put("/api/user/:username/set-owner", s.authenticate, requireSudo, s.setOwner)
	app.Post("/api/users/reset", s.authenticate, requireSudo, s.resetAllUsage)
}
