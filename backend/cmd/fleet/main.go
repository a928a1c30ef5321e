// Command fleet is `make bench-fleet`: it seeds a SQLite panel with users
// and nodes, starts the panel binary, runs a fleet of simulated node agents
// (backend/internal/fleet) against it and prints the figures of
// docs/benchmarks.md: cold start to all acked, change-to-every-ack latency
// under a steady rate of user changes, a kill -9 and restart (time back at
// the current revision, snapshots sent), sessions closed by the panel, and
// the panel's memory.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/outpost-panel/outpost/backend/internal/fleet"
)

const (
	sudoUser = "bench_admin"
	sudoPass = "bench-password-not-secret"
)

type options struct {
	panelBin      string
	nodes, users  int
	rate          int
	changeFor     time.Duration
	verifyEvery   int
	usageEvery    time.Duration
	pingInterval  time.Duration
	workDir       string
	keep          bool
	convergeLimit time.Duration
	seedOnly      bool
	mix           bool
	compress      bool
	writers       int
}

func main() {
	var o options
	flag.StringVar(&o.panelBin, "panel-bin", "bin/panel", "panel binary to start")
	flag.IntVar(&o.nodes, "nodes", 1000, "simulated node agents")
	flag.IntVar(&o.users, "users", 100000, "users to seed")
	flag.IntVar(&o.rate, "rate", 100, "user changes per second in the change phase")
	flag.DurationVar(&o.changeFor, "change-for", 60*time.Second, "length of the change phase")
	flag.IntVar(&o.verifyEvery, "verify-every", 100, "every n-th agent recomputes the state hash from every user")
	flag.DurationVar(&o.usageEvery, "usage-every", 10*time.Second, "how often each agent journals traffic")
	flag.DurationVar(&o.pingInterval, "ping-interval", 10*time.Second, "the panel's --ping-interval")
	flag.StringVar(&o.workDir, "work-dir", "", "directory for the panel's data and log (default: a new temp dir)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work dir")
	flag.DurationVar(&o.convergeLimit, "converge-limit", 5*time.Minute, "give up waiting for the fleet after this long")
	flag.BoolVar(&o.seedOnly, "seed-only", false, "only seed --users and --nodes into --work-dir/data (kept), print a JSON summary and exit")
	flag.BoolVar(&o.mix, "mix", false, "with --seed-only: vary the users as the dashboard benchmark needs (statuses, expiries, limits, notes)")
	flag.BoolVar(&o.compress, "compress", true, "agents ask for permessage-deflate, as the real agent does")
	flag.IntVar(&o.writers, "snapshot-writers", 8, "the panel's --snapshot-writers")
	flag.Parse()
	runIt := run
	if o.seedOnly {
		runIt = seedOnly
	}
	if err := runIt(o); err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
}

type panelProc struct {
	cmd         *exec.Cmd
	addr        string
	metricsAddr string
	exited      chan struct{}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func startPanel(o options, dataDir, addr, metricsAddr string, logFile io.Writer) (*panelProc, error) {
	cmd := exec.Command(o.panelBin, "--listen", addr, "--data-dir", dataDir, "--metrics-listen", metricsAddr,
		"--ping-interval", o.pingInterval.String(), "--snapshot-writers", fmt.Sprint(o.writers))
	cmd.Env = append(os.Environ(), "SUDO_USERNAME="+sudoUser, "SUDO_PASSWORD="+sudoPass)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The panel dies with the benchmark, even when the benchmark is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &panelProc{cmd: cmd, addr: addr, metricsAddr: metricsAddr, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p, nil
			}
		}
		select {
		case <-p.exited:
			return nil, errors.New("panel exited during start-up (see its log)")
		default:
		}
		if time.Now().After(deadline) {
			p.kill()
			return nil, errors.New("panel did not answer /healthz within 2 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *panelProc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// peakRSS is the process's VmHWM in bytes.
func (p *panelProc) peakRSS() int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// metric reads one unlabelled sample (or the sum of a family's samples
// whose label set contains match) from the panel's /metrics.
func (p *panelProc) metric(name, match string) (float64, error) {
	// A panel too busy to answer must not hang the benchmark.
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + p.metricsAddr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var total float64
	found := false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		if match != "" && !strings.Contains(line, match) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			total += v
			found = true
		}
	}
	if !found {
		return 0, fmt.Errorf("no %s%s in /metrics", name, match)
	}
	return total, sc.Err()
}

// waitConverged waits until every agent is connected, holds one hash, and
// is at the hub's revision.
func waitConverged(fl *fleet.Fleet, p *panelProc, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		head, err := p.metric("outpost_hub_revision", "")
		if err == nil {
			hashes, lowest, _, offline := fl.Agreement()
			if offline == 0 && len(hashes) == 1 && lowest == int64(head) {
				return time.Since(start), nil
			}
		}
		if time.Since(start) > limit {
			hashes, lowest, highest, offline := fl.Agreement()
			return 0, fmt.Errorf("not converged after %s: %d offline, revisions %d..%d, hub %v, %d hashes; %+v",
				limit, offline, lowest, highest, head, len(hashes), fl.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type apiClient struct {
	base  string
	token string
	c     *http.Client
}

func login(base string) (*apiClient, error) {
	resp, err := http.PostForm(base+"/api/admin/token", url.Values{"username": {sudoUser}, "password": {sudoPass}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		return nil, fmt.Errorf("login: HTTP %d %v", resp.StatusCode, err)
	}
	return &apiClient{base: base, token: out.AccessToken, c: &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second,
	}}, nil
}

func (a *apiClient) modify(username string, dataLimit int64) error {
	body := fmt.Sprintf(`{"data_limit":%d}`, dataLimit)
	req, _ := http.NewRequest("PUT", a.base+"/api/user/"+username, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("PUT /api/user/%s: HTTP %d", username, resp.StatusCode)
	}
	return nil
}

// changeTracker pairs each change's API answer with the acks of every
// agent that got it in a delta, by username.
type changeTracker struct {
	mu       sync.Mutex
	nodes    int
	answered map[string]time.Time
	acks     map[string]int
	lastAck  map[string]time.Time
}

func (c *changeTracker) observe(_ int, _ int64, upserts []string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, email := range upserts {
		_, name, _ := strings.Cut(email, ".")
		c.acks[name]++
		if at.After(c.lastAck[name]) {
			c.lastAck[name] = at
		}
	}
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func run(o options) error {
	ctx := context.Background()
	if o.workDir == "" {
		dir, err := os.MkdirTemp("", "outpost-bench-fleet-")
		if err != nil {
			return err
		}
		o.workDir = dir
	}
	if !o.keep {
		defer os.RemoveAll(o.workDir)
	}
	if err := os.MkdirAll(o.workDir, 0o700); err != nil {
		return err
	}
	dataDir := filepath.Join(o.workDir, "data")
	logPath := filepath.Join(o.workDir, "panel.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	say := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }

	say("seeding %d users and %d nodes into %s", o.users, o.nodes, dataDir)
	t0 := time.Now()
	seeded, err := fleet.Seed(ctx, "", dataDir, sudoUser, o.users, o.nodes, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	say("seeded in %s", time.Since(t0).Round(time.Millisecond))

	addr, err := freeAddr()
	if err != nil {
		return err
	}
	metricsAddr, err := freeAddr()
	if err != nil {
		return err
	}
	p, err := startPanel(o, dataDir, addr, metricsAddr, logFile)
	if err != nil {
		return err
	}
	defer func() { p.kill() }()
	base := "http://" + addr
	api, err := login(base)
	if err != nil {
		return err
	}

	tracker := &changeTracker{nodes: o.nodes, answered: map[string]time.Time{}, acks: map[string]int{}, lastAck: map[string]time.Time{}}
	fl, err := fleet.New(fleet.Config{
		PanelURLs: []string{base}, Tokens: seeded.Tokens, VerifyEvery: o.verifyEvery,
		UsageEvery: o.usageEvery, UsageEmails: seeded.Emails[:min(len(seeded.Emails), 100)],
		MinBackoff: 500 * time.Millisecond, MaxBackoff: 30 * time.Second,
		Observer: tracker.observe, NoCompression: !o.compress,
	})
	if err != nil {
		return err
	}

	// 1. Cold start: every agent empty, all dialing within a second.
	say("cold start: %d agents with empty state", o.nodes)
	start := time.Now()
	fl.Start(ctx, time.Second)
	defer fl.Stop()
	if _, err := waitConverged(fl, p, o.convergeLimit); err != nil {
		return fmt.Errorf("cold start: %w", err)
	}
	cold := time.Since(start)
	rssCold := p.peakRSS()
	say("  all acked in %s; panel peak RSS %d MiB; %+v", cold.Round(time.Millisecond), rssCold>>20, fl.Stats())

	// 2. Changes at o.rate per second, each a different user, so a user's
	// name in a delta says which change it carries.
	total := o.rate * int(o.changeFor/time.Second)
	say("changes: %d/s for %s (%d changes)", o.rate, o.changeFor, total)
	firstUser := min(len(seeded.Emails), 100) + 1 // not the usage users
	if firstUser+total > o.users {
		return fmt.Errorf("%d users are too few for %d changes", o.users, total)
	}
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var changeErrs []error
	tick := time.NewTicker(time.Second / time.Duration(o.rate))
	sem := make(chan struct{}, 32)
	phase := time.Now()
	for i := 0; i < total; i++ {
		<-tick.C
		name := fleet.UserName(firstUser + i)
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := api.modify(name, int64(1<<30)+int64(i))
			answered := time.Now()
			errMu.Lock()
			if err != nil {
				changeErrs = append(changeErrs, err)
			}
			errMu.Unlock()
			tracker.mu.Lock()
			tracker.answered[name] = answered
			tracker.mu.Unlock()
		}()
	}
	tick.Stop()
	wg.Wait()
	sent := time.Since(phase)
	if _, err := waitConverged(fl, p, o.convergeLimit); err != nil {
		return fmt.Errorf("after changes: %w", err)
	}
	var lat []time.Duration
	incomplete := 0
	tracker.mu.Lock()
	for name, answered := range tracker.answered {
		if tracker.acks[name] < o.nodes {
			incomplete++ // some agent got this change inside a snapshot
			continue
		}
		lat = append(lat, max(0, tracker.lastAck[name].Sub(answered)))
	}
	tracker.mu.Unlock()
	say("  sent in %s, %d API errors; API answer to every node's ack: p50 %s p99 %s max %s (%d changes; %d not acked by every node through a delta)",
		sent.Round(time.Millisecond), len(changeErrs), percentile(lat, 50).Round(time.Millisecond),
		percentile(lat, 99).Round(time.Millisecond), percentile(lat, 100).Round(time.Millisecond), len(lat), incomplete)
	if len(changeErrs) > 0 {
		say("  first API error: %v", changeErrs[0])
	}
	rssChanges := p.peakRSS()
	before := fl.Stats()
	closedBefore, _ := p.metric("outpost_node_sessions_closed_total", `by="panel"`)

	// 3. kill -9 and restart.
	say("kill -9 and restart")
	p.kill()
	restart := time.Now()
	p, err = startPanel(o, dataDir, addr, metricsAddr, logFile)
	if err != nil {
		return err
	}
	back, err := waitConverged(fl, p, o.convergeLimit)
	if err != nil {
		return fmt.Errorf("after restart: %w", err)
	}
	back = time.Since(restart)
	after := fl.Stats()
	closedAfter, _ := p.metric("outpost_node_sessions_closed_total", `by="panel"`)
	snapsSent, _ := p.metric("outpost_node_snapshots_sent_total", "")
	say("  all back at the current revision %s after the restart began; snapshots %d (panel counts %v); panel peak RSS %d MiB",
		back.Round(time.Millisecond), after.Snapshots-before.Snapshots, snapsSent, p.peakRSS()>>20)

	say("\nresults (%d nodes, %d users, SQLite, one panel)", o.nodes, o.users)
	say("| | target | measured |")
	say("|---|---|---|")
	say("| cold start to all acked | < 60 s | %s |", cold.Round(100*time.Millisecond))
	say("| change to every node's ack, p99 (%d/s for %s) | < 1 s | %s (p50 %s, max %s) |", o.rate, o.changeFor,
		percentile(lat, 99).Round(time.Millisecond), percentile(lat, 50).Round(time.Millisecond), percentile(lat, 100).Round(time.Millisecond))
	say("| kill -9 + restart: all at the current revision | < 30 s | %s |", back.Round(100*time.Millisecond))
	say("| snapshots after the restart | 0 | %d |", after.Snapshots-before.Snapshots)
	say("| sessions closed by the panel | 0 | %d (fleet: %d before the kill, %d in all; panel metric: %v before the kill, %v after the restart) |",
		after.ClosedByPanel, before.ClosedByPanel, after.ClosedByPanel, closedBefore, closedAfter)
	say("| panel peak RSS | < 1 GB | %d MiB (cold start), %d MiB (through the changes), %d MiB (restarted panel) |",
		rssCold>>20, rssChanges>>20, p.peakRSS()>>20)
	if after.ClosedByPanel > 0 {
		say("last session the panel closed: %s", after.LastCloseText)
	}
	say("panel log: %s", logPath)
	return nil
}
