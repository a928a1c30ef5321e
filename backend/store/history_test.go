package store

import (
	"testing"
	"time"
)

// Imported usage history sums into hours already there (on both engines,
// whose upserts differ), and the daily view sums the hours of each UTC day
// over every node.
func TestUsageHistoryImportAndDailySums(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC).Unix()
		mustTx(t, s, func(tx *Tx) error {
			if err := tx.AddNodeUsageHours([]NodeUsageHour{{NodeID: 1, Hour: day, Uplink: 10, Downlink: 20}}); err != nil {
				return err
			}
			if err := tx.AddNodeUsageHours([]NodeUsageHour{{NodeID: 1, Hour: day, Uplink: 1, Downlink: 2}}); err != nil {
				return err
			}
			return tx.AddUserUsageHours([]UserUsageHour{
				{UserID: 7, NodeID: 1, Hour: day, Used: 100},
				{UserID: 7, NodeID: 2, Hour: day + 5*3600, Used: 50},
				{UserID: 7, NodeID: 1, Hour: day + 86400 + 3600, Used: 9},
				{UserID: 8, NodeID: 1, Hour: day, Used: 1000},
			})
		})
		mustTx(t, s, func(tx *Tx) error {
			return tx.AddUserUsageHours([]UserUsageHour{{UserID: 7, NodeID: 1, Hour: day, Used: 1}})
		})
		mustRead(t, s, func(tx *Tx) error {
			traffic, err := tx.NodesTraffic(time.Unix(day, 0), time.Unix(day+3600, 0))
			if err != nil {
				return err
			}
			if len(traffic) != 1 || traffic[0].Uplink != 11 || traffic[0].Downlink != 22 {
				t.Errorf("node hour %+v, want 11 up and 22 down summed", traffic)
			}
			days, err := tx.UserUsageByDay(7, time.Unix(day, 0), time.Unix(day+3*86400, 0))
			if err != nil {
				return err
			}
			want := []DayTotal{{Day: day, Used: 151}, {Day: day + 86400, Used: 9}}
			if len(days) != 2 || days[0] != want[0] || days[1] != want[1] {
				t.Errorf("daily usage %+v, want %+v", days, want)
			}
			return nil
		})
	})
}
