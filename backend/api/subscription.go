package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
	"github.com/outpost-panel/outpost/backend/sub"
	"github.com/outpost-panel/outpost/backend/sub/page"
	"github.com/outpost-panel/outpost/backend/sub/render"
)

// subscriptionRoutes: the public endpoints a user's client fetches with
// the token. The fixed sub-paths come before /sub/:token/:client_type, which would take them for a client
// type.
func (s *server) subscriptionRoutes() []route {
	usage := []queryParam{
		{Name: "start", Type: "string", Description: "date-time like 2026-11-26T01:02:03; default 30 days ago"},
		{Name: "end", Type: "string", Description: "date-time; default now"},
	}
	return []route{
		{Method: "GET", Path: "/sub/:token", Auth: authPublic, Handler: s.subscription, Doc: &routeDoc{
			Summary: "Subscription in the format the User-Agent rules pick (base64 links by default); " +
				"Accept: text/html gets the page, in the language of Accept-Language", Tag: "subscription",
			ResponseKind: kindText, Errors: []int{404}}},
		{Method: "GET", Path: "/sub/:token/info", Auth: authPublic, Handler: s.subscriptionInfo, Doc: &routeDoc{
			Summary: "The subscription's user, without admin data", Tag: "subscription",
			Response: typeOf[subUserResponse](), Errors: []int{404}}},
		{Method: "GET", Path: "/sub/:token/usage", Auth: authPublic, Handler: s.subscriptionUsage, Doc: &routeDoc{
			Summary: "The subscription user's usage per node", Tag: "subscription",
			Query: usage, Response: typeOf[subUsagesResponse](), Errors: []int{400, 404, 422}}},
		{Method: "GET", Path: "/sub/:token/:client_type", Auth: authPublic, Handler: s.subscriptionAs, Doc: &routeDoc{
			Summary: "Subscription in a forced format: v2ray, v2ray-json, clash, clash-meta, sing-box or outline (422 for anything else; 404 for a bad token first)", Tag: "subscription",
			ResponseKind: kindText, Errors: []int{404, 422}}},
	}
}

// errNoSubscription is every refusal of a token in /sub/{token}...: a bad
// signature, an unknown user and a revoked token look the same (404 "Not
// Found"), so tokens cannot be probed.
var errNoSubscription = fiber.NewError(fiber.StatusNotFound, "Not Found")

// clientTypes lists the client_type values of /sub/{token}/{client_type}
// for the 422 an unknown one gets.
var clientTypes = func() string {
	names := make([]string, len(render.Formats))
	for i, f := range render.Formats {
		names[i] = string(f)
	}
	return strings.Join(names, ", ")
}()

// subServer is the subscription endpoint's state: the cached lookups live in
// state.Subscriptions, the compiled User-Agent rules and the templates here.
type subServer struct {
	svc *state.Subscriptions
	// syncTouch writes each fetch record at once: nobody runs svc's flusher.
	syncTouch bool
	templates *subTemplates

	// The User-Agent rules compiled from the settings value they came from;
	// read on every fetch, so without a lock.
	sel atomic.Pointer[compiledSelector]

	// Bodies rendered from cached views, reused while the lookup cache
	// hands out the same view (see state.Subscriptions.CacheLookups).
	bodyMu    sync.RWMutex
	bodies    map[bodyKey]renderedBody
	bodyBytes int

	// customJSONEnv: Options.CustomJSONEnv.
	customJSONEnv map[string]bool
}

type compiledSelector struct {
	from *state.SubscriptionSettings
	sel  subSelector
}

type bodyKey struct {
	username string
	// device is the device whose credentials the body carries (the
	// credentials-per-device mode), 0 for the user's own.
	device  int64
	format  subFormat
	address string // the default address links were rendered with
}

type renderedBody struct {
	view        *state.SubscriptionView
	body        []byte
	contentType string
}

// Bounds of the body cache; past either it starts over. Entries of expired
// views linger until then, so the bounds, not the views, cap its memory.
const (
	maxRenderedBodies = 1 << 14
	maxRenderedBytes  = 64 << 20
)

// render renders view's subscription in format f as device (0: the
// user's own credentials; see servedUser), reusing the body rendered from
// the same cached view for the same device.
func (ss *subServer) render(f subFormat, view *state.SubscriptionView, device int64, address string, now time.Time, deviceRefused bool) ([]byte, string, error) {
	in := subInput{
		User: servedUser(view.User, device), Inbounds: view.Inbounds, Hosts: view.Hosts, DefaultAddress: address,
		Now: now, Templates: ss.templates, DeviceRefused: deviceRefused,
	}
	if !ss.svc.CachesLookups() || deviceRefused {
		return renderSub(f, in)
	}
	key := bodyKey{username: view.User.Username, device: device, format: f, address: address}
	ss.bodyMu.RLock()
	rb, ok := ss.bodies[key]
	ss.bodyMu.RUnlock()
	if ok && rb.view == view {
		return rb.body, rb.contentType, nil
	}
	body, contentType, err := renderSub(f, in)
	if err != nil {
		return nil, "", err
	}
	ss.bodyMu.Lock()
	if ss.bodies == nil || len(ss.bodies) >= maxRenderedBodies || ss.bodyBytes+len(body) > maxRenderedBytes {
		ss.bodies, ss.bodyBytes = make(map[bodyKey]renderedBody), 0
	}
	if old, ok := ss.bodies[key]; ok {
		ss.bodyBytes -= len(old.body)
	}
	ss.bodies[key] = renderedBody{view: view, body: body, contentType: contentType}
	ss.bodyBytes += len(body)
	ss.bodyMu.Unlock()
	return body, contentType, nil
}

func newSubServer(s *server) *subServer {
	ss := &subServer{svc: s.opts.Subscriptions, customJSONEnv: s.opts.CustomJSONEnv}
	if ss.svc == nil {
		ss.svc = state.NewSubscriptions(s.st, s.log)
		ss.syncTouch = true
	}
	if dir := s.opts.TemplatesDir; dir != "" {
		t, err := loadSubTemplates(dir)
		if err != nil {
			// The panel must come up for admins to fix it; clients get the
			// built-in skeletons meanwhile.
			s.log.Error("loading subscription templates; using the built-in ones", "dir", dir, "err", err)
		} else {
			ss.templates = t
		}
	}
	return ss
}

// selector returns the User-Agent rules of settings, compiled once per
// settings value (state caches one value per settings version).
func (ss *subServer) selector(set *state.SubscriptionSettings, log func(msg string, args ...any)) subSelector {
	if cs := ss.sel.Load(); cs != nil && cs.from == set {
		return cs.sel
	}
	rules, err := decodeSubRules(set.Rules)
	var sel subSelector
	if err == nil {
		sel, err = newSubSelector(rules)
	}
	if err != nil {
		// Stored rules were validated when saved; only a renderer upgrade
		// that tightened validation gets here. Serve the defaults rather
		// than fail.
		log("stored subscription rules do not compile; using the defaults", "err", err)
		sel, _ = newSubSelector(defaultSubRules())
	}
	sel = sel.WithCustomJSON(ss.customJSON(set.CustomJSON))
	ss.sel.Store(&compiledSelector{from: set, sel: sel})
	return sel
}

// customJSON is stored with the panel's USE_CUSTOM_JSON_* environment
// variables applied: a variable that is set wins.
func (ss *subServer) customJSON(stored render.CustomJSON) render.CustomJSON {
	for name, v := range ss.customJSONEnv {
		if p := stored.Switch(name); p != nil {
			*p = v
		}
	}
	return stored
}

// decodeSubRules reads stored or submitted rules; null or absent means the
// defaults.
func decodeSubRules(raw json.RawMessage) ([]subRule, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return defaultSubRules(), nil
	}
	var rules []subRule
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rules); err != nil {
		return nil, describeDecodeError(err)
	}
	return rules, nil
}

// linkHosts are the host lists for links rendered outside /sub/ (the user
// JSON's "links"), so they match the subscription's.
func (s *server) linkHosts(ctx context.Context) (map[string][]sub.Host, error) {
	return s.sub.svc.LinkHosts(ctx)
}

// lookupSubscription checks a token and loads what its subscription is
// rendered from.
func (s *server) lookupSubscription(c *fiber.Ctx) (*state.SubscriptionView, string, error) {
	token := c.Params("token")
	tok, err := sub.ReadToken(token, s.opts.Secrets.Subscription)
	if err != nil {
		return nil, "", errNoSubscription
	}
	view, err := s.sub.svc.Lookup(c.UserContext(), tok.Username)
	if errors.Is(err, model.ErrNotFound) {
		return nil, "", errNoSubscription
	}
	if err != nil {
		return nil, "", fmt.Errorf("loading subscription of %q: %w", tok.Username, err)
	}
	if !tok.ValidFor(s.opts.Secrets.Subscription, view.User.ID, view.User.CreatedAt, view.User.SubRevokedAt) {
		return nil, "", errNoSubscription
	}
	return view, token, nil
}

// subscription is GET /sub/{token}: the format the User-Agent rules pick,
// or the HTML page for a browser (Accept: text/html).
func (s *server) subscription(c *fiber.Ctx) error {
	view, token, err := s.lookupSubscription(c)
	if err != nil {
		return err
	}
	if !view.Settings.DisableHTMLPage && strings.Contains(c.Get(fiber.HeaderAccept), "text/html") {
		return s.subscriptionPage(c, view, token)
	}
	sel := s.sub.selector(view.Settings, s.log.Warn)
	return s.sendSubscription(c, view, token, sel.Select(c.Get(fiber.HeaderUserAgent)))
}

// subscriptionAs is GET /sub/{token}/{client_type}: a forced format. The
// token is checked first, as Marzban resolves it (a dependency) before it
// validates the path: a bad token is 404 whatever follows it, and only the
// holder of a good one learns that a client type is unknown, from a 422
// like Marzban's path validation gives.
func (s *server) subscriptionAs(c *fiber.Ctx) error {
	view, token, err := s.lookupSubscription(c)
	if err != nil {
		return err
	}
	f, ok := parseSubFormat(c.Params("client_type"))
	if !ok {
		return schemaErrorf("client_type: must be one of %s", clientTypes)
	}
	return s.sendSubscription(c, view, token, f)
}

func (s *server) sendSubscription(c *fiber.Ctx, view *state.SubscriptionView, token string, f subFormat) error {
	base, host := s.publicBase(c)
	u := view.User
	admitted, device := s.admitDevice(c, view)
	body, contentType, err := s.sub.render(f, view, device, host, s.now(), !admitted)
	if err != nil {
		return fmt.Errorf("rendering %s subscription of %q: %w", f, u.Username, err)
	}
	s.recordFetch(c, u)

	set := view.Settings
	h := &c.Response().Header
	h.Set("Subscription-Userinfo", subscriptionUserinfo(u))
	h.Set("Profile-Update-Interval", strconv.Itoa(set.ProfileUpdateInterval))
	title := u.Username
	if set.ProfileTitle != "" {
		title = strings.ReplaceAll(set.ProfileTitle, "{USERNAME}", u.Username)
	}
	h.Set("Profile-Title", "base64:"+base64.StdEncoding.EncodeToString([]byte(title)))
	if set.SupportURL != "" {
		h.Set("Support-Url", set.SupportURL)
	}
	webPage := set.ProfileWebPageURL
	if webPage == "" {
		webPage = base + "/sub/" + token
	}
	h.Set("Profile-Web-Page-Url", webPage)
	// Usernames are [a-z0-9_]: nothing to quote.
	h.Set(fiber.HeaderContentDisposition, `attachment; filename="`+u.Username+`"`)
	h.Set(fiber.HeaderCacheControl, "no-store")
	h.Set(fiber.HeaderContentType, contentType)
	return c.Send(body)
}

// subscriptionUserinfo is the subscription-userinfo header: bytes and Unix
// seconds, 0 for unlimited and never.
func subscriptionUserinfo(u *model.User) string {
	b := make([]byte, 0, 96)
	b = append(b, "upload=0; download="...)
	b = strconv.AppendInt(b, max(u.UsedTraffic, 0), 10)
	b = append(b, "; total="...)
	b = strconv.AppendInt(b, max(u.DataLimit, 0), 10)
	b = append(b, "; expire="...)
	b = strconv.AppendInt(b, max(u.Expire, 0), 10)
	return string(b)
}

// The headers a client's device is known by (Happ, v2RayTun, FlClash-based
// clients and Hiddify send them).
const (
	headerHWID        = "X-Hwid"
	headerDeviceOS    = "X-Device-Os"
	headerOSVersion   = "X-Ver-Os"
	headerDeviceModel = "X-Device-Model"
)

// admitDevice registers the fetch's device (x-hwid and friends) and says
// whether it may have the user's entries (false: the device-limit
// placeholder), and as which device: in the credentials-per-device mode
// the entries carry that device's credentials (device > 0), and a fetch
// that is not a registered device gets the placeholder, since the user's
// own credentials are the key the devices' are derived from and run on no
// node. Without the mode device is 0 and a failing registry does not cost
// the client its subscription: the fetch is served and the failure logged.
func (s *server) admitDevice(c *fiber.Ctx, view *state.SubscriptionView) (admitted bool, device int64) {
	df, ok := state.NewDeviceFetch(c.Get(headerHWID), c.Get(headerDeviceOS), c.Get(headerOSVersion),
		c.Get(headerDeviceModel), c.Get(fiber.HeaderUserAgent))
	if !ok {
		return false, 0 // an x-hwid no client sends
	}
	perDevice := view.User.PerDevice
	admitted, device, err := s.sub.svc.AdmitDevice(c.UserContext(), view, df)
	if err != nil {
		if perDevice {
			s.log.Warn("registering a subscription device; served the placeholder", "user", view.User.Username, "err", err)
			return false, 0
		}
		s.log.Warn("registering a subscription device; served anyway", "user", view.User.Username, "err", err)
		return true, 0
	}
	if s.sub.syncTouch {
		if err := s.sub.svc.Flush(c.UserContext()); err != nil {
			s.log.Warn("recording a device fetch", "user", view.User.Username, "err", err)
		}
	}
	if !perDevice {
		return admitted, 0
	}
	if device == 0 {
		return false, 0 // unlimited with a full registry: no device, no credentials
	}
	return admitted, device
}

// servedUser is the user whose credentials a subscription body carries:
// device's (state.DeviceUser) in the credentials-per-device mode, else u.
func servedUser(u *model.User, device int64) *model.User {
	if device == 0 || !u.PerDevice {
		return u
	}
	return state.DeviceUser(u, device)
}

// recordFetch notes sub_updated_at and sub_last_user_agent. A failed write
// must not cost the client its subscription.
func (s *server) recordFetch(c *fiber.Ctx, u *model.User) {
	ua := c.Get(fiber.HeaderUserAgent)
	if !s.sub.syncTouch {
		s.sub.svc.Record(u.ID, ua)
		return
	}
	if err := s.st.TouchSubscription(c.UserContext(), u.ID, ua); err != nil {
		s.log.Warn("recording subscription fetch", "user", u.Username, "err", err)
	}
}

// subscriptionPage is the HTML page for a browser, in the language of
// Accept-Language. Viewing it is not a client fetch, so nothing is recorded
// (as in Marzban).
func (s *server) subscriptionPage(c *fiber.Ctx, view *state.SubscriptionView, token string) error {
	base, host := s.publicBase(c)
	u, now := view.User, s.now()
	status := model.ComputeStatus(u, now)
	var links []string
	if status.OnNodes() && !u.PerDevice {
		// In the credentials-per-device mode a browser is no device: the
		// page lists no links and says to import the subscription URL.
		links = sub.LinksWith(u, view.Inbounds, view.Hosts, host, sub.Options{Now: now})
	}
	devices, err := s.st.DevicesOf(c.UserContext(), u.ID)
	if err != nil {
		return fmt.Errorf("loading devices of %q: %w", u.Username, err)
	}
	pageDevices := make([]page.Device, len(devices))
	for i, d := range devices {
		pageDevices[i] = page.Device{Name: d.Name, Model: d.Model, OS: d.OS, OSVersion: d.OSVersion,
			LastSeen: d.LastFetch, Refused: d.Refused}
	}
	var buf bytes.Buffer
	err = page.Render(&buf, page.Data{
		Username: u.Username, Status: string(status), Used: u.UsedTraffic, Limit: max(u.DataLimit, 0),
		Expire: max(u.Expire, 0), Links: links, SubscriptionURL: base + "/sub/" + token,
		Lang: page.Language(c.Get(fiber.HeaderAcceptLanguage)), Now: now, SupportURL: view.Settings.SupportURL,
		Devices: pageDevices, DeviceLimit: state.DeviceLimit(u, view.Settings), PerDevice: u.PerDevice,
	})
	if err != nil {
		return fmt.Errorf("rendering subscription page of %q: %w", u.Username, err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderContentSecurityPolicy, subPageCSP())
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(buf.Bytes())
}

// subUserResponse is Marzban's SubscriptionUserResponse: the user without
// what only admins see (owner, note, inbound selection, auto-delete).
type subUserResponse struct {
	Username               string              `json:"username"`
	Proxies                map[string]any      `json:"proxies"`
	Expire                 *int64              `json:"expire"`
	DataLimit              *int64              `json:"data_limit"`
	DataLimitResetStrategy model.ResetStrategy `json:"data_limit_reset_strategy"`
	Status                 model.Status        `json:"status"`
	UsedTraffic            int64               `json:"used_traffic"`
	LifetimeUsedTraffic    int64               `json:"lifetime_used_traffic"`
	CreatedAt              wireTime            `json:"created_at"`
	EditAt                 *wireTime           `json:"edit_at"`
	SubUpdatedAt           *wireTime           `json:"sub_updated_at"`
	SubLastUserAgent       *string             `json:"sub_last_user_agent"`
	OnlineAt               *wireTime           `json:"online_at"`
	OnHoldExpireDuration   *int64              `json:"on_hold_expire_duration"`
	OnHoldTimeout          *wireTime           `json:"on_hold_timeout"`
	NextPlan               *model.NextPlan     `json:"next_plan"`
	Links                  []string            `json:"links"`
	SubscriptionURL        string              `json:"subscription_url"`
}

// subscriptionInfo is GET /sub/{token}/info.
func (s *server) subscriptionInfo(c *fiber.Ctx) error {
	view, token, err := s.lookupSubscription(c)
	if err != nil {
		return err
	}
	base, host := s.publicBase(c)
	u := view.User
	// The links and the credentials are the subscription: a device past
	// the limit gets neither here, or /info would be the way around the
	// device limit.
	var links []string
	proxies := map[string]any{}
	// In the credentials-per-device mode they are the device's own.
	if admitted, device := s.admitDevice(c, view); admitted {
		du := servedUser(u, device)
		links = sub.LinksWith(du, view.Inbounds, view.Hosts, host, sub.Options{Now: s.now()})
		proxies = proxyJSON(du.Proxies)
	}
	if links == nil {
		links = []string{}
	}
	resp := subUserResponse{
		Username:               u.Username,
		Proxies:                proxies,
		Expire:                 positive(u.Expire),
		DataLimit:              positive(u.DataLimit),
		DataLimitResetStrategy: u.DataLimitReset,
		Status:                 u.Status,
		UsedTraffic:            u.UsedTraffic,
		LifetimeUsedTraffic:    u.LifetimeUsedTraffic,
		CreatedAt:              wireTime{u.CreatedAt},
		EditAt:                 optTime(u.EditAt),
		SubUpdatedAt:           optTime(u.SubUpdatedAt),
		OnlineAt:               optTime(u.OnlineAt),
		OnHoldExpireDuration:   positive(u.OnHoldExpireDuration),
		OnHoldTimeout:          optTime(u.OnHoldTimeout),
		NextPlan:               u.NextPlan,
		Links:                  links,
		SubscriptionURL:        base + "/sub/" + token,
	}
	if resp.DataLimitResetStrategy == "" {
		resp.DataLimitResetStrategy = model.ResetNone
	}
	if u.SubLastUserAgent != "" {
		ua := u.SubLastUserAgent
		resp.SubLastUserAgent = &ua
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(resp)
}

// subUsage is one node's share of a user's usage (Marzban's UserUsageResponse).
type subUsage struct {
	NodeID      *int64 `json:"node_id"`
	NodeName    string `json:"node_name"`
	UsedTraffic int64  `json:"used_traffic"`
}

type subUsagesResponse struct {
	Username string     `json:"username"`
	Usages   []subUsage `json:"usages"`
}

// subUsageDefaultWindow is the period of /usage without a start: Marzban's.
const subUsageDefaultWindow = 30 * 24 * time.Hour

// subscriptionUsage is GET /sub/{token}/usage?start&end: the user's usage
// per node in [start, end).
func (s *server) subscriptionUsage(c *fiber.Ctx) error {
	view, _, err := s.lookupSubscription(c)
	if err != nil {
		return err
	}
	now := s.now()
	start, err := subQueryTime(c, "start", now.Add(-subUsageDefaultWindow))
	if err != nil {
		return err
	}
	end, err := subQueryTime(c, "end", now)
	if err != nil {
		return err
	}
	if end.Before(start) {
		return fmt.Errorf("%w: start: must not be after end", model.ErrInvalid)
	}
	u := view.User
	points, err := s.st.SubscriptionUsage(c.UserContext(), u.ID, start, end)
	if err != nil {
		return fmt.Errorf("loading usage of %q: %w", u.Username, err)
	}
	byNode := map[int64]int64{}
	for _, p := range points {
		byNode[p.NodeID] += p.Used
	}
	resp := subUsagesResponse{Username: u.Username, Usages: []subUsage{}}
	if len(byNode) > 0 {
		nodes, err := s.st.Nodes(c.UserContext())
		if err != nil {
			return fmt.Errorf("loading nodes: %w", err)
		}
		names := make(map[int64]string, len(nodes))
		for _, n := range nodes {
			names[n.ID] = n.Name
		}
		for id, used := range byNode {
			resp.Usages = append(resp.Usages, subUsage{NodeID: &id, NodeName: names[id], UsedTraffic: used})
		}
		sort.Slice(resp.Usages, func(i, j int) bool { return *resp.Usages[i].NodeID < *resp.Usages[j].NodeID })
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(resp)
}

// subQueryTime reads a date-time query parameter in Marzban's forms
// ("2026-11-26T01:02:03", with a zone, or a date), def when absent.
func subQueryTime(c *fiber.Ctx, name string, def time.Time) (time.Time, error) {
	v := c.Query(name)
	if v == "" {
		return def, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", time.DateOnly} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, schemaErrorf("%s: expected a date-time like 2026-11-26T01:02:03, got %q", name, truncate(v, 40))
}
