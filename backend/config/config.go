// Package config is the panel's one typed configuration: every flag has an
// environment variable, every default lives here, and every problem is
// reported at once before anything starts.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
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
	// TrustedProxies are reverse proxies (addresses or CIDRs) whose
	// X-Forwarded-For/Host/Proto are believed; empty believes nobody's.
	TrustedProxies []string
	// MetricsListen serves Prometheus metrics on GET /metrics at this
	// address; empty (the default) serves none.
	MetricsListen string

	// Webhooks (Marzban's WEBHOOK_ADDRESS / WEBHOOK_SECRET): user events are
	// posted to every address; percent and days are when the
	// reached_usage_percent / reached_days_left reminders go out (0: never).
	WebhookAddresses []string
	WebhookSecret    string
	NotifyPercent    int
	NotifyDaysLeft   int
	// A failed webhook delivery is retried WebhookRetries times,
	// WebhookRetryInterval apart, then given up: Marzban's
	// NUMBER_OF_RECURRENT_NOTIFICATIONS and RECURRENT_NOTIFICATIONS_TIMEOUT,
	// with its defaults, so a receiver may be away for their product (9
	// minutes) without missing an event.
	WebhookRetries       int
	WebhookRetryInterval time.Duration

	// Chat notifications (Marzban's DISCORD_WEBHOOK_URL, TELEGRAM_API_TOKEN,
	// TELEGRAM_ADMIN_ID, TELEGRAM_LOGGER_CHANNEL_ID): every user event as a
	// line of text, through the webhook outbox. Admins' own
	// discord_webhook (and, with a bot token, telegram_id) get the events
	// of their users.
	DiscordWebhookURL string
	TelegramToken     string
	TelegramAdminIDs  []int64
	TelegramChannelID int64
	TelegramAPIURL    string

	// Scheduled backups (backend/backup): every BackupEvery into
	// BackupDir, keeping the newest BackupKeep, on the replica that holds
	// the backup lease; sealed with BackupPassphrase when set (the CLI's
	// backup and restore read it too). BackupTelegram also sends each file
	// to the sudo admins' Telegram chats through the notification bot.
	BackupDir        string
	BackupEvery      time.Duration
	BackupKeep       int
	BackupPassphrase string
	BackupTelegram   bool

	// AuditRetentionDays is how long audit log entries are kept; the
	// "prune-audit" job deletes older ones in batches. 0 keeps them all.
	AuditRetentionDays int

	// Intervals (mostly for tests and small deployments).
	ReviewInterval time.Duration
	UsageInterval  time.Duration
	PingInterval   time.Duration
	TokenTTL       time.Duration
	// AlertInterval is how often the fleet alert rules are evaluated
	// (backend/alerts); their thresholds are settings in the database.
	AlertInterval time.Duration

	// CustomJSON holds Marzban's USE_CUSTOM_JSON_* variables that are set,
	// by name (render.CustomJSONVars): each wins over the subscription
	// setting of the same name while it is set.
	CustomJSON map[string]bool

	// SnapshotWriters is how many node sessions may be written a snapshot
	// at once; the rest wait their turn, first come first served.
	SnapshotWriters int

	// DBMaxConns is how many connections this process opens to PostgreSQL
	// for requests and jobs (two more read the outbox); SQLite ignores it.
	DBMaxConns int
}

// maxWebhookRetries bounds NUMBER_OF_RECURRENT_NOTIFICATIONS: more is a
// typo, not a plan (a thousand retries three minutes apart is two days).
const maxWebhookRetries = 1000

// maxAuditRetentionDays bounds PANEL_AUDIT_RETENTION_DAYS (ten years).
const maxAuditRetentionDays = 3650

// maxBackupKeep bounds PANEL_BACKUP_KEEP.
const maxBackupKeep = 10000

// maxDBConns bounds --db-max-conns: PostgreSQL's default
// max_connections is 100 for every replica together, and past a few
// dozen per process they only queue inside the database instead.
const maxDBConns = 200

// maxSnapshotWriters bounds --snapshot-writers: each writer may hold a
// snapshot's encoded bytes, and past a few dozen they only share the same
// CPU and network more thinly.
const maxSnapshotWriters = 256

// Defaults in one place.
func Defaults() Config {
	return Config{
		Listen:         "0.0.0.0:8000",
		DataDir:        "./data",
		ReviewInterval: 10 * time.Second,
		AlertInterval:  30 * time.Second,
		UsageInterval:  10 * time.Second,
		PingInterval:   10 * time.Second,
		TokenTTL:       24 * time.Hour,
		NotifyPercent:  80,

		SnapshotWriters: 8,
		DBMaxConns:      16,
		NotifyDaysLeft:  3,

		WebhookRetries:       3,
		WebhookRetryInterval: 180 * time.Second,
		TelegramAPIURL:       "https://api.telegram.org",

		BackupEvery: 24 * time.Hour,
		BackupKeep:  7,

		AuditRetentionDays: 90,
	}
}

// Parse reads flags, falling back to the environment, then to defaults.
func Parse(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	c := Defaults()
	fs := flag.NewFlagSet("panel", flag.ContinueOnError)
	fs.SetOutput(stderr)
	// envErrs holds the environment values that do not parse, by the flag
	// they feed: reported with the other problems unless the flag itself
	// was given (a flag wins over its variable).
	envErrs := map[string]error{}
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	// envParse hands the variable name, when set, to parse, which stores
	// the value or says why it cannot; flagName is the flag it feeds.
	envParse := func(flagName, name string, parse func(string) error) {
		if v := getenv(name); v != "" {
			if err := parse(v); err != nil {
				envErrs[flagName] = fmt.Errorf("%s=%q: %w", name, v, err)
			}
		}
	}
	envDur := func(flagName, name string, def time.Duration) time.Duration {
		envParse(flagName, name, func(v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return errors.New("not a duration like 10s")
			}
			def = d
			return nil
		})
		return def
	}
	envBool := func(flagName, name string, def bool) bool {
		envParse(flagName, name, func(v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return errors.New("not a boolean (true or false)")
			}
			def = b
			return nil
		})
		return def
	}
	envInt := func(flagName, name string, def int) int {
		envParse(flagName, name, func(v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return errors.New("not an integer")
			}
			def = n
			return nil
		})
		return def
	}
	fs.StringVar(&c.Listen, "listen", env("PANEL_LISTEN", c.Listen), "address to serve HTTP on (PANEL_LISTEN)")
	fs.StringVar(&c.MetricsListen, "metrics-listen", env("PANEL_METRICS_LISTEN", ""), "address to serve Prometheus metrics on (GET /metrics); empty serves none (PANEL_METRICS_LISTEN)")
	fs.StringVar(&c.DataDir, "data-dir", env("PANEL_DATA_DIR", c.DataDir), "directory for the SQLite database and local node state (PANEL_DATA_DIR)")
	fs.StringVar(&c.DatabaseURL, "database-url", env("DATABASE_URL", ""), "postgres://... to use PostgreSQL; empty for SQLite in the data dir (DATABASE_URL)")
	fs.StringVar(&c.RedisURL, "redis-url", env("REDIS_URL", ""), "redis://... to run several replicas; empty for one process (REDIS_URL)")
	fs.StringVar(&c.SudoUsername, "sudo-username", env("SUDO_USERNAME", ""), "sudo admin kept outside the database (SUDO_USERNAME)")
	fs.StringVar(&c.SudoPassword, "sudo-password", env("SUDO_PASSWORD", ""), "password of that admin (SUDO_PASSWORD)")
	fs.BoolVar(&c.LocalNode, "local-node", envBool("local-node", "PANEL_LOCAL_NODE", false), "run a node agent inside the panel process (PANEL_LOCAL_NODE)")
	fs.StringVar(&c.PublicURL, "public-url", env("PANEL_PUBLIC_URL", ""), "base URL for subscription links; empty derives it from each request (PANEL_PUBLIC_URL)")
	fs.StringVar(&c.TLSCert, "tls-cert", env("PANEL_TLS_CERT", ""), "certificate file to serve HTTPS (PANEL_TLS_CERT)")
	fs.StringVar(&c.TLSKey, "tls-key", env("PANEL_TLS_KEY", ""), "key file to serve HTTPS (PANEL_TLS_KEY)")
	trustedProxies := fs.String("trusted-proxies", env("PANEL_TRUSTED_PROXIES", ""), "comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For/Host/Proto are believed; empty ignores those headers (PANEL_TRUSTED_PROXIES)")
	fs.DurationVar(&c.AlertInterval, "alert-interval", envDur("alert-interval", "PANEL_ALERT_INTERVAL", c.AlertInterval), "how often fleet alerts are evaluated (PANEL_ALERT_INTERVAL)")
	fs.DurationVar(&c.ReviewInterval, "review-interval", envDur("review-interval", "PANEL_REVIEW_INTERVAL", c.ReviewInterval), "how often user limits are reviewed (PANEL_REVIEW_INTERVAL)")
	fs.DurationVar(&c.UsageInterval, "usage-interval", envDur("usage-interval", "PANEL_USAGE_INTERVAL", c.UsageInterval), "how often nodes journal traffic (PANEL_USAGE_INTERVAL)")
	fs.IntVar(&c.DBMaxConns, "db-max-conns", envInt("db-max-conns", "PANEL_DB_MAX_CONNS", c.DBMaxConns), "PostgreSQL connections this process opens for requests and jobs, besides 2 that read the outbox (PANEL_DB_MAX_CONNS)")
	fs.DurationVar(&c.PingInterval, "ping-interval", envDur("ping-interval", "PANEL_PING_INTERVAL", c.PingInterval), "node session keepalive (PANEL_PING_INTERVAL)")
	fs.IntVar(&c.SnapshotWriters, "snapshot-writers", envInt("snapshot-writers", "PANEL_SNAPSHOT_WRITERS", c.SnapshotWriters), "how many node sessions are written a snapshot at once; the others queue (PANEL_SNAPSHOT_WRITERS)")
	fs.DurationVar(&c.TokenTTL, "token-ttl", envDur("token-ttl", "PANEL_TOKEN_TTL", c.TokenTTL), "admin token lifetime (PANEL_TOKEN_TTL)")
	webhooks := fs.String("webhook-address", env("WEBHOOK_ADDRESS", ""), "comma-separated URLs that receive user events (WEBHOOK_ADDRESS)")
	fs.StringVar(&c.WebhookSecret, "webhook-secret", env("WEBHOOK_SECRET", ""), "sent as the x-webhook-secret header (WEBHOOK_SECRET)")
	fs.IntVar(&c.NotifyPercent, "notify-reached-usage-percent", envInt("notify-reached-usage-percent", "NOTIFY_REACHED_USAGE_PERCENT", c.NotifyPercent), "send reached_usage_percent at this percent of a data limit; 0 never (NOTIFY_REACHED_USAGE_PERCENT)")
	fs.IntVar(&c.NotifyDaysLeft, "notify-days-left", envInt("notify-days-left", "NOTIFY_DAYS_LEFT", c.NotifyDaysLeft), "send reached_days_left this many days before expiry; 0 never (NOTIFY_DAYS_LEFT)")
	fs.IntVar(&c.WebhookRetries, "webhook-retries", envInt("webhook-retries", "NUMBER_OF_RECURRENT_NOTIFICATIONS", c.WebhookRetries), "retry a failed webhook delivery this many times before giving it up (NUMBER_OF_RECURRENT_NOTIFICATIONS)")
	envParse("webhook-retry-interval", "RECURRENT_NOTIFICATIONS_TIMEOUT", secondsValue{&c.WebhookRetryInterval}.Set)
	fs.Var(secondsValue{&c.WebhookRetryInterval}, "webhook-retry-interval", "wait between webhook delivery retries: seconds (as Marzban) or a duration like 3m (RECURRENT_NOTIFICATIONS_TIMEOUT)")
	fs.StringVar(&c.DiscordWebhookURL, "discord-webhook-url", env("DISCORD_WEBHOOK_URL", ""), "Discord webhook that gets every user event as a message (DISCORD_WEBHOOK_URL)")
	fs.StringVar(&c.TelegramToken, "telegram-api-token", env("TELEGRAM_API_TOKEN", ""), "Telegram bot token that sends user events to the chats below and to admins' telegram_id (TELEGRAM_API_TOKEN)")
	telegramAdmins := fs.String("telegram-admin-id", env("TELEGRAM_ADMIN_ID", ""), "comma-separated Telegram chat ids that get every user event (TELEGRAM_ADMIN_ID)")
	telegramChannel := fs.String("telegram-logger-channel-id", env("TELEGRAM_LOGGER_CHANNEL_ID", ""), "Telegram channel id that gets every user event (TELEGRAM_LOGGER_CHANNEL_ID)")
	fs.StringVar(&c.TelegramAPIURL, "telegram-api-url", env("TELEGRAM_API_URL", "https://api.telegram.org"), "Telegram Bot API base URL, for a local Bot API server or a relay (TELEGRAM_API_URL)")
	fs.IntVar(&c.AuditRetentionDays, "audit-retention-days", envInt("audit-retention-days", "PANEL_AUDIT_RETENTION_DAYS", c.AuditRetentionDays), "days audit log entries are kept; 0 keeps them all (PANEL_AUDIT_RETENTION_DAYS)")
	fs.StringVar(&c.BackupDir, "backup-dir", env("PANEL_BACKUP_DIR", ""), "directory for scheduled backups, also listed, downloaded and taken on demand on the dashboard's Backups page (/api/system/backups); empty takes none (PANEL_BACKUP_DIR)")
	fs.DurationVar(&c.BackupEvery, "backup-every", envDur("backup-every", "PANEL_BACKUP_EVERY", c.BackupEvery), "how often a scheduled backup is taken (PANEL_BACKUP_EVERY)")
	fs.IntVar(&c.BackupKeep, "backup-keep", envInt("backup-keep", "PANEL_BACKUP_KEEP", c.BackupKeep), "scheduled backups kept in --backup-dir; older ones are deleted (PANEL_BACKUP_KEEP)")
	fs.StringVar(&c.BackupPassphrase, "backup-passphrase", env("PANEL_BACKUP_PASSPHRASE", ""), "encrypt backups (scheduled, CLI and downloaded from the API) with this passphrase (scrypt + ChaCha20-Poly1305); prefer the variable to the flag (PANEL_BACKUP_PASSPHRASE)")
	fs.BoolVar(&c.BackupTelegram, "backup-telegram", envBool("backup-telegram", "PANEL_BACKUP_TELEGRAM", false), "also send each scheduled backup to TELEGRAM_ADMIN_ID and the sudo admins' Telegram chats; needs TELEGRAM_API_TOKEN and a passphrase (PANEL_BACKUP_TELEGRAM)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var switchErrs []error
	for _, name := range CustomJSONVars {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			continue
		}
		b, ok := ParseEnvBool(v)
		if !ok {
			switchErrs = append(switchErrs, fmt.Errorf("%s=%q: not a boolean (true/false, 1/0, yes/no, on/off)", name, v))
			continue
		}
		if c.CustomJSON == nil {
			c.CustomJSON = map[string]bool{}
		}
		c.CustomJSON[name] = b
	}
	fs.Visit(func(f *flag.Flag) { delete(envErrs, f.Name) })
	for _, p := range strings.Split(*trustedProxies, ",") {
		if p = strings.TrimSpace(p); p != "" {
			c.TrustedProxies = append(c.TrustedProxies, p)
		}
	}
	for _, a := range strings.Split(*webhooks, ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.WebhookAddresses = append(c.WebhookAddresses, a)
		}
	}
	var chatErrs []error
	for _, v := range strings.Split(*telegramAdmins, ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id == 0 {
			chatErrs = append(chatErrs, fmt.Errorf("TELEGRAM_ADMIN_ID: %q is not a chat id", v))
			continue
		}
		c.TelegramAdminIDs = append(c.TelegramAdminIDs, id)
	}
	if v := strings.TrimSpace(*telegramChannel); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id == 0 {
			chatErrs = append(chatErrs, fmt.Errorf("TELEGRAM_LOGGER_CHANNEL_ID: %q is not a chat id", v))
		}
		c.TelegramChannelID = id
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) { // flag order: a stable report
		if err, ok := envErrs[f.Name]; ok {
			errs = append(errs, err)
		}
	})
	errs = append(errs, chatErrs...)
	errs = append(errs, switchErrs...)
	return c, errors.Join(append(errs, c.Validate())...)
}

// CustomJSONVars are Marzban's switches that send v2rayN, v2rayNG,
// Streisand and Happ Xray JSON instead of links (render.CustomJSONVars;
// config does not import the renderer).
var CustomJSONVars = []string{
	"USE_CUSTOM_JSON_DEFAULT", "USE_CUSTOM_JSON_FOR_V2RAYN", "USE_CUSTOM_JSON_FOR_V2RAYNG",
	"USE_CUSTOM_JSON_FOR_STREISAND", "USE_CUSTOM_JSON_FOR_HAPP",
}

// ParseEnvBool reads a boolean as Marzban's configuration (python-decouple)
// does, any letter case: true, yes, on, 1 (and y, t) are true; false, no,
// off, 0 (and n, f) are false; anything else is not a boolean.
func ParseEnvBool(v string) (value, ok bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on", "y", "t":
		return true, true
	case "0", "false", "no", "off", "n", "f":
		return false, true
	}
	return false, false
}

// validProxy accepts what api.ParseTrustedProxies does: an IP address
// without a zone, or a CIDR.
func validProxy(p string) bool {
	if strings.Contains(p, "/") {
		_, err := netip.ParsePrefix(p)
		return err == nil
	}
	a, err := netip.ParseAddr(p)
	return err == nil && a.Zone() == ""
}

// secondsValue is a duration written as whole seconds ("180", the form of
// Marzban's RECURRENT_NOTIFICATIONS_TIMEOUT) or as a Go duration ("3m").
type secondsValue struct{ d *time.Duration }

func (v secondsValue) String() string {
	if v.d == nil {
		return ""
	}
	return v.d.String()
}

func (v secondsValue) Set(s string) error {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > int64(math.MaxInt64/time.Second) {
			return errors.New("seconds out of range")
		}
		*v.d = time.Duration(n) * time.Second
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("not a number of seconds nor a duration like 3m")
	}
	*v.d = d
	return nil
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen %q: %w", c.Listen, err))
	}
	if _, _, err := net.SplitHostPort(c.MetricsListen); c.MetricsListen != "" && err != nil {
		errs = append(errs, fmt.Errorf("metrics-listen %q: %w", c.MetricsListen, err))
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
	for _, p := range c.TrustedProxies {
		if !validProxy(p) {
			errs = append(errs, fmt.Errorf("trusted-proxies: %q is not an IP address or CIDR (PANEL_TRUSTED_PROXIES)", p))
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
	if c.AuditRetentionDays < 0 || c.AuditRetentionDays > maxAuditRetentionDays {
		errs = append(errs, fmt.Errorf("PANEL_AUDIT_RETENTION_DAYS must be between 0 and %d", maxAuditRetentionDays))
	}
	if c.NotifyDaysLeft < 0 {
		errs = append(errs, errors.New("NOTIFY_DAYS_LEFT must not be negative"))
	}
	if c.WebhookRetries < 0 || c.WebhookRetries > maxWebhookRetries {
		errs = append(errs, fmt.Errorf("NUMBER_OF_RECURRENT_NOTIFICATIONS (--webhook-retries) must be between 0 and %d", maxWebhookRetries))
	}
	if c.DiscordWebhookURL != "" {
		if u, err := url.Parse(c.DiscordWebhookURL); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			errs = append(errs, errors.New("DISCORD_WEBHOOK_URL must be an absolute http(s) URL"))
		}
	}
	if (len(c.TelegramAdminIDs) > 0 || c.TelegramChannelID != 0) && c.TelegramToken == "" {
		errs = append(errs, errors.New("TELEGRAM_ADMIN_ID and TELEGRAM_LOGGER_CHANNEL_ID need TELEGRAM_API_TOKEN"))
	}
	if c.TelegramToken != "" && strings.ContainsAny(c.TelegramToken, "/?# \t\r\n") {
		errs = append(errs, errors.New("TELEGRAM_API_TOKEN is not a bot token"))
	}
	if u, err := url.Parse(c.TelegramAPIURL); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		errs = append(errs, errors.New("TELEGRAM_API_URL must be an absolute http(s) URL"))
	}
	if c.BackupDir != "" && c.BackupEvery < time.Minute {
		errs = append(errs, errors.New("PANEL_BACKUP_EVERY (--backup-every) must be at least 1m"))
	}
	if c.BackupKeep < 1 || c.BackupKeep > maxBackupKeep {
		errs = append(errs, fmt.Errorf("PANEL_BACKUP_KEEP (--backup-keep) must be between 1 and %d", maxBackupKeep))
	}
	if c.BackupTelegram {
		switch {
		case c.BackupDir == "":
			errs = append(errs, errors.New("PANEL_BACKUP_TELEGRAM needs PANEL_BACKUP_DIR (scheduled backups)"))
		case c.TelegramToken == "":
			errs = append(errs, errors.New("PANEL_BACKUP_TELEGRAM needs TELEGRAM_API_TOKEN"))
		case c.BackupPassphrase == "":
			// The file holds every secret of the panel and every admin's
			// password hash: it does not leave the machine in the clear.
			errs = append(errs, errors.New("PANEL_BACKUP_TELEGRAM needs PANEL_BACKUP_PASSPHRASE: backups go to Telegram encrypted only"))
		}
	}
	// The outbox schedules in whole seconds.
	if c.WebhookRetryInterval < time.Second {
		errs = append(errs, errors.New("RECURRENT_NOTIFICATIONS_TIMEOUT (--webhook-retry-interval) must be at least 1 second"))
	}
	if c.DBMaxConns < 2 || c.DBMaxConns > maxDBConns {
		errs = append(errs, fmt.Errorf("db-max-conns must be 2..%d", maxDBConns))
	}
	if c.SnapshotWriters < 1 || c.SnapshotWriters > maxSnapshotWriters {
		errs = append(errs, fmt.Errorf("snapshot-writers must be 1..%d", maxSnapshotWriters))
	}
	for name, d := range map[string]time.Duration{"review-interval": c.ReviewInterval, "usage-interval": c.UsageInterval, "ping-interval": c.PingInterval, "token-ttl": c.TokenTTL, "alert-interval": c.AlertInterval} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", name))
		}
	}
	return errors.Join(errs...)
}
