package api

import (
	"fmt"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
)

// User templates (/api/user_template...), with Marzban's paths and JSON.

var templateTexts = map[error]string{
	model.ErrNotFound: "User Template not found",
	model.ErrConflict: "Template by this name already exists",
}

// templateBody is Marzban's UserTemplateCreate / UserTemplateModify.
type templateBody struct {
	Name           *string             `json:"name"`
	DataLimit      *int64              `json:"data_limit" limit:"bytes"`
	ExpireDuration *int64              `json:"expire_duration" limit:"duration"`
	UsernamePrefix *string             `json:"username_prefix"`
	UsernameSuffix *string             `json:"username_suffix"`
	Inbounds       map[string][]string `json:"inbounds"`
}

func (b *templateBody) input() state.TemplateInput {
	return state.TemplateInput{Name: b.Name, DataLimit: b.DataLimit, ExpireDuration: b.ExpireDuration,
		UsernamePrefix: b.UsernamePrefix, UsernameSuffix: b.UsernameSuffix, Inbounds: b.Inbounds}
}

// templateResponse is Marzban's UserTemplateResponse.
type templateResponse struct {
	ID             int64               `json:"id"`
	Name           string              `json:"name"`
	DataLimit      int64               `json:"data_limit"`
	ExpireDuration int64               `json:"expire_duration"`
	UsernamePrefix *string             `json:"username_prefix"`
	UsernameSuffix *string             `json:"username_suffix"`
	Inbounds       map[string][]string `json:"inbounds"`
}

func templateJSON(t *state.UserTemplate) templateResponse {
	in := t.Inbounds
	if in == nil {
		in = map[string][]string{}
	}
	return templateResponse{ID: t.ID, Name: t.Name, DataLimit: t.DataLimit, ExpireDuration: t.ExpireDuration,
		UsernamePrefix: t.UsernamePrefix, UsernameSuffix: t.UsernameSuffix, Inbounds: in}
}

// templateID reads {id}; FastAPI answers a non-integer with 422.
func templateID(c *fiber.Ctx) (int64, error) {
	raw := c.Params("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return 0, schemaErrorf("template_id: expected an integer, got %q", truncate(raw, 20))
	}
	if id <= 0 {
		return 0, describe(fmt.Errorf("template %d: %w", id, model.ErrNotFound), templateTexts)
	}
	return id, nil
}

func (s *server) createTemplate(c *fiber.Ctx) error {
	var body templateBody
	if err := decodeJSON(c.Body(), &body); err != nil {
		return err
	}
	if body.Name == nil {
		return schemaErrorf("name: field required")
	}
	t, err := s.st.CreateTemplate(c.UserContext(), body.input())
	if err != nil {
		return describe(err, templateTexts)
	}
	s.log.Info("user template created", "template", t.ID, "name", t.Name, "admin", adminOf(c).Username)
	return c.JSON(templateJSON(t))
}

func (s *server) getTemplate(c *fiber.Ctx) error {
	id, err := templateID(c)
	if err != nil {
		return err
	}
	t, err := s.st.Template(c.UserContext(), id)
	if err != nil {
		return describe(err, templateTexts)
	}
	return c.JSON(templateJSON(t))
}

func (s *server) listTemplates(c *fiber.Ctx) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	args := c.Context().QueryArgs()
	offset, err := nonNegativeQuery(string(args.Peek("offset")), "offset")
	if err != nil {
		return err
	}
	limit, err := nonNegativeQuery(string(args.Peek("limit")), "limit")
	if err != nil {
		return err
	}
	ts, err := s.st.Templates(c.UserContext(), offset, limit)
	if err != nil {
		return err
	}
	out := make([]templateResponse, 0, len(ts))
	for i := range ts {
		out = append(out, templateJSON(&ts[i]))
	}
	return c.JSON(out)
}

func (s *server) modifyTemplate(c *fiber.Ctx) error {
	id, err := templateID(c)
	if err != nil {
		return err
	}
	var body templateBody
	if err := decodeJSON(c.Body(), &body); err != nil {
		return err
	}
	t, err := s.st.ModifyTemplate(c.UserContext(), id, body.input())
	if err != nil {
		return describe(err, templateTexts)
	}
	s.log.Info("user template modified", "template", t.ID, "admin", adminOf(c).Username)
	return c.JSON(templateJSON(t))
}

func (s *server) deleteTemplate(c *fiber.Ctx) error {
	id, err := templateID(c)
	if err != nil {
		return err
	}
	if err := s.st.DeleteTemplate(c.UserContext(), id); err != nil {
		return describe(err, templateTexts)
	}
	s.log.Info("user template deleted", "template", id, "admin", adminOf(c).Username)
	return c.JSON(emptyObject{})
}
