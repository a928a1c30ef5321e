// Package model holds the panel's domain types: admins, users, nodes and the
// rules that decide a user's status. Storage and HTTP depend on it, never the
// reverse.
package model

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Sentinel errors; the HTTP layer maps them to status codes in one place.
var (
	ErrNotFound      = errors.New("not found")
	ErrConflict      = errors.New("already exists")
	ErrInvalid       = errors.New("invalid")
	ErrForbidden     = errors.New("forbidden")
	ErrUnauthorized  = errors.New("unauthorized")
	ErrStaleRevision = errors.New("stale revision")
)

// Status of a user.
type Status string

const (
	StatusActive   Status = "active"
	StatusDisabled Status = "disabled"
	StatusLimited  Status = "limited"
	StatusExpired  Status = "expired"
	StatusOnHold   Status = "on_hold"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	switch s {
	case StatusActive, StatusDisabled, StatusLimited, StatusExpired, StatusOnHold:
		return true
	}
	return false
}

// OnNodes reports whether a user in this status is present on nodes.
func (s Status) OnNodes() bool { return s == StatusActive || s == StatusOnHold }

// Protocols Outpost manages users for.
const (
	ProtoVLESS       = "vless"
	ProtoVMess       = "vmess"
	ProtoTrojan      = "trojan"
	ProtoShadowsocks = "shadowsocks"
)

// Protocols lists the supported proxy protocols in a stable order.
var Protocols = []string{ProtoVLESS, ProtoVMess, ProtoTrojan, ProtoShadowsocks}

// ProxySettings are one user's credentials for one protocol. Which fields
// apply depends on the protocol: vless {id, flow}, vmess {id}, trojan
// {password}, shadowsocks {password, method}.
type ProxySettings struct {
	ID       string `json:"id,omitempty"`
	Flow     string `json:"flow,omitempty"`
	Password string `json:"password,omitempty"`
	Method   string `json:"method,omitempty"`
}

// ResetStrategy is data_limit_reset_strategy.
type ResetStrategy string

const (
	ResetNone  ResetStrategy = "no_reset"
	ResetDay   ResetStrategy = "day"
	ResetWeek  ResetStrategy = "week"
	ResetMonth ResetStrategy = "month"
	ResetYear  ResetStrategy = "year"
)

// Valid reports whether r is a known strategy.
func (r ResetStrategy) Valid() bool {
	switch r {
	case ResetNone, ResetDay, ResetWeek, ResetMonth, ResetYear:
		return true
	}
	return false
}

// NextPlan is applied when a user becomes limited or expired.
type NextPlan struct {
	DataLimit           int64 `json:"data_limit" limit:"bytes"`
	Expire              int64 `json:"expire" limit:"duration"` // seconds added from the moment it fires; 0 = never expires
	AddRemainingTraffic bool  `json:"add_remaining_traffic"`
	FireOnEither        bool  `json:"fire_on_either"`
}

// User is the panel's user record.
type User struct {
	ID       int64                    `json:"id"`
	Username string                   `json:"username"`
	Status   Status                   `json:"status"`
	Proxies  map[string]ProxySettings `json:"proxies"`
	Inbounds map[string][]string      `json:"inbounds"` // protocol -> inbound tags the user is in
	// ExcludedInbounds is what is stored: protocol -> tags the user is kept
	// out of, so inbounds added to the core config later reach every user.
	ExcludedInbounds    map[string][]string `json:"-"`
	Expire              int64               `json:"expire"`     // unix seconds, 0 = never
	DataLimit           int64               `json:"data_limit"` // bytes, 0 = unlimited
	DataLimitReset      ResetStrategy       `json:"data_limit_reset_strategy"`
	UsedTraffic         int64               `json:"used_traffic"`
	LifetimeUsedTraffic int64               `json:"lifetime_used_traffic"`
	// NodeBytesLeft is the bytes_left the user's last version sent to the
	// nodes carried (store.Tx.SetNodeBytesLeft), so the desired state
	// rebuilt from the database is the one the revision named, not one
	// recomputed from today's traffic. Read only by EachUserOnNodes.
	NodeBytesLeft        *int64     `json:"-"`
	CreatedAt            time.Time  `json:"created_at"`
	EditAt               *time.Time `json:"edit_at"`
	Note                 string     `json:"note"`
	SubUpdatedAt         *time.Time `json:"sub_updated_at"`
	SubLastUserAgent     string     `json:"sub_last_user_agent"`
	SubRevokedAt         *time.Time `json:"-"`
	OnlineAt             *time.Time `json:"online_at"`
	OnHoldExpireDuration int64      `json:"on_hold_expire_duration"`
	OnHoldTimeout        *time.Time `json:"on_hold_timeout"`
	AutoDeleteInDays     *int64     `json:"auto_delete_in_days"`
	NextPlan             *NextPlan  `json:"next_plan"`
	// HWIDDeviceLimit is how many devices may fetch the subscription:
	// nil takes the global default, 0 is unlimited.
	HWIDDeviceLimit *int64 `json:"hwid_device_limit"`
	// PerDeviceCredentials is the user's own choice of credentials per
	// device: nil follows the global default (subscription settings).
	PerDeviceCredentials *bool `json:"per_device_credentials"`
	// PerDevice is the effective mode (stored, kept in step with the
	// user's own value and the global default): nodes run one identity
	// per device in DeviceIDs instead of the user's credentials.
	PerDevice bool `json:"-"`
	// DeviceIDs are the ids of the user's admitted devices, ascending
	// (stored with the user, rewritten whenever the set changes).
	DeviceIDs        []int64    `json:"-"`
	LastStatusChange *time.Time `json:"-"`
	UsageResetAt     *time.Time `json:"-"`
	AdminID          int64      `json:"-"`
	AdminUsername    string     `json:"-"`
	// IPLimit is how many source addresses the user may connect from at
	// once: nil follows the global default (IPLimitSettings), 0 is none.
	IPLimit *int64 `json:"ip_limit"`
	// IPLimitUntil is set while the IP limit holds the user disabled: the
	// ip-limit job enables the user again at that time.
	IPLimitUntil *time.Time `json:"-"`
	// Revision is the revision of the last change to this user that nodes
	// or the panels' user directories see (owner, limits, status, note...).
	Revision int64 `json:"-"`
}

// Email is the stable identity of the user inside Xray.
func (u *User) Email() string { return EmailFor(u.ID, u.Username) }

// EmailFor builds "<id>.<username>".
func EmailFor(id int64, username string) string {
	return itoa(id) + "." + username
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

var usernameRe = regexp.MustCompile(`^[a-z0-9_]{3,32}$`)

// NormalizeUsername lowercases and validates a username: 3-32 of [a-z0-9_].
func NormalizeUsername(s string) (string, error) {
	n := strings.ToLower(s)
	if !usernameRe.MatchString(n) {
		return "", errors.Join(ErrInvalid, errors.New("username must be 3 to 32 characters of a-z, 0-9 and underscore"))
	}
	return n, nil
}

// ComputeStatus is the status a non-disabled, non-on-hold user should have
// at now given its limits. Disabled and on_hold are kept as they are.
func ComputeStatus(u *User, now time.Time) Status {
	switch u.Status {
	case StatusDisabled, StatusOnHold:
		return u.Status
	}
	if u.DataLimit > 0 && u.UsedTraffic >= u.DataLimit {
		return StatusLimited
	}
	if u.Expire > 0 && u.Expire <= now.Unix() {
		return StatusExpired
	}
	return StatusActive
}

// Admin is a panel administrator.
type Admin struct {
	ID              int64      `json:"-"`
	Username        string     `json:"username"`
	IsSudo          bool       `json:"is_sudo"`
	HashedPassword  string     `json:"-"`
	CreatedAt       time.Time  `json:"-"`
	PasswordResetAt *time.Time `json:"-"`
	TelegramID      *int64     `json:"telegram_id"`
	DiscordWebhook  *string    `json:"discord_webhook"`
	UsersUsage      int64      `json:"users_usage"`
	// Reseller caps, set by a sudo admin; nil is no cap. Sudo admins are
	// never capped. See AdminCaps and README "Reseller caps".
	AdminCaps
}

// AdminWithUse is an admin with its current use of its caps (GET
// /api/admin, GET /api/admins).
type AdminWithUse struct {
	Admin
	CapsUse CapsUse `json:"caps_use"`
}

// AdminCaps are the reseller caps of one admin; nil is no cap.
type AdminCaps struct {
	// MaxUsers: most users the admin owns.
	MaxUsers *int64 `json:"max_users"`
	// MaxDataLimit: most sum of its users' data_limit, bytes.
	MaxDataLimit *int64 `json:"max_data_limit"`
	// MaxUsedTraffic: most users_usage (its users' traffic since its last
	// usage reset), bytes; once reached, the admin can no longer create
	// users, raise limits or expiries, reset usage or re-activate users.
	MaxUsedTraffic *int64 `json:"max_used_traffic"`
	// AllowUnlimited false: none of its users may be unlimited, i.e. have
	// data_limit 0, or expire 0 without being on hold (an on_hold user's
	// expiry starts later). nil or true: allowed.
	AllowUnlimited *bool `json:"allow_unlimited"`
}

// Capped reports whether any cap is set.
func (c AdminCaps) Capped() bool {
	return c.MaxUsers != nil || c.MaxDataLimit != nil || c.MaxUsedTraffic != nil ||
		(c.AllowUnlimited != nil && !*c.AllowUnlimited)
}

// CapsUse is an admin's current use of its caps.
type CapsUse struct {
	Users          int64 `json:"users"`           // users it owns
	DataLimit      int64 `json:"data_limit"`      // sum of their data_limit, bytes
	UsedTraffic    int64 `json:"used_traffic"`    // its users_usage, bytes
	UnlimitedUsers int64 `json:"unlimited_users"` // its users with no data limit or no expiry
}

// CapError is a request refused because it would pass one of its admin's
// caps: Cap names it (max_users, max_data_limit, max_used_traffic,
// allow_unlimited), Limit is the cap and Current the use the request would
// have led to (for max_used_traffic, the use now).
type CapError struct {
	Cap     string
	Limit   int64
	Current int64
}

func (e *CapError) Error() string {
	switch e.Cap {
	case "allow_unlimited":
		return "this admin may not have unlimited users (data_limit 0 or no expiry)"
	case "max_used_traffic":
		return fmt.Sprintf("the admin's users used %d bytes of their %d-byte traffic cap", e.Current, e.Limit)
	case "max_data_limit":
		return fmt.Sprintf("the admin's users' data limits would total %d bytes, over its cap of %d", e.Current, e.Limit)
	}
	return fmt.Sprintf("the admin would have %d users, over its cap of %d", e.Current, e.Limit)
}

// Unwrap makes a CapError a Forbidden.
func (e *CapError) Unwrap() error { return ErrForbidden }

// NodeStatus is what the panel knows of a node's session.
type NodeStatus string

const (
	NodeConnected  NodeStatus = "connected"
	NodeConnecting NodeStatus = "connecting"
	NodeError      NodeStatus = "error"
	NodeDisabled   NodeStatus = "disabled"
)

// Node is a server running the node agent.
type Node struct {
	ID               int64      `json:"id"`
	Name             string     `json:"name"`
	Address          string     `json:"address"`
	Port             int        `json:"port"`
	APIPort          int        `json:"api_port"`
	UsageCoefficient float64    `json:"usage_coefficient"`
	XrayVersion      string     `json:"xray_version"`
	AgentVersion     string     `json:"agent_version"`
	Status           NodeStatus `json:"status"`
	Message          string     `json:"message"`
	LastSeen         *time.Time `json:"last_seen"`
	AppliedRevision  int64      `json:"applied_revision"`
	StateHash        string     `json:"-"`
	UsageSeq         int64      `json:"-"` // last usage batch sequence recorded
	// SessionFence grows by one for every accepted session; writes from a
	// session carry the fence they got, so a fenced-off session changes nothing.
	SessionFence int64     `json:"-"`
	TokenHash    string    `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
}

// MaxUserIPs is how many distinct source addresses the panel keeps per
// user (the most recently seen), and protocol.MaxOnlineAddrs how many one
// node report may carry per user.
const MaxUserIPs = 64

// UserIPs are the source addresses one user was seen from in a report.
type UserIPs struct {
	UserID int64
	IPs    []string
}

// UserIP is one address a user was seen from, with the node that saw it
// last (GET /api/user/{username}/ips).
type UserIP struct {
	IP        string    `json:"ip"`
	NodeID    int64     `json:"node_id"`
	NodeName  string    `json:"node"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}
