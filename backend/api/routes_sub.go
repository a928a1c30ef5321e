package api

import "github.com/gofiber/fiber/v2"

// subscriptionRoutes registers the public subscription endpoints.
func (s *server) subscriptionRoutes(app *fiber.App) {
	app.Get("/sub/:token", s.subscription)
}
