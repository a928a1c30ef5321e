package testenv

// The same PostgreSQL cluster and redis-server as the tests, for tools that
// are not tests (backend/cmd/fleet's two-replica mode): no testing.TB, the
// caller stops what it started.

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// PostgresForTool returns the DSN of a new, empty database: on
// DATABASE_URL's server when it is set, else on a throwaway cluster started
// from the machine's PostgreSQL binaries (fsync off, as for tests). stop
// drops the database, or stops the cluster and removes its files.
func PostgresForTool() (dsn string, stop func(), err error) {
	admin := os.Getenv("DATABASE_URL")
	stopCluster := func() {}
	if admin != "" {
		if !strings.HasPrefix(admin, "postgres://") && !strings.HasPrefix(admin, "postgresql://") {
			return "", nil, errors.New("DATABASE_URL must be a postgres:// URL")
		}
	} else {
		c, err := postgresStartCluster()
		if err != nil {
			return "", nil, err
		}
		admin = c.adminURL()
		stopCluster = func() { c.stop() }
	}
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		stopCluster()
		return "", nil, err
	}
	name := fmt.Sprintf("outpost_tool_%d_%s", os.Getpid(), hex.EncodeToString(rnd[:]))
	if dsn, err = postgresWithDatabase(admin, name); err == nil {
		err = postgresAdminExec(admin, `CREATE DATABASE `+name+` TEMPLATE template0`)
	}
	if err != nil {
		stopCluster()
		return "", nil, fmt.Errorf("creating database %s: %w", name, err)
	}
	return dsn, func() {
		_ = postgresAdminExec(admin, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
		stopCluster()
	}, nil
}

// RedisForTool starts a redis-server of its own (no persistence) on a free
// loopback port, its files in dir, and returns its URL; stop kills it.
func RedisForTool(dir string) (url string, stop func(), err error) {
	var lastErr error
	for range 5 {
		port, err := redisFreePort()
		if err != nil {
			return "", nil, err
		}
		s := &RedisServer{port: port, dir: dir}
		if lastErr = s.launch(); lastErr == nil {
			return s.URL(), s.stop, nil
		}
		if errors.Is(lastErr, exec.ErrNotFound) {
			return "", nil, errors.New("install redis-server (apt-get install redis-server)")
		}
	}
	return "", nil, lastErr
}
