package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/feed"
	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
	"github.com/outpost-panel/outpost/backend/store"
	"github.com/outpost-panel/outpost/nodes/xraycore/xraytest"
)

// The benchmarks start real processes, so their output goes to files in the
// benchmark's temp dir instead of b.Log (which a benchmark always prints):
// `make bench` output stays readable, and a failed benchmark prints the tail
// of each process's log.

// benchUserName names the i-th seeded user.
func benchUserName(i int) string { return fmt.Sprintf("bench_%06d", i) }

// seededPanel is a panel data directory ready to start.
type seededPanel struct {
	dataDir string
	users   int
}

// seedTemplates holds one seeded data dir per user count for the whole
// test binary: seeding 100,000 users is the slow part and every benchmark
// only reads its own copy.
var seedTemplates struct {
	mu   sync.Mutex
	dirs map[int]string
}

// seedPanel returns a fresh copy of a data dir holding users users, each
// with credentials for all four protocols, the test core config on ports,
// The template lives in binDir, which TestMain removes.
func seedPanel(b *testing.B, users int, ports map[string]int) seededPanel {
	b.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	seedTemplates.mu.Lock()
	tmpl, ok := seedTemplates.dirs[users]
	if !ok {
		tmpl = filepath.Join(binDir, fmt.Sprintf("seed-%d", users))
		start := time.Now()
		if err := seedTemplate(ctx, tmpl, users, ports, log); err != nil {
			seedTemplates.mu.Unlock()
			b.Fatalf("seeding %d users: %v", users, err)
		}
		if seedTemplates.dirs == nil {
			seedTemplates.dirs = map[int]string{}
		}
		seedTemplates.dirs[users] = tmpl
		b.Logf("seeded %d users in %s", users, time.Since(start).Round(time.Millisecond))
	}
	seedTemplates.mu.Unlock()

	dir := b.TempDir()
	if err := copyDir(tmpl, dir); err != nil {
		b.Fatalf("copying seeded data dir: %v", err)
	}
	sp := seededPanel{dataDir: dir, users: users}
	err := withState(ctx, dir, log, func(s *state.State) error {
		// Fresh ports for this benchmark: the template's may be taken by now.
		return s.SetCoreConfig(ctx, xraytest.ServerConfig(ports))
	})
	if err != nil {
		b.Fatalf("preparing seeded data dir: %v", err)
	}
	return sp
}

func seedTemplate(ctx context.Context, dir string, users int, ports map[string]int, log *slog.Logger) error {
	return withState(ctx, dir, log, func(s *state.State) error {
		if _, err := s.Bootstrap(ctx, true); err != nil {
			return err
		}
		if err := s.SetCoreConfig(ctx, xraytest.ServerConfig(ports)); err != nil {
			return err
		}
		if users == 0 {
			return nil
		}
		all := map[string]model.ProxySettings{
			model.ProtoVLESS: {}, model.ProtoVMess: {}, model.ProtoTrojan: {}, model.ProtoShadowsocks: {},
		}
		in := make([]state.UserInput, users)
		for i := range in {
			name := benchUserName(i + 1)
			in[i] = state.UserInput{Username: &name, Proxies: all}
		}
		admin := &model.Admin{Username: sudoUser, IsSudo: true}
		n, err := s.ImportUsers(ctx, admin, in)
		if err != nil {
			return err
		}
		if n != users {
			return fmt.Errorf("imported %d users, want %d", n, users)
		}
		return nil
	})
}

// withState opens the panel's SQLite store in dir in process, runs fn and
// closes the store, so a panel process can open the directory afterwards.
func withState(ctx context.Context, dir string, log *slog.Logger, fn func(*state.State) error) error {
	st, err := store.Open(ctx, "", dir, log)
	if err != nil {
		return fmt.Errorf("opening store in %s: %w", dir, err)
	}
	ferr := fn(state.New(st, feed.NewMemory(1000), log, nil))
	if err := st.Close(); err != nil && ferr == nil {
		ferr = fmt.Errorf("closing store: %w", err)
	}
	return ferr
}

func copyDir(from, to string) error {
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if err := copyFile(filepath.Join(from, e.Name()), filepath.Join(to, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// startQuiet starts p with its output in a log file under b's temp dir.
// It mirrors proc.start, which logs every line through b.Log.
func startQuiet(b *testing.B, p *proc) (logPath string) {
	b.Helper()
	f, err := os.CreateTemp(b.TempDir(), p.name+"-*.log")
	if err != nil {
		b.Fatal(err)
	}
	logPath = f.Name()
	p.t = b
	p.cmd = exec.Command(filepath.Join(binDir, p.name), p.args...)
	p.cmd.Env = append(os.Environ(), p.env...)
	p.out = &logWriter{t: b, done: true}
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.launch(func() { f.Close() }); err != nil {
		f.Close()
		b.Fatalf("starting %s: %v", p.name, err)
	}
	// Cleanups run last-in first-out: the process is killed, then its log read.
	b.Cleanup(func() {
		if b.Failed() {
			b.Logf("last lines of %s's log:\n%s", p.name, tailFile(logPath, 40))
		}
	})
	b.Cleanup(p.kill)
	return logPath
}

func tailFile(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// logField is the value of key= on the first slog line of a process's log
// that contains s.
func logField(path, s, key string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, s) {
			continue
		}
		for _, field := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(field, key+"="); ok {
				return v, true
			}
		}
	}
	return "", false
}

func parseInt(s string) (int64, bool) {
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

// benchPanel is a panel process started by startBenchPanel.
type benchPanel struct {
	*panel
	logPath string
	// revision is the desired state's revision the hub loaded at start:
	// what a node must reach while nothing changes. (Starting the panel
	// itself takes a revision, so the seeded database's is not it.)
	revision int64
}

// startBenchPanel starts a panel on dataDir and waits until it answers and
// its node hub has loaded the desired state, so a node timed from its start
// does not also time the panel's boot.
func startBenchPanel(b *testing.B, dataDir string) *benchPanel {
	b.Helper()
	p := &panel{addr: fmt.Sprintf("127.0.0.1:%d", xraytest.FreePort(b)), dataDir: dataDir}
	p.proc = proc{name: "panel", args: []string{
		"--listen", p.addr, "--data-dir", dataDir,
		"--review-interval", "1s", "--usage-interval", "1s", "--ping-interval", "5s",
	}, env: []string{"SUDO_USERNAME=" + sudoUser, "SUDO_PASSWORD=" + sudoPass}}
	bp := &benchPanel{panel: p, logPath: startQuiet(b, &p.proc)}
	pollUntil(b, 120*time.Second, 20*time.Millisecond, "panel hub to load the desired state", func() bool {
		rev, ok := logField(bp.logPath, "desired state loaded", "revision")
		if ok {
			bp.revision, ok = parseInt(rev)
		}
		return ok
	})
	pollUntil(b, 30*time.Second, 20*time.Millisecond, "panel /healthz", func() bool {
		resp, err := http.Get(p.url() + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	p.login(b)
	return bp
}

// startBenchNode starts a node process and returns at once, with the time
// just before the process was started. BENCH_NODE_ENV adds environment
// variables to the node only, for experiments such as
// BENCH_NODE_ENV='GOGC=400 GOMEMLIMIT=500MiB'.
func startBenchNode(b *testing.B, panelURL, token, stateDir string) (*node, time.Time, string) {
	b.Helper()
	n := &node{statusAddr: fmt.Sprintf("127.0.0.1:%d", xraytest.FreePort(b))}
	n.proc = proc{name: "node", args: []string{
		"--panel", panelURL, "--token", token, "--state-dir", stateDir,
		"--status-listen", n.statusAddr, "--usage-interval", "1s", "--max-backoff", "1s",
	}, env: strings.Fields(os.Getenv("BENCH_NODE_ENV"))}
	started := time.Now()
	logPath := startQuiet(b, &n.proc)
	return n, started, logPath
}

// healthClient keeps one connection to a node's status endpoint, so polling
// every millisecond does not open a connection per poll.
type healthClient struct {
	url string
	c   *http.Client
}

func newHealthClient(n *node) *healthClient {
	return &healthClient{
		url: "http://" + n.statusAddr + "/healthz",
		c:   &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 30 * time.Second},
	}
}

func (h *healthClient) get() (nodeHealth, error) {
	var nh nodeHealth
	resp, err := h.c.Get(h.url)
	if err != nil {
		return nh, err
	}
	defer resp.Body.Close()
	// Read to EOF so the connection goes back to the pool.
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nh, err
	}
	if resp.StatusCode != 200 {
		return nh, fmt.Errorf("healthz: HTTP %d", resp.StatusCode)
	}
	return nh, json.Unmarshal(raw, &nh)
}

func (h *healthClient) close() { h.c.CloseIdleConnections() }

// pollUntil checks cond every interval until it holds and returns the time
// it was first seen to hold; it fails b after within.
func pollUntil(b *testing.B, within, every time.Duration, what string, cond func() bool) time.Time {
	b.Helper()
	deadline := time.Now().Add(within)
	for {
		if cond() {
			return time.Now()
		}
		if time.Now().After(deadline) {
			b.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(every)
	}
}

// procMem is a process's resident set now and at its peak, in bytes.
type procMem struct{ rss, hwm int64 }

func readProcMem(pid int) (procMem, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMem{}, err
	}
	var m procMem
	for _, line := range strings.Split(string(raw), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return procMem{}, fmt.Errorf("parsing %s %q: %w", key, val, err)
		}
		if key == "VmRSS" {
			m.rss = kb << 10
		} else {
			m.hwm = kb << 10
		}
	}
	if m.rss == 0 {
		return procMem{}, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return m, nil
}

// readProcCPU is the CPU time (user + system) a process has used so far,
// in USER_HZ ticks of 10 ms. On this shared machine wall-clock numbers move
// with the other engineers' load; CPU time mostly does not.
func readProcCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	_, rest, ok := strings.Cut(string(raw), ") ")
	if !ok {
		return 0, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	fields := strings.Fields(rest)
	if len(fields) < 13 {
		return 0, fmt.Errorf("parsing /proc/%d/stat: %d fields", pid, len(fields))
	}
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	var ticks int64
	for _, f := range fields[11:13] {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parsing /proc/%d/stat: %w", pid, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

func (p *proc) cpu(b *testing.B) time.Duration {
	b.Helper()
	d, err := readProcCPU(p.cmd.Process.Pid)
	if err != nil {
		b.Fatalf("reading %s CPU time: %v", p.name, err)
	}
	return d
}

func (p *proc) mem(b *testing.B) procMem {
	b.Helper()
	m, err := readProcMem(p.cmd.Process.Pid)
	if err != nil {
		b.Fatalf("reading %s memory: %v", p.name, err)
	}
	return m
}

const mib = 1 << 20

// durations collects one measurement per iteration or per operation.
type durations []time.Duration

func (d durations) percentile(p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	// Nearest rank: the smallest value with at least p% of samples at or below it.
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func (d durations) mean() time.Duration {
	if len(d) == 0 {
		return 0
	}
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	return sum / time.Duration(len(d))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func skipShort(b *testing.B) {
	if testing.Short() {
		b.Skip("starts real panel and node processes with 100,000 users; skipped with -short")
	}
}

// logTimes are the time= stamps (millisecond resolution) of the lines of a
// process's slog output that contain s, oldest first.
func logTimes(path, s string) []time.Time {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []time.Time
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, s) {
			continue
		}
		rest, ok := strings.CutPrefix(line, "time=")
		if !ok {
			continue
		}
		stamp, _, _ := strings.Cut(rest, " ")
		if t, err := time.Parse(time.RFC3339Nano, stamp); err == nil {
			out = append(out, t)
		}
	}
	return out
}

// sinceStart is how long after start the first (or, with last, the latest)
// log line containing s was written; ok is false when there is none.
func sinceStart(path, s string, start time.Time, last bool) (time.Duration, bool) {
	ts := logTimes(path, s)
	if len(ts) == 0 {
		return 0, false
	}
	t := ts[0]
	if last {
		t = ts[len(ts)-1]
	}
	return t.Sub(start), true
}

// last is the latest sample, rounded for logs; 0 when there is none.
func (d durations) last() time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[len(d)-1].Round(time.Millisecond)
}
