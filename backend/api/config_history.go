package api

import (
	"fmt"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/model"
)

// The core config history (sudo): every config saved with PUT
// /api/core/config (or restored) is kept with who saved it and when, the
// newest 50, in the database.

type configVersionJSON struct {
	ID        int64    `json:"id"`
	Admin     string   `json:"admin"` // "" for the config found before the first save
	CreatedAt wireTime `json:"created_at"`
	Size      int64    `json:"size"`
	SHA256    string   `json:"sha256"`
}

var configVersionTexts = map[error]string{model.ErrNotFound: "Config version not found"}

// configHistoryRoutes: the saved core configs (sudo).
func (s *server) configHistoryRoutes() []route {
	return []route{
		{Method: "GET", Path: "/api/core/config/history", Auth: authSudo, Handler: s.configHistory, Doc: &routeDoc{
			Tag: "core", Response: typeOf[[]configVersionJSON](),
			Summary: "The last 50 core configs saved (PUT /api/core/config or a restore), newest first, with who and when, without their data"}},
		{Method: "GET", Path: "/api/core/config/history/:id", Auth: authSudo, Handler: s.configVersion, Doc: &routeDoc{
			Tag: "core", Response: typeOf[map[string]any](), Errors: []int{404, 422},
			Summary: "One saved core config (the Xray JSON)"}},
		{Method: "POST", Path: "/api/core/config/history/:id/restore", Auth: authSudo, Handler: s.restoreConfigVersion, Doc: &routeDoc{
			Tag: "core", Response: typeOf[map[string]any](), Errors: []int{400, 404, 422},
			Summary: "Make a saved core config the running one, validated as PUT /api/core/config does, and record it as a new entry; answers the running config"}},
	}
}

func configVersionID(c *fiber.Ctx) (int64, error) {
	raw := c.Params("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return 0, schemaErrorf("id: expected an integer, got %q", truncate(raw, 20))
	}
	if id <= 0 {
		return 0, describe(fmt.Errorf("config version %d: %w", id, model.ErrNotFound), configVersionTexts)
	}
	return id, nil
}

func (s *server) configHistory(c *fiber.Ctx) error {
	list, err := s.st.ConfigHistory(c.UserContext())
	if err != nil {
		return err
	}
	out := make([]configVersionJSON, len(list))
	for i, v := range list {
		out[i] = configVersionJSON{ID: v.ID, Admin: v.Admin, CreatedAt: wireTime{v.CreatedAt}, Size: v.Size, SHA256: v.SHA256}
	}
	return c.JSON(out)
}

func (s *server) configVersion(c *fiber.Ctx) error {
	id, err := configVersionID(c)
	if err != nil {
		return err
	}
	v, err := s.st.ConfigVersion(c.UserContext(), id)
	if err != nil {
		return describe(err, configVersionTexts)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(v.Data)
}

// restoreConfigVersion applies a saved config as PUT /api/core/config
// does (400 with Xray's message when it no longer builds) and answers
// with the running config.
func (s *server) restoreConfigVersion(c *fiber.Ctx) error {
	id, err := configVersionID(c)
	if err != nil {
		return err
	}
	if err := s.st.RestoreConfigVersion(c.UserContext(), adminOf(c).Username, id); err != nil {
		return describe(err, configVersionTexts)
	}
	s.log.Info("core config restored", "version", id, "admin", adminOf(c).Username)
	return s.getCoreConfig(c)
}
