package state

import (
	"slices"
	"testing"
	"time"
)

// TestIPGraceWindow drives the grace logic on a fake timeline: a user acts
// only once it was over its limit at every tick for the whole grace window,
// with two observations at least, once per episode; a tick within the
// limit ends the episode and the grace starts over.
func TestIPGraceWindow(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	const grace = 30 * time.Second
	type tick struct {
		at   int
		over []int64
		want []int64
	}
	for _, tc := range []struct {
		name  string
		grace time.Duration
		ticks []tick
	}{
		{"one sample never acts", grace, []tick{{0, []int64{1}, nil}, {10, nil, nil}, {40, nil, nil}}},
		{"over for the whole grace acts once", grace, []tick{
			{0, []int64{1}, nil}, {10, []int64{1}, nil}, {20, []int64{1}, nil}, {29, []int64{1}, nil},
			{30, []int64{1}, []int64{1}}, {40, []int64{1}, nil}, {50, []int64{1}, nil},
		}},
		{"a tick within the limit starts the grace over", grace, []tick{
			{0, []int64{1}, nil}, {20, []int64{1}, nil}, {25, nil, nil}, {35, []int64{1}, nil},
			{60, []int64{1}, nil}, {65, []int64{1}, []int64{1}},
		}},
		{"acts again in a new episode", grace, []tick{
			{0, []int64{1}, nil}, {30, []int64{1}, []int64{1}}, {40, nil, nil},
			{50, []int64{1}, nil}, {80, []int64{1}, []int64{1}},
		}},
		{"users are independent", grace, []tick{
			{0, []int64{1}, nil}, {15, []int64{1, 2}, nil}, {30, []int64{1, 2}, []int64{1}},
			{45, []int64{2}, []int64{2}},
		}},
		{"a zero grace still needs two samples", 0, []tick{{0, []int64{1}, nil}, {0, []int64{1}, []int64{1}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var g ipGrace
			for i, tk := range tc.ticks {
				got := g.observe(at(tk.at), tk.over, tc.grace)
				slices.Sort(got)
				if !slices.Equal(got, tk.want) {
					t.Fatalf("tick %d (t+%ds, over %v): acted on %v, want %v", i, tk.at, tk.over, got, tk.want)
				}
				if len(g.episodes) != len(tk.over) {
					t.Fatalf("tick %d: %d episodes kept for %d users over: memory must follow who is over", i, len(g.episodes), len(tk.over))
				}
			}
		})
	}
}
