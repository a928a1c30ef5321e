package xraycore

import (
	"maps"
	"testing"
	"time"

	"github.com/xtls/xray-core/app/stats"
	featurestats "github.com/xtls/xray-core/features/stats"
)

// fakeCounters is a stats manager holding named counters.
type fakeCounters map[string]*stats.Counter

func (f fakeCounters) VisitCounters(visit func(string, featurestats.Counter) bool) {
	for name, c := range f {
		if !visit(name, c) {
			return
		}
	}
}

func (f fakeCounters) add(name string, n int64) {
	if f[name] == nil {
		f[name] = new(stats.Counter)
	}
	f[name].Add(n)
}

func TestDrainCountersParsesAndResets(t *testing.T) {
	f := fakeCounters{}
	f.add("user>>>1.alice>>>traffic>>>uplink", 10)
	f.add("user>>>1.alice>>>traffic>>>downlink", 20)
	f.add("user>>>2.bob>>>traffic>>>downlink", 5)
	f.add("user>>>3.idle>>>traffic>>>uplink", 0)
	f.add("user>>>4.x>>>online", 7)
	f.add("inbound>>>vless>>>traffic>>>uplink", 99)
	got, moved := drainCounters(f, nil)
	want := map[string]Traffic{"1.alice": {Up: 10, Down: 20}, "2.bob": {Down: 5}}
	if !moved || !maps.Equal(got, want) {
		t.Fatalf("drain = %v (moved %v), want %v", got, moved, want)
	}
	if v := f["inbound>>>vless>>>traffic>>>uplink"].Value(); v != 99 {
		t.Fatalf("a non-user counter was reset to %d", v)
	}
	if got, moved := drainCounters(f, nil); moved || got != nil {
		t.Fatalf("second drain = %v (moved %v), want nothing", got, moved)
	}
}

func TestMeterKeepsReadingReplacedCoresUntilIdle(t *testing.T) {
	now := time.Unix(1000, 0)
	m := usageMeter{now: func() time.Time { return now }}
	old, cur := fakeCounters{}, fakeCounters{}
	m.replace(nil, old)
	old.add("user>>>a>>>traffic>>>uplink", 1)
	m.replace(old, cur) // drained into pending at the swap

	old.add("user>>>a>>>traffic>>>uplink", 2) // a connection living on
	cur.add("user>>>a>>>traffic>>>uplink", 4)
	if got := m.collect(); got["a"].Up != 7 {
		t.Fatalf("collect = %v, want a up 7", got)
	}

	now = now.Add(retiredIdleLimit - time.Second)
	old.add("user>>>a>>>traffic>>>downlink", 8)
	if got := m.collect(); got["a"].Down != 8 {
		t.Fatalf("collect = %v, want a down 8 from the replaced core", got)
	}
	now = now.Add(retiredIdleLimit + time.Second)
	m.collect()
	if len(m.retired) != 0 {
		t.Fatalf("a replaced core idle for longer than %v is still read", retiredIdleLimit)
	}
}
