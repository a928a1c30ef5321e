package state

import (
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

func TestNextPlanRules(t *testing.T) {
	now := time.Unix(1_800_000_000, 0).UTC()
	past, future := now.Unix()-1, now.Unix()+3600
	cases := []struct {
		name                  string
		limit, used, expire   int64
		plan                  model.NextPlan
		fires                 bool
		wantLimit, wantExpire int64
	}{
		{"either, limited, remaining added (none left)", 100, 120, future, model.NextPlan{DataLimit: 50, Expire: 10, AddRemainingTraffic: true, FireOnEither: true}, true, 50, now.Unix() + 10},
		{"either, expired, remaining added", 100, 30, past, model.NextPlan{DataLimit: 50, Expire: 10, AddRemainingTraffic: true, FireOnEither: true}, true, 120, now.Unix() + 10},
		{"either, expired, remaining not added", 100, 30, past, model.NextPlan{DataLimit: 50, FireOnEither: true}, true, 50, 0},
		{"either, neither reached", 100, 30, future, model.NextPlan{DataLimit: 50, FireOnEither: true}, false, 0, 0},
		{"both, only limited", 100, 100, future, model.NextPlan{DataLimit: 50}, false, 0, 0},
		{"both, only expired", 100, 10, past, model.NextPlan{DataLimit: 50}, false, 0, 0},
		{"both, both reached", 100, 100, past, model.NextPlan{DataLimit: 50, Expire: 5}, true, 50, now.Unix() + 5},
		{"both, limited and never expires", 100, 100, 0, model.NextPlan{DataLimit: 50}, true, 50, 0},
		{"both, expired and unlimited", 0, 100, past, model.NextPlan{DataLimit: 50, AddRemainingTraffic: true}, true, 50, 0},
		{"unlimited plan stays unlimited with remaining added", 100, 30, past, model.NextPlan{AddRemainingTraffic: true, FireOnEither: true}, true, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plan := c.plan
			u := &model.User{ID: 1, Status: model.StatusActive, DataLimit: c.limit, UsedTraffic: c.used, Expire: c.expire, NextPlan: &plan}
			if got := planFires(u, now); got != c.fires {
				t.Fatalf("planFires = %v, want %v", got, c.fires)
			}
			if !c.fires {
				return
			}
			p := applyNextPlan(u, now)
			if p.DataLimit != c.wantLimit || u.DataLimit != c.wantLimit || p.Expire != c.wantExpire || u.Expire != c.wantExpire {
				t.Errorf("after plan: limit %d expire %d; want %d and %d", u.DataLimit, u.Expire, c.wantLimit, c.wantExpire)
			}
			if u.NextPlan != nil || u.UsedTraffic != 0 || limitStatus(u, now) != model.StatusActive {
				t.Errorf("after plan: %+v", u)
			}
		})
	}
}
