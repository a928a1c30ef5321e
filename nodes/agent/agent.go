// Package agent is the node agent: it runs Xray from its last-known-good
// state, keeps a session with the panel while it can, and never stops or
// restarts Xray because the panel went away.
//
// Start-up order is the point: the on-disk state is applied to Xray before
// the first dial, so a node rebooted during a panel outage serves the same
// users as before. Usage is journaled to disk before it is sent and deleted
// only after the panel acknowledged it. Expiry and data limits known at the
// last revision are enforced locally and reported when the panel is back.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outpost-panel/outpost/nodes/protocol"
	"github.com/outpost-panel/outpost/nodes/state"
	"github.com/outpost-panel/outpost/nodes/xraycore"
)

// Version is the agent's version, reported in hello.
var Version = "0.1.0"

// DefaultUsageInterval is how often a node journals traffic by default. An
// fsync of one journal entry a second costs little and bounds what a kill -9
// loses to the last second of counted traffic.
const DefaultUsageInterval = time.Second

// Config is everything the agent needs; zero durations take defaults.
type Config struct {
	PanelURL string // http(s)://host:port of the panel
	// PanelURLs are several addresses of one panel (its replicas), tried
	// in rotation (see rotation); when set, PanelURL is not used.
	PanelURLs       []string
	Token           string
	StateDir        string
	StatusListen    string // optional address for GET /healthz
	MetricsListen   string // optional address for GET /metrics, served by cmd/node (nodes/metrics)
	PanelCertSHA256 string // optional hex SHA-256 pin of the panel's leaf certificate

	// UsageInterval is how often counters are journaled, and so the most
	// counted traffic a kill -9 can lose; the panel's welcome may shorten it.
	UsageInterval   time.Duration
	EnforceInterval time.Duration // how often expiry is checked
	MinBackoff      time.Duration
	MaxBackoff      time.Duration
	// ReadTimeout ends a session that hears nothing (not even a ping).
	ReadTimeout time.Duration

	Log   *slog.Logger
	Clock func() time.Time
	// After is how the agent waits between dials (time.After by default);
	// a test passes one it fires by hand, so backoff runs without sleeping.
	After func(time.Duration) <-chan time.Time
}

func (c *Config) defaults() {
	if c.UsageInterval <= 0 {
		c.UsageInterval = DefaultUsageInterval
	}
	if c.EnforceInterval <= 0 {
		c.EnforceInterval = time.Second
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 500 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 45 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.After == nil {
		c.After = time.After
	}
}

// panels is the addresses the agent dials, in order.
func (c *Config) panels() []string {
	if len(c.PanelURLs) > 0 {
		return c.PanelURLs
	}
	if c.PanelURL != "" {
		return []string{c.PanelURL}
	}
	return nil
}

// Validate collects every configuration error before start.
func (c *Config) Validate() error {
	var errs []error
	if len(c.panels()) == 0 {
		errs = append(errs, errors.New("--panel / NODE_PANEL_URL is required"))
	}
	for _, p := range c.panels() {
		if _, err := wsURL(p); err != nil {
			errs = append(errs, fmt.Errorf("--panel %q: %w", p, err))
		}
	}
	if c.Token == "" {
		errs = append(errs, errors.New("--token / NODE_TOKEN is required"))
	}
	if c.StateDir == "" {
		errs = append(errs, errors.New("--state-dir / NODE_STATE_DIR is required"))
	}
	if c.PanelCertSHA256 != "" && len(c.PanelCertSHA256) != 64 {
		errs = append(errs, errors.New("--panel-cert-sha256 must be 64 hex characters"))
	}
	return errors.Join(errs...)
}

// Agent is one node agent.
type Agent struct {
	cfg   Config
	log   *slog.Logger
	store state.Store
	eng   *xraycore.Engine

	// mu guards the desired state and everything derived from it.
	// Lock order: mu is taken first; while holding it the agent calls the
	// state store (Bolt.writeMu, then Bolt.mu) and the engine (Engine.mu,
	// then its usage meter's mu), none of which ever calls back.
	mu       sync.Mutex
	desired  state.Desired
	enforced map[string]bool // removed locally (expired/limited) until the panel sends a new version
	expiry   expiryQueue
	inErrs   map[string]string
	lastErr  string

	usageEvery atomic.Int64 // usage interval asked by the panel, in ns (0 = none; see journalEvery)
	snapshots  atomic.Int64 // snapshots applied since start
	deltas     atomic.Int64 // deltas applied since start
	moves      atomic.Int64 // sessions a draining panel ended with move (4005)
	certs      certWatch    // expiry of the certificate files inbounds read
	connected  atomic.Bool
	usageWake  chan struct{}
	// fenced: the last session ended because another took this node's
	// token over; the next hello says so (protocol.Hello.Fenced).
	fenced       atomic.Bool
	sessionUsage atomic.Pointer[sessionLink]
	logs         *logStream
	online       onlineBuffer // addresses seen since the last usage batch (online.go)
	// foldLogged: a journal entry too big for one batch had its device
	// identities folded into their users (usage.go), and that was logged.
	foldLogged atomic.Bool
}

// sessionLink lets background loops talk to the current session, if any.
type sessionLink struct {
	send func(protocol.Message) bool
}

// New opens the state directory; nothing runs until Run.
func New(cfg Config) (*Agent, error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	st, err := state.OpenBolt(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("opening node state in %s: %w", cfg.StateDir, err)
	}
	return &Agent{
		cfg: cfg, log: cfg.Log, store: st, eng: xraycore.New(cfg.Log),
		enforced: map[string]bool{}, usageWake: make(chan struct{}, 1), logs: newLogStream(),
	}, nil
}

// Run serves until ctx ends. Xray keeps running for as long as Run does,
// whatever happens to the panel.
func (a *Agent) Run(ctx context.Context) error {
	defer a.close()
	if err := a.startFromDisk(); err != nil {
		return err
	}
	var wg sync.WaitGroup
	loops := []func(context.Context){a.usageLoop, a.enforceLoop, a.connectLoop}
	for _, loop := range loops {
		wg.Add(1)
		go func(f func(context.Context)) { defer wg.Done(); f(ctx) }(loop)
	}
	var srv *http.Server
	if a.cfg.StatusListen != "" {
		var err error
		if srv, err = a.serveStatus(a.cfg.StatusListen); err != nil {
			a.log.Error("status listener", "err", err)
		}
	}
	<-ctx.Done()
	if srv != nil {
		_ = srv.Close()
	}
	wg.Wait()
	// Journal what was counted since the last tick before exiting.
	a.journalUsage()
	return nil
}

func (a *Agent) close() {
	if err := a.eng.Close(); err != nil {
		a.log.Warn("closing xray", "err", err)
	}
	if err := a.store.Close(); err != nil {
		a.log.Warn("closing state", "err", err)
	}
}

// startFromDisk applies the last-known-good state before any dial.
func (a *Agent) startFromDisk() error {
	d, ok, err := a.store.LoadDesired()
	if err != nil {
		return fmt.Errorf("loading last-known-good state: %w", err)
	}
	enforced, err := a.store.Enforced()
	if err != nil {
		return fmt.Errorf("loading enforced users: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, e := range enforced {
		a.enforced[e.Email] = true
	}
	if !ok {
		a.desired = state.Desired{Users: map[string]protocol.User{}}
		a.log.Info("no last-known-good state yet; waiting for the panel")
		return nil
	}
	a.desired = d
	a.rebuildExpiry()
	res, err := a.eng.Apply(d.Config, a.effectiveUsers())
	if err != nil {
		// A stored state was valid when it was stored; if this Xray cannot
		// build it, wait for the panel rather than run nothing silently.
		a.lastErr = err.Error()
		a.log.Error("starting xray from last-known-good state", "revision", d.Revision, "err", err)
		return nil
	}
	a.inErrs = res.InboundErrors
	a.log.Info("xray started from last-known-good state", "revision", d.Revision, "users", len(d.Users), "inbound_errors", len(res.InboundErrors))
	return nil
}

// effectiveUsers is the desired users minus those enforced locally. Caller holds mu.
func (a *Agent) effectiveUsers() []protocol.User {
	out := make([]protocol.User, 0, len(a.desired.Users))
	for email, u := range a.desired.Users {
		if !a.enforced[email] {
			out = append(out, u)
		}
	}
	return out
}

// Engine exposes the Xray engine (tests check it was not restarted).
func (a *Agent) Engine() *xraycore.Engine { return a.eng }

// Health is what GET /healthz answers.
type Health struct {
	Connected       bool              `json:"connected"`
	AppliedRevision int64             `json:"applied_revision"`
	Users           int               `json:"users"`
	EnforcedUsers   int               `json:"enforced_users"`
	JournalBacklog  int               `json:"journal_backlog"`
	InboundErrors   map[string]string `json:"inbound_errors,omitempty"`
	XrayVersion     string            `json:"xray_version"`
	CoreRestarts    int               `json:"core_restarts"`
	Snapshots       int64             `json:"snapshots_applied"`
	Deltas          int64             `json:"deltas_applied"`
	// PanelMoves counts sessions a panel ended asking the node to move
	// (close 4005: it was shutting down, as in a rolling upgrade).
	PanelMoves int64  `json:"panel_moves"`
	LastError  string `json:"last_error,omitempty"`
	// LogsStreaming: the panel asked for Xray's log lines (an admin
	// watches them) and the node is sending them.
	LogsStreaming bool `json:"logs_streaming"`
	// Certs: the certificate files the inbounds read, with their expiry.
	Certs []protocol.CertExpiry `json:"certs,omitempty"`
}

// Health reports the agent's state.
func (a *Agent) Health() Health {
	backlog, _ := a.store.JournalBacklog()
	a.mu.Lock()
	h := Health{
		Connected: a.connected.Load(), AppliedRevision: a.desired.Revision,
		Users: len(a.desired.Users), EnforcedUsers: len(a.enforced), JournalBacklog: backlog,
		InboundErrors: a.inErrs, XrayVersion: xraycore.Version(), CoreRestarts: a.eng.Restarts(),
		Snapshots: a.snapshots.Load(), Deltas: a.deltas.Load(), PanelMoves: a.moves.Load(),
		LastError: a.lastErr, LogsStreaming: a.logs.on.Load(),
	}
	config := a.desired.Config
	a.mu.Unlock()
	// Files are read outside the agent's lock (the config bytes are never
	// changed in place, only replaced).
	h.Certs = a.certs.expiries(certFiles(config))
	return h
}

func (a *Agent) statusMessage() *protocol.Status {
	h := a.Health()
	return &protocol.Status{AppliedRevision: h.AppliedRevision, Users: h.Users, JournalBacklog: h.JournalBacklog,
		InboundErrors: h.InboundErrors, Message: h.LastError, XrayVersion: h.XrayVersion,
		CoreRestarts: h.CoreRestarts, Certs: h.Certs}
}
