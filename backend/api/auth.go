package api

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/auth"
	"github.com/outpost-panel/outpost/backend/model"
)

// The middleware behind the admin and sudo auth levels of the route table
// (register, in routes.go, puts them in front of each route's handler).

const adminLocal = "outpost.admin"

var errNotAuthenticated = &publicError{err: model.ErrUnauthorized, detail: "Not authenticated"}

// authenticate loads the admin behind the bearer token. The admin row is read
// on every request, so a deleted admin, a demoted one or a reset password
// takes effect at once rather than when the token expires.
func (s *server) authenticate(c *fiber.Ctx) error {
	scheme, token, ok := strings.Cut(c.Get(fiber.HeaderAuthorization), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "bearer") || token == "" {
		return errNotAuthenticated
	}
	admin, err := s.adminForToken(c.UserContext(), token)
	if err != nil {
		return err
	}
	c.Locals(adminLocal, admin)
	return c.Next()
}

// adminForToken checks an admin JWT and loads its admin.
func (s *server) adminForToken(ctx context.Context, token string) (*model.Admin, error) {
	claims, err := auth.Parse(s.opts.Secrets.JWT, token, s.now())
	if err != nil {
		return nil, err
	}
	if claims.AdminID == 0 {
		// The env sudo has no row; its token is honoured only while the
		// environment still names it, never for a database admin that
		// happens to carry the same name.
		if !s.envSudo.Configured() || claims.Username != s.envSudo.Username || claims.Access != auth.AccessSudo {
			return nil, fmt.Errorf("token of env sudo %q that the environment no longer names: %w", claims.Username, model.ErrUnauthorized)
		}
		return s.envSudo.Admin(), nil
	}
	admin, err := s.st.AdminByUsername(ctx, claims.Username)
	switch {
	case errors.Is(err, model.ErrNotFound):
		return nil, fmt.Errorf("token of unknown admin %q: %w", claims.Username, model.ErrUnauthorized)
	case err != nil:
		return nil, fmt.Errorf("loading admin %q: %w", claims.Username, err)
	case !claims.IssuedTo(admin):
		// Deleted and re-created under the same name: the old token must
		// not carry the new admin's rights.
		return nil, fmt.Errorf("token of %q was issued to admin id %d, now id %d: %w", claims.Username, claims.AdminID, admin.ID, model.ErrUnauthorized)
	case claims.IssuedBeforeReset(admin):
		return nil, fmt.Errorf("token of %q predates its password reset: %w", claims.Username, model.ErrUnauthorized)
	}
	return admin, nil
}

func requireSudo(c *fiber.Ctx) error {
	if !adminOf(c).IsSudo {
		return &publicError{err: model.ErrForbidden, detail: "You're not allowed"}
	}
	return c.Next()
}

// adminOf is the admin set by authenticate; routes without it never call it.
func adminOf(c *fiber.Ctx) *model.Admin {
	return c.Locals(adminLocal).(*model.Admin)
}
