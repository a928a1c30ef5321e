package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
)

// userRoutes: users, their lifecycle and their usage. Regular admins reach
// only their own users (owner rules in state); sudo admins everyone's.
func (s *server) userRoutes() []route {
	const expired = "expired users whose expire, and limited users whose limit was reached, fall in the range"
	return []route{
		{Method: "POST", Path: "/api/user", Auth: authAdmin, Handler: s.createUser, Doc: &routeDoc{
			Summary: "Create a user owned by the caller", Tag: "user",
			Body: typeOf[userBody](), Response: typeOf[userResponse](), Errors: []int{400, 409}}},
		{Method: "GET", Path: "/api/user/:username", Auth: authAdmin, Handler: s.getUser, Doc: &routeDoc{
			Summary: "One user (owner or sudo)", Tag: "user",
			Response: typeOf[userResponse](), Errors: []int{403, 404}}},
		{Method: "PUT", Path: "/api/user/:username", Auth: authAdmin, Handler: s.modifyUser, Doc: &routeDoc{
			Summary: "Modify a user; missing fields are unchanged", Tag: "user",
			Body: typeOf[userBody](), Response: typeOf[userResponse](), Errors: []int{400, 403, 404}}},
		{Method: "DELETE", Path: "/api/user/:username", Auth: authAdmin, Handler: s.deleteUser, Doc: &routeDoc{
			Summary: "Delete a user", Tag: "user",
			Response: typeOf[emptyObject](), Errors: []int{403, 404}}},
		{Method: "GET", Path: "/api/users", Auth: authAdmin, Handler: s.listUsers, Doc: &routeDoc{
			Summary: "List users the caller may see, with search, filters, sort and pagination", Tag: "user",
			Query: slices.Concat(usersQuery, usersFilterQuery), Response: typeOf[usersPage](), Errors: []int{400, 422}}},

		{Method: "POST", Path: "/api/user/:username/reset", Auth: authAdmin, Handler: s.resetUserUsage, Doc: &routeDoc{
			Summary: "Reset the user's used traffic (logged; lifetime usage kept); a limited user becomes active", Tag: "user",
			Response: typeOf[userResponse](), Errors: []int{404}}},
		{Method: "POST", Path: "/api/user/:username/revoke_sub", Auth: authAdmin, Handler: s.revokeSubscription, Doc: &routeDoc{
			Summary: "New credentials for every proxy; earlier subscription links stop working", Tag: "user",
			Response: typeOf[userResponse](), Errors: []int{404}}},
		{Method: "POST", Path: "/api/user/:username/active-next", Auth: authAdmin, Handler: s.activateNextPlan, Doc: &routeDoc{
			Summary: "Apply the user's next plan now (404 when it has none)", Tag: "user",
			Response: typeOf[userResponse](), Errors: []int{404}}},
		{Method: "GET", Path: "/api/user/:username/usage", Auth: authAdmin, Handler: s.userUsage, Doc: &routeDoc{
			Summary: "The user's usage per node over a time range", Tag: "user",
			Query: dateRangeQuery("start", "end"), Response: typeOf[userUsageResponse](), Errors: []int{400, 404}}},
		{Method: "GET", Path: "/api/user/:username/usage/daily", Auth: authAdmin, Handler: s.userUsageDaily, Doc: &routeDoc{
			Summary: "The user's usage over every node per UTC day over a time range, days without traffic left out (Outpost)", Tag: "user",
			Query: dateRangeQuery("start", "end"), Response: typeOf[userDailyUsageResponse](), Errors: []int{400, 404}}},
		{Method: "GET", Path: "/api/user/:username/resets", Auth: authAdmin, Handler: s.userResets, Doc: &routeDoc{
			Summary: "The user's usage resets (used traffic at each reset), newest first, paginated (Outpost)", Tag: "user",
			Query: []queryParam{
				{Name: "offset", Type: "integer", Limit: "offset", Description: "resets to skip"},
				{Name: "limit", Type: "integer", Limit: "page_size", Description: "resets per page (default 50, at most 1000)"},
			},
			Response: typeOf[userResetsResponse](), Errors: []int{403, 404, 422}}},
		{Method: "PUT", Path: "/api/user/:username/set-owner", Auth: authSudo, Handler: s.setOwner, Doc: &routeDoc{
			Summary: "Give the user to another admin", Tag: "user",
			Query:    []queryParam{{Name: "admin_username", Type: "string", Description: "the new owner (required)"}},
			Response: typeOf[userResponse](), Errors: []int{404, 422}}},
		{Method: "POST", Path: "/api/users/reset", Auth: authSudo, Handler: s.resetAllUsage, Doc: &routeDoc{
			Summary: "Reset every user's used traffic in one transaction (logged; lifetime usage kept)", Tag: "user",
			Response: typeOf[emptyObject]()}},
		{Method: "GET", Path: "/api/users/usage", Auth: authAdmin, Handler: s.usersUsage, Doc: &routeDoc{
			Summary: "Usage per node of the caller's users (sudo: of the admins named, else everyone's)", Tag: "user",
			Query:    append(dateRangeQuery("start", "end"), queryParam{Name: "admin", Type: "string", Multi: true, Description: "admin usernames (sudo only)"}),
			Response: typeOf[usersUsageResponse](), Errors: []int{400}}},
		{Method: "GET", Path: "/api/users/expired", Auth: authAdmin, Handler: s.expiredUsers, Doc: &routeDoc{
			Summary: "Usernames of the " + expired, Tag: "user",
			Query: dateRangeQuery("expired_after", "expired_before"), Response: typeOf[[]string](), Errors: []int{400}}},
		{Method: "DELETE", Path: "/api/users/expired", Auth: authAdmin, Handler: s.deleteExpiredUsers, Doc: &routeDoc{
			Summary: "Delete the " + expired + "; returns their usernames (404 when none)", Tag: "user",
			Query: dateRangeQuery("expired_after", "expired_before"), Response: typeOf[[]string](), Errors: []int{400, 404}}},
	}
}

var usersQuery = []queryParam{
	{Name: "offset", Type: "integer", Limit: "offset"},
	{Name: "limit", Type: "integer", Limit: "page_size", Description: "page size, at most 1000 (also when missing or 0)"},
	{Name: "username", Type: "string", Multi: true, Description: "only these usernames"},
	{Name: "search", Type: "string", Description: "substring of username or note"},
	{Name: "admin", Type: "string", Multi: true, Description: "only users of these admins (sudo only)"},
	{Name: "status", Type: "string", Description: "active, disabled, limited, expired or on_hold"},
	{Name: "sort", Type: "string", Description: "username, used_traffic, data_limit, expire or created_at; prefix - for descending"},
}

// Page size of GET /api/users. Marzban returns every user when no limit is
// given; with 100,000 users (each with its links) that is a response of
// hundreds of megabytes, so Outpost serves at most maxPageSize per request
// and a missing or zero limit means that maximum. "total" tells a client
// how many pages there are.
const maxPageSize = int(model.MaxPageSize)

// Bounds on list filters, so a query string cannot grow a SQL statement
// without limit.
const (
	maxSearchLen    = 64
	maxFilterValues = 100
)

var userTexts = map[error]string{
	model.ErrNotFound:  "User not found",
	model.ErrConflict:  "User already exists",
	model.ErrForbidden: "You're not allowed",
}

// userBody is Marzban's UserCreate / UserModify. On modify a missing or null
// field leaves the value unchanged, except that an explicit null
// auto_delete_in_days or next_plan removes the rule or the plan (see
// explicitNulls): a client that sends back the user it read keeps them, and
// one that wants them gone can say so.
type userBody struct {
	Username               *string                        `json:"username"`
	Proxies                map[string]model.ProxySettings `json:"proxies"`
	Inbounds               map[string][]string            `json:"inbounds"`
	Expire                 *int64                         `json:"expire" limit:"expire"`
	DataLimit              *int64                         `json:"data_limit" limit:"bytes"`
	DataLimitResetStrategy *model.ResetStrategy           `json:"data_limit_reset_strategy"`
	Status                 *model.Status                  `json:"status"`
	Note                   *string                        `json:"note"`
	OnHoldExpireDuration   *int64                         `json:"on_hold_expire_duration" limit:"duration"`
	OnHoldTimeout          *wireTime                      `json:"on_hold_timeout"`
	AutoDeleteInDays       *int64                         `json:"auto_delete_in_days" limit:"days"`
	NextPlan               *model.NextPlan                `json:"next_plan"`
	// HWIDDeviceLimit is how many devices may fetch the subscription
	// (Outpost): 0 unlimited; null or missing on create, and an explicit
	// null on modify, put the user on the global default.
	HWIDDeviceLimit *int64 `json:"hwid_device_limit" limit:"devices"`
	// IPLimit is how many source addresses the user may connect from at
	// once (0 unlimited); null or absent on create follows the global
	// default, an explicit null on modify puts it back on the default.
	IPLimit *int64 `json:"ip_limit" limit:"ip_limit"`
	// PerDeviceCredentials gives each of the user's devices credentials of
	// its own (Outpost): null or absent on create follows the global
	// default, an explicit null on modify puts the user back on it.
	PerDeviceCredentials *bool `json:"per_device_credentials"`
	// Part of Marzban's input schema, but the panel keeps them itself
	// (Marzban ignores them on input too); accepted so its clients work.
	SubUpdatedAt     json.RawMessage `json:"sub_updated_at"`
	SubLastUserAgent json.RawMessage `json:"sub_last_user_agent"`
	OnlineAt         json.RawMessage `json:"online_at"`
}

func (b *userBody) input() state.UserInput {
	in := state.UserInput{
		Username:               b.Username,
		Proxies:                b.Proxies,
		Inbounds:               b.Inbounds,
		Expire:                 b.Expire,
		DataLimit:              b.DataLimit,
		DataLimitResetStrategy: b.DataLimitResetStrategy,
		Status:                 b.Status,
		Note:                   b.Note,
		OnHoldExpireDuration:   b.OnHoldExpireDuration,
		AutoDeleteInDays:       b.AutoDeleteInDays,
		NextPlan:               b.NextPlan,
		HWIDDeviceLimit:        b.HWIDDeviceLimit,
		IPLimit:                b.IPLimit,
		PerDeviceCredentials:   b.PerDeviceCredentials,
	}
	if b.OnHoldTimeout != nil {
		t := b.OnHoldTimeout.Time
		in.OnHoldTimeout = &t
	}
	return in
}

// User create and modify answer as Marzban does: a body that breaks the
// schema or a field's rule (pydantic's validators there: username, proxies,
// inbounds, status, limits, note...) is 422; a well-formed body the server
// cannot serve (a protocol without an inbound) is 400; a taken username is
// 409.

// userBodyFields are the JSON names of userBody's fields.
var userBodyFields = func() map[string]bool {
	out := map[string]bool{}
	t := reflect.TypeFor[userBody]()
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			out[name] = true
		}
	}
	return out
}()

// asFieldError turns a validation error of state about one of the body's
// fields ("<field>[.<sub>]: <what is wrong>", the form state writes them in)
// into the 422 of a body field; any other error passes unchanged.
func asFieldError(err error) error {
	if !errors.Is(err, model.ErrInvalid) {
		return err
	}
	msg := afterSentinel(err, model.ErrInvalid)
	path, _, ok := strings.Cut(msg, ":")
	if !ok {
		return err
	}
	field, _, _ := strings.Cut(path, ".")
	if !userBodyFields[field] {
		return err
	}
	return &schemaError{msg: msg}
}

// checkProtocolsServed refuses proxies of a protocol the core config has no
// inbound for (Marzban's 400 "Protocol X is disabled on your server"): such
// a user would get no link for it. Unknown protocols are left to the
// field validation.
func (s *server) checkProtocolsServed(c *fiber.Ctx, proxies map[string]model.ProxySettings) error {
	if len(proxies) == 0 {
		return nil
	}
	inbounds, err := s.st.Inbounds(c.UserContext())
	if err != nil {
		return fmt.Errorf("loading inbounds: %w", err)
	}
	served := map[string]bool{}
	for _, ib := range inbounds {
		served[ib.Protocol] = true
	}
	protos := make([]string, 0, len(proxies))
	for proto := range proxies {
		protos = append(protos, proto)
	}
	slices.Sort(protos)
	for _, proto := range protos {
		switch proto {
		case model.ProtoVLESS, model.ProtoVMess, model.ProtoTrojan, model.ProtoShadowsocks:
			if !served[proto] {
				return fmt.Errorf("%w: Protocol %s is disabled on your server", model.ErrInvalid, proto)
			}
		}
	}
	return nil
}

func (s *server) createUser(c *fiber.Ctx) error {
	var body userBody
	if err := decodeJSON(c.Body(), &body); err != nil {
		return err
	}
	if err := s.checkProtocolsServed(c, body.Proxies); err != nil {
		return err
	}
	u, err := s.st.CreateUser(c.UserContext(), adminOf(c), body.input())
	if err != nil {
		return describe(asFieldError(err), userTexts)
	}
	s.log.Info("user created", "username", u.Username, "admin", adminOf(c).Username)
	return s.respondUser(c, u)
}

func (s *server) getUser(c *fiber.Ctx) error {
	u, err := s.st.User(c.UserContext(), adminOf(c), pathUsername(c))
	if err != nil {
		return describe(err, userTexts)
	}
	return s.respondUser(c, u)
}

func (s *server) modifyUser(c *fiber.Ctx) error {
	var body userBody
	if err := decodeJSON(c.Body(), &body); err != nil {
		return err
	}
	name := pathUsername(c)
	if body.Username != nil && !strings.EqualFold(*body.Username, name) {
		// Marzban's clients send the whole form back, username included;
		// a different one would be a rename, which Marzban has no way to do.
		return schemaErrorf("username: cannot be changed (the user is %q)", name)
	}
	body.Username = nil
	if err := s.checkProtocolsServed(c, body.Proxies); err != nil {
		return err
	}
	in := body.input()
	in.ClearAutoDeleteInDays, in.ClearNextPlan, in.ClearIPLimit = explicitNulls(c.Body())
	in.ClearHWIDDeviceLimit = explicitNull(c.Body(), "hwid_device_limit")
	in.ClearPerDeviceCredentials = explicitNull(c.Body(), "per_device_credentials")
	u, err := s.st.ModifyUser(c.UserContext(), adminOf(c), name, in)
	if err != nil {
		return describe(asFieldError(err), userTexts)
	}
	s.log.Info("user modified", "username", u.Username, "admin", adminOf(c).Username)
	return s.respondUser(c, u)
}

func (s *server) deleteUser(c *fiber.Ctx) error {
	name := pathUsername(c)
	if err := s.st.DeleteUser(c.UserContext(), adminOf(c), name); err != nil {
		return describe(err, userTexts)
	}
	s.log.Info("user deleted", "username", name, "admin", adminOf(c).Username)
	return c.JSON(fiber.Map{})
}

// pathUsername is the {username} path segment, lowercased: usernames are
// case-insensitive and stored in lower case.
func pathUsername(c *fiber.Ctx) string {
	return strings.ToLower(c.Params("username"))
}

// usersPage is GET /api/users.
type usersPage struct {
	Users []userResponse `json:"users"`
	Total int            `json:"total"`
}

func (s *server) listUsers(c *fiber.Ctx) error {
	admin := adminOf(c)
	f, empty, err := s.userFilter(c, admin)
	if err != nil {
		return err
	}
	if empty {
		return c.JSON(usersPage{Users: []userResponse{}})
	}
	users, total, err := s.st.ListUsers(c.UserContext(), admin, f)
	if err != nil {
		return err
	}
	r, err := s.newRenderer(c)
	if err != nil {
		return err
	}
	page := usersPage{Users: make([]userResponse, 0, len(users)), Total: total}
	for i := range users {
		ur, err := r.user(&users[i])
		if err != nil {
			return err
		}
		page.Users = append(page.Users, ur)
	}
	return c.JSON(page)
}

// userFilter reads GET /api/users' query. empty is set when the filter can
// match nobody (every admin named is unknown), which needs no query.
func (s *server) userFilter(c *fiber.Ctx, admin *model.Admin) (f model.UserFilter, empty bool, err error) {
	if err := checkQuery(c); err != nil {
		return f, false, err
	}
	args := c.Context().QueryArgs()
	if f.Offset, err = nonNegativeQuery(string(args.Peek("offset")), "offset"); err != nil {
		return f, false, err
	}
	if f.Limit, err = nonNegativeQuery(string(args.Peek("limit")), "limit"); err != nil {
		return f, false, err
	}
	if f.Limit == 0 {
		f.Limit = maxPageSize
	}
	multi := func(name string) ([]string, error) {
		var out []string
		for _, v := range args.PeekMulti(name) {
			if len(v) > 0 {
				out = append(out, strings.ToLower(string(v)))
			}
		}
		if len(out) > maxFilterValues {
			return nil, fmt.Errorf("%w: %s: at most %d values", model.ErrInvalid, name, maxFilterValues)
		}
		return out, nil
	}
	if f.Usernames, err = multi("username"); err != nil {
		return f, false, err
	}
	f.Search = string(args.Peek("search"))
	if len(f.Search) > maxSearchLen {
		return f, false, fmt.Errorf("%w: search: longer than %d characters", model.ErrInvalid, maxSearchLen)
	}
	if st := string(args.Peek("status")); st != "" {
		f.Status = model.Status(st)
		if !f.Status.Valid() {
			// A query parameter typed as Marzban's UserStatus enum: FastAPI's
			// 422, while a bad sort is Marzban's own 400.
			return f, false, schemaErrorf("status: must be one of active, disabled, limited, expired, on_hold")
		}
	}
	if err := s.dashboardUserFilters(c, &f); err != nil { // users_filters.go
		return f, false, err
	}
	if f.Sort = string(args.Peek("sort")); f.Sort != "" && !validSort(f.Sort) {
		return f, false, fmt.Errorf("%w: sort: must be one of username, used_traffic, data_limit, expire, created_at, optionally prefixed with - for descending", model.ErrInvalid)
	}
	admins, err := multi("admin")
	if err != nil {
		return f, false, err
	}
	// Like Marzban, the admin filter is a sudo's: a regular admin always
	// sees exactly its own users (state enforces it), so it is ignored.
	if admin.IsSudo && len(admins) > 0 {
		for _, name := range admins {
			a, err := s.st.AdminByUsername(c.UserContext(), name)
			if errors.Is(err, model.ErrNotFound) {
				continue
			}
			if err != nil {
				return f, false, fmt.Errorf("loading admin %q: %w", name, err)
			}
			f.AdminIDs = append(f.AdminIDs, a.ID)
		}
		if len(f.AdminIDs) == 0 {
			return f, true, nil
		}
	}
	return f, false, nil
}

func validSort(s string) bool {
	switch strings.TrimPrefix(s, "-") {
	case "username", "used_traffic", "data_limit", "expire", "created_at":
		return true
	}
	return false
}

// explicitNulls reports which of auto_delete_in_days, next_plan and
// ip_limit a modify body (already decoded once, so well formed) sets to null.
// Marzban 0.8 drops the next plan on any modify that lacks one; Outpost
// keeps it unless asked, so a bot that edits a note does not lose the
// plan it sold.
func explicitNulls(body []byte) (autoDelete, nextPlan, ipLimit bool) {
	var raw struct {
		AutoDeleteInDays json.RawMessage `json:"auto_delete_in_days"`
		NextPlan         json.RawMessage `json:"next_plan"`
		IPLimit          json.RawMessage `json:"ip_limit"`
	}
	if json.Unmarshal(body, &raw) != nil {
		return false, false, false
	}
	return string(raw.AutoDeleteInDays) == "null", string(raw.NextPlan) == "null", string(raw.IPLimit) == "null"
}

// explicitNull reports whether a body (already decoded once, so well
// formed) sets field to null.
func explicitNull(body []byte, field string) bool {
	var raw map[string]json.RawMessage
	if json.Unmarshal(body, &raw) != nil {
		return false
	}
	v, ok := raw[field]
	return ok && string(v) == "null"
}

var nextPlanTexts = map[error]string{
	state.ErrNoNextPlan: "User doesn't have next plan",
	model.ErrNotFound:   "User not found",
	model.ErrForbidden:  "You're not allowed",
}

func (s *server) resetUserUsage(c *fiber.Ctx) error {
	u, err := s.st.ResetUserUsage(c.UserContext(), adminOf(c), pathUsername(c))
	if err != nil {
		return describe(err, userTexts)
	}
	s.log.Info("user usage reset", "username", u.Username, "admin", adminOf(c).Username)
	return s.respondUser(c, u)
}

func (s *server) revokeSubscription(c *fiber.Ctx) error {
	u, err := s.st.RevokeSubscription(c.UserContext(), adminOf(c), pathUsername(c))
	if err != nil {
		return describe(err, userTexts)
	}
	s.log.Info("user subscription revoked", "username", u.Username, "admin", adminOf(c).Username)
	return s.respondUser(c, u)
}

func (s *server) activateNextPlan(c *fiber.Ctx) error {
	u, err := s.st.ActivateNextPlan(c.UserContext(), adminOf(c), pathUsername(c))
	if err != nil {
		if errors.Is(err, state.ErrNoNextPlan) {
			return &publicError{err: err, detail: nextPlanTexts[state.ErrNoNextPlan]}
		}
		return describe(err, userTexts)
	}
	s.log.Info("user next plan applied", "username", u.Username, "admin", adminOf(c).Username)
	return s.respondUser(c, u)
}

func (s *server) setOwner(c *fiber.Ctx) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	name := c.Query("admin_username")
	if name == "" {
		return schemaErrorf("admin_username: required")
	}
	if _, err := s.st.AdminByUsername(c.UserContext(), name); err != nil {
		return describe(fmt.Errorf("admin %q: %w", name, err), map[error]string{model.ErrNotFound: "Admin not found"})
	}
	u, err := s.st.SetOwner(c.UserContext(), pathUsername(c), name)
	if err != nil {
		return describe(err, userTexts)
	}
	s.log.Info("user owner set", "username", u.Username, "owner", name, "admin", adminOf(c).Username)
	return s.respondUser(c, u)
}

func (s *server) resetAllUsage(c *fiber.Ctx) error {
	n, err := s.st.ResetAllUsage(c.UserContext(), adminOf(c))
	if err != nil {
		return err
	}
	s.log.Info("all users' usage reset", "users", n, "admin", adminOf(c).Username)
	return c.JSON(fiber.Map{})
}

// nodeUsage is Marzban's UserUsageResponse: bytes through one node.
type nodeUsage struct {
	NodeID      *int64 `json:"node_id"`
	NodeName    string `json:"node_name"`
	UsedTraffic int64  `json:"used_traffic"`
}

func nodeUsageJSON(in []state.NodeUsage) []nodeUsage {
	out := make([]nodeUsage, 0, len(in))
	for _, u := range in {
		id := u.NodeID
		out = append(out, nodeUsage{NodeID: &id, NodeName: u.NodeName, UsedTraffic: u.Used})
	}
	return out
}

// userUsageResponse is Marzban's UserUsagesResponse.
type userUsageResponse struct {
	Username string      `json:"username"`
	Usages   []nodeUsage `json:"usages"`
}

// usersUsageResponse is Marzban's UsersUsagesResponse.
type usersUsageResponse struct {
	Usages []nodeUsage `json:"usages"`
}

func (s *server) userUsage(c *fiber.Ctx) error {
	start, end, err := s.dateRange(c, "start", "end")
	if err != nil {
		return err
	}
	u, usages, err := s.st.UserUsage(c.UserContext(), adminOf(c), pathUsername(c), start, end)
	if err != nil {
		return describe(err, userTexts)
	}
	return c.JSON(userUsageResponse{Username: u.Username, Usages: nodeUsageJSON(usages)})
}

// dayUsage is one UTC day of a user's traffic (an Outpost extension).
type dayUsage struct {
	Date        string `json:"date"` // YYYY-MM-DD, UTC
	UsedTraffic int64  `json:"used_traffic"`
}

type userDailyUsageResponse struct {
	Username string     `json:"username"`
	Days     []dayUsage `json:"days"`
}

// userUsageDaily is GET /api/user/{username}/usage/daily: the user's
// traffic over every node per UTC day, days without traffic left out.
func (s *server) userUsageDaily(c *fiber.Ctx) error {
	start, end, err := s.dateRange(c, "start", "end")
	if err != nil {
		return err
	}
	u, days, err := s.st.UserUsageDaily(c.UserContext(), adminOf(c), pathUsername(c), start, end)
	if err != nil {
		return describe(err, userTexts)
	}
	out := userDailyUsageResponse{Username: u.Username, Days: make([]dayUsage, 0, len(days))}
	for _, d := range days {
		out.Days = append(out.Days, dayUsage{Date: time.Unix(d.Day, 0).UTC().Format("2006-01-02"), UsedTraffic: d.Used})
	}
	return c.JSON(out)
}

// usageReset is one reset of a user's used traffic.
type usageReset struct {
	UsedTrafficAtReset int64    `json:"used_traffic_at_reset"`
	ResetAt            wireTime `json:"reset_at"`
}

type userResetsResponse struct {
	Username string       `json:"username"`
	Resets   []usageReset `json:"resets"`
	Total    int          `json:"total"` // resets in all, for paging
}

// defaultResetsPage is the page size of GET /api/user/{username}/resets
// when the caller names none.
const defaultResetsPage = 50

// userResets is GET /api/user/{username}/resets: the used traffic at each
// reset, manual or periodic, newest first.
func (s *server) userResets(c *fiber.Ctx) error {
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
	if limit == 0 {
		limit = defaultResetsPage
	}
	u, logs, total, err := s.st.UserResets(c.UserContext(), adminOf(c), pathUsername(c), offset, limit)
	if err != nil {
		return describe(err, userTexts)
	}
	out := userResetsResponse{Username: u.Username, Resets: make([]usageReset, 0, len(logs)), Total: total}
	for _, l := range logs {
		out.Resets = append(out.Resets, usageReset{UsedTrafficAtReset: l.UsedTrafficAtReset, ResetAt: wireTime{l.ResetAt}})
	}
	return c.JSON(out)
}

func (s *server) usersUsage(c *fiber.Ctx) error {
	start, end, err := s.dateRange(c, "start", "end")
	if err != nil {
		return err
	}
	var admins []string
	for _, v := range c.Context().QueryArgs().PeekMulti("admin") {
		if len(v) > 0 {
			admins = append(admins, string(v))
		}
	}
	if len(admins) > maxFilterValues {
		return fmt.Errorf("%w: admin: at most %d values", model.ErrInvalid, maxFilterValues)
	}
	usages, err := s.st.UsersUsage(c.UserContext(), adminOf(c), admins, start, end)
	if err != nil {
		return err
	}
	return c.JSON(usersUsageResponse{Usages: nodeUsageJSON(usages)})
}

func (s *server) expiredUsers(c *fiber.Ctx) error {
	after, before, err := s.dateRange(c, "expired_after", "expired_before")
	if err != nil {
		return err
	}
	names, err := s.st.ExpiredUsers(c.UserContext(), adminOf(c), after, before)
	if err != nil {
		return err
	}
	return c.JSON(names)
}

func (s *server) deleteExpiredUsers(c *fiber.Ctx) error {
	after, before, err := s.dateRange(c, "expired_after", "expired_before")
	if err != nil {
		return err
	}
	names, err := s.st.DeleteExpiredUsers(c.UserContext(), adminOf(c), after, before)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		// Marzban answers 404 when the range holds no expired user.
		return &publicError{err: fmt.Errorf("no expired users: %w", model.ErrNotFound),
			detail: "No expired users found in the specified date range"}
	}
	s.log.Info("expired users deleted", "count", len(names), "admin", adminOf(c).Username)
	return c.JSON(names)
}
