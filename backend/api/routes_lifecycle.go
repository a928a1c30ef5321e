package api

import "github.com/gofiber/fiber/v2"

// lifecycleRoutes registers user lifecycle, usage, templates and system routes.
func (s *server) lifecycleRoutes(app *fiber.App) {
}
