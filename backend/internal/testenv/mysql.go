package testenv

// MariaDB (MySQL) for tests, as the database of another panel that Outpost
// imports from (Marzban installs often run on MySQL or MariaDB).
//
// MySQL(t) hands each caller a fresh, empty utf8mb4 database as a
// mysql://root@127.0.0.1:port/name URL. With MYSQL_URL set
// (mysql://user:pass@host:port/), the database is created on that server;
// otherwise one throwaway server is started per test process from the
// machine's MariaDB binaries (mariadb-install-db + mariadbd; Debian
// package mariadb-server) in a temp dir, on a free loopback port, without
// grant checks. A package whose tests call MySQL stops it from TestMain
// with StopMySQL; a test binary that dies first takes the server with it
// (parent-death signal).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

const mysqlDirPrefix = "outpost-mysqltest-"

var (
	mysqlOnce   sync.Once
	mysqlMu     sync.Mutex
	mysqlShared *mysqlServer
	mysqlErr    error
	mysqlDBSeq  atomic.Int64
	errMySQLBin = errors.New("MariaDB server binaries (mariadb-install-db, mariadbd) not found: install them (Debian: apt-get install mariadb-server) or set MYSQL_URL=mysql://user:pass@host:port/ to a server where the tests may create databases")
)

type mysqlServer struct {
	dir    string
	port   int
	cmd    *exec.Cmd
	exited chan struct{}
}

// MySQL returns the URL of a new, empty database, dropped when the test
// ends.
func MySQL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("MYSQL_URL")
	if base == "" {
		mysqlOnce.Do(func() {
			mysqlMu.Lock()
			defer mysqlMu.Unlock()
			mysqlShared, mysqlErr = mysqlStart()
		})
		mysqlMu.Lock()
		s, err := mysqlShared, mysqlErr
		mysqlMu.Unlock()
		if err != nil {
			t.Fatalf("starting MariaDB for tests: %v", err)
		}
		if s == nil {
			t.Fatalf("MariaDB for tests was already stopped (StopMySQL called before a test)")
		}
		base = "mysql://root@" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) + "/"
	}
	name := fmt.Sprintf("outpost_test_%d_%d", os.Getpid(), mysqlDBSeq.Add(1))
	if err := mysqlExec(base, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"); err != nil {
		t.Fatalf("creating MySQL database: %v", err)
	}
	t.Cleanup(func() { _ = mysqlExec(base, "DROP DATABASE IF EXISTS "+name) })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("MYSQL_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// MySQLDSN turns a mysql://user:pass@host:port/db URL into the driver's DSN.
func MySQLDSN(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "mysql" || u.Host == "" {
		return "", fmt.Errorf("want mysql://user:password@host:port/database, got %q", rawURL)
	}
	c := mysql.NewConfig()
	c.Net, c.Addr = "tcp", u.Host
	if u.Port() == "" {
		c.Addr = net.JoinHostPort(u.Hostname(), "3306")
	}
	c.User = u.User.Username()
	c.Passwd, _ = u.User.Password()
	c.DBName = strings.TrimPrefix(u.Path, "/")
	c.MultiStatements = false
	return c.FormatDSN(), nil
}

func mysqlExec(rawURL, stmt string) error {
	dsn, err := MySQLDSN(rawURL)
	if err != nil {
		return err
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err = db.ExecContext(ctx, stmt)
	return err
}

// StopMySQL stops the server MySQL started, if any.
func StopMySQL() {
	mysqlMu.Lock()
	s := mysqlShared
	mysqlShared = nil
	mysqlMu.Unlock()
	if s == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	_ = os.RemoveAll(s.dir)
}

func mysqlFind(names ...string) (string, error) {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
		for _, d := range []string{"/usr/sbin", "/usr/bin"} {
			if st, err := os.Stat(filepath.Join(d, n)); err == nil && !st.IsDir() {
				return filepath.Join(d, n), nil
			}
		}
	}
	return "", errMySQLBin
}

func mysqlStart() (*mysqlServer, error) {
	install, err := mysqlFind("mariadb-install-db", "mysql_install_db")
	if err != nil {
		return nil, err
	}
	server, err := mysqlFind("mariadbd", "mysqld")
	if err != nil {
		return nil, err
	}
	// Leftovers of killed runs: their servers died with them.
	stale, _ := filepath.Glob(filepath.Join(os.TempDir(), mysqlDirPrefix+"*"))
	for _, d := range stale {
		if !pidFileAlive(filepath.Join(d, "owner.pid")) {
			_ = os.RemoveAll(d)
		}
	}
	dir, err := os.MkdirTemp("", mysqlDirPrefix)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	var asRoot []string
	if os.Geteuid() == 0 {
		asRoot = []string{"--user=root"}
	}
	args := append([]string{"--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=normal", "--skip-test-db"}, asRoot...)
	if out, err := exec.Command(install, args...).CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("%s: %w\n%s", filepath.Base(install), err, tailOf(out, 2000))
	}
	var lastErr error
	for range 3 {
		s, err := mysqlLaunch(server, dir, data, asRoot)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	_ = os.RemoveAll(dir)
	return nil, lastErr
}

func mysqlLaunch(server, dir, data string, asRoot []string) (*mysqlServer, error) {
	port, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "error.log")
	args := append([]string{"--no-defaults", "--datadir=" + data, "--port=" + strconv.Itoa(port),
		"--bind-address=127.0.0.1", "--socket=" + filepath.Join(dir, "mysqld.sock"),
		"--pid-file=" + filepath.Join(dir, "mysqld.pid"), "--log-error=" + logPath,
		"--skip-grant-tables", "--skip-log-bin", "--innodb-buffer-pool-size=64M",
		"--innodb-flush-log-at-trx-commit=0", "--max-connections=100"}, asRoot...)
	cmd := exec.Command(server, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s := &mysqlServer{dir: dir, port: port, cmd: cmd, exited: make(chan struct{})}
	// As for PostgreSQL: fork from a thread that lives as long as the
	// server, so the parent-death signal means the test process's death.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			close(s.exited)
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(s.exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("starting mariadbd: %w", err)
	}
	base := "mysql://root@" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) + "/"
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := mysqlExec(base, "SELECT 1")
		if err == nil {
			return s, nil
		}
		select {
		case <-s.exited:
			out, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("mariadbd exited during startup: %w\n%s", err, tailOf(out, 2000))
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-s.exited
			return nil, fmt.Errorf("mariadbd not ready after 60s: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
