// Package api is the panel's HTTP surface: Marzban-compatible REST routes
// (same paths, JSON field names and types), the subscription endpoint, the
// node WebSocket mount and the embedded dashboard. Handlers are thin: they
// decode strictly, call backend/state, and return errors that the one
// ErrorHandler in errors.go turns into status codes.
package api

import (
	"context"
	"io/fs"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/outpost-panel/outpost/backend/auth"
	"github.com/outpost-panel/outpost/backend/backup"
	"github.com/outpost-panel/outpost/backend/coord"
	"github.com/outpost-panel/outpost/backend/hub"
	"github.com/outpost-panel/outpost/backend/metrics"
	"github.com/outpost-panel/outpost/backend/state"
)

// DefaultBodyLimit bounds request bodies; the largest legitimate one is a
// core config, which is far smaller.
const DefaultBodyLimit = 1 << 20

// Options configure the HTTP API.
type Options struct {
	State   *state.State
	Secrets state.Secrets
	Log     *slog.Logger
	// EnvSudoUser and EnvSudoPassword are SUDO_USERNAME / SUDO_PASSWORD: a
	// sudo admin that has no database row (Marzban behaviour).
	EnvSudoUser, EnvSudoPassword string
	// PublicURL is the base of subscription_url and the host put in share
	// links; empty derives both from each request (scheme://host).
	PublicURL string
	// TokenTTL is the admin token lifetime; 0 means auth.DefaultTTL.
	TokenTTL time.Duration
	// RateLimiter counts login attempts (coord's memory or Redis limiter).
	// Required: a panel without it would accept unlimited password guesses.
	RateLimiter coord.RateLimiter
	// Hub serves node sessions; nil mounts no node endpoint (tests).
	Hub NodeHub
	// Dashboard is the built SPA (the contents of web/dist); nil serves none.
	Dashboard fs.FS
	// BodyLimit in bytes; 0 means DefaultBodyLimit.
	BodyLimit int
	// TrustedProxies are the addresses (IPs or CIDRs) of reverse proxies whose
	// X-Forwarded-For is believed for the client IP (login rate limits) and
	// whose X-Forwarded-Proto/Host shape derived URLs (subscription_url,
	// share links). Empty trusts nobody: the headers are ignored, since
	// anyone could otherwise pick their own rate-limit key or point the
	// links at another host.
	TrustedProxies []string
	// Subscriptions serves /sub/ fetches from cached hosts and settings and
	// batches fetch records; the caller runs its flusher (Subscriptions.Run).
	// Nil makes one whose fetch records are written at once, one write per
	// fetch (tests and tools).
	Subscriptions *state.Subscriptions
	// Version is the panel version GET /api/system reports; empty reports
	// the API document's version.
	Version string
	// TemplatesDir holds operator overrides of the subscription skeletons
	// (<data-dir>/templates); empty uses the built-in ones.
	TemplatesDir string
	// KeyUseFlush is how long API key uses are gathered before they are
	// written (last_used_at); 0 means 5 seconds.
	KeyUseFlush time.Duration
	// TLSChain is the certificate chain (DER, leaf first) the panel serves
	// HTTPS with itself; nil when it serves plain HTTP (or TLS ends at a
	// proxy in front). GET /api/node/settings publishes the leaf and its
	// SHA-256 so nodes can pin a self-signed certificate.
	TLSChain [][]byte
	// CustomJSONEnv are Marzban's USE_CUSTOM_JSON_* environment variables
	// that are set, by name: each wins over the stored subscription setting
	// of the same name (see config.Config.CustomJSON).
	CustomJSONEnv map[string]bool
	// Backups are the scheduled backups (--backup-dir); nil when off: the
	// list says so and running one is a 409.
	Backups *backup.Scheduler
	// BackupPassphrase encrypts a downloaded backup when the request gives
	// none (--backup-passphrase).
	BackupPassphrase string
	// DataDir is the panel's data dir: a downloaded backup carries its
	// templates, and the restore hint names it.
	DataDir string
}

// NodeHub is the part of the node hub the API needs.
type NodeHub interface {
	// Handler is the node WebSocket endpoint. Nodes authenticate inside it
	// with their own token, so it is mounted before any admin auth.
	Handler() fiber.Handler
	// Disconnect ends a node's session (token rotated, node deleted).
	Disconnect(nodeID int64)
	// Connected reports whether any replica holds the node's session.
	Connected(nodeID int64) bool
	// RestartCores asks every connected node to restart its Xray core and
	// returns how many nodes this replica asked.
	RestartCores(ctx context.Context) int
	// RestartCore asks one node to restart its Xray core; false when no
	// replica holds a live session for it.
	RestartCore(ctx context.Context, nodeID int64) bool
	// Health is the node's last status report, if one was heard.
	Health(nodeID int64) (hub.NodeHealth, bool)
	// WatchLogs streams a node's Xray log lines (0: every node's) until
	// ctx ends.
	WatchLogs(ctx context.Context, nodeID int64) <-chan hub.LogEvent
}

type server struct {
	opts    Options
	st      *state.State
	log     *slog.Logger
	envSudo auth.EnvSudo
	proxies proxyTrust
	sub     *subServer // subscription.go
	// docs holds the route table New registered, for /openapi.json and
	// /docs.
	docs apiDocs
	// sessions caches which sign-in sessions are alive; keyUses gathers
	// API key uses (auth.go).
	sessions sessionCache
	keyUses  *keyUseBuffer
	// loginNames slows down failed sign-ins per admin name (loginlimit.go).
	loginNames *nameLimiter
}

// New builds the Fiber app with every route mounted.
func New(opts Options) *fiber.App {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.BodyLimit <= 0 {
		opts.BodyLimit = DefaultBodyLimit
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = auth.DefaultTTL
	}
	if opts.State == nil || opts.RateLimiter == nil || len(opts.Secrets.JWT) == 0 || opts.Secrets.Subscription == "" {
		// A programming error in main, not a runtime condition.
		panic("api.New: State, RateLimiter and both Secrets are required")
	}
	proxies, err := ParseTrustedProxies(opts.TrustedProxies)
	if err != nil {
		// config.Validate refuses these before anything starts.
		panic("api.New: " + err.Error())
	}
	s := &server{
		loginNames: newNameLimiter(nameTracked),
		proxies:    proxies,
		opts:       opts,
		st:         opts.State,
		log:        opts.Log,
		envSudo:    auth.EnvSudo{Username: opts.EnvSudoUser, Password: opts.EnvSudoPassword},
	}
	if opts.KeyUseFlush <= 0 {
		opts.KeyUseFlush = keyUseFlush
	}
	s.keyUses = &keyUseBuffer{st: opts.State, every: opts.KeyUseFlush, log: opts.Log}
	cfg := fiber.Config{
		AppName:               "outpost",
		ErrorHandler:          s.handleError,
		BodyLimit:             opts.BodyLimit,
		DisableStartupMessage: true,
		// Slow clients cannot hold connections forever; node sessions are
		// hijacked and keep their own deadlines.
		ReadTimeout:  30 * time.Second,
		WriteTimeout: 30 * time.Second,
		IdleTimeout:  2 * time.Minute,
	}
	// Always on: without the check Fiber believes X-Forwarded-Host and
	// -Proto from every client. With no trusted proxies nobody is believed.
	// The client IP is read by clientIP, not c.IP(), which would take the
	// left end of X-Forwarded-For, the part the client writes.
	cfg.EnableTrustedProxyCheck = true
	cfg.TrustedProxies = s.proxies.fiberList()
	app := fiber.New(cfg)
	app.Use(metrics.Fiber(), requestIDs(), s.recoverPanics(), securityHeaders)
	s.sub = newSubServer(s)
	s.docs.routes = s.routes()
	s.register(app, s.docs.routes)
	return app
}

func (s *server) now() time.Time { return s.st.Now() }
