package store

import (
	"testing"
	"time"
)

// BenchmarkSystemCounts100k: one op is what GET /api/system reads (counts
// by status, online count, total node traffic) over 100,000 users.
func BenchmarkSystemCounts100k(b *testing.B) {
	benchEngines(b, func(b *testing.B, s *Store) {
		seedUsers(b, s, 100_000, 0)
		b.ResetTimer()
		for b.Loop() {
			mustRead(b, s, func(tx *Tx) error {
				if _, err := tx.CountUsersByStatus(nil); err != nil {
					return err
				}
				if _, err := tx.CountOnlineUsers(seedNow.Add(-2*time.Minute), nil); err != nil {
					return err
				}
				_, _, err := tx.TotalNodeTraffic()
				return err
			})
		}
	})
}

// BenchmarkWebhookReminders100k: one op is one reminder pass's two queries
// over 100,000 users in the steady state (everyone due already reminded).
func BenchmarkWebhookReminders100k(b *testing.B) {
	benchEngines(b, func(b *testing.B, s *Store) {
		needExtraSchema(b, s)
		seedUsers(b, s, 100_000, 0)
		pass := func(record bool) int {
			n := 0
			mustTx(b, s, func(tx *Tx) error {
				usage, err := tx.UsersReachingUsage(80, 500)
				if err != nil {
					return err
				}
				days, err := tx.UsersReachingExpiry(seedNow, 3*24*time.Hour, 500)
				if err != nil {
					return err
				}
				n = len(usage) + len(days)
				if !record {
					return nil
				}
				if err := tx.RemindedUsers(ReminderUsage, usage); err != nil {
					return err
				}
				return tx.RemindedUsers(ReminderDays, days)
			})
			return n
		}
		for pass(true) > 0 {
		}
		b.ResetTimer()
		for b.Loop() {
			if n := pass(false); n != 0 {
				b.Fatalf("steady state found %d users", n)
			}
		}
	})
}
