package store

// The users list filters of the dashboard: expiring within some days and
// data left under a share of the limit. Both run in SQL (Tx.ListUsers) and
// in the user directory (backend/directory/filters.go), which must answer
// alike.

// dashboardConds adds f's expiry and data-left conditions to where and
// reports whether they read user_traffic (alias t).
func dashboardConds(f *UserFilter, where []string, a *args) ([]string, bool) {
	if f.ExpireAfter > 0 || f.ExpireBefore > 0 {
		where = append(where, `u.expire > 0`)
		if f.ExpireAfter > 0 {
			where = append(where, `u.expire > `+a.add(f.ExpireAfter))
		}
		if f.ExpireBefore > 0 {
			where = append(where, `u.expire <= `+a.add(f.ExpireBefore))
		}
	}
	if f.DataLeftBelowPercent > 0 {
		// In doubles on both engines (SQLite's DOUBLE PRECISION is REAL),
		// as the directory's dataLeftBelow computes it: no product can
		// overflow, and the directory gets the very same answer.
		where = append(where, `u.data_limit > 0 AND CAST(u.data_limit - t.used_traffic AS DOUBLE PRECISION) * 100 < CAST(u.data_limit AS DOUBLE PRECISION) * `+
			a.add(float64(f.DataLeftBelowPercent)))
		return where, true
	}
	return where, false
}
