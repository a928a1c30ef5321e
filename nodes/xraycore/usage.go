package xraycore

import (
	"strings"
	"sync"

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

// usageMeter owns the counters' read side. It has its own lock so that a
// long Apply (100,000 users being added) never delays a usage tick: Apply
// takes this lock only to swap instances.
type usageMeter struct {
	mu      sync.Mutex
	current counterVisitor
	// pending holds what was drained from instances that were replaced or
	// closed, until the next collect.
	pending map[string]Traffic
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
		out = drainCounters(m.current, out)
	}
	return out
}

// replace makes next the counted instance, keeping what prev counted.
func (m *usageMeter) replace(prev, next counterVisitor) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if prev != nil {
		m.pending = drainCounters(prev, m.pending)
	}
	m.current = next
}

// drainOld collects what a replaced instance counted after it was swapped
// out (connections still closing), so those bytes are not lost either.
func (m *usageMeter) drainOld(old counterVisitor) {
	if old == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pending = drainCounters(old, m.pending)
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
func drainCounters(v counterVisitor, into map[string]Traffic) map[string]Traffic {
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
	return into
}
