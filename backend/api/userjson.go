package api

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/sub"
	"github.com/outpost-panel/outpost/backend/xrayconf"
)

// userResponse is Marzban's UserResponse. Zero limits are null, as Marzban
// writes them, and times are UTC without a zone.
type userResponse struct {
	Username               string              `json:"username"`
	Proxies                map[string]any      `json:"proxies"`
	Inbounds               map[string][]string `json:"inbounds"`
	ExcludedInbounds       map[string][]string `json:"excluded_inbounds"`
	Expire                 *int64              `json:"expire"`
	DataLimit              *int64              `json:"data_limit"`
	DataLimitResetStrategy model.ResetStrategy `json:"data_limit_reset_strategy"`
	Status                 model.Status        `json:"status"`
	UsedTraffic            int64               `json:"used_traffic"`
	LifetimeUsedTraffic    int64               `json:"lifetime_used_traffic"`
	CreatedAt              wireTime            `json:"created_at"`
	EditAt                 *wireTime           `json:"edit_at"`
	Note                   string              `json:"note"`
	SubUpdatedAt           *wireTime           `json:"sub_updated_at"`
	SubLastUserAgent       *string             `json:"sub_last_user_agent"`
	OnlineAt               *wireTime           `json:"online_at"`
	OnHoldExpireDuration   *int64              `json:"on_hold_expire_duration"`
	OnHoldTimeout          *wireTime           `json:"on_hold_timeout"`
	AutoDeleteInDays       *int64              `json:"auto_delete_in_days"`
	NextPlan               *model.NextPlan     `json:"next_plan"`
	// HWIDDeviceLimit is the user's own device limit; null: the global
	// default applies (Outpost).
	HWIDDeviceLimit *int64 `json:"hwid_device_limit"`
	// IPLimit is the user's own IP limit; null follows the global default
	// (GET /api/users/ip_limit).
	IPLimit *int64 `json:"ip_limit"`
	// PerDeviceCredentials is the user's own choice of credentials per
	// device; null follows the global default (Outpost).
	PerDeviceCredentials *bool `json:"per_device_credentials"`
	// PerDeviceActive is the mode in effect: each admitted device has
	// credentials of its own and subscriptions serve a device its own.
	PerDeviceActive bool `json:"per_device_active"`
	// IPLimitUntil is set while the IP limit holds the user disabled: when
	// it is enabled again.
	IPLimitUntil *wireTime    `json:"ip_limit_until"`
	Admin        *model.Admin `json:"admin"`
	// Links are the user's share links; none in the credentials-per-
	// device mode (each device gets its own with its subscription fetch).
	Links           []string `json:"links"`
	SubscriptionURL string   `json:"subscription_url"`
}

// Per-protocol proxy objects carry exactly Marzban's fields for each protocol.
type (
	vlessProxy struct {
		ID   string `json:"id"`
		Flow string `json:"flow"`
	}
	vmessProxy struct {
		ID string `json:"id"`
	}
	trojanProxy struct {
		Password string `json:"password"`
	}
	shadowsocksProxy struct {
		Password string `json:"password"`
		Method   string `json:"method"`
	}
)

func proxyJSON(proxies map[string]model.ProxySettings) map[string]any {
	out := make(map[string]any, len(proxies))
	for proto, p := range proxies {
		switch proto {
		case model.ProtoVLESS:
			out[proto] = vlessProxy{ID: p.ID, Flow: p.Flow}
		case model.ProtoVMess:
			out[proto] = vmessProxy{ID: p.ID}
		case model.ProtoTrojan:
			out[proto] = trojanProxy{Password: p.Password}
		case model.ProtoShadowsocks:
			out[proto] = shadowsocksProxy{Password: p.Password, Method: p.Method}
		}
	}
	return out
}

// userRenderer turns users into responses for one request: the inbounds,
// the link host, the subscription base and the owners are looked up once.
type userRenderer struct {
	s        *server
	c        *fiber.Ctx
	inbounds []xrayconf.Inbound
	base     string // scheme://host of subscription URLs
	hosts    map[string][]sub.Host
	host     string // address put in share links
	now      time.Time
	admins   map[int64]*model.Admin // owners by id
}

func (s *server) newRenderer(c *fiber.Ctx) (*userRenderer, error) {
	inbounds, err := s.st.Inbounds(c.UserContext())
	if err != nil {
		return nil, fmt.Errorf("loading inbounds: %w", err)
	}
	hosts, err := s.linkHosts(c.UserContext())
	if err != nil {
		return nil, fmt.Errorf("loading hosts: %w", err)
	}
	base, host := s.publicBase(c)
	r := &userRenderer{
		s: s, c: c, inbounds: inbounds, hosts: hosts, base: base, host: host, now: s.now(),
		admins: map[int64]*model.Admin{},
	}
	// The caller owns most users it sees; the env sudo (id 0) owns none.
	if caller := adminOf(c); caller.ID != 0 {
		r.admins[caller.ID] = caller
	}
	return r, nil
}

// publicBase is the URL base of subscription links and the host for share
// links: Options.PublicURL, else what the request was addressed to.
func (s *server) publicBase(c *fiber.Ctx) (base, host string) {
	if s.opts.PublicURL != "" {
		base = strings.TrimRight(s.opts.PublicURL, "/")
		if u, err := url.Parse(base); err == nil && u.Hostname() != "" {
			return base, u.Hostname()
		}
		return base, base
	}
	hostport := c.Hostname()
	host = hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	return c.Protocol() + "://" + hostport, host
}

// owner is the admin a user belongs to, null when it has none. A user
// created by the environment's sudo admin (SUDO_USERNAME, which has no row
// in the admins table) has no owner, as in Marzban, where such users get
// admin_id NULL: the create response says so too, not only later reads.
func (r *userRenderer) owner(u *model.User) (*model.Admin, error) {
	if u.AdminID == 0 || u.AdminUsername == "" {
		return nil, nil
	}
	if a, ok := r.admins[u.AdminID]; ok {
		return a, nil
	}
	a, err := r.s.st.AdminByUsername(r.c.UserContext(), u.AdminUsername)
	if errors.Is(err, model.ErrNotFound) || (err == nil && a.ID != u.AdminID) {
		// Deleted (or renamed) since the user was read: name what was read.
		a, err = &model.Admin{ID: u.AdminID, Username: u.AdminUsername}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading owner %q of user %q: %w", u.AdminUsername, u.Username, err)
	}
	r.admins[u.AdminID] = a
	return a, nil
}

func (r *userRenderer) user(u *model.User) (userResponse, error) {
	owner, err := r.owner(u)
	if err != nil {
		return userResponse{}, err
	}
	// A user in the credentials-per-device mode has no link of its own:
	// its own credentials run on no node, and each device's links come
	// with that device's subscription fetch.
	links := []string{}
	if !u.PerDevice {
		if l := sub.Links(u, r.inbounds, r.hosts, r.host); l != nil {
			links = l
		}
	}
	resp := userResponse{
		Username:               u.Username,
		Proxies:                proxyJSON(u.Proxies),
		Inbounds:               nonNilTags(u.Inbounds),
		ExcludedInbounds:       nonNilTags(u.ExcludedInbounds),
		Expire:                 positive(u.Expire),
		DataLimit:              positive(u.DataLimit),
		DataLimitResetStrategy: u.DataLimitReset,
		Status:                 u.Status,
		UsedTraffic:            u.UsedTraffic,
		LifetimeUsedTraffic:    u.LifetimeUsedTraffic,
		CreatedAt:              wireTime{u.CreatedAt},
		EditAt:                 optTime(u.EditAt),
		Note:                   u.Note,
		SubUpdatedAt:           optTime(u.SubUpdatedAt),
		OnlineAt:               optTime(u.OnlineAt),
		OnHoldExpireDuration:   positive(u.OnHoldExpireDuration),
		OnHoldTimeout:          optTime(u.OnHoldTimeout),
		AutoDeleteInDays:       u.AutoDeleteInDays,
		NextPlan:               u.NextPlan,
		HWIDDeviceLimit:        u.HWIDDeviceLimit,
		IPLimit:                u.IPLimit,
		PerDeviceCredentials:   u.PerDeviceCredentials,
		PerDeviceActive:        u.PerDevice,
		IPLimitUntil:           optTime(u.IPLimitUntil),
		Admin:                  owner,
		Links:                  links,
		SubscriptionURL:        r.base + "/sub/" + sub.MakeUserToken(u.Username, u.ID, sub.IssueTime(r.now, u.SubRevokedAt), r.s.opts.Secrets.Subscription),
	}
	if u.DataLimitReset == "" {
		resp.DataLimitResetStrategy = model.ResetNone
	}
	if u.SubLastUserAgent != "" {
		ua := u.SubLastUserAgent
		resp.SubLastUserAgent = &ua
	}
	return resp, nil
}

func (s *server) respondUser(c *fiber.Ctx, u *model.User) error {
	r, err := s.newRenderer(c)
	if err != nil {
		return err
	}
	resp, err := r.user(u)
	if err != nil {
		return err
	}
	return c.JSON(resp)
}

func positive(n int64) *int64 {
	if n <= 0 {
		return nil
	}
	return &n
}

func nonNilTags(m map[string][]string) map[string][]string {
	out := make(map[string][]string, len(m))
	for k, v := range m {
		if v == nil {
			v = []string{}
		}
		out[k] = v
	}
	return out
}
