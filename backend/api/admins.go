package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/auth"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
)

// adminRoutes: logging in, the caller's own admin, and admin management.
func (s *server) adminRoutes() []route {
	return []route{
		{Method: "POST", Path: "/api/admin/token", Auth: authPublic, Handler: s.login, Doc: &routeDoc{
			Summary: "Log in (OAuth2 password form); returns a bearer token. An admin with two-factor sign-in on also sends otp (a TOTP code or a recovery code); without it the answer is 401 \"Two-factor code required\"", Tag: "admin",
			BodyKind: kindForm, FormFields: []string{"username", "password"}, OptionalFormFields: []string{"otp"},
			Response: typeOf[tokenResponse](), Errors: []int{401, 422, 429}}},
		{Method: "GET", Path: "/api/admin", Auth: authAdmin, Handler: s.currentAdmin, Doc: &routeDoc{
			Summary: "The admin behind the token, with its reseller caps and caps_use, its current use of them", Tag: "admin", Response: typeOf[model.AdminWithUse]()}},
		{Method: "GET", Path: "/api/admins", Auth: authSudo, Handler: s.listAdmins, Doc: &routeDoc{
			Summary: "List admins, each with its reseller caps and caps_use", Tag: "admin", Query: adminQuery,
			Response: typeOf[[]model.AdminWithUse](), Errors: []int{400, 422}}},
		{Method: "POST", Path: "/api/admin", Auth: authSudo, Handler: s.createAdmin, Doc: &routeDoc{
			Summary: "Create an admin", Tag: "admin",
			Body: typeOf[adminCreateBody](), Response: typeOf[model.Admin](), Errors: []int{400, 409}}},
		// The fixed /api/admin/usage/... paths have other segment counts or
		// methods than /api/admin/:username..., so neither can swallow the
		// other.
		{Method: "GET", Path: "/api/admin/usage/:username", Auth: authSudo, Handler: s.adminUsage, Doc: &routeDoc{
			Summary: "Traffic of the admin's users since its last usage reset, in bytes", Tag: "admin",
			Response: typeOf[int64](), Errors: []int{404}}},
		{Method: "POST", Path: "/api/admin/usage/reset/:username", Auth: authSudo, Handler: s.resetAdminUsage, Doc: &routeDoc{
			Summary: "Reset the admin's users_usage to zero", Tag: "admin",
			Response: typeOf[model.Admin](), Errors: []int{404}}},
		{Method: "PUT", Path: "/api/admin/:username", Auth: authSudo, Handler: s.modifyAdmin, Doc: &routeDoc{
			Summary: "Modify an admin; a new password ends its older sessions. Another sudo's account is refused. A reseller cap field missing is kept, null clears it", Tag: "admin",
			Body: typeOf[adminModifyBody](), Response: typeOf[model.Admin](), Errors: []int{400, 404}}},
		{Method: "DELETE", Path: "/api/admin/:username", Auth: authSudo, Handler: s.deleteAdmin, Doc: &routeDoc{
			Summary: "Delete an admin (not a sudo); its users remain, owned by nobody", Tag: "admin",
			Response: typeOf[detailBody](), Errors: []int{404}}},
		{Method: "POST", Path: "/api/admin/:username/users/disable", Auth: authSudo, Handler: s.disableAdminUsers, Doc: &routeDoc{
			Summary: "Disable every user of the admin (one change for all nodes)", Tag: "admin",
			Response: typeOf[detailBody](), Errors: []int{404}}},
		{Method: "POST", Path: "/api/admin/:username/users/activate", Auth: authSudo, Handler: s.activateAdminUsers, Doc: &routeDoc{
			Summary: "Re-enable every disabled user of the admin", Tag: "admin",
			Response: typeOf[detailBody](), Errors: []int{404}}},
	}
}

var adminQuery = []queryParam{
	{Name: "offset", Type: "integer", Limit: "offset", Description: "admins to skip"},
	{Name: "limit", Type: "integer", Limit: "page_size", Description: "at most this many; 0 or missing for all"},
	{Name: "username", Type: "string", Description: "case-insensitive substring of the username"},
}

// tokenResponse is the answer of POST /api/admin/token.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
}

// maxAdminFilter bounds GET /api/admins?username=.
const maxAdminFilter = 64

var adminTexts = map[error]string{
	model.ErrNotFound:  "Admin not found",
	model.ErrConflict:  "Admin already exists",
	model.ErrForbidden: "You're not allowed to manage a sudo admin's account; use the panel CLI instead",
}

// adminCreateBody is Marzban's AdminCreate.
type adminCreateBody struct {
	Username       *string `json:"username" required:"true"`
	Password       *string `json:"password" required:"true"`
	IsSudo         bool    `json:"is_sudo"`
	TelegramID     *int64  `json:"telegram_id" limit:"telegram"`
	DiscordWebhook *string `json:"discord_webhook"`
	CapsBody
	// Part of Marzban's AdminCreate (it extends Admin); the panel counts it
	// itself, so it is accepted and ignored.
	UsersUsage json.RawMessage `json:"users_usage" openapi:"-"`
}

// adminModifyBody is Marzban's AdminModify; a missing or null field is left
// as it is (Marzban requires is_sudo; accepting it missing breaks nobody).
// telegram_id 0 and discord_webhook "" clear the value.
type adminModifyBody struct {
	Password       *string `json:"password"`
	IsSudo         *bool   `json:"is_sudo"`
	TelegramID     *int64  `json:"telegram_id" limit:"telegram"`
	DiscordWebhook *string `json:"discord_webhook"`
	CapsBody
}

// CapsBody are the reseller caps a sudo admin sets on an admin (see
// model.AdminCaps): null is no cap; in a modification a missing field
// keeps the cap and null clears it.
type CapsBody struct {
	MaxUsers       *int64 `json:"max_users" limit:"cap_users"`
	MaxDataLimit   *int64 `json:"max_data_limit" limit:"cap_bytes"`
	MaxUsedTraffic *int64 `json:"max_used_traffic" limit:"cap_bytes"`
	AllowUnlimited *bool  `json:"allow_unlimited"`
}

func (b CapsBody) caps() model.AdminCaps {
	return model.AdminCaps{MaxUsers: b.MaxUsers, MaxDataLimit: b.MaxDataLimit,
		MaxUsedTraffic: b.MaxUsedTraffic, AllowUnlimited: b.AllowUnlimited}
}

// capFieldsIn says which cap fields the body has, null included (decodeJSON
// has checked it is one JSON object).
func capFieldsIn(body []byte) state.CapFields {
	var present map[string]json.RawMessage
	_ = json.Unmarshal(body, &present)
	has := func(k string) bool { _, ok := present[k]; return ok }
	return state.CapFields{MaxUsers: has("max_users"), MaxDataLimit: has("max_data_limit"),
		MaxUsedTraffic: has("max_used_traffic"), AllowUnlimited: has("allow_unlimited")}
}

// detailBody is the {"detail": "..."} of a successful action without data.
type detailBody struct {
	Detail string `json:"detail"`
}

func (s *server) listAdmins(c *fiber.Ctx) error {
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
	username := string(args.Peek("username"))
	if len(username) > maxAdminFilter {
		return fmt.Errorf("%w: username: longer than %d characters", model.ErrInvalid, maxAdminFilter)
	}
	admins, err := s.st.ListAdminsWithUse(c.UserContext(), offset, limit, username)
	if err != nil {
		return err
	}
	return c.JSON(admins)
}

// nonNegativeQuery parses an optional offset or limit query parameter of a
// list: not a number, or one outside model's "offset" or "page_size"
// range, is a schema error (422). 0 is "none given".
func nonNegativeQuery(raw, name string) (int, error) {
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return 0, schemaErrorf("%s: expected an integer, got %q", name, truncate(raw, 20))
	}
	rng := "offset"
	if name == "limit" {
		rng = "page_size"
	}
	if err := model.CheckInt(name, rng, n); err != nil {
		return 0, asSchemaError(err)
	}
	return int(n), nil
}

func (s *server) createAdmin(c *fiber.Ctx) error {
	var body adminCreateBody
	if err := decodeJSON(c.Body(), &body); err != nil {
		return err
	}
	if body.Username == nil {
		return schemaErrorf("username: field required")
	}
	if body.Password == nil {
		return schemaErrorf("password: field required")
	}
	// The env sudo has no row; a row of the same name would shadow it.
	if s.envSudo.Configured() && strings.EqualFold(*body.Username, s.envSudo.Username) {
		return &publicError{err: fmt.Errorf("admin %q is the env sudo: %w", *body.Username, model.ErrConflict), detail: adminTexts[model.ErrConflict]}
	}
	a, err := s.st.CreateAdmin(c.UserContext(), state.AdminInput{
		Username: *body.Username, Password: *body.Password, IsSudo: body.IsSudo,
		TelegramID: body.TelegramID, DiscordWebhook: body.DiscordWebhook, Caps: body.caps(),
	})
	if err != nil {
		return describe(err, adminTexts)
	}
	s.log.Info("admin created", "username", a.Username, "sudo", a.IsSudo, "by", adminOf(c).Username)
	return c.JSON(a)
}

func (s *server) modifyAdmin(c *fiber.Ctx) error {
	var body adminModifyBody
	if err := decodeJSON(c.Body(), &body); err != nil {
		return err
	}
	a, err := s.st.ModifyAdmin(c.UserContext(), adminOf(c), c.Params("username"), state.AdminChanges{
		Password: body.Password, IsSudo: body.IsSudo, TelegramID: body.TelegramID, DiscordWebhook: body.DiscordWebhook,
		Caps: body.caps(), SetCaps: capFieldsIn(c.Body()),
	})
	if err != nil {
		return describe(err, adminTexts)
	}
	s.log.Info("admin modified", "username", a.Username, "password_changed", body.Password != nil, "by", adminOf(c).Username)
	return c.JSON(a)
}

func (s *server) deleteAdmin(c *fiber.Ctx) error {
	name := c.Params("username")
	if err := s.st.DeleteAdmin(c.UserContext(), adminOf(c), name); err != nil {
		return describe(err, adminTexts)
	}
	s.log.Info("admin deleted", "username", name, "by", adminOf(c).Username)
	return c.JSON(detailBody{Detail: "Admin removed successfully"})
}

func (s *server) disableAdminUsers(c *fiber.Ctx) error {
	name := c.Params("username")
	n, err := s.st.DisableAdminUsers(c.UserContext(), name)
	if err != nil {
		return describe(err, adminTexts)
	}
	s.log.Info("admin's users disabled", "admin", name, "users", n, "by", adminOf(c).Username)
	return c.JSON(detailBody{Detail: "Users successfully disabled"})
}

func (s *server) activateAdminUsers(c *fiber.Ctx) error {
	name := c.Params("username")
	n, err := s.st.ActivateAdminUsers(c.UserContext(), name)
	if err != nil {
		return describe(err, adminTexts)
	}
	s.log.Info("admin's users activated", "admin", name, "users", n, "by", adminOf(c).Username)
	return c.JSON(detailBody{Detail: "Users successfully activated"})
}

func (s *server) adminUsage(c *fiber.Ctx) error {
	n, err := s.st.AdminUsage(c.UserContext(), c.Params("username"))
	if err != nil {
		return describe(err, adminTexts)
	}
	return c.JSON(n)
}

func (s *server) resetAdminUsage(c *fiber.Ctx) error {
	a, err := s.st.ResetAdminUsage(c.UserContext(), c.Params("username"))
	if err != nil {
		return describe(err, adminTexts)
	}
	s.log.Info("admin usage reset", "username", a.Username, "by", adminOf(c).Username)
	return c.JSON(a)
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
	if d := s.loginNames.blockedFor(username, s.now()); d > 0 && !s.secondFactorOn(c, username) {
		return nameRefusal(c, d)
	}
	var admin *model.Admin
	if s.envSudo.Check(username, password) {
		admin = s.envSudo.Admin()
	} else {
		a, err := s.st.CheckPassword(c.UserContext(), username, password)
		if errors.Is(err, model.ErrUnauthorized) {
			s.loginNames.fail(username, s.now())
			s.log.Info("admin login refused", "username", truncate(username, 64), "ip", addr)
			return &publicError{err: err, detail: "Incorrect username or password"}
		}
		if err != nil {
			return fmt.Errorf("checking password of %q: %w", username, err)
		}
		admin = a
		if err := s.loginSecondFactor(c, a, addr); err != nil {
			// Counted like a wrong password: the attempt above stays.
			if errors.Is(err, errTOTPWrong) {
				s.loginNames.fail(username, s.now())
			}
			return err
		}
	}
	s.loginNames.succeed(username)
	if err := s.opts.RateLimiter.Reset(c.UserContext(), pairKey); err != nil {
		s.log.Warn("login rate limiter unavailable; attempts before this login still count", "err", err)
	}
	sid, err := s.newSession(c, admin)
	if err != nil {
		return err
	}
	token, err := auth.IssueSession(s.opts.Secrets.JWT, admin, sid, s.opts.TokenTTL, s.now())
	if err != nil {
		return err
	}
	return c.JSON(tokenResponse{AccessToken: token, TokenType: "bearer"})
}

// otpRequiredHeader tells a client that the password was right and the
// second factor is missing, so it asks for the code (the dashboard does).
const otpRequiredHeader = "X-Outpost-Otp"

// loginSecondFactor asks an admin whose two-factor sign-in is on for the
// form's otp: a TOTP code or a recovery code.
func (s *server) loginSecondFactor(c *fiber.Ctx, a *model.Admin, addr string) error {
	t, _, err := s.st.TOTP(c.UserContext(), a.ID)
	if errors.Is(err, model.ErrNotFound) || (err == nil && !t.Confirmed) {
		return nil
	}
	if err != nil {
		return err
	}
	code := strings.TrimSpace(c.FormValue("otp"))
	if code == "" {
		c.Set(otpRequiredHeader, "required")
		return errTOTPRequired
	}
	if len(code) > 64 {
		return errTOTPWrong
	}
	ok, err := s.checkSecondFactor(c, a, t, code)
	if err != nil {
		return err
	}
	if !ok {
		s.log.Info("admin login refused: wrong two-factor code", "username", a.Username, "ip", addr)
		c.Set(otpRequiredHeader, "invalid")
		return errTOTPWrong
	}
	return nil
}

// secondFactorOn reports whether a blocked name's attempt may still be
// checked (nameLimiter): the form carries a two-factor code and the admin
// of that name has its second factor on.
func (s *server) secondFactorOn(c *fiber.Ctx, username string) bool {
	if strings.TrimSpace(c.FormValue("otp")) == "" {
		return false
	}
	a, err := s.st.AdminByUsername(c.UserContext(), username)
	if err != nil {
		return false
	}
	t, _, err := s.st.TOTP(c.UserContext(), a.ID)
	return err == nil && t.Confirmed
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
	a, err := s.st.AdminWithCaps(c.UserContext(), adminOf(c))
	if err != nil {
		return describe(err, adminTexts)
	}
	return c.JSON(a)
}

// Login rate limits, per minute. One address may try loginAddressAttempts
// times whatever the usernames, and loginAttempts times one username; a
// success forgets that address's count for that username. Nothing is
// counted per username alone here: nameLimiter (loginlimit.go) slows down
// guesses at one name from many addresses, with a capped delay and a way
// through for admins with two-factor sign-in.
const (
	loginAttempts        = 10
	loginAddressAttempts = 30
	loginWindow          = time.Minute
)
