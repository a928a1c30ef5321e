package api

import "github.com/gofiber/fiber/v2"

// subscriptionRoutes registers the public subscription endpoints. Fixed
// sub-paths come before /sub/:token/:client_type, which would take them for
// a client type.
func (s *server) subscriptionRoutes(app *fiber.App) {
	s.sub = newSubServer(s)
	app.Get("/sub/:token", s.subscription)
	app.Get("/sub/:token/info", s.subscriptionInfo)
	app.Get("/sub/:token/usage", s.subscriptionUsage)
	app.Get("/sub/:token/:client_type", s.subscriptionAs)
}
