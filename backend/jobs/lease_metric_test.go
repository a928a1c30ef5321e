package jobs_test

import (
	"context"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/outpost-panel/outpost/backend/coord"
	"github.com/outpost-panel/outpost/backend/jobs"
	"github.com/outpost-panel/outpost/backend/metrics"
)

// A scheduler on a lease of its own (scheduled backups) runs its jobs
// while it holds that lease, and leaves the jobs leadership gauge alone:
// the replica that does not hold the jobs lease still reads 0.
func TestOwnLeaseLeavesLeaderGauge(t *testing.T) {
	clk := jobs.NewFake(time.Unix(1_800_000_000, 0))
	locker := coord.NewMemory(clk.Now)
	metrics.SetLeader(false)
	ran := make(chan struct{}, 1)
	s, err := jobs.New(jobs.Options{Clock: clk, Locker: locker, Owner: "me", Lease: "backup"},
		jobs.Job{Name: "backup", Every: time.Minute, Run: func(context.Context) error { ran <- struct{}{}; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("the job did not run under its own lease")
	}
	cancel()
	<-done
	var m dto.Metric
	if err := metrics.Leader.Write(&m); err != nil {
		t.Fatal(err)
	}
	if v := m.GetGauge().GetValue(); v != 0 {
		t.Fatalf("leader gauge %v after a backup-lease scheduler ran, want 0", v)
	}
}
