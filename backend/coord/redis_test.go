package coord

import (
	"os"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopRedis()
	os.Exit(code)
}

// Each replica gets its own client, as separate processes have. TTLs are
// Redis's own, so expiry is waited for by polling.
func newRedisEnv(t *testing.T) coordEnv {
	prefix := testenv.RedisPrefix(t)
	return coordEnv{
		open:     func() coordinator { return NewRedis(testenv.Redis(t), prefix) },
		shortTTL: 50 * time.Millisecond,
	}
}

func TestRedisLocker(t *testing.T)      { testLocker(t, newRedisEnv) }
func TestRedisRateLimiter(t *testing.T) { testRateLimiter(t, newRedisEnv) }
func TestRedisPresence(t *testing.T)    { testPresence(t, newRedisEnv) }

func TestRedisPrefixesAreSeparate(t *testing.T) {
	rdb := testenv.Redis(t)
	a := NewRedis(rdb, testenv.RedisPrefix(t))
	b := NewRedis(rdb, testenv.RedisPrefix(t))
	if !tryLock(t, a, "jobs", "A", longTTL) || !tryLock(t, b, "jobs", "B", longTTL) {
		t.Fatal("a lock under one prefix blocked the same name under another")
	}
}
