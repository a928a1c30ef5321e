// Command node runs the Outpost node agent: Xray-core embedded, started from
// the last-known-good state on disk, kept in sync with the panel while it is
// reachable and serving on its own while it is not.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/outpost-panel/outpost/nodes/agent"
)

func main() {
	cfg, err := parse(os.Args[1:], os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "node: configuration:", err)
		os.Exit(2)
	}
	level := slog.LevelInfo
	if os.Getenv("NODE_DEBUG") != "" {
		level = slog.LevelDebug
	}
	cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	a, err := agent.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := a.Run(ctx); err != nil {
		cfg.Log.Error("node stopped", "err", err)
		os.Exit(1)
	}
}

func parse(args []string, getenv func(string) string) (agent.Config, error) {
	var c agent.Config
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	dur := func(name string, def time.Duration) time.Duration {
		if d, err := time.ParseDuration(getenv(name)); err == nil {
			return d
		}
		return def
	}
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.StringVar(&c.PanelURL, "panel", env("NODE_PANEL_URL", ""), "panel base URL, http(s)://host:port (NODE_PANEL_URL)")
	fs.StringVar(&c.Token, "token", env("NODE_TOKEN", ""), "node token from POST /api/node (NODE_TOKEN)")
	fs.StringVar(&c.StateDir, "state-dir", env("NODE_STATE_DIR", "./node-state"), "directory for last-known-good state and the usage journal (NODE_STATE_DIR)")
	fs.StringVar(&c.StatusListen, "status-listen", env("NODE_STATUS_LISTEN", ""), "optional address for GET /healthz (NODE_STATUS_LISTEN)")
	fs.StringVar(&c.PanelCertSHA256, "panel-cert-sha256", env("NODE_PANEL_CERT_SHA256", ""), "pin the panel's TLS certificate by SHA-256 (NODE_PANEL_CERT_SHA256)")
	fs.DurationVar(&c.UsageInterval, "usage-interval", dur("NODE_USAGE_INTERVAL", agent.DefaultUsageInterval), "how often traffic counters are journaled, at most what a kill -9 loses; the panel's interval wins when shorter (NODE_USAGE_INTERVAL)")
	fs.DurationVar(&c.MaxBackoff, "max-backoff", dur("NODE_MAX_BACKOFF", 30*time.Second), "longest wait between reconnect attempts (NODE_MAX_BACKOFF)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	return c, c.Validate()
}
