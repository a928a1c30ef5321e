package xraycore

import (
	"slices"
	"strings"

	"github.com/xtls/xray-core/features/stats"
)

// onlineLister is the part of Xray's stats manager (app/stats.Manager)
// that lists the per-user online maps statsUserOnline fills: one map per
// user, named user>>>EMAIL>>>online, holding the source address of each
// live connection (Xray leaves 127.0.0.1 and ::1 out).
type onlineLister interface {
	GetAllOnlineUsers() []string
	GetOnlineMap(string) stats.OnlineMap
}

const onlineSuffix = ">>>online"

// CollectOnline returns the source addresses of each user's live
// connections right now, at most maxPerUser each (sorted, so the same ones
// are kept from one call to the next), over the running core and the
// replaced ones whose connections live on. Users with no live connection
// are left out. It reads Xray's maps under their own locks and takes none
// of the engine's but the meter's, briefly, to see which cores to read.
func (e *Engine) CollectOnline(maxPerUser int) map[string][]string {
	e.meter.mu.Lock()
	sources := make([]counterVisitor, 0, 1+len(e.meter.retired))
	if e.meter.current != nil {
		sources = append(sources, e.meter.current)
	}
	for _, r := range e.meter.retired {
		sources = append(sources, r.counters)
	}
	e.meter.mu.Unlock()
	var out map[string][]string
	for _, src := range sources {
		l, ok := src.(onlineLister)
		if !ok {
			continue
		}
		for _, name := range l.GetAllOnlineUsers() {
			rest, ok := strings.CutPrefix(name, userCounterPrefix)
			if !ok {
				continue
			}
			email, ok := strings.CutSuffix(rest, onlineSuffix)
			if !ok {
				continue
			}
			m := l.GetOnlineMap(name)
			if m == nil {
				continue
			}
			ips := m.List()
			if len(ips) == 0 {
				continue
			}
			if out == nil {
				out = make(map[string][]string)
			}
			out[email] = mergeAddrs(out[email], ips, maxPerUser)
		}
	}
	return out
}

// mergeAddrs adds the addresses of more to have that it lacks, keeping at
// most limit (the smallest, sorted).
func mergeAddrs(have, more []string, limit int) []string {
	for _, ip := range more {
		if ip = strings.Trim(ip, "[]"); ip != "" && !slices.Contains(have, ip) {
			have = append(have, ip)
		}
	}
	slices.Sort(have)
	if len(have) > limit {
		have = have[:limit]
	}
	return have
}
