// Package testenv starts the real services that tests run against.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisStartTimeout bounds how long a fresh redis-server may take to answer
// PING; it is a liveness bound, not a performance expectation.
const redisStartTimeout = 15 * time.Second

var (
	redisOnce      sync.Once
	redisShared    *RedisServer
	redisSharedErr error
	redisPrefixSeq atomic.Int64
)

// RedisURL returns the URL of the Redis that tests use: REDIS_URL when set,
// else one redis-server started for the whole test process on a free
// loopback port. Tests share that server; RedisPrefix keeps them apart.
func RedisURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	redisOnce.Do(func() {
		redisShared, redisSharedErr = redisStartShared()
	})
	if redisSharedErr != nil {
		t.Fatalf("starting redis-server: %v", redisSharedErr)
	}
	return redisShared.URL()
}

// Redis returns a new client on RedisURL, closed when the test ends. Its
// commands honour context deadlines, so a test against a dead server fails
// instead of hanging.
func Redis(t testing.TB) *redis.Client {
	t.Helper()
	return redisClientFor(t, RedisURL(t))
}

// RedisPrefix returns a key prefix no other test (in this process or
// another one sharing REDIS_URL) uses. Keys under it are deleted when the
// test ends. Pub/sub channels are global to a server, so code under test
// must name its channels under the prefix too.
func RedisPrefix(t testing.TB) string {
	t.Helper()
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatalf("reading random bytes: %v", err)
	}
	name := redisUnsafeChars.ReplaceAllString(t.Name(), "_")
	if len(name) > 48 {
		name = name[len(name)-48:]
	}
	prefix := fmt.Sprintf("test:%s:%d-%d-%s", name, os.Getpid(), redisPrefixSeq.Add(1), hex.EncodeToString(rnd[:]))
	url := RedisURL(t)
	t.Cleanup(func() { redisDeletePrefix(t, url, prefix) })
	return prefix
}

// StopRedis stops the per-process redis-server, if one was started. Call it
// from TestMain after m.Run; without it the server still dies with the
// process (parent-death signal), but its temp directory stays behind.
func StopRedis() {
	if redisShared != nil {
		redisShared.stop()
		_ = os.RemoveAll(redisShared.dir)
	}
}

// RedisServer is a redis-server process owned by a test, for failure tests
// that kill and restart it. It keeps its port across restarts so clients
// reconnect to the same address.
type RedisServer struct {
	t    testing.TB // nil for the shared server
	port int
	dir  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartRedisServer starts a dedicated redis-server for this test, killed
// when the test ends. It ignores REDIS_URL: a test that kills a server must
// own it.
func StartRedisServer(t testing.TB) *RedisServer {
	t.Helper()
	dir := t.TempDir()
	var lastErr error
	for range 5 {
		port, err := redisFreePort()
		if err != nil {
			t.Fatalf("finding a free port: %v", err)
		}
		s := &RedisServer{t: t, port: port, dir: dir}
		if lastErr = s.launch(); lastErr == nil {
			t.Cleanup(s.stop)
			return s
		}
		if errors.Is(lastErr, exec.ErrNotFound) {
			t.Fatal("install redis-server (apt-get install redis-server)")
		}
	}
	t.Fatalf("starting redis-server: %v", lastErr)
	return nil
}

// Addr is host:port of the server, stable across Kill and Start.
func (s *RedisServer) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL is a redis:// URL for Addr.
func (s *RedisServer) URL() string { return "redis://" + s.Addr() + "/0" }

// Client returns a new client for this server, closed when the test ends.
func (s *RedisServer) Client() *redis.Client {
	s.t.Helper()
	return redisClientFor(s.t, s.URL())
}

// Kill stops the server with SIGKILL, like a crash: no shutdown, no save.
// Call it from the test's goroutine.
func (s *RedisServer) Kill() {
	s.t.Helper()
	if !s.stop0() {
		s.t.Fatal("redis-server is not running")
	}
}

// Start starts the server again on the same port, empty (nothing is
// persisted), and waits until it answers PING. Call it from the test's
// goroutine.
func (s *RedisServer) Start() {
	s.t.Helper()
	s.mu.Lock()
	running := s.cmd != nil
	s.mu.Unlock()
	if running {
		s.t.Fatal("redis-server is already running")
	}
	if err := s.launch(); err != nil {
		s.t.Fatalf("restarting redis-server on %s: %v", s.Addr(), err)
	}
}

func (s *RedisServer) stop() { s.stop0() }

// stop0 kills the process and waits for it; it reports whether one ran.
func (s *RedisServer) stop0() bool {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd, s.exited = nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return false
	}
	_ = cmd.Process.Kill()
	<-exited
	return true
}

func (s *RedisServer) launch() error {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return err
	}
	logPath := filepath.Join(s.dir, "redis.log")
	cmd := exec.Command(bin,
		"--save", "",
		"--appendonly", "no",
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--logfile", logPath,
	)
	// A test binary that dies without running its cleanups (panic, timeout,
	// kill) must not leave servers behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	exited := make(chan struct{})
	if err := redisSpawn(cmd, exited); err != nil {
		return err
	}
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	if err := redisWaitReady(s.Addr(), cmd.Process.Pid, exited); err != nil {
		s.stop0()
		logText, _ := os.ReadFile(logPath)
		return fmt.Errorf("%w; log:\n%s", err, redisTail(logText, 2000))
	}
	return nil
}

// redisSpawn starts cmd from a goroutine locked to its OS thread that lives
// as long as the child: Pdeathsig fires when the forking thread exits, and
// the Go runtime may otherwise retire that thread while the test still runs.
func redisSpawn(cmd *exec.Cmd, exited chan struct{}) error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Deliberately never unlocked: when this goroutine returns the
		// thread exits, which is fine only once the child is gone.
		if err := cmd.Start(); err != nil {
			started <- err
			close(exited)
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(exited)
	}()
	return <-started
}

// redisWaitReady polls until the server answers PING and is the process we
// started: another process may have bound the port first, and then ours
// exits while theirs answers.
func redisWaitReady(addr string, pid int, exited <-chan struct{}) error {
	client := redis.NewClient(&redis.Options{
		Addr:        addr,
		DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 200 * time.Millisecond,
		MaxRetries:  -1,
	})
	defer client.Close()
	deadline := time.Now().Add(redisStartTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		info, err := client.Info(ctx, "server").Result()
		cancel()
		if err == nil {
			if strings.Contains(info, "process_id:"+strconv.Itoa(pid)+"\r\n") {
				return nil
			}
			err = fmt.Errorf("another process answers on %s", addr)
		}
		select {
		case <-exited:
			return fmt.Errorf("redis-server on %s exited before answering PING (port taken?)", addr)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on %s did not answer PING within %s: %w", addr, redisStartTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func redisStartShared() (*RedisServer, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, errors.New("install redis-server (apt-get install redis-server)")
	}
	redisRemoveStale()
	dir, err := os.MkdirTemp("", redisDirPrefix)
	if err != nil {
		return nil, fmt.Errorf("creating redis dir: %w", err)
	}
	ownerFile := filepath.Join(dir, redisOwnerFile)
	if err := os.WriteFile(ownerFile, []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return nil, fmt.Errorf("writing %s: %w", ownerFile, err)
	}
	var lastErr error
	for range 5 {
		port, err := redisFreePort()
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		s := &RedisServer{port: port, dir: dir}
		if lastErr = s.launch(); lastErr == nil {
			return s, nil
		}
	}
	_ = os.RemoveAll(dir)
	return nil, lastErr
}

const (
	redisDirPrefix = "outpost-redis-"
	redisOwnerFile = "owner.pid"
)

// redisRemoveStale deletes the directories of shared servers whose test
// process died without StopRedis (the server itself died with it).
func redisRemoveStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), redisDirPrefix+"*"))
	for _, dir := range dirs {
		text, err := os.ReadFile(filepath.Join(dir, redisOwnerFile))
		if err != nil {
			continue // not ours, or still being created
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(text)))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); err == nil || errors.Is(err, syscall.EPERM) {
			continue // owner alive
		}
		_ = os.RemoveAll(dir)
	}
}

// redisFreePort asks the kernel for a free loopback port. Another process
// can take it before redis-server binds, so callers retry.
func redisFreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}

func redisClientFor(t testing.TB, url string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("parsing redis URL: %v", err)
	}
	opt.ContextTimeoutEnabled = true
	client := redis.NewClient(opt)
	t.Cleanup(func() { _ = client.Close() })
	return client
}

func redisDeletePrefix(t testing.TB, url, prefix string) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Errorf("parsing redis URL: %v", err)
		return
	}
	opt.ContextTimeoutEnabled = true
	client := redis.NewClient(opt)
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 1000 {
			client.Unlink(ctx, batch...)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		client.Unlink(ctx, batch...)
	}
	// A test that killed its own server, or a shared server gone away, is
	// not this cleanup's failure; leftover keys only cost memory.
	_ = iter.Err()
}

var redisUnsafeChars = regexp.MustCompile(`[^A-Za-z0-9_-]`)

func redisTail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
