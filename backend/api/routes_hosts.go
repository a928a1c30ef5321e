package api

import "github.com/gofiber/fiber/v2"

// hostRoutes registers hosts and subscription settings.
func (s *server) hostRoutes(app *fiber.App) {
}
