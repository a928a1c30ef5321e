package api

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/auth"
	"github.com/outpost-panel/outpost/backend/model"
)

// securityRoutes: the signed-in account's own security (issue 13): its
// two-factor sign-in, API keys, sessions and password. All of them are
// scopeAccount: an API key calls none. A sudo admin resets another admin's
// second factor.
func (s *server) securityRoutes() []route {
	return []route{
		{Method: "GET", Path: "/api/admin/totp", Auth: authAdmin, Scope: scopeAccount, Handler: s.totpStatus, Doc: &routeDoc{
			Summary: "Whether the caller's two-factor sign-in is on, and its unused recovery codes", Tag: "account",
			Response: typeOf[totpStatusBody]()}},
		{Method: "POST", Path: "/api/admin/totp/enroll", Auth: authAdmin, Scope: scopeAccount, Handler: s.totpEnroll, Doc: &routeDoc{
			Summary: "Start enrolling a TOTP authenticator: a new secret and its otpauth:// URL (for a QR code); off until confirmed", Tag: "account",
			Response: typeOf[totpEnrollBody](), Errors: []int{409}}},
		{Method: "POST", Path: "/api/admin/totp/confirm", Auth: authAdmin, Scope: scopeAccount, Handler: s.totpConfirm, Doc: &routeDoc{
			Summary: "Turn two-factor sign-in on with a code from the authenticator; answers the ten recovery codes, shown this once", Tag: "account",
			Body: typeOf[totpCodeBody](), Response: typeOf[recoveryCodesBody](), Errors: []int{400, 404, 409, 429}}},
		{Method: "POST", Path: "/api/admin/totp/disable", Auth: authAdmin, Scope: scopeAccount, Handler: s.totpDisable, Doc: &routeDoc{
			Summary: "Turn two-factor sign-in off with a current code or a recovery code", Tag: "account",
			Body: typeOf[totpCodeBody](), Response: typeOf[emptyObject](), Errors: []int{400, 404, 429}}},
		{Method: "POST", Path: "/api/admin/:username/totp/reset", Auth: authSudo, Scope: model.ScopeAdmins, Handler: s.totpReset, Doc: &routeDoc{
			Summary: "Turn another admin's two-factor sign-in off (lost device and codes); not another sudo's (use the CLI)", Tag: "admin",
			Response: typeOf[detailBody](), Errors: []int{404}}},
		{Method: "GET", Path: "/api/admin/keys", Auth: authAdmin, Scope: scopeAccount, Handler: s.listKeys, Doc: &routeDoc{
			Summary: "The caller's API keys (never the keys themselves)", Tag: "account",
			Response: typeOf[[]model.APIKey]()}},
		{Method: "POST", Path: "/api/admin/keys", Auth: authAdmin, Scope: scopeAccount, Handler: s.createKey, Doc: &routeDoc{
			Summary: "Create an API key; the key is in this answer only. Send it as Authorization: Bearer op_...", Tag: "account",
			Body: typeOf[keyCreateBody](), Response: typeOf[keyCreatedBody](), Errors: []int{400, 403}}},
		{Method: "DELETE", Path: "/api/admin/keys/:id", Auth: authAdmin, Scope: scopeAccount, Handler: s.deleteKey, Doc: &routeDoc{
			Summary: "Revoke one of the caller's API keys", Tag: "account",
			Response: typeOf[emptyObject](), Errors: []int{404, 422}}},
		{Method: "GET", Path: "/api/admin/sessions", Auth: authAdmin, Scope: scopeAccount, Handler: s.listSessions, Doc: &routeDoc{
			Summary: "The caller's signed-in sessions, newest first; current marks this token's", Tag: "account",
			Response: typeOf[[]model.AdminSession]()}},
		{Method: "DELETE", Path: "/api/admin/sessions/:id", Auth: authAdmin, Scope: scopeAccount, Handler: s.endSession, Doc: &routeDoc{
			Summary: "End one of the caller's sessions; its token is refused from then on", Tag: "account",
			Response: typeOf[emptyObject](), Errors: []int{404, 422}}},
		{Method: "POST", Path: "/api/admin/password", Auth: authAdmin, Scope: scopeAccount, Handler: s.changePassword, Doc: &routeDoc{
			Summary: "Change the caller's password; ends every other session and answers a new token for this one", Tag: "account",
			Body: typeOf[passwordChangeBody](), Response: typeOf[tokenResponse](), Errors: []int{400}}},
	}
}

type totpStatusBody struct {
	// Available is false for the env sudo, which has no account row and
	// so no second factor, API keys or password to change here.
	Available         bool `json:"available"`
	Enabled           bool `json:"enabled"`
	Pending           bool `json:"pending"` // enrolment started, not confirmed
	RecoveryCodesLeft int  `json:"recovery_codes_left"`
}

type totpEnrollBody struct {
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauth_url"`
}

type totpCodeBody struct {
	Code *string `json:"code" required:"true"`
}

type recoveryCodesBody struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

type keyCreateBody struct {
	Name   *string  `json:"name" required:"true"`
	Scopes []string `json:"scopes" required:"true"`
	// ExpiresAt is a unix time in seconds; missing, null or 0: never.
	ExpiresAt *int64 `json:"expires_at" limit:"expire"`
}

type keyCreatedBody struct {
	model.APIKey
	// Key is the API key itself, shown this once.
	Key string `json:"key"`
}

type passwordChangeBody struct {
	CurrentPassword *string `json:"current_password" required:"true"`
	NewPassword     *string `json:"new_password" required:"true"`
}

var (
	errTOTPRequired = &publicError{err: fmt.Errorf("two-factor code missing: %w", model.ErrUnauthorized), detail: "Two-factor code required"}
	errTOTPWrong    = &publicError{err: fmt.Errorf("wrong two-factor code: %w", model.ErrUnauthorized), detail: "Invalid two-factor code"}
	errEnvSudoAcct  = &publicError{err: fmt.Errorf("env sudo account: %w", model.ErrForbidden),
		detail: "The env sudo (SUDO_USERNAME) has no account row: two-factor sign-in and API keys need a database admin"}
)

// totpTexts are the details of the enrolment's own errors.
var totpTexts = map[error]string{
	model.ErrNotFound: "Two-factor sign-in is not set up; enroll first",
	model.ErrConflict: "Two-factor sign-in is already on; turn it off first",
}

// secondFactorAttempts bounds the codes tried per admin and minute on the
// confirm and disable routes (the login counts them in its own limits).
const secondFactorAttempts = 10

func (s *server) totpStatus(c *fiber.Ctx) error {
	a := adminOf(c)
	out := totpStatusBody{Available: a.ID != 0}
	if a.ID == 0 {
		return c.JSON(out)
	}
	t, left, err := s.st.TOTP(c.UserContext(), a.ID)
	if err != nil && !errors.Is(err, model.ErrNotFound) {
		return err
	}
	if t != nil {
		out.Enabled, out.Pending, out.RecoveryCodesLeft = t.Confirmed, !t.Confirmed, left
	}
	return c.JSON(out)
}

func (s *server) totpEnroll(c *fiber.Ctx) error {
	a := adminOf(c)
	if a.ID == 0 {
		return errEnvSudoAcct
	}
	secret, url, err := auth.NewTOTP(a.Username)
	if err != nil {
		return err
	}
	sealed, err := auth.SealSecret(s.opts.Secrets.JWT, secret)
	if err != nil {
		return err
	}
	if err := s.st.StartTOTP(c.UserContext(), a.ID, sealed); err != nil {
		return describe(err, totpTexts)
	}
	return c.JSON(totpEnrollBody{Secret: secret, OTPAuthURL: url})
}

func (s *server) decodeCode(c *fiber.Ctx) (string, error) {
	var body totpCodeBody
	if err := decodeJSON(c.Body(), &body); err != nil {
		return "", err
	}
	if body.Code == nil || *body.Code == "" {
		return "", schemaErrorf("code: field required")
	}
	if len(*body.Code) > 64 {
		return "", schemaErrorf("code: longer than 64 characters")
	}
	return *body.Code, nil
}

func (s *server) totpConfirm(c *fiber.Ctx) error {
	a := adminOf(c)
	if a.ID == 0 {
		return errEnvSudoAcct
	}
	code, err := s.decodeCode(c)
	if err != nil {
		return err
	}
	if err := s.allowLogin(c, "totp:admin:"+strconv.FormatInt(a.ID, 10), secondFactorAttempts); err != nil {
		return err
	}
	ctx := c.UserContext()
	t, _, err := s.st.TOTP(ctx, a.ID)
	if err != nil {
		return describe(err, totpTexts)
	}
	if t.Confirmed {
		return describe(fmt.Errorf("totp of %q: %w", a.Username, model.ErrConflict), totpTexts)
	}
	secret, err := auth.OpenSecret(s.opts.Secrets.JWT, t.Secret)
	if err != nil {
		return err
	}
	step, ok := auth.MatchTOTP(secret, code, s.now(), t.LastStep)
	if !ok {
		return &publicError{err: fmt.Errorf("%w: wrong confirmation code", model.ErrInvalid), detail: "Invalid two-factor code"}
	}
	codes, err := auth.NewRecoveryCodes(model.RecoveryCodeCount)
	if err != nil {
		return err
	}
	hashes := make([]string, len(codes))
	for i, rc := range codes {
		hashes[i] = auth.HashRecoveryCode(rc)
	}
	if err := s.st.ConfirmTOTP(ctx, a.ID, step, hashes); err != nil {
		return describe(err, totpTexts)
	}
	s.log.Info("two-factor sign-in turned on", "admin", a.Username)
	return c.JSON(recoveryCodesBody{RecoveryCodes: codes})
}

func (s *server) totpDisable(c *fiber.Ctx) error {
	a := adminOf(c)
	if a.ID == 0 {
		return errEnvSudoAcct
	}
	code, err := s.decodeCode(c)
	if err != nil {
		return err
	}
	if err := s.allowLogin(c, "totp:admin:"+strconv.FormatInt(a.ID, 10), secondFactorAttempts); err != nil {
		return err
	}
	t, _, err := s.st.TOTP(c.UserContext(), a.ID)
	if err != nil {
		return describe(err, totpTexts)
	}
	if t.Confirmed {
		ok, err := s.checkSecondFactor(c, a, t, code)
		if err != nil {
			return err
		}
		if !ok {
			return &publicError{err: fmt.Errorf("%w: wrong code", model.ErrInvalid), detail: "Invalid two-factor code"}
		}
	}
	// An enrolment never confirmed is dropped without a code.
	if err := s.st.DisableTOTP(c.UserContext(), a.ID); err != nil {
		return err
	}
	s.log.Info("two-factor sign-in turned off", "admin", a.Username)
	return c.JSON(emptyObject{})
}

// checkSecondFactor accepts a TOTP code of the current step or a
// neighbour, each step once, or an unused recovery code, which it spends.
func (s *server) checkSecondFactor(c *fiber.Ctx, a *model.Admin, t *model.TOTPState, code string) (bool, error) {
	ctx := c.UserContext()
	secret, err := auth.OpenSecret(s.opts.Secrets.JWT, t.Secret)
	if err != nil {
		return false, err
	}
	if step, ok := auth.MatchTOTP(secret, code, s.now(), t.LastStep); ok {
		// Compare-and-set: of two requests with one code, one wins.
		return s.st.UseTOTPStep(ctx, a.ID, step)
	}
	if len(code) < 10 {
		return false, nil
	}
	used, err := s.st.UseRecoveryCode(ctx, a.ID, auth.HashRecoveryCode(code))
	if used {
		s.log.Info("recovery code used", "admin", a.Username)
	}
	return used, err
}

func (s *server) totpReset(c *fiber.Ctx) error {
	a, err := s.st.ResetTOTP(c.UserContext(), adminOf(c), c.Params("username"))
	if err != nil {
		return describe(err, adminTexts)
	}
	s.log.Info("two-factor sign-in reset", "admin", a.Username, "by", adminOf(c).Username)
	return c.JSON(detailBody{Detail: "Two-factor sign-in turned off"})
}

func (s *server) listKeys(c *fiber.Ctx) error {
	a := adminOf(c)
	if a.ID == 0 {
		return c.JSON([]model.APIKey{})
	}
	uses := s.keyUses.unwritten() // before the read: see unwritten
	keys, err := s.st.APIKeys(c.UserContext(), a.ID)
	if err != nil {
		return err
	}
	overlay(keys, uses)
	return c.JSON(keys)
}

func (s *server) createKey(c *fiber.Ctx) error {
	a := adminOf(c)
	if a.ID == 0 {
		return errEnvSudoAcct
	}
	var body keyCreateBody
	if err := decodeJSON(c.Body(), &body); err != nil {
		return err
	}
	if body.Name == nil {
		return schemaErrorf("name: field required")
	}
	if body.Scopes == nil {
		return schemaErrorf("scopes: field required")
	}
	if *body.Name == "" || len(*body.Name) > model.MaxAPIKeyName {
		return fmt.Errorf("%w: name: must be 1 to %d characters", model.ErrInvalid, model.MaxAPIKeyName)
	}
	scopes, err := model.CheckScopes(body.Scopes, a.IsSudo)
	if err != nil {
		return err
	}
	now := s.now().UTC().Truncate(time.Second)
	k := model.APIKey{AdminID: a.ID, Name: *body.Name, Scopes: scopes, CreatedAt: now}
	if body.ExpiresAt != nil && *body.ExpiresAt != 0 {
		if *body.ExpiresAt <= now.Unix() {
			return fmt.Errorf("%w: expires_at: must be in the future", model.ErrInvalid)
		}
		exp := time.Unix(*body.ExpiresAt, 0).UTC()
		k.ExpiresAt = &exp
	}
	key, prefix, hash, err := auth.NewAPIKey()
	if err != nil {
		return err
	}
	k.KeyHash, k.Prefix = hash, prefix
	if err := s.st.CreateAPIKey(c.UserContext(), &k); err != nil {
		return err
	}
	s.log.Info("api key created", "admin", a.Username, "key", k.ID, "scopes", scopes)
	return c.JSON(keyCreatedBody{APIKey: k, Key: key})
}

// pathID is the :id of a key or session route.
func pathID(c *fiber.Ctx) (int64, error) {
	raw := c.Params("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return 0, schemaErrorf("id: expected a positive integer, got %q", truncate(raw, 20))
	}
	return id, nil
}

func (s *server) deleteKey(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := s.st.DeleteAPIKey(c.UserContext(), adminOf(c).ID, id); err != nil {
		return describe(err, map[error]string{model.ErrNotFound: "API key not found"})
	}
	s.log.Info("api key revoked", "admin", adminOf(c).Username, "key", id)
	return c.JSON(emptyObject{})
}

func (s *server) listSessions(c *fiber.Ctx) error {
	list, err := s.st.Sessions(c.UserContext(), adminOf(c))
	if err != nil {
		return err
	}
	cur := sessionOf(c)
	for i := range list {
		list[i].Current = list[i].ID == cur
	}
	return c.JSON(list)
}

func (s *server) endSession(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := s.st.EndSession(c.UserContext(), adminOf(c), id); err != nil {
		return describe(err, map[error]string{model.ErrNotFound: "Session not found"})
	}
	// Refused here at once; other replicas within sessionCacheTTL.
	s.sessions.put(id, false, s.now())
	s.log.Info("session ended", "admin", adminOf(c).Username, "session", id)
	return c.JSON(emptyObject{})
}

func (s *server) changePassword(c *fiber.Ctx) error {
	var body passwordChangeBody
	if err := decodeJSON(c.Body(), &body); err != nil {
		return err
	}
	if body.CurrentPassword == nil || body.NewPassword == nil {
		return schemaErrorf("current_password and new_password: both are required")
	}
	a := adminOf(c)
	if a.ID == 0 {
		return errEnvSudoAcct
	}
	keep := sessionOf(c)
	updated, ended, err := s.st.ChangeOwnPassword(c.UserContext(), a, *body.CurrentPassword, *body.NewPassword, keep)
	if err != nil {
		return err
	}
	now := s.now()
	for _, id := range ended {
		s.sessions.put(id, false, now)
	}
	if keep == 0 {
		// A token from before sessions: this sign-in gets one now.
		sess, err := s.newSession(c, updated)
		if err != nil {
			return err
		}
		keep = sess
	}
	token, err := auth.IssueSession(s.opts.Secrets.JWT, updated, keep, s.opts.TokenTTL, now)
	if err != nil {
		return err
	}
	s.log.Info("admin changed its password", "admin", a.Username, "sessions_ended", len(ended))
	return c.JSON(tokenResponse{AccessToken: token, TokenType: "bearer"})
}

// maxUserAgent bounds the stored User-Agent of a session.
const maxUserAgent = 256

// newSession records a sign-in of admin from this request.
func (s *server) newSession(c *fiber.Ctx, admin *model.Admin) (int64, error) {
	now := s.now().UTC().Truncate(time.Second)
	ua := c.Get(fiber.HeaderUserAgent)
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
	}
	if model.CheckText("user_agent", ua) != nil {
		ua = ""
	}
	sess := model.AdminSession{AdminID: admin.ID, Username: admin.Username, CreatedAt: now,
		ExpiresAt: now.Add(s.opts.TokenTTL), Address: s.clientIP(c).String(), UserAgent: ua}
	if err := s.st.CreateSession(c.UserContext(), &sess); err != nil {
		return 0, err
	}
	return sess.ID, nil
}
