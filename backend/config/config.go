// Package config is the panel's one typed configuration: every flag has an
// environment variable, every default lives here, and every problem is
// reported at once before anything starts.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is the panel's configuration.
type Config struct {
	Listen       string
	DataDir      string
	DatabaseURL  string
	RedisURL     string
	SudoUsername string
	SudoPassword string
	LocalNode    bool
	PublicURL    string
	TLSCert      string
	TLSKey       string

	// Webhooks (Marzban's WEBHOOK_ADDRESS / WEBHOOK_SECRET): user events are
	// posted to every address; percent and days are when the
	// reached_usage_percent / reached_days_left reminders go out (0: never).
	WebhookAddresses []string
	WebhookSecret    string
	NotifyPercent    int
	NotifyDaysLeft   int

	// Intervals (mostly for tests and small deployments).
	ReviewInterval time.Duration
	UsageInterval  time.Duration
	PingInterval   time.Duration
	TokenTTL       time.Duration
}

// Defaults in one place.
func Defaults() Config {
	return Config{
		Listen:         "0.0.0.0:8000",
		DataDir:        "./data",
		ReviewInterval: 10 * time.Second,
		UsageInterval:  10 * time.Second,
		PingInterval:   10 * time.Second,
		TokenTTL:       24 * time.Hour,
		NotifyPercent:  80,
		NotifyDaysLeft: 3,
	}
}

// Parse reads flags, falling back to the environment, then to defaults.
func Parse(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	c := Defaults()
	fs := flag.NewFlagSet("panel", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	envDur := func(name string, def time.Duration) time.Duration {
		if v := getenv(name); v != "" {
			if d, err := time.ParseDuration(v); err == nil {
				return d
			}
		}
		return def
	}
	envBool := func(name string, def bool) bool {
		if v := getenv(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err == nil {
				return b
			}
		}
		return def
	}
	fs.StringVar(&c.Listen, "listen", env("PANEL_LISTEN", c.Listen), "address to serve HTTP on (PANEL_LISTEN)")
	fs.StringVar(&c.DataDir, "data-dir", env("PANEL_DATA_DIR", c.DataDir), "directory for the SQLite database and local node state (PANEL_DATA_DIR)")
	fs.StringVar(&c.DatabaseURL, "database-url", env("DATABASE_URL", ""), "postgres://... to use PostgreSQL; empty for SQLite in the data dir (DATABASE_URL)")
	fs.StringVar(&c.RedisURL, "redis-url", env("REDIS_URL", ""), "redis://... to run several replicas; empty for one process (REDIS_URL)")
	fs.StringVar(&c.SudoUsername, "sudo-username", env("SUDO_USERNAME", ""), "sudo admin kept outside the database (SUDO_USERNAME)")
	fs.StringVar(&c.SudoPassword, "sudo-password", env("SUDO_PASSWORD", ""), "password of that admin (SUDO_PASSWORD)")
	fs.BoolVar(&c.LocalNode, "local-node", envBool("PANEL_LOCAL_NODE", false), "run a node agent inside the panel process (PANEL_LOCAL_NODE)")
	fs.StringVar(&c.PublicURL, "public-url", env("PANEL_PUBLIC_URL", ""), "base URL for subscription links; empty derives it from each request (PANEL_PUBLIC_URL)")
	fs.StringVar(&c.TLSCert, "tls-cert", env("PANEL_TLS_CERT", ""), "certificate file to serve HTTPS (PANEL_TLS_CERT)")
	fs.StringVar(&c.TLSKey, "tls-key", env("PANEL_TLS_KEY", ""), "key file to serve HTTPS (PANEL_TLS_KEY)")
	fs.DurationVar(&c.ReviewInterval, "review-interval", envDur("PANEL_REVIEW_INTERVAL", c.ReviewInterval), "how often user limits are reviewed (PANEL_REVIEW_INTERVAL)")
	fs.DurationVar(&c.UsageInterval, "usage-interval", envDur("PANEL_USAGE_INTERVAL", c.UsageInterval), "how often nodes journal traffic (PANEL_USAGE_INTERVAL)")
	fs.DurationVar(&c.PingInterval, "ping-interval", envDur("PANEL_PING_INTERVAL", c.PingInterval), "node session keepalive (PANEL_PING_INTERVAL)")
	fs.DurationVar(&c.TokenTTL, "token-ttl", envDur("PANEL_TOKEN_TTL", c.TokenTTL), "admin token lifetime (PANEL_TOKEN_TTL)")
	webhooks := fs.String("webhook-address", env("WEBHOOK_ADDRESS", ""), "comma-separated URLs that receive user events (WEBHOOK_ADDRESS)")
	fs.StringVar(&c.WebhookSecret, "webhook-secret", env("WEBHOOK_SECRET", ""), "sent as the x-webhook-secret header (WEBHOOK_SECRET)")
	envInt := func(name string, def int) int {
		if v := getenv(name); v != "" {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
		return def
	}
	fs.IntVar(&c.NotifyPercent, "notify-reached-usage-percent", envInt("NOTIFY_REACHED_USAGE_PERCENT", c.NotifyPercent), "send reached_usage_percent at this percent of a data limit; 0 never (NOTIFY_REACHED_USAGE_PERCENT)")
	fs.IntVar(&c.NotifyDaysLeft, "notify-days-left", envInt("NOTIFY_DAYS_LEFT", c.NotifyDaysLeft), "send reached_days_left this many days before expiry; 0 never (NOTIFY_DAYS_LEFT)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	for _, a := range strings.Split(*webhooks, ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.WebhookAddresses = append(c.WebhookAddresses, a)
		}
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return c, c.Validate()
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen %q: %w", c.Listen, err))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data-dir must not be empty"))
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		errs = append(errs, errors.New("DATABASE_URL must start with postgres:// (leave it empty for SQLite)"))
	}
	if c.RedisURL != "" {
		if _, err := url.Parse(c.RedisURL); err != nil || !(strings.HasPrefix(c.RedisURL, "redis://") || strings.HasPrefix(c.RedisURL, "rediss://")) {
			errs = append(errs, errors.New("REDIS_URL must be redis://... or rediss://..."))
		}
	}
	if (c.SudoUsername == "") != (c.SudoPassword == "") {
		errs = append(errs, errors.New("SUDO_USERNAME and SUDO_PASSWORD go together"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			errs = append(errs, errors.New("public-url must be an absolute http(s) URL"))
		}
	}
	for _, a := range c.WebhookAddresses {
		if u, err := url.Parse(a); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			// The address may carry a token: do not echo it.
			errs = append(errs, errors.New("every WEBHOOK_ADDRESS must be an absolute http(s) URL"))
			break
		}
	}
	if c.NotifyPercent < 0 || c.NotifyPercent > 100 {
		errs = append(errs, errors.New("NOTIFY_REACHED_USAGE_PERCENT must be between 0 and 100"))
	}
	if c.NotifyDaysLeft < 0 {
		errs = append(errs, errors.New("NOTIFY_DAYS_LEFT must not be negative"))
	}
	for name, d := range map[string]time.Duration{"review-interval": c.ReviewInterval, "usage-interval": c.UsageInterval, "ping-interval": c.PingInterval, "token-ttl": c.TokenTTL} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", name))
		}
	}
	return errors.Join(errs...)
}
