package api

import (
	"fmt"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
)

// templateRoutes: user templates; any admin reads them, sudo admins change
// them.
func (s *server) templateRoutes() []route {
	return []route{
		{Method: "GET", Path: "/api/user_template", Auth: authAdmin, Handler: s.listTemplates, Doc: &routeDoc{
			Summary: "List user templates", Tag: "user_template",
			Query: []queryParam{
				{Name: "offset", Type: "integer", Limit: "offset", Description: "templates to skip"},
				{Name: "limit", Type: "integer", Limit: "page_size", Description: "at most this many; 0 or missing for all"},
			},
			Response: typeOf[[]templateResponse](), Errors: []int{400, 422}}},
		{Method: "GET", Path: "/api/user_template/:id", Auth: authAdmin, Handler: s.getTemplate, Doc: &routeDoc{
			Summary: "One user template", Tag: "user_template",
			Response: typeOf[templateResponse](), Errors: []int{404, 422}}},
		{Method: "POST", Path: "/api/user_template", Auth: authSudo, Handler: s.createTemplate, Doc: &routeDoc{
			Summary: "Create a user template; inbound tags must exist in the core config under their protocol", Tag: "user_template",
			Body: typeOf[templateBody](), Response: typeOf[templateResponse](), Errors: []int{400, 409, 422}}},
		{Method: "PUT", Path: "/api/user_template/:id", Auth: authSudo, Handler: s.modifyTemplate, Doc: &routeDoc{
			Summary: "Modify a user template; missing fields are unchanged", Tag: "user_template",
			Body: typeOf[templateBody](), Response: typeOf[templateResponse](), Errors: []int{400, 404, 409, 422}}},
		{Method: "DELETE", Path: "/api/user_template/:id", Auth: authSudo, Handler: s.deleteTemplate, Doc: &routeDoc{
			Summary: "Delete a user template", Tag: "user_template",
			Response: typeOf[emptyObject](), Errors: []int{404, 422}}},
	}
}

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
	// HWIDDeviceLimit is given to users created from the template
	// (Outpost): 0 unlimited; null puts them on the global default.
	HWIDDeviceLimit *int64 `json:"hwid_device_limit" limit:"devices"`
	// IPLimit is given to users made from the template (0 unlimited);
	// null leaves them on the global default, and an explicit null on
	// modify puts the template back on it.
	IPLimit *int64 `json:"ip_limit" limit:"ip_limit"`
	// PerDeviceCredentials is given to users made from the template:
	// true gives each of their devices its own credentials; null leaves
	// them on the global default (an explicit null on modify puts the
	// template back on it).
	PerDeviceCredentials *bool `json:"per_device_credentials"`
}

func (b *templateBody) input(raw []byte) state.TemplateInput {
	return state.TemplateInput{Name: b.Name, DataLimit: b.DataLimit, ExpireDuration: b.ExpireDuration,
		UsernamePrefix: b.UsernamePrefix, UsernameSuffix: b.UsernameSuffix, Inbounds: b.Inbounds,
		HWIDDeviceLimit: b.HWIDDeviceLimit, ClearHWIDDeviceLimit: explicitNull(raw, "hwid_device_limit"),
		IPLimit: b.IPLimit, ClearIPLimit: explicitNull(raw, "ip_limit"),
		PerDeviceCredentials: b.PerDeviceCredentials, ClearPerDeviceCredentials: explicitNull(raw, "per_device_credentials")}
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
	// HWIDDeviceLimit: null is the global default (Outpost).
	HWIDDeviceLimit *int64 `json:"hwid_device_limit"`
	IPLimit         *int64 `json:"ip_limit"`
	// PerDeviceCredentials: null is the global default.
	PerDeviceCredentials *bool `json:"per_device_credentials"`
}

func templateJSON(t *state.UserTemplate) templateResponse {
	in := t.Inbounds
	if in == nil {
		in = map[string][]string{}
	}
	return templateResponse{ID: t.ID, Name: t.Name, DataLimit: t.DataLimit, ExpireDuration: t.ExpireDuration,
		UsernamePrefix: t.UsernamePrefix, UsernameSuffix: t.UsernameSuffix, Inbounds: in, HWIDDeviceLimit: t.HWIDDeviceLimit, IPLimit: t.IPLimit,
		PerDeviceCredentials: t.PerDeviceCredentials}
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
	t, err := s.st.CreateTemplate(c.UserContext(), body.input(c.Body()))
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
	t, err := s.st.ModifyTemplate(c.UserContext(), id, body.input(c.Body()))
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
