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
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/outpost-panel/outpost/backend/internal/fleet"
	"github.com/outpost-panel/outpost/backend/internal/testenv"
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
	replicas      int
	engine        string
	rotate        bool
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
	flag.BoolVar(&o.rotate, "rotate", true, "with replicas, every agent knows all their addresses (a node's --panel A,B) and the run kills one replica alone before all")
	flag.IntVar(&o.writers, "snapshot-writers", 8, "the panel's --snapshot-writers")
	flag.IntVar(&o.replicas, "replicas", 1, "panel replicas; more than one needs --engine postgres (and a Redis, started here)")
	flag.StringVar(&o.engine, "engine", "sqlite", "sqlite, or postgres: DATABASE_URL's server, else a temporary cluster from the machine's PostgreSQL binaries, with a redis-server on a free port")
	flag.Parse()
	if o.engine != "sqlite" && o.engine != "postgres" {
		fmt.Fprintln(os.Stderr, "fleet: --engine is sqlite or postgres")
		os.Exit(2)
	}
	if o.replicas < 1 || o.replicas > 8 || (o.replicas > 1 && o.engine != "postgres") {
		fmt.Fprintln(os.Stderr, "fleet: --replicas is 1 to 8, and more than 1 needs --engine postgres")
		os.Exit(2)
	}
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

func startPanel(o options, dataDir, addr, metricsAddr string, env []string, logFile io.Writer) (*panelProc, error) {
	cmd := exec.Command(o.panelBin, "--listen", addr, "--data-dir", dataDir, "--metrics-listen", metricsAddr,
		"--ping-interval", o.pingInterval.String(), "--snapshot-writers", fmt.Sprint(o.writers))
	cmd.Env = append(append(os.Environ(), "SUDO_USERNAME="+sudoUser, "SUDO_PASSWORD="+sudoPass), env...)
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

// waitConverged waits until every agent is connected, all hold one hash,
// and each is at (or past) the revision of its own replica's hub. Replicas
// may name one state with two revisions: a revision a replica's start takes
// carries no change for nodes, so it reaches no feed and the other
// replica's hub, and its agents, stay at the one before. The hash says
// they agree.
func waitConverged(fl *fleet.Fleet, ps []*panelProc, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	agents := fl.Agents()
	for {
		heads, err := hubHeads(ps)
		if err == nil {
			hashes, _, _, offline := fl.Agreement()
			behind := 0
			// Each agent against the hub of the replica it is on (with
			// rotation, any of them): replicas may name one state with two
			// revisions (a revision a replica's start takes carries no change
			// for nodes), so the one hash says they agree.
			for _, a := range agents {
				st := a.State()
				if p := st.Panel % len(ps); ps[p] == nil || st.Revision < heads[p] {
					behind++ // on a replica that is down, or behind its hub
				}
			}
			if offline == 0 && len(hashes) == 1 && behind == 0 {
				return time.Since(start), nil
			}
		}
		if time.Since(start) > limit {
			hashes, lowest, highest, offline := fl.Agreement()
			return 0, fmt.Errorf("not converged after %s: %d offline, revisions %d..%d, hubs %v (%v), %d hashes; %+v",
				limit, offline, lowest, highest, heads, err, len(hashes), fl.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hubHeads is each replica's hub revision (0 for one that is down: nil).
func hubHeads(ps []*panelProc) ([]int64, error) {
	heads := make([]int64, len(ps))
	for i, p := range ps {
		if p == nil {
			continue
		}
		v, err := p.metric("outpost_hub_revision", "")
		if err != nil {
			return nil, err
		}
		heads[i] = int64(v)
	}
	return heads, nil
}

// sumMetric adds a metric over the replicas; ok is false if one did not answer.
func sumMetric(ps []*panelProc, name, match string) (total float64, ok bool) {
	ok = true
	for _, p := range ps {
		v, err := p.metric(name, match)
		if err != nil {
			ok = false
		}
		total += v
	}
	return total, ok
}

// maxRSS is the highest peak RSS of the replicas (the target is per replica).
func maxRSS(ps []*panelProc) int64 {
	var m int64
	for _, p := range ps {
		m = max(m, p.peakRSS())
	}
	return m
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

// replicaSet is the panel processes of a run: one on SQLite, or several
// sharing PostgreSQL and Redis, each with a data dir, address and log of
// its own (as on hosts of their own).
type replicaSet struct {
	o        options
	env      []string
	dataDirs []string
	addrs    []string
	metrics  []string
	logs     []*os.File
	procs    []*panelProc
}

func (r *replicaSet) start(i int) error {
	p, err := startPanel(r.o, r.dataDirs[i], r.addrs[i], r.metrics[i], r.env, r.logs[i])
	if err != nil {
		return fmt.Errorf("replica %d: %w", i, err)
	}
	r.procs[i] = p
	return nil
}

// startAll starts every replica at once and waits for all.
func (r *replicaSet) startAll() error {
	errs := make([]error, len(r.procs))
	var wg sync.WaitGroup
	for i := range r.procs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = r.start(i) }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (r *replicaSet) killAll() {
	for _, p := range r.procs {
		if p != nil {
			p.kill()
		}
	}
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

	rs := &replicaSet{o: o, procs: make([]*panelProc, o.replicas)}
	dsn := ""
	engine := "SQLite, one panel"
	if o.engine == "postgres" {
		var stopPG, stopRedis func()
		var err error
		if dsn, stopPG, err = testenv.PostgresForTool(); err != nil {
			return fmt.Errorf("PostgreSQL: %w", err)
		}
		defer stopPG()
		redisDir := filepath.Join(o.workDir, "redis")
		if err := os.MkdirAll(redisDir, 0o700); err != nil {
			return err
		}
		redisURL := ""
		if redisURL, stopRedis, err = testenv.RedisForTool(redisDir); err != nil {
			return fmt.Errorf("Redis: %w", err)
		}
		defer stopRedis()
		rs.env = []string{"DATABASE_URL=" + dsn, "REDIS_URL=" + redisURL}
		engine = fmt.Sprintf("PostgreSQL + Redis, %d replica(s)", o.replicas)
		say("PostgreSQL %s, Redis %s", redactDSN(dsn), redisURL)
	}
	for i := range o.replicas {
		name := "data"
		logName := "panel.log"
		if o.replicas > 1 {
			name = fmt.Sprintf("data-%c", 'A'+i)
			logName = fmt.Sprintf("panel-%c.log", 'A'+i)
		}
		f, err := os.Create(filepath.Join(o.workDir, logName))
		if err != nil {
			return err
		}
		defer f.Close()
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		metricsAddr, err := freeAddr()
		if err != nil {
			return err
		}
		rs.dataDirs = append(rs.dataDirs, filepath.Join(o.workDir, name))
		rs.addrs = append(rs.addrs, addr)
		rs.metrics = append(rs.metrics, metricsAddr)
		rs.logs = append(rs.logs, f)
	}

	say("seeding %d users and %d nodes (%s)", o.users, o.nodes, engine)
	t0 := time.Now()
	seeded, err := fleet.Seed(ctx, dsn, rs.dataDirs[0], sudoUser, o.users, o.nodes, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	say("seeded in %s", time.Since(t0).Round(time.Millisecond))

	if err := rs.startAll(); err != nil {
		rs.killAll()
		return err
	}
	defer func() { rs.killAll() }()
	var apis []*apiClient
	var bases []string
	for _, addr := range rs.addrs {
		base := "http://" + addr
		api, err := login(base)
		if err != nil {
			return err
		}
		apis = append(apis, api)
		bases = append(bases, base)
	}
	for i := range rs.procs {
		say("replica %c: %s, metrics and pprof on %s", 'A'+i, rs.addrs[i], rs.metrics[i])
	}

	tracker := &changeTracker{nodes: o.nodes, answered: map[string]time.Time{}, acks: map[string]int{}, lastAck: map[string]time.Time{}}
	// Agent i dials replica i mod n: the fleet is split evenly.
	fl, err := fleet.New(fleet.Config{
		PanelURLs: bases, Tokens: seeded.Tokens, VerifyEvery: o.verifyEvery,
		UsageEvery: o.usageEvery, UsageEmails: seeded.Emails[:min(len(seeded.Emails), 100)],
		MinBackoff: 500 * time.Millisecond, MaxBackoff: 30 * time.Second,
		Observer: tracker.observe, NoCompression: !o.compress, Rotate: o.rotate,
	})
	if err != nil {
		return err
	}
	load := loadAverage

	// 1. Cold start: every agent empty, all dialing within a second.
	say("cold start: %d agents with empty state (load average %s)", o.nodes, load())
	start := time.Now()
	cpuBefore := cpuUse(rs.procs)
	fl.Start(ctx, time.Second)
	defer fl.Stop()
	if _, err := waitConverged(fl, rs.procs, o.convergeLimit); err != nil {
		return fmt.Errorf("cold start: %w", err)
	}
	cold := time.Since(start)
	rssCold := maxRSS(rs.procs)
	loadCold := load()
	say("  all acked in %s; panel peak RSS %d MiB; load average %s; CPU %s; %+v", cold.Round(time.Millisecond), rssCold>>20, loadCold,
		cpuUse(rs.procs).since(cpuBefore), fl.Stats())

	// 2. Changes at o.rate per second, each a different user, so a user's
	// name in a delta says which change it carries; with replicas, each
	// change goes to the next replica in turn.
	total := o.rate * int(o.changeFor/time.Second)
	say("changes: %d/s for %s (%d changes)", o.rate, o.changeFor, total)
	firstUser := min(len(seeded.Emails), 100) + 1 // not the usage users
	if firstUser+total > o.users {
		return fmt.Errorf("%d users are too few for %d changes", o.users, total)
	}
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var changeErrs []error
	// Open loop: change i is due at phase + i/rate, whatever the answers
	// to earlier ones (a ticker would drop ticks while the loop waits, and
	// measure the harness rather than the panel); at most 256 in flight.
	every := time.Second / time.Duration(o.rate)
	sem := make(chan struct{}, 256)
	var putMu sync.Mutex
	var putLat []time.Duration
	deltasBefore := fl.Stats().Deltas
	cpuBefore = cpuUse(rs.procs)
	phase := time.Now()
	for i := 0; i < total; i++ {
		time.Sleep(time.Until(phase.Add(time.Duration(i) * every)))
		name := fleet.UserName(firstUser + i)
		api := apis[i%len(apis)]
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			asked := time.Now()
			err := api.modify(name, int64(1<<30)+int64(i))
			answered := time.Now()
			putMu.Lock()
			putLat = append(putLat, answered.Sub(asked))
			putMu.Unlock()
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
	wg.Wait()
	sent := time.Since(phase)
	loadChanges := load()
	if _, err := waitConverged(fl, rs.procs, o.convergeLimit); err != nil {
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
	rate := float64(total) / sent.Seconds()
	say("  sent in %s (%.1f/s), %d API errors; API answer to every node's ack: p50 %s p99 %s max %s (%d changes; %d not acked by every node through a delta); load average %s",
		sent.Round(time.Millisecond), rate, len(changeErrs), percentile(lat, 50).Round(time.Millisecond),
		percentile(lat, 99).Round(time.Millisecond), percentile(lat, 100).Round(time.Millisecond), len(lat), incomplete, loadChanges)
	say("  PUT answered in p50 %s p99 %s max %s; %d deltas applied by the fleet (%.1f per node per second); CPU %s", percentile(putLat, 50).Round(time.Millisecond),
		percentile(putLat, 99).Round(time.Millisecond), percentile(putLat, 100).Round(time.Millisecond),
		fl.Stats().Deltas-deltasBefore, float64(fl.Stats().Deltas-deltasBefore)/float64(o.nodes)/sent.Seconds(), cpuUse(rs.procs).since(cpuBefore))
	if len(changeErrs) > 0 {
		say("  first API error: %v", changeErrs[0])
	}
	rssChanges := maxRSS(rs.procs)
	before := fl.Stats()
	closedBefore, _ := sumMetric(rs.procs, "outpost_node_sessions_closed_total", `by="panel"`)

	// 3. With replicas and rotation: kill -9 of replica A alone. Its agents
	// go on to the next address at once and resume there with a delta;
	// changes made meanwhile through another replica reach every node.
	// Then A starts again (its agents stay where they are).
	var single *singleKill
	if o.rotate && len(rs.procs) > 1 {
		if single, err = killOne(o, fl, rs, apis[1:], tracker, firstUser+total); err != nil {
			return err
		}
	}
	before = fl.Stats()
	closedBefore, _ = sumMetric(rs.procs, "outpost_node_sessions_closed_total", `by="panel"`)

	// 4. kill -9 of every replica, then all start again on the same
	// addresses and data dirs.
	say("kill -9 of every replica and restart")
	rs.killAll()
	restart := time.Now()
	if err := rs.startAll(); err != nil {
		return err
	}
	back, err := waitConverged(fl, rs.procs, o.convergeLimit)
	if err != nil {
		return fmt.Errorf("after restart: %w", err)
	}
	back = time.Since(restart)
	loadRestart := load()
	after := fl.Stats()
	closedAfter, _ := sumMetric(rs.procs, "outpost_node_sessions_closed_total", `by="panel"`)
	snapsSent, _ := sumMetric(rs.procs, "outpost_node_snapshots_sent_total", "")
	rssRestart := maxRSS(rs.procs)
	say("  all back at the current revision %s after the restart began; snapshots %d (panel counts %v); panel peak RSS %d MiB; load average %s",
		back.Round(time.Millisecond), after.Snapshots-before.Snapshots, snapsSent, rssRestart>>20, loadRestart)

	say("\nresults (%d nodes, %d users, %s, agents %s deflate)", o.nodes, o.users, engine, map[bool]string{true: "asking for", false: "without"}[o.compress])
	say("| | target | measured | load average |")
	say("|---|---|---|---|")
	say("| cold start to all acked | < 60 s | %s | %s |", cold.Round(100*time.Millisecond), loadCold)
	say("| `PUT /api/user` rate reached | %d/s | %.1f/s (%d in %s; %d errors) | %s |", o.rate, rate, total, sent.Round(time.Second), len(changeErrs), loadChanges)
	say("| change to every node's ack, p99 (%d/s for %s) | < 1 s | %s (p50 %s, max %s) | %s |", o.rate, o.changeFor,
		percentile(lat, 99).Round(time.Millisecond), percentile(lat, 50).Round(time.Millisecond), percentile(lat, 100).Round(time.Millisecond), loadChanges)
	say("| kill -9 + restart: all at the current revision | < 30 s | %s | %s |", back.Round(100*time.Millisecond), loadRestart)
	say("| snapshots after the restart | 0 | %d | |", after.Snapshots-before.Snapshots)
	if single != nil {
		say("| kill -9 of replica A alone: its nodes on the others, at the current revision | < 30 s | %s (%d changes meanwhile; %d snapshots, %d redials to the next address at once) | %s |",
			single.back.Round(100*time.Millisecond), single.changes, single.snapshots, single.rotations, single.load)
	}
	say("| sessions closed by the panel | 0 | %d (fleet: %d before the kill, %d in all; panel metric: %v before the kill, %v after the restart) | |",
		after.ClosedByPanel, before.ClosedByPanel, after.ClosedByPanel, closedBefore, closedAfter)
	say("| panel peak RSS (largest replica) | < 1 GB | %d MiB (cold start), %d MiB (through the changes), %d MiB (restarted) | |",
		rssCold>>20, rssChanges>>20, rssRestart>>20)
	if after.ClosedByPanel > 0 {
		say("last session the panel closed: %s", after.LastCloseText)
	}
	for _, f := range rs.logs {
		say("panel log: %s", f.Name())
	}
	return nil
}

// redactDSN hides a password in a database URL for printing.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

// singleKill is what killOne measured.
type singleKill struct {
	back                 time.Duration
	changes              int
	snapshots, rotations int64
	load                 string
}

// killOne kills replica A (procs[0]) with SIGKILL while the others run,
// makes changes through them (apis, users from firstUser on), and waits
// for every agent to be at the live replicas' head; then starts A again
// and waits for all to agree.
func killOne(o options, fl *fleet.Fleet, rs *replicaSet, apis []*apiClient, tracker *changeTracker, firstUser int) (*singleKill, error) {
	const changes = 20
	if firstUser+changes > o.users {
		return nil, fmt.Errorf("%d users are too few for the changes while replica A is down", o.users)
	}
	say("kill -9 of replica A alone; %d changes through the others meanwhile", changes)
	before := fl.Stats()
	rs.procs[0].kill()
	rs.procs[0] = nil
	start := time.Now()
	for i := range changes {
		if err := apis[i%len(apis)].modify(fleet.UserName(firstUser+i), int64(2<<30)+int64(i)); err != nil {
			return nil, fmt.Errorf("change while replica A is down: %w", err)
		}
	}
	if _, err := waitConverged(fl, rs.procs, o.convergeLimit); err != nil {
		return nil, fmt.Errorf("after killing replica A: %w", err)
	}
	r := &singleKill{back: time.Since(start), changes: changes, load: loadAverage()}
	after := fl.Stats()
	r.snapshots, r.rotations = after.Snapshots-before.Snapshots, after.Rotations-before.Rotations
	say("  every node at the current revision %s after the kill; %d snapshots, %d redials to the next address at once; load average %s",
		r.back.Round(time.Millisecond), r.snapshots, r.rotations, r.load)
	if err := rs.start(0); err != nil {
		return nil, err
	}
	if _, err := waitConverged(fl, rs.procs, o.convergeLimit); err != nil {
		return nil, fmt.Errorf("after replica A started again: %w", err)
	}
	return r, nil
}

// loadAverage is the machine's 1, 5 and 15 minute load averages.
func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(raw))[:3], " ")
}

// say prints one line of the run's report.
func say(format string, args ...any) { fmt.Printf(format+"\n", args...) }

// cpuTimes is CPU time used so far by the panels (their
// process_cpu_seconds_total) and by this process (the harness).
type cpuTimes struct {
	at             time.Time
	panel, harness float64
}

func cpuUse(ps []*panelProc) cpuTimes {
	c := cpuTimes{at: time.Now()}
	c.panel, _ = sumMetric(ps, "process_cpu_seconds_total", "")
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		c.harness = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	return c
}

// since says how the CPU went between before and c, in cores: what of
// the machine's cores the panels and the harness (on the same machine)
// kept busy on average.
func (c cpuTimes) since(before cpuTimes) string {
	wall := c.at.Sub(before.at).Seconds()
	if wall <= 0 {
		return "?"
	}
	return fmt.Sprintf("panels %.2f cores, harness %.2f cores (of %d)", (c.panel-before.panel)/wall, (c.harness-before.harness)/wall, runtime.NumCPU())
}
