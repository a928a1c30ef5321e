package agent

import (
	"slices"
	"sync"
	"time"

	"github.com/outpost-panel/outpost/nodes/protocol"
)

// onlineBuffer merges the online samples taken since the last report.
// Addresses are not journaled: they say who is connected, not what was
// counted, and a report lost with its session costs nothing but a gap.
// Bounded: at most MaxOnlineUsers users and MaxOnlineAddrs addresses each.
type onlineBuffer struct {
	mu      sync.Mutex
	last    time.Time // when the last sample was taken
	at      time.Time // the newest sample in users
	users   map[string][]string
	pending bool
}

// onlineEvery is how often the online maps are sampled: the panel's usage
// interval (so the panel's "seen within two intervals" window holds one or
// two samples), protocol.DefaultOnlineEvery before it has said.
func (a *Agent) onlineEvery() time.Duration {
	return protocol.OnlineEvery(time.Duration(a.usageEvery.Load()))
}

// sampleOnline reads who is connected from where, at most once per
// onlineEvery, and merges it into what the next usage batch carries.
func (a *Agent) sampleOnline(now time.Time) {
	b := &a.online
	b.mu.Lock()
	due := now.Sub(b.last) >= a.onlineEvery()
	if due {
		b.last = now
	}
	b.mu.Unlock()
	if !due {
		return
	}
	b.merge(now, a.eng.CollectOnline(protocol.MaxOnlineAddrs))
}

// merge adds a sample (addresses by identity email) to the buffer, by user.
func (b *onlineBuffer) merge(now time.Time, sample map[string][]string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(sample) == 0 {
		return
	}
	if b.users == nil {
		b.users = make(map[string][]string, len(sample))
	}
	for identity, ips := range sample {
		// The panel tracks addresses per user: a user's devices add up.
		email := protocol.OwnerEmail(identity)
		have, ok := b.users[email]
		if !ok && len(b.users) >= protocol.MaxOnlineUsers {
			continue
		}
		for _, ip := range ips {
			if len(have) < protocol.MaxOnlineAddrs && !slices.Contains(have, ip) {
				have = append(have, ip)
			}
		}
		b.users[email] = have
	}
	b.at, b.pending = now, true
}

// takeOnline empties the buffer into a report (nil when nothing was seen),
// within MaxOnlineAddrsTotal.
func (a *Agent) takeOnline() *protocol.Online {
	b := &a.online
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.pending {
		return nil
	}
	o := &protocol.Online{At: b.at.Unix(), Users: make([]protocol.UserOnline, 0, len(b.users))}
	total := 0
	for email, ips := range b.users {
		if total+len(ips) > protocol.MaxOnlineAddrsTotal {
			break
		}
		total += len(ips)
		o.Users = append(o.Users, protocol.UserOnline{Email: email, IPs: ips})
	}
	b.users, b.pending = nil, false
	return o
}
