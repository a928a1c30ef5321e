package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/outpost-panel/outpost/backend/change"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
	"github.com/outpost-panel/outpost/backend/sub"
	"github.com/outpost-panel/outpost/backend/sub/render"
	"github.com/outpost-panel/outpost/backend/xrayconf"
)

// SubscriptionSettings are the sudo-editable settings of the subscription
// server (GET|PUT /api/subscription/settings).
type SubscriptionSettings struct {
	// Rules are the ordered User-Agent rules that pick a format. State keeps
	// them as JSON: their schema and validation belong to the renderer,
	// which the API layer checks them with before calling SetSubscriptionSettings.
	// Null means the renderer's defaults.
	Rules json.RawMessage `json:"rules"`
	// ProfileUpdateInterval is profile-update-interval, in hours.
	ProfileUpdateInterval int `json:"profile_update_interval" limit:"hours"`
	// ProfileTitle is profile-title; empty means the username. Variables
	// such as {USERNAME} are expanded.
	ProfileTitle string `json:"profile_title"`
	// SupportURL is support-url; empty sends no header.
	SupportURL string `json:"support_url"`
	// ProfileWebPageURL is profile-web-page-url; empty means the user's
	// subscription URL (which serves the HTML page to browsers).
	ProfileWebPageURL string `json:"profile_web_page_url"`
	// DisableHTMLPage makes Accept: text/html get the subscription like any
	// other client instead of the page.
	DisableHTMLPage bool `json:"disable_html_page"`
	// CustomJSON are Marzban's USE_CUSTOM_JSON_* switches as stored; the
	// panel's environment variables of the same names win over them (the
	// API layer applies those).
	render.CustomJSON
	// HWIDDeviceLimit is the device limit of users (and templates) that
	// have none of their own; 0 is unlimited.
	HWIDDeviceLimit int64 `json:"hwid_device_limit" limit:"devices"`
	// HWIDMissing is what a fetch without x-hwid gets: "allow" (served,
	// counted as the user's one "unknown device") or "refuse" (the
	// device-limit placeholder).
	HWIDMissing string `json:"hwid_missing"`
	// PerDeviceCredentials is the global default of the credentials-per-
	// device mode, for users (and templates) without a choice of their
	// own: each admitted device gets its own Xray identity, derived from
	// the user's credentials, and the subscription serves a device its
	// own. Changing it changes every user that follows it in one revision.
	PerDeviceCredentials bool `json:"per_device_credentials"`
}

// What a fetch without x-hwid gets (SubscriptionSettings.HWIDMissing).
const (
	HWIDMissingAllow  = "allow"
	HWIDMissingRefuse = "refuse"
)

// DefaultSubscriptionSettings are used until a sudo admin saves some.
func DefaultSubscriptionSettings() SubscriptionSettings {
	return SubscriptionSettings{ProfileUpdateInterval: 12, HWIDMissing: HWIDMissingAllow}
}

const maxSettingText = 1024

// Validate checks every field but Rules.
func (ss *SubscriptionSettings) Validate() error {
	if ss.ProfileUpdateInterval < 1 || ss.ProfileUpdateInterval > 24*365 {
		return invalid("profile_update_interval: hours between 1 and 8760")
	}
	if len(ss.ProfileTitle) > maxSettingText || !printable(ss.ProfileTitle) {
		return invalid("profile_title: at most %d bytes of UTF-8 without control characters", maxSettingText)
	}
	for _, f := range []struct{ name, v string }{{"support_url", ss.SupportURL}, {"profile_web_page_url", ss.ProfileWebPageURL}} {
		if f.v == "" {
			continue
		}
		u, err := url.Parse(f.v)
		if len(f.v) > maxSettingText || !printable(f.v) || strings.ContainsAny(f.v, " \"") || err != nil ||
			u.Host == "" && u.Scheme != "mailto" && u.Scheme != "tg" || u.Scheme == "" {
			return invalid("%s: an absolute URL (https://..., tg://..., mailto:...) of at most %d bytes", f.name, maxSettingText)
		}
	}
	if err := model.CheckInt("hwid_device_limit", "devices", ss.HWIDDeviceLimit); err != nil {
		return err
	}
	if ss.HWIDMissing == "" {
		ss.HWIDMissing = HWIDMissingAllow
	}
	if ss.HWIDMissing != HWIDMissingAllow && ss.HWIDMissing != HWIDMissingRefuse {
		return invalid("hwid_missing: must be allow or refuse")
	}
	if len(ss.Rules) > 0 && !json.Valid(ss.Rules) {
		return invalid("rules: not JSON")
	}
	return nil
}

// SubscriptionSettings returns the stored settings, or the defaults.
func (s *State) SubscriptionSettings(ctx context.Context) (SubscriptionSettings, error) {
	var (
		data string
		ok   bool
	)
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		data, ok, err = tx.SubscriptionSettings()
		return err
	})
	if err != nil {
		return SubscriptionSettings{}, fmt.Errorf("loading subscription settings: %w", err)
	}
	return decodeSubscriptionSettings(data, ok)
}

func decodeSubscriptionSettings(data string, ok bool) (SubscriptionSettings, error) {
	ss := DefaultSubscriptionSettings()
	if !ok {
		return ss, nil
	}
	if err := json.Unmarshal([]byte(data), &ss); err != nil {
		return ss, fmt.Errorf("decoding stored subscription settings: %w", err)
	}
	if bytes.Equal(ss.Rules, []byte("null")) {
		ss.Rules = nil
	}
	return ss, nil
}

// SetSubscriptionSettings validates and stores the settings. The caller has
// validated ss.Rules with the renderer.
func (s *State) SetSubscriptionSettings(ctx context.Context, ss SubscriptionSettings) error {
	if err := ss.Validate(); err != nil {
		return err
	}
	data, err := json.Marshal(ss)
	if err != nil {
		return fmt.Errorf("encoding subscription settings: %w", err)
	}
	save := func(tx *store.Tx) (before SubscriptionSettings, err error) {
		old, ok, err := tx.SubscriptionSettings()
		if err != nil {
			return before, err
		}
		if before, err = decodeSubscriptionSettings(old, ok); err != nil {
			return before, err
		}
		if _, err := tx.SetSubscriptionSettings(string(data)); err != nil {
			return before, err
		}
		return before, auditRow(tx, "subscription.settings", "/api/subscription/settings", 0, before, ss)
	}
	current, err := s.SubscriptionSettings(ctx)
	if err != nil {
		return err
	}
	if current.PerDeviceCredentials == ss.PerDeviceCredentials {
		return s.store.Tx(ctx, func(tx *store.Tx) error { _, err := save(tx); return err })
	}
	// A new default of the per-device mode changes every user that
	// follows it: one transaction, one revision, one change.
	_, err = s.change(ctx, func(tx *store.Tx, rev int64) (change.Change, error) {
		if _, err := save(tx); err != nil {
			return change.Change{}, err
		}
		return setPerDeviceDefault(tx, ss.PerDeviceCredentials, rev)
	})
	return err
}

// setPerDeviceDefault applies the default of the per-device mode to the
// users that follow it, in tx at rev, and returns the change nodes need:
// an upsert of every such user on nodes whose effective mode moved.
func setPerDeviceDefault(tx *store.Tx, on bool, rev int64) (change.Change, error) {
	n, err := tx.SetPerDeviceDefault(on, rev)
	if err != nil || n == 0 {
		return change.Change{}, err
	}
	var c change.Change
	err = tx.EachUserOnNodesAtRevision(rev, func(u *model.User) error {
		before := *u
		before.PerDevice = !on
		c.Upserts = append(c.Upserts, nodeDiff(&before, u).Upserts...)
		return nil
	})
	return c, err
}

// perDeviceDefault reads the global default of the per-device mode in tx.
func perDeviceDefault(tx *store.Tx) (bool, error) {
	data, ok, err := tx.SubscriptionSettings()
	if err != nil {
		return false, err
	}
	set, err := decodeSubscriptionSettings(data, ok)
	return set.PerDeviceCredentials, err
}

// effectivePerDevice is the mode u runs in under the default def.
func effectivePerDevice(u *model.User, def bool) bool {
	if u.PerDeviceCredentials != nil {
		return *u.PerDeviceCredentials
	}
	return def
}

// SubscriptionView is everything one subscription fetch renders from. It
// is shared (cached) and read only, User included.
type SubscriptionView struct {
	User     *model.User
	Inbounds []xrayconf.Inbound
	// Hosts holds the explicit host lists; inbounds without one get the
	// default host (see sub.Links).
	Hosts    map[string][]sub.Host
	Settings *SubscriptionSettings
	Versions model.SubVersions
}

// Subscriptions serves subscription fetches: it caches what does not change
// per request (parsed inbounds per core-config revision, hosts per hosts
// version, settings per settings version) so a fetch costs one query, and
// batches the fetch records (sub_updated_at, sub_last_user_agent) so a
// fetch costs no write.
type Subscriptions struct {
	st  *State
	log *slog.Logger

	cacheMu     sync.RWMutex
	hostsVer    int64
	hosts       map[string][]sub.Host
	hostsOK     bool
	settingsVer int64
	settings    *SubscriptionSettings

	lookup *store.SubscriptionLookup

	// Lookup cache (off unless CacheLookups is called): one view per
	// username for a short time, so a client (or a loop of clients) that
	// fetches the same subscription again and again costs no query.
	viewTTL   time.Duration
	viewMu    sync.RWMutex
	views     map[string]cachedView
	wallClock func() time.Time

	// Devices known to hold a slot, so a repeated fetch costs no query
	// (only with the lookup cache on, for as long as a view lives).
	deviceMu     sync.RWMutex
	knownDevices map[deviceKey]knownDevice

	pendingMu      sync.Mutex
	pending        map[int64]store.SubscriptionFetch
	pendingDevices map[int64]store.DeviceFetch
	flushMu        sync.Mutex // one flush at a time, so fetches land in order; taken before pendingMu, which is a leaf
}

// NewSubscriptions wires the subscription service. Call Run (or Flush) so
// recorded fetches reach the database.
func NewSubscriptions(st *State, log *slog.Logger) *Subscriptions {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Subscriptions{
		st: st, log: log, lookup: st.store.SubscriptionLookup(), pending: map[int64]store.SubscriptionFetch{},
		pendingDevices: map[int64]store.DeviceFetch{},
		wallClock:      time.Now,
	}
}

type cachedView struct {
	view    *SubscriptionView
	expires time.Time
	// committed is State.committed when the view was loaded: a change
	// committed by this process since then (a revocation, say) retires it
	// at once; other replicas' changes retire it on the feed's wake.
	committed int64
}

// DefaultLookupTTL is the lookup cache time the panel runs with: far below
// any client's refresh interval, long enough to absorb a burst of fetches
// of one subscription.
const DefaultLookupTTL = 2 * time.Second

// CachesLookups reports whether Lookup reuses views (CacheLookups was
// called): a view then stands for its user for a while, and so may what
// was rendered from it.
func (ss *Subscriptions) CachesLookups() bool { return ss.viewTTL > 0 }

// DropCachedViews forgets every cached view, for a change that the feed
// does not carry (hosts, settings) made on this replica; other replicas see
// it within the cache time.
func (ss *Subscriptions) DropCachedViews() {
	if ss.viewTTL <= 0 {
		return
	}
	ss.viewMu.Lock()
	clear(ss.views)
	ss.viewMu.Unlock()
	ss.forgetDevices()
}

// maxCachedViews bounds the lookup cache; past it the cache starts over,
// which costs one query per user and keeps memory flat under a token scan.
const maxCachedViews = 1 << 16

// CacheLookups makes Lookup reuse a user's view for ttl (wall-clock time,
// not the state's clock). A user change committed by this process (an
// admin's edit, a revocation) retires every view at once, a change on
// another replica when the feed wakes this one; anything else (new usage,
// another replica's hosts or settings) reaches subscriptions within ttl.
// Call it before serving; ttl <= 0 leaves caching off.
func (ss *Subscriptions) CacheLookups(ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	ss.viewTTL = ttl
	ss.views = make(map[string]cachedView)
}

// Lookup loads the user named in a subscription token with everything its
// subscription renders from. ErrNotFound when there is no such user.
func (ss *Subscriptions) Lookup(ctx context.Context, username string) (*SubscriptionView, error) {
	if ss.viewTTL <= 0 {
		return ss.load(ctx, username)
	}
	key := strings.ToLower(username)
	now := ss.wallClock()
	committed := ss.st.committed.Load()
	ss.viewMu.RLock()
	cv, ok := ss.views[key]
	ss.viewMu.RUnlock()
	if ok && now.Before(cv.expires) && cv.committed == committed {
		return cv.view, nil
	}
	view, err := ss.load(ctx, username)
	if err != nil {
		return nil, err
	}
	ss.viewMu.Lock()
	if len(ss.views) >= maxCachedViews {
		clear(ss.views)
	}
	ss.views[key] = cachedView{view: view, expires: now.Add(ss.viewTTL), committed: committed}
	ss.viewMu.Unlock()
	return view, nil
}

func (ss *Subscriptions) load(ctx context.Context, username string) (*SubscriptionView, error) {
	u, v, err := ss.lookup.User(ctx, username)
	if err != nil {
		return nil, err
	}
	view := &SubscriptionView{User: u, Versions: v}
	if view.Inbounds, err = ss.inbounds(ctx, v.Config); err != nil {
		return nil, err
	}
	if view.Hosts, err = ss.cachedHosts(ctx, v.Hosts); err != nil {
		return nil, err
	}
	if view.Settings, err = ss.cachedSettings(ctx, v.Settings); err != nil {
		return nil, err
	}
	return view, nil
}

func (ss *Subscriptions) inbounds(ctx context.Context, rev int64) ([]xrayconf.Inbound, error) {
	s := ss.st
	s.cfgMu.RLock()
	c, cr := s.cfg, s.cfgRev
	s.cfgMu.RUnlock()
	if c != nil && cr == rev {
		return c.inbounds, nil
	}
	if rev == 0 {
		return nil, nil // no core config yet: no links
	}
	c, err := s.core(ctx)
	if err != nil {
		return nil, err
	}
	return c.inbounds, nil
}

// LinkHosts returns the host lists links are rendered with, cached per
// hosts version, for links outside a subscription (the user JSON's links).
func (ss *Subscriptions) LinkHosts(ctx context.Context) (map[string][]sub.Host, error) {
	var v model.SubVersions
	if err := ss.st.store.ReadOne(ctx, func(tx *store.Tx) error {
		var err error
		v, err = tx.SubVersions()
		return err
	}); err != nil {
		return nil, err
	}
	return ss.cachedHosts(ctx, v.Hosts)
}

func (ss *Subscriptions) cachedHosts(ctx context.Context, ver int64) (map[string][]sub.Host, error) {
	ss.cacheMu.RLock()
	h, ok := ss.hosts, ss.hostsOK && ss.hostsVer == ver
	ss.cacheMu.RUnlock()
	if ok {
		return h, nil
	}
	var (
		stored map[string][]Host
		v      model.SubVersions
	)
	err := ss.st.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		if stored, err = tx.Hosts(); err != nil {
			return err
		}
		v, err = tx.SubVersions()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("loading hosts: %w", err)
	}
	h = subHosts(stored)
	ss.cacheMu.Lock()
	if !ss.hostsOK || v.Hosts >= ss.hostsVer {
		ss.hosts, ss.hostsVer, ss.hostsOK = h, v.Hosts, true
	}
	ss.cacheMu.Unlock()
	return h, nil
}

func (ss *Subscriptions) cachedSettings(ctx context.Context, ver int64) (*SubscriptionSettings, error) {
	ss.cacheMu.RLock()
	cur, curVer := ss.settings, ss.settingsVer
	ss.cacheMu.RUnlock()
	if cur != nil && curVer == ver {
		return cur, nil
	}
	var (
		data string
		ok   bool
		v    model.SubVersions
	)
	err := ss.st.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		if data, ok, err = tx.SubscriptionSettings(); err != nil {
			return err
		}
		v, err = tx.SubVersions()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("loading subscription settings: %w", err)
	}
	set, err := decodeSubscriptionSettings(data, ok)
	if err != nil {
		return nil, err
	}
	ss.cacheMu.Lock()
	if ss.settings == nil || v.Settings >= ss.settingsVer {
		ss.settings, ss.settingsVer = &set, v.Settings
	}
	ss.cacheMu.Unlock()
	return &set, nil
}

// sanitizeUserAgent makes a client-supplied User-Agent storable: valid
// UTF-8 without control characters, at most maxUserAgent bytes.
func sanitizeUserAgent(ua string) string {
	ua = strings.ToValidUTF8(ua, "")
	if !printable(ua) {
		ua = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				return -1
			}
			return r
		}, ua)
	}
	for len(ua) > maxUserAgent {
		_, size := utf8.DecodeLastRuneInString(ua)
		ua = ua[:len(ua)-size]
	}
	return ua
}

// Record notes a fetch of a user's subscription; only the latest per user
// is kept until the next Flush writes them all in one transaction. The
// agent is copied: HTTP servers hand out strings over reused buffers.
func (ss *Subscriptions) Record(userID int64, userAgent string) {
	f := store.SubscriptionFetch{UserID: userID, At: ss.st.now().UTC(), UserAgent: strings.Clone(sanitizeUserAgent(userAgent))}
	ss.pendingMu.Lock()
	ss.pending[userID] = f
	ss.pendingMu.Unlock()
}

// Pending is how many users have fetches not yet written.
func (ss *Subscriptions) Pending() int {
	ss.pendingMu.Lock()
	defer ss.pendingMu.Unlock()
	return len(ss.pending)
}

// Flush writes every recorded fetch in one transaction. On failure the
// fetches are kept (a newer fetch of the same user wins) for the next try.
func (ss *Subscriptions) Flush(ctx context.Context) error {
	ss.flushMu.Lock()
	defer ss.flushMu.Unlock()
	ss.pendingMu.Lock()
	batch, devices := ss.pending, ss.pendingDevices
	if len(batch) == 0 && len(devices) == 0 {
		ss.pendingMu.Unlock()
		return nil
	}
	ss.pending = make(map[int64]store.SubscriptionFetch, len(batch))
	ss.pendingDevices = make(map[int64]store.DeviceFetch, len(devices))
	ss.pendingMu.Unlock()

	fetches := make([]store.SubscriptionFetch, 0, len(batch))
	for _, f := range batch {
		fetches = append(fetches, f)
	}
	deviceFetches := make([]store.DeviceFetch, 0, len(devices))
	for _, f := range devices {
		deviceFetches = append(deviceFetches, f)
	}
	err := ss.st.store.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.TouchSubscriptions(fetches); err != nil {
			return err
		}
		return tx.TouchDevices(deviceFetches)
	})
	if err == nil {
		return nil
	}
	ss.pendingMu.Lock()
	for id, f := range batch {
		if cur, ok := ss.pending[id]; !ok || cur.At.Before(f.At) {
			ss.pending[id] = f
		}
	}
	for id, f := range devices {
		if cur, ok := ss.pendingDevices[id]; ok {
			f.Count = model.SatAdd(f.Count, cur.Count)
			if f.At.Before(cur.At) {
				f.At, f.Info = cur.At, cur.Info
			}
		}
		ss.pendingDevices[id] = f
	}
	ss.pendingMu.Unlock()
	return fmt.Errorf("recording %d subscription fetches: %w", len(fetches), err)
}

// shutdownFlushTimeout bounds the last flush when Run's context ends.
const shutdownFlushTimeout = 10 * time.Second

// Run flushes recorded fetches every interval until ctx ends, then once
// more so a clean shutdown loses none. With the lookup cache on it also
// drops cached views whenever the change feed moves (any replica changed
// something nodes see: a user disabled, revoked, limited, deleted, a new
// core config), so those reach subscriptions at once rather than within
// the cache time.
func (ss *Subscriptions) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var wake <-chan struct{}
	if ss.viewTTL > 0 && ss.st.feed != nil {
		wake = ss.st.feed.Wake(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownFlushTimeout)
			if err := ss.Flush(fctx); err != nil {
				ss.log.Warn("last flush of subscription fetches", "err", err)
			}
			cancel()
			return
		case _, ok := <-wake:
			if !ok {
				wake = nil // feed closed: the cache time still bounds staleness
				continue
			}
			ss.DropCachedViews()
		case <-t.C:
			if err := ss.Flush(ctx); err != nil && !errors.Is(err, context.Canceled) {
				ss.log.Warn("flushing subscription fetches; kept for the next try", "err", err)
			}
		}
	}
}

// maxUserAgent bounds the stored sub_last_user_agent.
const maxUserAgent = 256

// TouchSubscription records that a client fetched the user's subscription
// (sub_updated_at, sub_last_user_agent). It changes nothing nodes see.
func (s *State) TouchSubscription(ctx context.Context, userID int64, userAgent string) error {
	userAgent = strings.ToValidUTF8(userAgent, "")
	for len(userAgent) > maxUserAgent {
		_, size := utf8.DecodeLastRuneInString(userAgent)
		userAgent = userAgent[:len(userAgent)-size]
	}
	now := s.now().UTC()
	return s.store.Tx(ctx, func(tx *store.Tx) error { return tx.TouchSubscription(userID, now, userAgent) })
}
