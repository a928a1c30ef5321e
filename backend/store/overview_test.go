package store

import (
	"context"
	"testing"
	"time"
)

func TestTrafficByHour(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a, b := testNode("tr-1"), testNode("tr-2")
		mustTx(t, s, func(tx *Tx) error {
			if err := tx.CreateNode(&a); err != nil {
				return err
			}
			return tx.CreateNode(&b)
		})
		hour := time.Unix(1_800_000_000, 0).UTC().Truncate(time.Hour)
		for _, n := range []int64{a.ID, b.ID} {
			fence, _, err := s.NodeSessionStart(ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			for i, at := range []time.Time{hour.Add(-49 * time.Hour), hour.Add(-time.Hour + time.Minute), hour.Add(5 * time.Minute), hour.Add(59 * time.Minute)} {
				if _, err := s.ApplyUsage(ctx, n, fence, int64(i), int64(i+1), at, []UserTraffic{{UserID: 999, Up: 1, Down: 10}}); err != nil {
					t.Fatal(err)
				}
			}
		}
		mustRead(t, s, func(tx *Tx) error {
			got, err := tx.TrafficByHour(hour.Add(-time.Hour))
			if err != nil {
				return err
			}
			want := []HourTraffic{{hour.Add(-time.Hour), 2, 20}, {hour, 4, 40}}
			if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
				t.Fatalf("TrafficByHour = %+v, want %+v", got, want)
			}
			return nil
		})
	})
}
