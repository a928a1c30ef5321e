// Package coord coordinates panel replicas: which one runs the background
// jobs (Locker), how many login attempts a key has made (RateLimiter), and
// which replica holds a node's session, fenced so that a newer session wins
// (Presence).
//
// Memory serves a single process; Redis serves replicas sharing one Redis.
// Both pass one contract suite per interface.
package coord

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

// ErrNotHeld is returned by Unlock and Release when the caller does not hold
// what it tries to give up: its lease expired and perhaps someone else took
// it, or a newer session fenced it off. It is normal at shutdown.
var ErrNotHeld = errors.New("coord: not held by this owner")

// MaxFence is the largest fencing token accepted; Redis scripts compare
// fences as Lua numbers, exact up to 2^53.
const MaxFence = 1 << 53

// Locker elects the replica that runs background jobs.
type Locker interface {
	// TryLock takes or renews the named lease for owner for ttl and reports
	// whether owner holds it now.
	TryLock(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	// Unlock gives the lease up if owner holds it, else returns ErrNotHeld
	// and leaves it alone.
	Unlock(ctx context.Context, name, owner string) error
}

// RateLimiter counts login attempts.
type RateLimiter interface {
	// Allow counts one hit on key in a fixed window that starts with the
	// key's first hit and reports whether the hit is within limit. When it
	// is not, retryAfter is how long until the window ends.
	Allow(ctx context.Context, key string, limit int, window time.Duration) (ok bool, retryAfter time.Duration, err error)
	// Reset forgets key's window, so its next hit starts a new one. A
	// successful login resets its (address, username) key: an admin who
	// mistyped a few times is not counted against later. A key without a
	// window is not an error.
	Reset(ctx context.Context, key string) error
}

// Presence records which replica holds a node's session, with a fencing
// token that only grows, so a stale session can never take a node back.
type Presence interface {
	// Claim records replica as holder of node with fence for ttl. It
	// succeeds if fence is greater than the highest fence ever claimed for
	// the node, or equal to it by the same replica (a renewal). It returns
	// the live holder before the call ("" if none), on success and refusal
	// alike.
	Claim(ctx context.Context, nodeID int64, replica string, fence int64, ttl time.Duration) (prev string, ok bool, err error)
	// Holder returns the live holder of node ("" if none, because it was
	// released or its claim expired) and the highest fence ever claimed for
	// it (0 if none), so a new session knows what to beat.
	Holder(ctx context.Context, nodeID int64) (replica string, fence int64, err error)
	// Release ends replica's claim made with fence, keeping the fence. It
	// returns ErrNotHeld if that claim was superseded.
	Release(ctx context.Context, nodeID int64, replica string, fence int64) error
}

func validateLock(name, owner string, ttl time.Duration) error {
	if name == "" || owner == "" {
		return fmt.Errorf("lock name and owner must be set: %w", model.ErrInvalid)
	}
	if ttl < time.Millisecond {
		return fmt.Errorf("lock %q ttl %s below 1ms: %w", name, ttl, model.ErrInvalid)
	}
	return nil
}

func validateRate(key string, limit int, window time.Duration) error {
	if key == "" {
		return fmt.Errorf("rate limit key is empty: %w", model.ErrInvalid)
	}
	if limit < 1 {
		return fmt.Errorf("rate limit %d below 1: %w", limit, model.ErrInvalid)
	}
	if window < time.Millisecond {
		return fmt.Errorf("rate limit window %s below 1ms: %w", window, model.ErrInvalid)
	}
	return nil
}

func validateClaim(nodeID int64, replica string, fence int64, ttl time.Duration) error {
	if replica == "" {
		return fmt.Errorf("presence of node %d: replica is empty: %w", nodeID, model.ErrInvalid)
	}
	if fence < 1 || fence > MaxFence {
		return fmt.Errorf("presence of node %d: fence %d out of range: %w", nodeID, fence, model.ErrInvalid)
	}
	if ttl < time.Millisecond {
		return fmt.Errorf("presence of node %d: ttl %s below 1ms: %w", nodeID, ttl, model.ErrInvalid)
	}
	return nil
}
