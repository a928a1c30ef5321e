package directory

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

// The dashboard's filters answer alike from the directory and from SQL,
// on both engines, at the edges: no expiry, expiry on a bound, no limit,
// limits near the int64 maximum, users over their limit.
func TestDashboardFilters(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		const now = int64(1_800_000_000)
		type spec struct {
			expire, limit, used int64
		}
		specs := []spec{
			{0, 0, 0},                             // never expires, unlimited
			{now - 10, 100, 95},                   // expired, 5% left
			{now, 100, 0},                         // expires exactly now
			{now + 1, 100, 91},                    // 9% left
			{now + 86400, 100, 90},                // exactly 10% left
			{now + 7*86400, 100, 150},             // over its limit
			{now + 7*86400 + 1, math.MaxInt64, 0}, // huge limit, all left
			{now + 30*86400, math.MaxInt64, math.MaxInt64 - 1}, // huge limit, almost none left
		}
		dirChange(t, s, func(tx *Tx, rev int64) error {
			for i, sp := range specs {
				u := testUser(fmt.Sprintf("flt_%d", i))
				u.Expire, u.DataLimit, u.UsedTraffic, u.Revision = sp.expire, sp.limit, sp.used, rev
				if err := tx.CreateUser(&u); err != nil {
					return err
				}
			}
			return nil
		})
		names := func(f UserFilter) []string {
			t.Helper()
			assertListMatches(t, s, f) // the directory against SQL's window
			list := func(f UserFilter) []string {
				users, _, err := s.ListUsers(t.Context(), f)
				if err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, u := range users {
					out = append(out, u.Username)
				}
				return out
			}
			got := list(f)
			if f.Offset == 0 {
				all := f
				all.Limit = 0 // SQL's plain count-then-select path
				if other := list(all); !slices.Equal(other, got) {
					t.Errorf("%+v: unlimited SQL lists %v, the directory %v", f, other, got)
				}
			}
			return got
		}
		for _, tc := range []struct {
			f    UserFilter
			want []string
		}{
			{UserFilter{Limit: 100, ExpireAfter: now, ExpireBefore: now + 7*86400}, []string{"flt_3", "flt_4", "flt_5"}},
			{UserFilter{Limit: 100, ExpireBefore: now}, []string{"flt_1", "flt_2"}},
			{UserFilter{Limit: 100, DataLeftBelowPercent: 10}, []string{"flt_1", "flt_3", "flt_5", "flt_7"}},
			{UserFilter{Limit: 100, DataLeftBelowPercent: 100}, []string{"flt_1", "flt_3", "flt_4", "flt_5", "flt_7"}},
			{UserFilter{Limit: 100, DataLeftBelowPercent: 10, ExpireAfter: now, Sort: "-used_traffic"}, []string{"flt_7", "flt_5", "flt_3"}},
			{UserFilter{Limit: 2, Offset: 1, DataLeftBelowPercent: 10}, []string{"flt_3", "flt_5"}},
		} {
			if got := names(tc.f); !slices.Equal(got, tc.want) {
				t.Errorf("%+v: %v, want %v", tc.f, got, tc.want)
			}
		}
		for _, bad := range []UserFilter{{DataLeftBelowPercent: 101}, {DataLeftBelowPercent: -1}, {ExpireBefore: -1}} {
			if _, _, err := s.ListUsers(t.Context(), bad); err == nil {
				t.Errorf("%+v accepted", bad)
			}
		}
	})
}

// BenchmarkDashboardFilters100k: pages of the dashboard's filters at 100k
// users, from the directory (reported as percentiles).
func BenchmarkDashboardFilters100k(b *testing.B) {
	benchEngines(b, func(b *testing.B, s *Store) {
		seedUsers(b, s, 100_000)
		s.dir.usedEvery = 0
		if _, _, err := s.ListUsers(b.Context(), UserFilter{Limit: 1}); err != nil {
			b.Fatal(err)
		}
		now := seedNow.Unix()
		filters := []UserFilter{
			{Limit: 50, ExpireAfter: now, ExpireBefore: now + 7*86400, Sort: "expire"},
			{Limit: 50, DataLeftBelowPercent: 20, Sort: "-used_traffic"},
			{Limit: 50, Offset: 50, Status: "on_hold", DataLeftBelowPercent: 50},
			{Limit: 100, ExpireAfter: now, ExpireBefore: now + 30*86400, DataLeftBelowPercent: 10, Search: "user_1"},
		}
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := range b.N {
			start := time.Now()
			if _, _, err := s.ListUsers(b.Context(), filters[i%len(filters)]); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		b.StopTimer()
		reportPercentiles(b, lat)
	})
}
