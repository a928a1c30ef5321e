package api

import (
	"container/list"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Per-username sign-in slow-down (next to the per-address limits in
// admins.go). Guesses at one admin name from many addresses get past the
// address limits; this counts failures per name alone, whatever the
// address:
//
//   - the first nameFreeFailures failures cost nothing (above the
//     per-address limit of one name, so one address is stopped by that
//     first);
//   - after that each failure blocks the name for 2^(n-free) seconds,
//     capped at nameMaxDelay: a blocked name is refused with 429 and
//     Retry-After before its password is checked;
//   - a success forgets the name; so does nameForget without failures.
//
// An attacker can keep a name blocked, but only for nameMaxDelay at a time
// and never for an admin with two-factor sign-in on: a blocked name still
// has its password checked when the form carries a two-factor code and
// the admin's second factor is on (guessing then needs the code as well),
// so such an admin can always sign in. Counts are per replica, in memory,
// for at most nameTracked names (least recently failed dropped first).
const (
	nameFreeFailures = 20
	nameMaxDelay     = time.Minute
	nameForget       = 15 * time.Minute
	nameTracked      = 10000
)

type nameFailures struct {
	name    string
	count   int
	last    time.Time
	blocked time.Time // refused until then
}

// nameLimiter tracks failed sign-ins per admin name, bounded in memory.
type nameLimiter struct {
	mu    sync.Mutex
	max   int
	order *list.List // front: most recently failed
	names map[string]*list.Element
}

func newNameLimiter(max int) *nameLimiter {
	return &nameLimiter{max: max, order: list.New(), names: map[string]*list.Element{}}
}

// nameKey is the tracked form of a name, copied: Fiber's form values
// point into a request buffer that is reused.
func nameKey(username string) string { return strings.Clone(truncate(strings.ToLower(username), 64)) }

// blockedFor reports how long name stays refused at now (0: not).
func (l *nameLimiter) blockedFor(name string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.names[nameKey(name)]
	if !ok {
		return 0
	}
	f := el.Value.(*nameFailures)
	if now.Sub(f.last) >= nameForget {
		l.order.Remove(el)
		delete(l.names, f.name)
		return 0
	}
	if d := f.blocked.Sub(now); d > 0 {
		return d
	}
	return 0
}

// fail counts a failed sign-in for name at now.
func (l *nameLimiter) fail(name string, now time.Time) {
	key := nameKey(name)
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.names[key]
	if !ok {
		if l.order.Len() >= l.max {
			old := l.order.Back()
			l.order.Remove(old)
			delete(l.names, old.Value.(*nameFailures).name)
		}
		el = l.order.PushFront(&nameFailures{name: key})
		l.names[key] = el
	} else {
		l.order.MoveToFront(el)
	}
	f := el.Value.(*nameFailures)
	if now.Sub(f.last) >= nameForget {
		f.count = 0
	}
	f.count++
	f.last = now
	if over := f.count - nameFreeFailures; over > 0 {
		delay := nameMaxDelay
		if over < 30 { // 2^30 s is far past the cap: no overflow
			delay = min(time.Duration(1<<over)*time.Second/2, nameMaxDelay)
		}
		f.blocked = now.Add(delay)
	}
}

// succeed forgets name.
func (l *nameLimiter) succeed(name string) {
	key := nameKey(name)
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.names[key]; ok {
		l.order.Remove(el)
		delete(l.names, key)
	}
}

func (l *nameLimiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.order.Len()
}

// nameRefusal is the 429 of a blocked name.
func nameRefusal(c *fiber.Ctx, d time.Duration) error {
	secs := max(int(math.Ceil(d.Seconds())), 1)
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
	return fiber.NewError(fiber.StatusTooManyRequests,
		"Too many failed sign-ins for this username; try again in "+strconv.Itoa(secs)+" seconds")
}
