package xraycore

import (
	"strings"
	"sync"
	"time"

	"github.com/xtls/xray-core/core"
	"github.com/xtls/xray-core/features/stats"
)

// Traffic is bytes moved by one user: Up from the client, Down to it.
type Traffic struct{ Up, Down int64 }

// counterVisitor is the part of Xray's stats manager (app/stats.Manager)
// that walks all counters in one pass under one read lock.
type counterVisitor interface {
	VisitCounters(func(string, stats.Counter) bool)
}

// retiredIdleLimit is how long the counters of a replaced core are still
// read after they last moved. Xray does not cut the connections of a core
// that is closed: they carry on, and keep counting into that core's stats
// manager, until they end.
const retiredIdleLimit = time.Hour

// usageMeter owns the counters' read side. It has its own lock so that a
// long Apply (100,000 users being added) never delays a usage tick: Apply
// takes this lock only to swap instances.
type usageMeter struct {
	mu      sync.Mutex
	now     func() time.Time
	current counterVisitor
	retired []retiredCounters
	// pending holds what was drained from instances when they were
	// replaced, until the next collect.
	pending map[string]Traffic
}

type retiredCounters struct {
	counters  counterVisitor
	lastMoved time.Time
}

func statsOf(inst *core.Instance) counterVisitor {
	v, _ := inst.GetFeature(stats.ManagerType()).(counterVisitor)
	return v
}

// collect returns and resets what moved since the last call.
func (m *usageMeter) collect() map[string]Traffic {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.pending
	m.pending = nil
	if m.current != nil {
		out, _ = drainCounters(m.current, out)
	}
	now := m.now()
	kept := m.retired[:0]
	for _, r := range m.retired {
		var moved bool
		if out, moved = drainCounters(r.counters, out); moved {
			r.lastMoved = now
		}
		if now.Sub(r.lastMoved) < retiredIdleLimit {
			kept = append(kept, r)
		}
	}
	clear(m.retired[len(kept):])
	m.retired = kept
	return out
}

// replace makes next the counted instance (nil when the engine closes). prev
// is drained now and kept being read while its connections live on.
func (m *usageMeter) replace(prev, next counterVisitor) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if prev != nil {
		m.pending, _ = drainCounters(prev, m.pending)
		m.retired = append(m.retired, retiredCounters{counters: prev, lastMoved: m.now()})
	}
	m.current = next
}

const (
	userCounterPrefix = "user>>>"
	uplinkSuffix      = ">>>traffic>>>uplink"
	downlinkSuffix    = ">>>traffic>>>downlink"
)

// drainCounters swaps every per-user counter to zero in one pass and adds
// the old values to into (allocated when something moved). Counter.Set is
// an atomic swap, so bytes counted between the read and the reset are kept
// for the next call rather than lost.
func drainCounters(v counterVisitor, into map[string]Traffic) (_ map[string]Traffic, moved bool) {
	v.VisitCounters(func(name string, c stats.Counter) bool {
		rest, ok := strings.CutPrefix(name, userCounterPrefix)
		if !ok {
			return true
		}
		var email string
		var up bool
		if email, ok = strings.CutSuffix(rest, uplinkSuffix); ok {
			up = true
		} else if email, ok = strings.CutSuffix(rest, downlinkSuffix); !ok {
			return true
		}
		n := c.Set(0)
		if n == 0 {
			return true
		}
		moved = true
		if into == nil {
			into = make(map[string]Traffic)
		}
		t := into[email]
		if up {
			t.Up += n
		} else {
			t.Down += n
		}
		into[email] = t
		return true
	})
	return into, moved
}
