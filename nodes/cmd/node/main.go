// Command node runs the Outpost node agent: Xray-core embedded, started from
// the last-known-good state on disk, kept in sync with the panel while it is
// reachable and serving on its own while it is not.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/outpost-panel/outpost/nodes/agent"
	"github.com/outpost-panel/outpost/nodes/metrics"
)

func main() {
	cfg, err := parse(os.Args[1:], os.Getenv, os.Stderr)
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
	if cfg.MetricsListen != "" {
		addr, err := metrics.Listen(ctx, cfg.MetricsListen, a.Health)
		if err != nil {
			fmt.Fprintln(os.Stderr, "node:", err)
			os.Exit(1)
		}
		cfg.Log.Info("serving metrics", "url", "http://"+addr+"/metrics")
	}
	if err := a.Run(ctx); err != nil {
		cfg.Log.Error("node stopped", "err", err)
		os.Exit(1)
	}
}

// parse reads the flags and their environment variables (a flag wins over
// its variable) and reports every problem at once, as the panel does: a bad
// value in a flag or a variable is an error, never a silent default.
func parse(args []string, getenv func(string) string, stderr io.Writer) (agent.Config, error) {
	var c agent.Config
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	// Bad values by the flag they feed. A bad flag value is recorded
	// rather than returned, so Parse goes on and finds the others.
	flagErrs, envErrs := map[string]error{}, map[string]error{}
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	duration := func(p *time.Duration, flagName, envName string, def time.Duration, usage string) {
		*p = def
		if v := getenv(envName); v != "" {
			if d, err := positiveDuration(v); err != nil {
				envErrs[flagName] = fmt.Errorf("%s=%q: %w", envName, v, err)
			} else {
				*p = d
			}
		}
		fs.Var(durationFlag{p: p, name: flagName, errs: flagErrs}, flagName, usage+" ("+envName+")")
	}
	c.PanelURLs = splitList(getenv("NODE_PANEL_URL"))
	fs.Var(&panelsFlag{p: &c.PanelURLs}, "panel", "panel base URL, http(s)://host:port; repeat it or separate with commas for several replicas, tried in turn (NODE_PANEL_URL, comma separated)")
	fs.StringVar(&c.Token, "token", env("NODE_TOKEN", ""), "node token from POST /api/node (NODE_TOKEN)")
	fs.StringVar(&c.StateDir, "state-dir", env("NODE_STATE_DIR", "./node-state"), "directory for last-known-good state and the usage journal (NODE_STATE_DIR)")
	fs.StringVar(&c.StatusListen, "status-listen", env("NODE_STATUS_LISTEN", ""), "optional address for GET /healthz (NODE_STATUS_LISTEN)")
	fs.StringVar(&c.MetricsListen, "metrics-listen", env("NODE_METRICS_LISTEN", ""), "optional address for Prometheus metrics, GET /metrics (NODE_METRICS_LISTEN)")
	fs.StringVar(&c.PanelCertSHA256, "panel-cert-sha256", env("NODE_PANEL_CERT_SHA256", ""), "pin the panel's TLS certificate by SHA-256 (NODE_PANEL_CERT_SHA256)")
	duration(&c.UsageInterval, "usage-interval", "NODE_USAGE_INTERVAL", agent.DefaultUsageInterval, "how often traffic counters are journaled, at most what a kill -9 loses; the panel's interval wins when shorter")
	duration(&c.MaxBackoff, "max-backoff", "NODE_MAX_BACKOFF", 30*time.Second, "longest wait between reconnect attempts")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	fs.Visit(func(f *flag.Flag) { delete(envErrs, f.Name) })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) { // flag order: a stable report
		if err, ok := flagErrs[f.Name]; ok {
			errs = append(errs, err)
		}
		if err, ok := envErrs[f.Name]; ok {
			errs = append(errs, err)
		}
	})
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " ")))
	}
	return c, errors.Join(append(errs, c.Validate())...)
}

// splitList reads a comma separated list, dropping blanks.
func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// panelsFlag is --panel: repeated or comma separated, in order. The first
// use on the command line replaces what NODE_PANEL_URL said.
type panelsFlag struct {
	p   *[]string
	set bool
}

func (f *panelsFlag) String() string {
	if f.p == nil {
		return ""
	}
	return strings.Join(*f.p, ",")
}

func (f *panelsFlag) Set(v string) error {
	if !f.set {
		*f.p, f.set = nil, true
	}
	*f.p = append(*f.p, splitList(v)...)
	return nil
}

func positiveDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, errors.New("not a positive duration like 10s")
	}
	return d, nil
}

// durationFlag is a duration flag that records a bad value in errs
// instead of stopping the parse at it.
type durationFlag struct {
	p    *time.Duration
	name string
	errs map[string]error
}

func (f durationFlag) String() string {
	if f.p == nil {
		return ""
	}
	return f.p.String()
}

func (f durationFlag) Set(v string) error {
	d, err := positiveDuration(v)
	if err != nil {
		f.errs[f.name] = fmt.Errorf("--%s=%q: %w", f.name, v, err)
		return nil
	}
	delete(f.errs, f.name)
	*f.p = d
	return nil
}
