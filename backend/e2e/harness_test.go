// Package e2e starts the real panel and node binaries as processes, drives
// them through the REST API, and pushes real bytes through Xray with a real
// Xray client, to prove the guarantees of docs/architecture: the data plane
// never depends on the control plane being up, and no byte of accounting is
// lost.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/internal/testenv"
	"github.com/outpost-panel/outpost/nodes/protocol"
	"github.com/outpost-panel/outpost/nodes/xraycore/xraytest"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "outpost-e2e-bin")
	if err != nil {
		panic(err)
	}
	binDir = dir
	root, err := moduleRoot()
	if err != nil {
		panic(err)
	}
	for name, pkg := range map[string]string{"panel": "./backend/cmd/panel", "node": "./nodes/cmd/node"} {
		args := []string{"build", "-o", filepath.Join(dir, name)}
		if os.Getenv("OUTPOST_E2E_RACE") != "" {
			// The race detector in the panel and node processes
			// (OUTPOST_E2E_RACE=1 go test ./backend/e2e -run ...).
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, pkg)...)
		cmd.Dir = root
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building", name, "failed:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	testenv.StopPostgres()
	testenv.StopRedis()
	os.RemoveAll(dir)
	os.Exit(code)
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", within, what)
}

// logWriter sends a process's output to the test log, prefixed.
type logWriter struct {
	t      testing.TB
	prefix string
	mu     sync.Mutex
	done   bool
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
			w.t.Log(w.prefix + line)
		}
	}
	return len(p), nil
}

func (w *logWriter) stop() { w.mu.Lock(); w.done = true; w.mu.Unlock() }

// proc is a child process of the test.
type proc struct {
	t    testing.TB
	name string
	args []string
	env  []string
	cmd  *exec.Cmd
	out  *logWriter
	exit chan struct{}
}

func (p *proc) start() {
	p.t.Helper()
	p.cmd = exec.Command(filepath.Join(binDir, p.name), p.args...)
	p.cmd.Env = append(os.Environ(), p.env...)
	p.out = &logWriter{t: p.t, prefix: p.name + ": "}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.launch(nil); err != nil {
		p.t.Fatalf("starting %s: %v", p.name, err)
	}
	p.t.Cleanup(func() { p.kill() })
}

// launch starts p.cmd and closes p.exit once it has exited and afterExit
// (if any) has run. The process gets SIGKILL when the test binary dies, so
// a test run killed by its -timeout (whose cleanups never run) leaves no
// panel or node behind to load the machine. Pdeathsig fires when the
// forking OS thread ends, not the process, so the fork happens on a locked
// thread that lives until the child exits.
func (p *proc) launch(afterExit func()) error {
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.exit = make(chan struct{})
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the child
		if err := p.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = p.cmd.Wait()
		if afterExit != nil {
			afterExit()
		}
		close(p.exit)
	}()
	return <-started
}

func (p *proc) running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exit:
		return false
	default:
		return true
	}
}

// kill is SIGKILL: no shutdown code runs.
func (p *proc) kill() {
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exit
	p.out.stop()
}

// stop is SIGTERM and a wait.
func (p *proc) stop() {
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exit:
	case <-time.After(15 * time.Second):
		p.t.Errorf("%s did not stop on SIGTERM", p.name)
		p.kill()
	}
	p.out.stop()
}

const (
	sudoUser = "root_admin"
	sudoPass = "correct-horse-battery"
)

// panel is a running panel process and an API client for it.
type panel struct {
	proc
	addr    string
	dataDir string
	token   string
	// https is set for a panel serving TLS itself; client then trusts its
	// certificate (nil: http.DefaultClient).
	https  bool
	client *http.Client
}

func (p *panel) httpClient() *http.Client {
	if p.client != nil {
		return p.client
	}
	return http.DefaultClient
}

func startPanel(t testing.TB, dataDir string, addr string) *panel {
	t.Helper()
	return startPanelWith(t, dataDir, addr, nil)
}

// startPanelWith starts a panel with extra flags; a client, when given, is
// what the tests' API calls use (an HTTPS panel's trust).
func startPanelWith(t testing.TB, dataDir string, addr string, client *http.Client, extra ...string) *panel {
	t.Helper()
	return startPanelEnv(t, dataDir, addr, client, nil, extra...)
}

// startPanelEnv is startPanelWith with extra environment variables
// ("NAME=value").
func startPanelEnv(t testing.TB, dataDir string, addr string, client *http.Client, env []string, extra ...string) *panel {
	t.Helper()
	if addr == "" {
		addr = fmt.Sprintf("127.0.0.1:%d", lowPort(t))
	}
	p := &panel{addr: addr, dataDir: dataDir, https: client != nil, client: client}
	p.proc = proc{t: t, name: "panel", args: append([]string{
		"--listen", addr, "--data-dir", dataDir,
		"--review-interval", "300ms", "--usage-interval", "300ms", "--ping-interval", "1s",
	}, extra...), env: append([]string{"SUDO_USERNAME=" + sudoUser, "SUDO_PASSWORD=" + sudoPass}, env...)}
	p.start()
	waitFor(t, 30*time.Second, "panel to answer /healthz", func() bool {
		resp, err := p.httpClient().Get(p.url() + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	p.login(t)
	return p
}

func (p *panel) url() string {
	if p.https {
		return "https://" + p.addr
	}
	return "http://" + p.addr
}

func (p *panel) login(t testing.TB) {
	t.Helper()
	resp, err := p.httpClient().PostForm(p.url()+"/api/admin/token", url.Values{"username": {sudoUser}, "password": {sudoPass}})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&tok) != nil || tok.AccessToken == "" {
		t.Fatalf("login: HTTP %d", resp.StatusCode)
	}
	p.token = tok.AccessToken
}

// call does one API request; out may be nil.
func (p *panel) call(t testing.TB, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, p.url()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.httpClient().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decoding %q: %v", method, path, raw, err)
		}
	}
	if resp.StatusCode >= 300 && out == nil {
		t.Logf("%s %s -> %d %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode
}

func (p *panel) mustCall(t testing.TB, method, path string, body any, out any) {
	t.Helper()
	if code := p.call(t, method, path, body, out); code != 200 {
		t.Fatalf("%s %s: HTTP %d", method, path, code)
	}
}

// apiUser is the part of Marzban's user JSON the tests read.
type apiUser struct {
	Username    string                       `json:"username"`
	Status      string                       `json:"status"`
	UsedTraffic int64                        `json:"used_traffic"`
	Proxies     map[string]map[string]string `json:"proxies"`
	Expire      *int64                       `json:"expire"`
	Links       []string                     `json:"links"`
}

// wireUser turns API credentials into the node-side user the Xray client
// test helper understands.
func (u apiUser) wireUser() protocol.User {
	var w protocol.User
	w.Email = u.Username
	if p, ok := u.Proxies["vless"]; ok {
		w.VLESS = &protocol.VLESS{ID: p["id"], Flow: p["flow"]}
	}
	if p, ok := u.Proxies["vmess"]; ok {
		w.VMess = &protocol.VMess{ID: p["id"]}
	}
	if p, ok := u.Proxies["trojan"]; ok {
		w.Trojan = &protocol.Trojan{Password: p["password"]}
	}
	if p, ok := u.Proxies["shadowsocks"]; ok {
		w.Shadowsocks = &protocol.Shadowsocks{Password: p["password"], Method: p["method"]}
	}
	return w
}

func (p *panel) createUser(t testing.TB, name string, extra map[string]any) apiUser {
	t.Helper()
	body := map[string]any{"username": name, "proxies": map[string]any{"vless": map[string]any{}, "vmess": map[string]any{}, "trojan": map[string]any{}, "shadowsocks": map[string]any{}}}
	for k, v := range extra {
		body[k] = v
	}
	var u apiUser
	p.mustCall(t, "POST", "/api/user", body, &u)
	return u
}

func (p *panel) user(t testing.TB, name string) apiUser {
	t.Helper()
	var u apiUser
	p.mustCall(t, "GET", "/api/user/"+name, nil, &u)
	return u
}

type apiNode struct {
	ID              int64  `json:"id"`
	Name            string `json:"name"`
	Status          string `json:"status"`
	Message         string `json:"message"`
	AppliedRevision int64  `json:"applied_revision"`
	Token           string `json:"token"`
	XrayVersion     string `json:"xray_version"`
}

func (p *panel) createNode(t testing.TB, name string) apiNode {
	t.Helper()
	var n apiNode
	p.mustCall(t, "POST", "/api/node", map[string]any{"name": name}, &n)
	if n.Token == "" || n.ID == 0 {
		t.Fatalf("POST /api/node returned no id or token: %+v", n)
	}
	return n
}

func (p *panel) node(t testing.TB, id int64) apiNode {
	t.Helper()
	var n apiNode
	p.mustCall(t, "GET", fmt.Sprintf("/api/node/%d", id), nil, &n)
	return n
}

// node is a running node agent process.
type node struct {
	proc
	statusAddr string
}

type nodeHealth struct {
	Connected       bool              `json:"connected"`
	AppliedRevision int64             `json:"applied_revision"`
	Users           int               `json:"users"`
	EnforcedUsers   int               `json:"enforced_users"`
	JournalBacklog  int               `json:"journal_backlog"`
	InboundErrors   map[string]string `json:"inbound_errors"`
	CoreRestarts    int               `json:"core_restarts"`
	Snapshots       int64             `json:"snapshots_applied"`
	Deltas          int64             `json:"deltas_applied"`
	PanelMoves      int64             `json:"panel_moves"`
	LogsStreaming   bool              `json:"logs_streaming"`
}

func startNode(t testing.TB, panelURL, token, stateDir string, extra ...string) *node {
	t.Helper()
	n := &node{statusAddr: fmt.Sprintf("127.0.0.1:%d", lowPort(t))}
	n.proc = proc{t: t, name: "node", args: append([]string{
		"--panel", panelURL, "--token", token, "--state-dir", stateDir,
		"--status-listen", n.statusAddr, "--usage-interval", "300ms", "--max-backoff", "1s",
	}, extra...)}
	n.start()
	waitFor(t, 30*time.Second, "node status endpoint", func() bool { _, err := n.healthErr(); return err == nil })
	return n
}

func (n *node) healthErr() (nodeHealth, error) {
	var h nodeHealth
	resp, err := http.Get("http://" + n.statusAddr + "/healthz")
	if err != nil {
		return h, err
	}
	defer resp.Body.Close()
	return h, json.NewDecoder(resp.Body).Decode(&h)
}

func (n *node) health(t testing.TB) nodeHealth {
	t.Helper()
	h, err := n.healthErr()
	if err != nil {
		t.Fatalf("node health: %v", err)
	}
	return h
}

var (
	portMu   sync.Mutex
	portUsed = map[int]bool{}
)

// lowPort picks a free loopback port below the kernel's ephemeral range
// (32768+): a port taken from ":0" and released can be handed to another
// test process's listener or outgoing connection before our child process
// binds it (or rebinds it after a restart); these cannot.
func lowPort(t testing.TB) int {
	portMu.Lock()
	defer portMu.Unlock()
	for i := 0; i < 10000; i++ {
		p := 20000 + mrand.IntN(12000)
		if portUsed[p] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		ln.Close()
		portUsed[p] = true
		return p
	}
	t.Fatal("no free loopback port in 20000-32000")
	return 0
}

// testPorts picks ports for the four inbounds of xraytest.ServerConfig.
func testPorts(t testing.TB) map[string]int {
	ports := map[string]int{}
	for _, tag := range []string{xraytest.TagVLESS, xraytest.TagVMess, xraytest.TagTrojan, xraytest.TagSS} {
		ports[tag] = lowPort(t)
	}
	return ports
}

// client is an Xray client for one user through one inbound.
func client(t testing.TB, u apiUser, proto string, port int, stream json.RawMessage) string {
	t.Helper()
	return xraytest.StartClient(t, xraytest.ClientOutbound(proto, "127.0.0.1", port, u.wireUser(), stream))
}

// vmessWS is the stream setting of the test config's vmess inbound.
var vmessWS = json.RawMessage(`{"network":"ws","wsSettings":{"path":"/vmess"}}`)

// roundTrip pushes payload through the proxy to the echo server and back.
func roundTrip(socks, echo string, payload []byte) error {
	return xraytest.RoundTrip(socks, echo, payload)
}

// dialTimeout is how long a proxied dial may take on this shared machine.
const dialTimeout = 5 * time.Second

var _ = net.Dial
var _ = context.Background
