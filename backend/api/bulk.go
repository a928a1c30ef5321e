package api

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/state"
)

// POST /api/users/bulk: one action on up to 1000 users in one transaction
// and one revision. A username owned by another admin refuses the whole
// request (403 naming it) and changes nothing; unknown usernames and users
// the action does not apply to are skipped and listed with the reason.

type bulkBody struct {
	Action    state.BulkAction `json:"action" required:"true"`
	Usernames []string         `json:"usernames" required:"true"`
	// Days for extend_expiry: from the current expiry, or from now for a
	// user already past it; an on_hold user's hold grows instead.
	Days *int64 `json:"days"`
	// Bytes for add_data, added to the data limit (unlimited users are
	// skipped).
	Bytes *int64 `json:"bytes"`
	// Inbounds for set_inbounds: protocol -> the tags to be in; protocols
	// not named keep theirs, users with none of them are skipped.
	Inbounds map[string][]string `json:"inbounds"`
	// AdminUsername for set_owner (sudo only).
	AdminUsername *string `json:"admin_username"`
}

type bulkSkipped struct {
	Username string `json:"username"`
	Reason   string `json:"reason"`
}

type bulkResponse struct {
	Changed  int           `json:"changed"`
	Revision int64         `json:"revision"`
	Skipped  []bulkSkipped `json:"skipped"`
}

// bulkRoutes: one action on many users.
func (s *server) bulkRoutes() []route {
	return []route{
		{Method: "POST", Path: "/api/users/bulk", Auth: authAdmin, Handler: s.bulkUsers, Doc: &routeDoc{
			Tag: "user", Body: typeOf[bulkBody](), Response: typeOf[bulkResponse](), Errors: []int{400, 404, 422},
			Summary: "One action on up to 1000 users (usernames) in one transaction and one revision: enable, disable, delete, " +
				"reset_usage, revoke_sub, extend_expiry (days), add_data (bytes), set_inbounds (inbounds), set_owner " +
				"(admin_username; sudo). A user of another admin refuses the whole request (403 naming it); unknown users " +
				"and users the action does not apply to are skipped and listed. Webhook events as the single-user routes send"}},
	}
}

func (s *server) bulkUsers(c *fiber.Ctx) error {
	var body bulkBody
	if err := decodeJSON(c.Body(), &body); err != nil {
		return err
	}
	if body.Usernames == nil {
		return schemaErrorf("usernames: required")
	}
	if !slices.Contains(state.BulkActions, body.Action) {
		return schemaErrorf("action: must be one of %s", strings.Join(enumValues[typeOf[state.BulkAction]()], ", "))
	}
	in := state.BulkInput{Action: body.Action, Usernames: body.Usernames, Inbounds: body.Inbounds}
	if body.Days != nil {
		in.Days = *body.Days
	}
	if body.Bytes != nil {
		in.Bytes = *body.Bytes
	}
	if body.AdminUsername != nil {
		in.AdminUsername = *body.AdminUsername
	}
	admin := adminOf(c)
	res, err := s.st.BulkUsers(c.UserContext(), admin, in)
	var foreign *state.ForeignUserError
	switch {
	case errors.As(err, &foreign):
		return &publicError{err: err, detail: fmt.Sprintf("User %s is not yours: nothing was changed", foreign.Username)}
	case err != nil:
		return describe(err, map[error]string{})
	}
	out := bulkResponse{Changed: res.Changed, Revision: res.Revision, Skipped: make([]bulkSkipped, len(res.Skipped))}
	for i, sk := range res.Skipped {
		out.Skipped[i] = bulkSkipped{Username: sk.Username, Reason: sk.Reason}
	}
	s.log.Info("bulk user action", "action", string(in.Action), "changed", res.Changed, "skipped", len(res.Skipped),
		"revision", res.Revision, "admin", admin.Username)
	return c.JSON(out)
}

// bulkActionNames is the enum of bulkBody.Action in the document.
func bulkActionNames() []string {
	names := make([]string, len(state.BulkActions))
	for i, a := range state.BulkActions {
		names[i] = string(a)
	}
	return names
}
