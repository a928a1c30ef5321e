package store

// The users list filters of the dashboard: expiring within some days and
// data left under a share of the limit. Both run in SQL (Tx.ListUsers) and
// in the user directory (directory.go), which must answer alike.

// dashboardConds adds f's expiry and data-left conditions to where and
// reports whether they read user_traffic (alias t).
func (f *UserFilter) dashboardConds(where []string, a *args) ([]string, bool) {
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
		// as dataLeftBelow computes it: no product can overflow, and the
		// directory gets the very same answer.
		where = append(where, `u.data_limit > 0 AND CAST(u.data_limit - t.used_traffic AS DOUBLE PRECISION) * 100 < CAST(u.data_limit AS DOUBLE PRECISION) * `+
			a.add(float64(f.DataLeftBelowPercent)))
		return where, true
	}
	return where, false
}

// dataLeftBelow is the directory's form of the data-left condition.
func dataLeftBelow(limit, used int64, percent float64) bool {
	return limit > 0 && float64(limit-used)*100 < float64(limit)*percent
}

// dirDashboard is the part of a directory query these filters compile to.
type dirDashboard struct {
	expireAfter, expireBefore int64
	leftPercent               float64 // 0: no filter
}

func (d *dirDashboard) set() bool {
	return d.expireAfter > 0 || d.expireBefore > 0 || d.leftPercent > 0
}

func compileDashboard(f *UserFilter) dirDashboard {
	return dirDashboard{expireAfter: f.ExpireAfter, expireBefore: f.ExpireBefore, leftPercent: float64(f.DataLeftBelowPercent)}
}

func (d *dirDashboard) matches(t *dirTable, i int) bool {
	if d.expireAfter > 0 || d.expireBefore > 0 {
		e := t.expire[i]
		if e <= 0 || (d.expireAfter > 0 && e <= d.expireAfter) || (d.expireBefore > 0 && e > d.expireBefore) {
			return false
		}
	}
	if d.leftPercent > 0 && !dataLeftBelow(t.dataLimit[i], t.used[i], d.leftPercent) {
		return false
	}
	return true
}
