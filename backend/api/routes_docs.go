package api

import "github.com/gofiber/fiber/v2"

// docsRoutes registers the OpenAPI document and reference page.
func (s *server) docsRoutes(app *fiber.App) {
}
