package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/auth"
	"github.com/outpost-panel/outpost/backend/model"
)

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

// login is Marzban's OAuth2 password flow: a form with username and password.
func (s *server) login(c *fiber.Ctx) error {
	ct := strings.ToLower(c.Get(fiber.HeaderContentType))
	if !strings.HasPrefix(ct, fiber.MIMEApplicationForm) && !strings.HasPrefix(ct, fiber.MIMEMultipartForm) {
		return schemaErrorf("request body: expected a form (application/x-www-form-urlencoded or multipart/form-data) with username and password")
	}
	username, password := c.FormValue("username"), c.FormValue("password")
	if username == "" || password == "" {
		return schemaErrorf("username and password: both are required")
	}
	addr := rateAddress(s.clientIP(c))
	// Admin usernames are short; a long one is a guess and needs no longer key.
	pairKey := "login:ipuser:" + addr + "|" + truncate(strings.ToLower(username), 64)
	if err := s.allowLogin(c, "login:ip:"+addr, loginAddressAttempts); err != nil {
		return err
	}
	if err := s.allowLogin(c, pairKey, loginAttempts); err != nil {
		return err
	}
	var admin *model.Admin
	if s.envSudo.Check(username, password) {
		admin = s.envSudo.Admin()
	} else {
		a, err := s.st.CheckPassword(c.UserContext(), username, password)
		if errors.Is(err, model.ErrUnauthorized) {
			s.log.Info("admin login refused", "username", truncate(username, 64), "ip", addr)
			return &publicError{err: err, detail: "Incorrect username or password"}
		}
		if err != nil {
			return fmt.Errorf("checking password of %q: %w", username, err)
		}
		admin = a
	}
	if err := s.opts.RateLimiter.Reset(c.UserContext(), pairKey); err != nil {
		s.log.Warn("login rate limiter unavailable; attempts before this login still count", "err", err)
	}
	token, err := auth.Issue(s.opts.Secrets.JWT, admin, s.opts.TokenTTL, s.now())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"access_token": token, "token_type": "bearer"})
}

// allowLogin counts the attempt against key; over limit it is refused with
// 429 and Retry-After.
func (s *server) allowLogin(c *fiber.Ctx, key string, limit int) error {
	ok, retry, err := s.opts.RateLimiter.Allow(c.UserContext(), key, limit, loginWindow)
	if err != nil {
		// Failing closed would lock every admin out while Redis is away;
		// bcrypt keeps guessing slow in the meantime.
		s.log.Warn("login rate limiter unavailable; allowing the attempt", "err", err)
		return nil
	}
	if !ok {
		secs := int(math.Ceil(retry.Seconds()))
		if secs < 1 {
			secs = 1
		}
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
		return fiber.NewError(fiber.StatusTooManyRequests, "Too many login attempts; try again in "+strconv.Itoa(secs)+" seconds")
	}
	return nil
}

func (s *server) currentAdmin(c *fiber.Ctx) error {
	return c.JSON(adminOf(c))
}
