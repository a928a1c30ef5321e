package jobs_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
	"github.com/outpost-panel/outpost/backend/state"
)

// TestIPLimitDisablesAfterGraceAndEnablesAgain runs the IP limit over a
// real store on both engines with the fake clock: addresses recorded as
// nodes report them, a user over its limit acted on only after the grace
// window, disabled through a revision (the nodes remove it) and enabled
// again by the same job when its minutes are up; the default limit
// applies to users without their own, and 0 is unlimited.
func TestIPLimitDisablesAfterGraceAndEnablesAgain(t *testing.T) {
	forEachEngine(t, func(t *testing.T, p *panel) {
		ctx := p.ctx
		p.st.SetWebhookAddresses([]string{"http://hooks.invalid/outpost"})
		if err := p.st.SetIPLimitSettings(ctx, state.IPLimitSettings{DefaultIPLimit: 2, GraceSeconds: 30, Action: state.IPLimitDisable, DisableMinutes: 5}); err != nil {
			t.Fatal(err)
		}
		one, zero := int64(1), int64(0)
		sharer := p.create(state.UserInput{Username: ptr("sharer"), IPLimit: &one})
		byDefault := p.create(state.UserInput{Username: ptr("by_default")})
		unlimited := p.create(state.UserInput{Username: ptr("unlimited"), IPLimit: &zero})
		limiter := p.st.NewIPLimiter(20 * time.Second)
		report := func() {
			t.Helper()
			err := p.st.RecordOnline(ctx, p.node.ID, p.clock.Now(), []model.UserIPs{
				{UserID: sharer.ID, IPs: []string{"198.51.100.1", "198.51.100.2"}},
				{UserID: byDefault.ID, IPs: []string{"198.51.100.3", "198.51.100.4"}},
				{UserID: unlimited.ID, IPs: []string{"198.51.100.5", "198.51.100.6", "198.51.100.7"}},
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		tick := func() state.IPLimitResult {
			t.Helper()
			res, err := limiter.Tick(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		p.changes()
		for i := 0; i < 3; i++ { // t+0, t+10, t+20: inside the grace
			report()
			if res := tick(); fmt.Sprint(res.Over) != fmt.Sprint([]int64{sharer.ID}) || len(res.Disabled) != 0 {
				t.Fatalf("tick %d: %+v; want only sharer over, nobody acted on", i, res)
			}
			if p.user("sharer").Status != model.StatusActive {
				t.Fatal("sharer disabled before the grace window passed")
			}
			p.clock.Advance(10 * time.Second)
		}
		report() // t+30: the grace has passed
		if res := tick(); fmt.Sprint(res.Disabled) != fmt.Sprint([]int64{sharer.ID}) {
			t.Fatalf("after the grace: %+v; want sharer disabled", res)
		}
		u := p.user("sharer")
		if u.Status != model.StatusDisabled || u.IPLimitUntil == nil || !u.IPLimitUntil.Equal(p.clock.Now().Add(5*time.Minute).Truncate(time.Second)) {
			t.Fatalf("sharer is %s until %v; want disabled for 5 minutes", u.Status, u.IPLimitUntil)
		}
		p.expectChange("disable", nil, []string{sharer.Email()})
		ips, err := p.st.UserIPs(ctx, nil, "sharer")
		if err != nil || len(ips) != 2 || ips[0].NodeName != "edge" {
			t.Fatalf("addresses of sharer: %+v, %v", ips, err)
		}
		rows, err := p.st.ClaimWebhooks(ctx, p.clock.Now(), time.Minute, 100)
		if err != nil {
			t.Fatal(err)
		}
		actions := map[string]bool{}
		for _, r := range rows {
			actions[r.Action] = true
		}
		if !actions[state.ActionIPLimitExceeded] || !actions[state.ActionUserDisabled] {
			t.Fatalf("notifications %v; want ip_limit_exceeded and user_disabled", actions)
		}
		// Within the hold nothing changes; at its end the job enables.
		p.clock.Advance(4 * time.Minute)
		if res := tick(); len(res.Enabled) != 0 {
			t.Fatalf("enabled before the hold ended: %+v", res)
		}
		p.clock.Advance(time.Minute)
		if res := tick(); fmt.Sprint(res.Enabled) != fmt.Sprint([]int64{sharer.ID}) {
			t.Fatalf("at the end of the hold: %+v; want sharer enabled", res)
		}
		if u := p.user("sharer"); u.Status != model.StatusActive || u.IPLimitUntil != nil {
			t.Fatalf("sharer is %s until %v after the hold", u.Status, u.IPLimitUntil)
		}
		p.expectChange("enable", []string{sharer.Email()}, nil)
		// The addresses aged out of the window: nobody is over any more.
		if res := tick(); len(res.Over) != 0 {
			t.Fatalf("over with no recent addresses: %+v", res)
		}
		// Older than 24 hours: pruned.
		p.clock.Advance(state.UserIPsRetention)
		if err := p.st.PruneUserIPs(ctx); err != nil {
			t.Fatal(err)
		}
		if ips, _ := p.st.UserIPs(ctx, nil, "unlimited"); len(ips) != 0 {
			t.Fatalf("addresses older than a day kept: %+v", ips)
		}
	})
}

// TestUserIPsCapped: a user keeps at most model.MaxUserIPs addresses, the
// most recent.
func TestUserIPsCapped(t *testing.T) {
	forEachEngine(t, func(t *testing.T, p *panel) {
		u := p.create(state.UserInput{Username: ptr("many")})
		for batch := 0; batch < 3; batch++ {
			ips := make([]string, 40)
			for i := range ips {
				ips[i] = fmt.Sprintf("203.0.113.%d", batch*40+i)
			}
			if err := p.st.RecordOnline(p.ctx, p.node.ID, p.clock.Now(), []model.UserIPs{{UserID: u.ID, IPs: ips}}); err != nil {
				t.Fatal(err)
			}
			p.clock.Advance(time.Second)
		}
		ips, err := p.st.UserIPs(p.ctx, nil, "many")
		if err != nil {
			t.Fatal(err)
		}
		if len(ips) != model.MaxUserIPs {
			t.Fatalf("%d addresses kept; want %d", len(ips), model.MaxUserIPs)
		}
		for i, ip := range ips {
			var last int
			fmt.Sscanf(ip.IP, "203.0.113.%d", &last)
			if last < 40 {
				t.Fatalf("%s of the oldest batch kept over newer ones", ip.IP)
			}
			if i > 0 && ip.LastSeen.After(ips[i-1].LastSeen) {
				t.Fatalf("not newest first: %v after %v", ip, ips[i-1])
			}
		}
	})
}
