// Package app assembles the panel from its parts: store, change feed,
// coordination, domain state, node hub, background jobs, HTTP API and the
// optional built-in local node.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/outpost-panel/outpost/backend/alerts"
	"github.com/outpost-panel/outpost/backend/api"
	"github.com/outpost-panel/outpost/backend/backup"
	"github.com/outpost-panel/outpost/backend/config"
	"github.com/outpost-panel/outpost/backend/coord"
	"github.com/outpost-panel/outpost/backend/feed"
	"github.com/outpost-panel/outpost/backend/hub"
	"github.com/outpost-panel/outpost/backend/jobs"
	"github.com/outpost-panel/outpost/backend/metrics"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
	"github.com/outpost-panel/outpost/backend/webhook"
	"github.com/outpost-panel/outpost/nodes/agent"
	"github.com/outpost-panel/outpost/web"
)

// LocalNodeName is the node record of the built-in node.
const LocalNodeName = "local"

// usageFoldEvery is how often the usage journal is folded into the hourly
// per-user usage. A node batch every few seconds makes a fold carry several
// batches of the same users, which it merges into one upsert per user.
const usageFoldEvery = 15 * time.Second

// Run serves the panel until ctx ends. banner receives the start-up lines
// meant for a human (dashboard URL, first admin login).
func Run(ctx context.Context, cfg config.Config, log *slog.Logger, banner io.Writer) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating data dir: %w", err)
	}
	var (
		fd       feed.Feed
		signals  feed.Signals
		locker   coord.Locker
		limiter  coord.RateLimiter
		presence coord.Presence
	)
	if cfg.RedisURL != "" {
		opt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return fmt.Errorf("REDIS_URL: %w", err)
		}
		opt.ContextTimeoutEnabled = true
		rdb := redis.NewClient(opt)
		defer rdb.Close()
		rf := feed.NewRedis(rdb, "outpost", 100000)
		rc := coord.NewRedis(rdb, "outpost")
		fd, signals, locker, limiter, presence = rf, rf, rc, rc, rc
	} else {
		mf := feed.NewMemory(100000)
		mc := coord.NewMemory(time.Now)
		fd, signals, locker, limiter, presence = mf, mf, mc, mc, mc
	}
	defer fd.Close()

	s, err := state.Open(ctx, cfg.DatabaseURL, cfg.DataDir, fd, log, nil)
	if err != nil {
		return fmt.Errorf("opening database: %w", err)
	}
	defer s.Close()
	s.SetDBMaxConns(cfg.DBMaxConns)
	boot, err := s.Bootstrap(ctx, cfg.SudoUsername != "")
	if err != nil {
		return err
	}
	if err := s.Pump(ctx); err != nil {
		log.Warn("initial feed pump", "err", err)
	}

	host, _ := os.Hostname()
	replica := fmt.Sprintf("%s-%d", host, os.Getpid())
	h := hub.New(s, log.With("component", "hub"), hub.Options{
		PingInterval: cfg.PingInterval, UsageInterval: cfg.UsageInterval, SnapshotWriters: cfg.SnapshotWriters, Replica: replica, Signals: signals, Presence: presence,
	})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hubErr := make(chan error, 1)
	go func() { hubErr <- h.Run(ctx) }()
	if cfg.MetricsListen != "" {
		if err := metrics.RegisterHub(h); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		for name, db := range s.DBPools() {
			if err := metrics.RegisterDB(name, db); err != nil {
				return fmt.Errorf("metrics: %w", err)
			}
		}
		if err := metrics.RegisterAlerts(func(ctx context.Context) (map[string]int, error) {
			rows, err := s.Alerts(ctx)
			return alerts.ActiveCounts(rows), err
		}); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		addr, err := metrics.Listen(ctx, cfg.MetricsListen)
		if err != nil {
			return err
		}
		log.Info("serving metrics", "url", "http://"+addr+"/metrics")
	}
	go s.RunPump(ctx, time.Second)
	s.SetWebhookAddresses(cfg.WebhookAddresses)
	var chats []string
	if cfg.DiscordWebhookURL != "" {
		chats = append(chats, state.DiscordTarget(cfg.DiscordWebhookURL))
	}
	for _, id := range append(append([]int64(nil), cfg.TelegramAdminIDs...), cfg.TelegramChannelID) {
		if id != 0 {
			chats = append(chats, state.TelegramTarget(id))
		}
	}
	s.SetChatNotifications(chats, cfg.TelegramToken != "")
	cert, err := loadTLS(cfg)
	if err != nil {
		return err
	}
	lifecycle := jobs.Lifecycle(s, cfg.ReviewInterval)
	// Fleet alerts are evaluated by the jobs leader only, so two replicas
	// never both send one; their state is in the database, so a new leader
	// does not send again what fired.
	evaluator := alerts.New(s, h, alerts.Options{PanelCert: leafOf(cert), Log: log.With("component", "alerts")})
	lifecycle = append(lifecycle, evaluator.Job(cfg.AlertInterval))
	// Hourly per-user usage waits in the usage journal until folded (see
	// state.FoldUsage); readers of it fold first, so this only keeps the
	// journal short.
	lifecycle = append(lifecycle, jobs.Job{Name: "fold-usage", Every: usageFoldEvery, Run: s.FoldUsage})
	lifecycle = append(lifecycle, jobs.Job{Name: "prune-user-tombstones", Every: time.Hour, Run: s.PruneUserTombstones})
	lifecycle = append(lifecycle, jobs.AuditPrune(s, time.Duration(cfg.AuditRetentionDays)*24*time.Hour))
	// Nodes report who is online from where with each usage batch.
	lifecycle = append(lifecycle, jobs.IPLimit(s, cfg.UsageInterval)...)
	// Events may go to webhooks, the configured chats, or any admin's own
	// Discord webhook or Telegram chat (set through the API at any time),
	// so the reminders and the dispatcher always run; with no target at
	// all nothing is enqueued and each pass is one small query.
	lifecycle = append(lifecycle, webhook.ReminderJob(s, cfg.NotifyPercent, cfg.NotifyDaysLeft))
	// Every replica may dispatch: rows are claimed with a lease.
	go webhook.New(s, webhook.Options{
		Secret: cfg.WebhookSecret, MaxAttempts: cfg.WebhookRetries + 1,
		BaseBackoff: cfg.WebhookRetryInterval, MaxBackoff: cfg.WebhookRetryInterval,
		TelegramToken: cfg.TelegramToken, TelegramAPI: cfg.TelegramAPIURL,
		Log: log.With("component", "webhook"),
	}).Run(ctx)
	sched, err := jobs.New(jobs.Options{Locker: locker, Owner: replica, Log: log.With("component", "jobs")},
		lifecycle...)
	if err != nil {
		return err
	}
	go sched.Run(ctx)
	var backups *backup.Scheduler
	if cfg.BackupDir != "" {
		// Backups elect their own replica (a lease of their own), so a
		// long backup never holds up the lifecycle jobs.
		backups = backup.NewScheduler(s, backup.ScheduleOptions{
			Dir: cfg.BackupDir, Every: cfg.BackupEvery, Keep: cfg.BackupKeep, Passphrase: cfg.BackupPassphrase,
			DataDir: cfg.DataDir, TelegramToken: cfg.TelegramToken, TelegramAPI: cfg.TelegramAPIURL,
			SendFile: cfg.BackupTelegram, TelegramChats: cfg.TelegramAdminIDs, Log: log.With("component", "backup"),
		})
		bsched, err := jobs.New(jobs.Options{Locker: locker, Owner: replica, Lease: backup.Lease,
			LeaseTTL: 10 * time.Minute, Log: log.With("component", "backup")}, backups.Job())
		if err != nil {
			return err
		}
		go bsched.Run(ctx)
	}

	dashboard, err := fs.Sub(web.Dist, "dist")
	if err != nil {
		return fmt.Errorf("embedded dashboard: %w", err)
	}
	subs := state.NewSubscriptions(s, log.With("component", "subscriptions"))
	subs.CacheLookups(state.DefaultLookupTTL)
	subsDone := make(chan struct{})
	go func() { defer close(subsDone); subs.Run(ctx, 5*time.Second) }()
	// The last batch of subscription fetch times is written on shutdown,
	// before the store closes.
	defer func() { cancel(); <-subsDone }()

	var chain [][]byte
	if cert != nil {
		chain = cert.Certificate
	}
	srv := api.New(api.Options{
		State: s, Secrets: boot.Secrets, Log: log.With("component", "api"),
		EnvSudoUser: cfg.SudoUsername, EnvSudoPassword: cfg.SudoPassword,
		PublicURL: cfg.PublicURL, TokenTTL: cfg.TokenTTL, RateLimiter: limiter,
		TrustedProxies: cfg.TrustedProxies,
		Hub:            h, Dashboard: dashboard,
		Subscriptions: subs, TemplatesDir: filepath.Join(cfg.DataDir, "templates"),
		TLSChain: chain, CustomJSONEnv: cfg.CustomJSON,
		Backups: backups, BackupPassphrase: cfg.BackupPassphrase, DataDir: cfg.DataDir,
	})
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	if cert != nil {
		ln = tlsListener(ln, cert)
	}
	nln := newNotifyListener(ln)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Listener(nln) }()

	baseURL := localURL(ln.Addr().String(), cfg.TLSCert != "")
	printBanner(banner, cfg, baseURL, boot)

	if cfg.LocalNode {
		go func() {
			if err := runLocalNode(ctx, s, h, cfg, baseURL, api.CertificatePin(chain), log); err != nil && ctx.Err() == nil {
				log.Error("local node", "err", err)
			}
		}()
	}

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	case err := <-hubErr:
		if err != nil {
			return fmt.Errorf("node hub: %w", err)
		}
	}
	drain(s, h, srv, nln, log)
	return nil
}

func localURL(addr string, tls bool) string {
	host, port, _ := net.SplitHostPort(addr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

func printBanner(w io.Writer, cfg config.Config, baseURL string, boot state.BootstrapResult) {
	if w == nil {
		return
	}
	fmt.Fprintf(w, "\nOutpost panel is running.\n  Dashboard: %s/dashboard/\n", baseURL)
	credFile := filepath.Join(cfg.DataDir, "admin-credentials.txt")
	switch {
	case cfg.SudoUsername != "":
		fmt.Fprintf(w, "  Login:     %s (password from SUDO_PASSWORD)\n", cfg.SudoUsername)
	case boot.CreatedAdmin != "":
		line := fmt.Sprintf("username: %s\npassword: %s\n", boot.CreatedAdmin, boot.CreatedPassword)
		_ = os.WriteFile(credFile, []byte(line), 0o600)
		fmt.Fprintf(w, "  Login:     %s / %s   (saved in %s)\n", boot.CreatedAdmin, boot.CreatedPassword, credFile)
	default:
		// The generated password is printed by the start that creates it,
		// never again: start-up output ends up in journals and CI logs.
		if _, err := os.Stat(credFile); err == nil {
			fmt.Fprintf(w, "  Login:     an existing admin (the first start's generated login is in %s)\n", credFile)
		} else {
			fmt.Fprintf(w, "  Login:     an existing admin of this database\n")
		}
	}
	fmt.Fprintln(w)
}

// runLocalNode runs a node agent inside the panel process, dialing the
// panel over loopback like any remote node, with state in the data dir. pin
// is the SHA-256 of the panel's own certificate (empty without TLS), so the
// node trusts exactly this panel even when the certificate is self-signed.
func runLocalNode(ctx context.Context, s *state.State, h *hub.Hub, cfg config.Config, baseURL, pin string, log *slog.Logger) error {
	n, err := s.NodeByName(ctx, LocalNodeName)
	var token string
	switch {
	case errors.Is(err, model.ErrNotFound):
		n = &model.Node{Name: LocalNodeName, Address: "127.0.0.1", UsageCoefficient: 1}
		if token, err = s.CreateNode(ctx, n); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		// The token is shown only once; the local node gets a fresh one each start.
		if token, err = s.RotateNodeToken(ctx, n.ID); err != nil {
			return err
		}
		h.Disconnect(n.ID)
	}
	a, err := agent.New(agent.Config{
		PanelURL: baseURL, Token: token, StateDir: filepath.Join(cfg.DataDir, "local-node"),
		Log:             log.With("component", "local-node"),
		PanelCertSHA256: pin,
	})
	if err != nil {
		return err
	}
	return a.Run(ctx)
}
