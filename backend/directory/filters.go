package directory

import "github.com/outpost-panel/outpost/backend/model"

// The users list filters of the dashboard: expiring within some days and
// data left under a share of the limit. Both run in SQL (the store's
// dashboardConds) and here, which must answer alike.

// dataLeftBelow is the directory's form of the data-left condition, in
// doubles as the SQL computes it.
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

func compileDashboard(f *model.UserFilter) dirDashboard {
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
