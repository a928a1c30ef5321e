package coord

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/outpost-panel/outpost/backend/model"
)

// Every check-then-write below is one Lua script, so two replicas can never
// both see "free" and both take.

// KEYS[1] lease; ARGV[1] owner, ARGV[2] ttl ms.
var tryLockScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`)

// KEYS[1] lease; ARGV[1] owner.
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// KEYS[1] window counter; ARGV[1] window ms. The window starts with the
// first hit; the expiry check also repairs a counter that somehow lost its
// TTL, which would otherwise lock the key out forever.
var allowScript = redis.NewScript(`
local hits = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {hits, ttl}
`)

// KEYS[1] fence record (hash replica, fence; never expires, so a fence only
// grows even after the holder's claim lapses), KEYS[2] live claim (expires).
// ARGV[1] replica, ARGV[2] fence, ARGV[3] ttl ms. Returns {prev, ok}.
var claimScript = redis.NewScript(`
local rec = redis.call('HMGET', KEYS[1], 'replica', 'fence')
local curReplica = rec[1] or ''
local curFence = tonumber(rec[2] or '0')
local prev = ''
if redis.call('EXISTS', KEYS[2]) == 1 then prev = curReplica end
local fence = tonumber(ARGV[2])
if fence > curFence or (fence == curFence and ARGV[1] == curReplica) then
  redis.call('HSET', KEYS[1], 'replica', ARGV[1], 'fence', ARGV[2])
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  return {prev, 1}
end
return {prev, 0}
`)

// KEYS as claimScript; ARGV[1] replica, ARGV[2] fence.
var releaseScript = redis.NewScript(`
local rec = redis.call('HMGET', KEYS[1], 'replica', 'fence')
if rec[1] == ARGV[1] and rec[2] == ARGV[2] then
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
`)

// Redis coordinates replicas through one Redis under a key prefix. Leases
// and windows expire by Redis's clock, so replicas' clocks need not agree.
type Redis struct {
	rdb    *redis.Client
	prefix string
}

var (
	_ Locker      = (*Redis)(nil)
	_ RateLimiter = (*Redis)(nil)
	_ Presence    = (*Redis)(nil)
)

// NewRedis returns coordination over rdb with keys under prefix.
func NewRedis(rdb *redis.Client, prefix string) *Redis {
	return &Redis{rdb: rdb, prefix: prefix}
}

func (r *Redis) lockKey(name string) string { return r.prefix + ":lock:" + name }
func (r *Redis) rateKey(key string) string  { return r.prefix + ":rate:" + key }

func (r *Redis) presenceKeys(nodeID int64) []string {
	base := r.prefix + ":node:" + strconv.FormatInt(nodeID, 10)
	return []string{base + ":fence", base + ":live"}
}

// ms rounds up so that a sub-millisecond remainder never becomes "no TTL".
func ms(d time.Duration) int64 { return int64((d + time.Millisecond - 1) / time.Millisecond) }

func (r *Redis) TryLock(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	if err := validateLock(name, owner, ttl); err != nil {
		return false, err
	}
	took, err := tryLockScript.Run(ctx, r.rdb, []string{r.lockKey(name)}, owner, ms(ttl)).Int()
	if err != nil {
		return false, fmt.Errorf("taking lock %q: %w", name, err)
	}
	return took == 1, nil
}

func (r *Redis) Unlock(ctx context.Context, name, owner string) error {
	deleted, err := unlockScript.Run(ctx, r.rdb, []string{r.lockKey(name)}, owner).Int()
	if err != nil {
		return fmt.Errorf("unlocking %q: %w", name, err)
	}
	if deleted == 0 {
		return fmt.Errorf("unlocking %q as %q: %w", name, owner, ErrNotHeld)
	}
	return nil
}

func (r *Redis) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	if err := validateRate(key, limit, window); err != nil {
		return false, 0, err
	}
	res, err := allowScript.Run(ctx, r.rdb, []string{r.rateKey(key)}, ms(window)).Int64Slice()
	if err != nil {
		return false, 0, fmt.Errorf("counting rate limit hit: %w", err)
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("counting rate limit hit: script returned %d values", len(res))
	}
	if res[0] <= int64(limit) {
		return true, 0, nil
	}
	return false, time.Duration(res[1]) * time.Millisecond, nil
}

func (r *Redis) Reset(ctx context.Context, key string) error {
	if key == "" {
		return fmt.Errorf("rate limit key is empty: %w", model.ErrInvalid)
	}
	if err := r.rdb.Del(ctx, r.rateKey(key)).Err(); err != nil {
		return fmt.Errorf("resetting rate limit: %w", err)
	}
	return nil
}

func (r *Redis) Claim(ctx context.Context, nodeID int64, replica string, fence int64, ttl time.Duration) (string, bool, error) {
	if err := validateClaim(nodeID, replica, fence, ttl); err != nil {
		return "", false, err
	}
	res, err := claimScript.Run(ctx, r.rdb, r.presenceKeys(nodeID), replica, fence, ms(ttl)).Slice()
	if err != nil {
		return "", false, fmt.Errorf("claiming node %d: %w", nodeID, err)
	}
	if len(res) != 2 {
		return "", false, fmt.Errorf("claiming node %d: script returned %d values", nodeID, len(res))
	}
	prev, _ := res[0].(string)
	ok, _ := res[1].(int64)
	return prev, ok == 1, nil
}

func (r *Redis) Holder(ctx context.Context, nodeID int64) (string, int64, error) {
	keys := r.presenceKeys(nodeID)
	var rec *redis.SliceCmd
	var live *redis.IntCmd
	if _, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		rec = p.HMGet(ctx, keys[0], "replica", "fence")
		live = p.Exists(ctx, keys[1])
		return nil
	}); err != nil {
		return "", 0, fmt.Errorf("reading holder of node %d: %w", nodeID, err)
	}
	replica, _ := rec.Val()[0].(string)
	fenceText, _ := rec.Val()[1].(string)
	var fence int64
	if fenceText != "" {
		var err error
		if fence, err = strconv.ParseInt(fenceText, 10, 64); err != nil {
			return "", 0, fmt.Errorf("reading holder of node %d: fence %q: %w", nodeID, fenceText, err)
		}
	}
	if live.Val() == 0 {
		replica = ""
	}
	return replica, fence, nil
}

func (r *Redis) Release(ctx context.Context, nodeID int64, replica string, fence int64) error {
	released, err := releaseScript.Run(ctx, r.rdb, r.presenceKeys(nodeID), replica, fence).Int()
	if err != nil {
		return fmt.Errorf("releasing node %d: %w", nodeID, err)
	}
	if released == 0 {
		return fmt.Errorf("releasing node %d as %q with fence %d: %w", nodeID, replica, fence, ErrNotHeld)
	}
	return nil
}
