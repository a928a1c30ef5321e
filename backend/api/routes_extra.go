package api

import "github.com/gofiber/fiber/v2"

// extraRoutes registers user templates, system stats, node reconnect and
// node usage.
func (s *server) extraRoutes(app *fiber.App) {
	// Any admin.
	app.Get("/api/system", s.authenticate, s.systemStats)
	app.Get("/api/notifications", s.authenticate, requireSudo, s.notifications)
	app.Get("/api/user_template", s.authenticate, s.listTemplates)
	app.Get("/api/user_template/:id", s.authenticate, s.getTemplate)
	// Sudo.
	app.Post("/api/user_template", s.authenticate, requireSudo, s.createTemplate)
	app.Put("/api/user_template/:id", s.authenticate, requireSudo, s.modifyTemplate)
	app.Delete("/api/user_template/:id", s.authenticate, requireSudo, s.deleteTemplate)
	app.Post("/api/node/:id/reconnect", s.authenticate, requireSudo, s.reconnectNode)
	app.Get("/api/nodes/usage", s.authenticate, requireSudo, s.nodesUsage)
}
