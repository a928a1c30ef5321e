package testenv

// PostgreSQL for tests.
//
// Postgres(t) hands each caller a fresh, empty database. With DATABASE_URL
// set (postgres://...), the database is created on that server; otherwise
// one throwaway cluster is started per test process from the machine's
// PostgreSQL binaries (initdb + postgres, found in PATH or
// /usr/lib/postgresql/*/bin) in a temp dir, on a free loopback port with
// fsync off. A package whose tests call Postgres must stop that cluster
// from TestMain:
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		testenv.StopPostgres()
//		os.Exit(code)
//	}
//
// If the test binary dies without TestMain finishing, the kernel still
// sends the server its parent-death signal (PostgreSQL acts on it when its
// main loop next wakes, within a minute) and the next run removes the
// leftover directory.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgresStartTimeout bounds initdb plus server start; a liveness bound,
// not a performance expectation (it takes about two seconds here).
const postgresStartTimeout = 60 * time.Second

// postgresDirPrefix names the temp dirs of test clusters, so leftovers of a
// killed run can be recognised and removed.
const postgresDirPrefix = "outpost-pgtest-"

var (
	postgresOnce    sync.Once
	postgresMu      sync.Mutex // guards postgresShared against StopPostgres
	postgresShared  *postgresCluster
	postgresErr     error
	postgresDBSeq   atomic.Int64
	errPostgresBins = errors.New("PostgreSQL server binaries (initdb, postgres) not found in PATH or /usr/lib/postgresql/*/bin: install them (Debian: apt-get install postgresql) or set DATABASE_URL=postgres://... to a server where the tests may create databases")
)

type postgresCluster struct {
	dir    string // temp dir: data/, socket dir, log
	port   int
	cmd    *exec.Cmd
	exited chan struct{}
}

func (c *postgresCluster) adminURL() string {
	return "postgres://postgres@" + net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)) + "/postgres?sslmode=disable"
}

// Postgres returns the DSN of a new, empty database, dropped when the test
// ends.
func Postgres(t testing.TB) string {
	t.Helper()
	admin := os.Getenv("DATABASE_URL")
	if admin != "" {
		if !strings.HasPrefix(admin, "postgres://") && !strings.HasPrefix(admin, "postgresql://") {
			t.Fatalf("DATABASE_URL must be a postgres:// URL for tests")
		}
	} else {
		postgresOnce.Do(func() {
			postgresMu.Lock()
			defer postgresMu.Unlock()
			postgresShared, postgresErr = postgresStartCluster()
		})
		postgresMu.Lock()
		c, err := postgresShared, postgresErr
		postgresMu.Unlock()
		if err != nil {
			t.Fatalf("starting PostgreSQL for tests: %v", err)
		}
		if c == nil {
			t.Fatalf("PostgreSQL for tests was already stopped (StopPostgres called before a test)")
		}
		admin = c.adminURL()
	}

	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatalf("reading random bytes: %v", err)
	}
	name := fmt.Sprintf("outpost_test_%d_%d_%s", os.Getpid(), postgresDBSeq.Add(1), hex.EncodeToString(rnd[:]))
	dsn, err := postgresWithDatabase(admin, name)
	if err != nil {
		t.Fatalf("DATABASE_URL: %v", err)
	}
	if err := postgresAdminExec(admin, `CREATE DATABASE `+name+` TEMPLATE template0`); err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	t.Cleanup(func() {
		// FORCE ends sessions a test left open, so a leak cannot keep the
		// database alive.
		if err := postgresAdminExec(admin, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
		}
	})
	return dsn
}

// StopPostgres stops the cluster Postgres started, if any, and removes its
// files. Call it from TestMain after m.Run.
func StopPostgres() {
	postgresMu.Lock()
	c := postgresShared
	postgresShared = nil
	postgresMu.Unlock()
	if c == nil {
		return
	}
	c.stop()
}

func (c *postgresCluster) stop() {
	// SIGINT is PostgreSQL's fast shutdown: sessions are ended, no waiting
	// for clients to leave.
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.exited:
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	_ = os.RemoveAll(c.dir)
}

func postgresWithDatabase(dsn, name string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("parsing postgres URL: %w", err)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

func postgresAdminExec(dsn, stmt string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, stmt)
	return err
}

// postgresFindBinaries returns a directory holding initdb and postgres:
// PATH first (symlinks resolved, as Debian links /usr/local/bin entries into
// /usr/lib/postgresql/N/bin), then the newest /usr/lib/postgresql/N/bin.
func postgresFindBinaries() (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if st, err := os.Stat(filepath.Join(dir, b)); err != nil || st.IsDir() {
				return false
			}
		}
		return true
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil && has(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
		if has(filepath.Dir(p)) {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	return "", errPostgresBins
}

// postgresCredential is who runs the server: initdb and postgres refuse to
// run as root, so a root test process runs them as the postgres system user.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs the postgres system user to start PostgreSQL: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("uid of postgres: %w", err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("gid of postgres: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func postgresStartCluster() (*postgresCluster, error) {
	bin, err := postgresFindBinaries()
	if err != nil {
		return nil, err
	}
	cred, err := postgresCredential()
	if err != nil {
		return nil, err
	}
	postgresRemoveStale()
	dir, err := os.MkdirTemp("", postgresDirPrefix)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(dir)
		}
	}()
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("handing %s to postgres: %w", dir, err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--no-locale", "--no-sync")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, tailOf(out, 2000))
	}

	// The free port may be taken between the probe and the bind; try again
	// with another.
	var lastErr error
	for range 3 {
		c, err := postgresLaunch(bin, dir, data, cred)
		if err == nil {
			ok = true
			return c, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func postgresLaunch(bin, dir, data string, cred *syscall.Credential) (*postgresCluster, error) {
	port, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "postgres.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	// Durability is worthless for a throwaway cluster; without it CREATE
	// DATABASE and commits do not wait for the disk.
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=300",
		"-c", "shared_buffers=256MB",
		"-c", "log_min_messages=warning")
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Pdeathsig: a test binary killed before StopPostgres takes its server
	// with it (SIGQUIT is PostgreSQL's immediate shutdown).
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	c := &postgresCluster{dir: dir, port: port, cmd: cmd, exited: make(chan struct{})}
	// Pdeathsig fires when the forking OS thread exits, not the process: a
	// goroutine elsewhere (redisSpawn) may lock and later retire whatever
	// thread we forked from. Fork from a thread of our own that lives as
	// long as the server.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the child
		if err := cmd.Start(); err != nil {
			started <- err
			close(c.exited)
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(c.exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("starting postgres: %w", err)
	}
	if err := c.waitReady(); err != nil {
		_ = cmd.Process.Kill()
		<-c.exited
		out, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("%w\n%s", err, tailOf(out, 2000))
	}
	return c, nil
}

// waitReady polls for a connection until the server accepts one, exits, or
// the start timeout passes.
func (c *postgresCluster) waitReady() error {
	deadline := time.Now().Add(postgresStartTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, c.adminURL())
		cancel()
		if err == nil {
			_ = conn.Close(context.Background())
			return nil
		}
		select {
		case <-c.exited:
			return fmt.Errorf("postgres exited during startup: %w", err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready after %v: %w", postgresStartTimeout, err)
		}
		select {
		case <-c.exited:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// freeLoopbackPort asks the kernel for a free port on 127.0.0.1 (the test
// servers here, PostgreSQL and MariaDB, bind it right after).
func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// postgresRemoveStale deletes cluster dirs left by test processes that died
// before StopPostgres, once neither that process nor its server is alive.
func postgresRemoveStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), postgresDirPrefix+"*"))
	for _, d := range dirs {
		if pidFileAlive(filepath.Join(d, "owner.pid")) || pidFileAlive(filepath.Join(d, "data", "postmaster.pid")) {
			continue
		}
		_ = os.RemoveAll(d)
	}
}

// pidFileAlive reads a pid from the first line of file and reports
// whether that process exists. A missing or unreadable file reads as dead.
func pidFileAlive(file string) bool {
	b, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return false
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// tailOf is the last n bytes of a server's output, for error messages.
func tailOf(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
