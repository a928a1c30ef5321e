package api

import "github.com/gofiber/fiber/v2"

// adminRoutes registers admin management (issue: user lifecycle and Marzban API).
func (s *server) adminRoutes(app *fiber.App) {
}
