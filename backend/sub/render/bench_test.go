package render

import (
	"strconv"
	"testing"

	"github.com/outpost-panel/outpost/backend/sub"
)

// benchInput is the benchmark shape: a user with 10 hosts on each of
// the 4 default inbounds, remarks using variables as most operators' do.
func benchInput(tb testing.TB) (Input, int) {
	tb.Helper()
	ins := defaultInbounds(tb)
	hosts := map[string][]sub.Host{}
	for _, in := range ins {
		for i := range 10 {
			hosts[in.Tag] = append(hosts[in.Tag], sub.Host{
				Remark:  "🚀 " + in.Tag + " " + strconv.Itoa(i) + " ({USERNAME}) {DATA_LEFT}",
				Address: "node" + strconv.Itoa(i) + ".example.com",
			})
		}
	}
	in := Input{User: testUser(), Inbounds: ins, Hosts: hosts, DefaultAddress: panelAddress, Now: fixedNow}
	return in, countEntries(in)
}

func BenchmarkRender(b *testing.B) {
	for _, f := range Formats {
		b.Run(string(f), func(b *testing.B) {
			in, n := benchInput(b)
			if f == Outline {
				n = 1
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Render(f, in); err != nil {
					b.Fatal(err)
				}
			}
			res := testing.AllocsPerRun(10, func() { _, _, _ = Render(f, in) })
			b.ReportMetric(res/float64(n), "allocs/link")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/link")
		})
	}
}

// TestRenderAllocationBudget holds every format to the budget of
// fewer than 20 allocations per link.
func TestRenderAllocationBudget(t *testing.T) {
	in, n := benchInput(t)
	if n != 40 {
		t.Fatalf("%d entries, want 40", n)
	}
	for _, f := range Formats {
		if f == Outline {
			continue // one entry whatever the user has
		}
		perLink := testing.AllocsPerRun(20, func() { _, _, _ = Render(f, in) }) / float64(n)
		t.Logf("%s: %.2f allocations per link", f, perLink)
		if perLink >= 20 {
			t.Errorf("%s: %.2f allocations per link, budget is 20", f, perLink)
		}
	}
}
