package sub

import (
	"runtime"
	"strconv"
	"testing"

	"github.com/outpost-panel/outpost/backend/xrayconf"
)

// benchSetup is every linkable inbound with 10 hosts each, remarks using a
// variable as most operators' do.
func benchSetup(tb testing.TB) ([]xrayconf.Inbound, map[string][]Host) {
	tb.Helper()
	combos := linkable()
	ins := mustParse(tb, serverConfig(tb, combos, fixedPorts, testUser(), "127.0.0.1:8443"))
	hosts := map[string][]Host{}
	for _, in := range ins {
		for i := range 10 {
			hosts[in.Tag] = append(hosts[in.Tag], Host{
				Remark:  "🚀 " + in.Tag + " " + strconv.Itoa(i) + " ({USERNAME})",
				Address: "node" + strconv.Itoa(i) + ".example.com",
			})
		}
	}
	return ins, hosts
}

func BenchmarkLinks(b *testing.B) {
	ins, hosts := benchSetup(b)
	u := testUser()
	n := len(Links(u, ins, hosts, panelAddress))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		Links(u, ins, hosts, panelAddress)
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*n), "allocs/link")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/link")
}

// TestLinkAllocationBudget holds the renderer to its budget: a subscription
// for a user in many inbounds behind many hosts must stay cheap.
func TestLinkAllocationBudget(t *testing.T) {
	ins, hosts := benchSetup(t)
	u := testUser()
	n := len(Links(u, ins, hosts, panelAddress))
	if n != 500 {
		t.Fatalf("%d links, want 500", n)
	}
	perLink := testing.AllocsPerRun(20, func() { Links(u, ins, hosts, panelAddress) }) / float64(n)
	t.Logf("%.2f allocations per link", perLink)
	if perLink >= 20 {
		t.Fatalf("%.2f allocations per link, budget is 20", perLink)
	}
}
