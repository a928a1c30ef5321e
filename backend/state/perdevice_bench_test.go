package state

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/store"
	"github.com/outpost-panel/outpost/nodes/protocol"
)

// BenchmarkDesiredUsersPerDevice100k is the panel side of credentials per
// device (issue 14) at 100,000 users on SQLite: the desired-state rebuild
// a snapshot starts from (DesiredUsers), the snapshot's users as JSON (what
// the hub chunks and sends; snapshot-bytes) and the heap the rebuilt state
// holds (heap-bytes), for users with their own credentials and for users
// in the mode with 3 devices each. The device ids come with the users
// rows (users.device_ids): the rebuild runs the same one query.
//
//	go test ./backend/state/ -run '^$' -bench DesiredUsersPerDevice100k -benchtime 5x
func BenchmarkDesiredUsersPerDevice100k(b *testing.B) {
	const users, perUser = 100_000, 3
	for _, devices := range []int{0, perUser} {
		b.Run(fmt.Sprintf("devices=%d", devices), func(b *testing.B) {
			ctx := context.Background()
			s, _, _ := newState(b)
			seedPerDevice(b, s, users, devices)
			var (
				cfg  []byte
				list []protocol.User
				err  error
			)
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			for b.Loop() {
				list = nil
				if _, cfg, list, err = s.DesiredUsers(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			runtime.GC()
			runtime.ReadMemStats(&after)
			if len(list) != users || (devices > 0 && len(list[users-1].Devices) != devices) {
				b.Fatalf("desired state: %d users, last %+v", len(list), list[len(list)-1])
			}
			raw, err := json.Marshal(protocol.Snapshot{Revision: 1, Config: cfg, Users: list})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(len(raw)), "snapshot-bytes")
			b.ReportMetric(float64(after.HeapAlloc)-float64(before.HeapAlloc), "heap-bytes")
			runtime.KeepAlive(list)
		})
	}
}

// seedPerDevice imports n users (in the mode, with devices admitted
// devices each, when devices > 0) in one transaction per 10,000.
func seedPerDevice(b *testing.B, s *State, n, devices int) {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	const chunk = 10_000
	for lo := 0; lo < n; lo += chunk {
		in := make([]UserInput, 0, chunk)
		for i := lo; i < min(lo+chunk, n); i++ {
			u := UserInput{Username: ptr(fmt.Sprintf("user_%06d", i)), Proxies: map[string]model.ProxySettings{"vless": {}, "trojan": {}}}
			if devices > 0 {
				u.PerDeviceCredentials = ptr(true)
			}
			in = append(in, u)
		}
		if _, err := s.ImportUsers(ctx, nil, in); err != nil {
			b.Fatal(err)
		}
	}
	if devices == 0 {
		return
	}
	var ids []int64
	if err := s.store.Read(ctx, func(tx *store.Tx) error {
		return tx.EachUserOnNodes(func(u *model.User) error { ids = append(ids, u.ID); return nil })
	}); err != nil {
		b.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0).UTC()
	for lo := 0; lo < len(ids); lo += chunk {
		err := s.store.Tx(ctx, func(tx *store.Tx) error {
			for _, id := range ids[lo:min(lo+chunk, len(ids))] {
				for d := range devices {
					if err := tx.InsertDevice(&store.Device{UserID: id, HWID: fmt.Sprintf("hw-%d", d), FirstFetch: now}); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("seeded %d users with %d devices each in %v", n, devices, time.Since(start).Round(time.Millisecond))
}

// BenchmarkPerDeviceDefaultFlip100k: turning the global default of the
// mode on (or off) for 100,000 users that follow it: one transaction, one
// revision and one change of 100,000 upserts; change-bytes is its stored
// encoding.
//
//	go test ./backend/state/ -run '^$' -bench PerDeviceDefaultFlip100k -benchtime 4x
func BenchmarkPerDeviceDefaultFlip100k(b *testing.B) {
	const users = 100_000
	ctx := context.Background()
	s, f, _ := newState(b)
	seedPerDevice(b, s, users, 0)
	set, err := s.SubscriptionSettings(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var changeBytes int
	for b.Loop() {
		set.PerDeviceCredentials = !set.PerDeviceCredentials
		if err := s.SetSubscriptionSettings(ctx, set); err != nil {
			b.Fatal(err)
		}
		last, err := f.Last(ctx)
		if err != nil {
			b.Fatal(err)
		}
		cs, err := f.Since(ctx, last-1, 1)
		if err != nil || len(cs) != 1 {
			b.Fatalf("the flip's change: %d, %v", len(cs), err)
		}
		changeBytes = len(cs[0].Data)
	}
	b.ReportMetric(float64(changeBytes), "change-bytes")
}
