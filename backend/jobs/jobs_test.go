package jobs_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/coord"
	"github.com/outpost-panel/outpost/backend/jobs"
)

// The scheduler runs jobs only under the lease, keeps going after a job
// fails or panics, and runs each at its own interval.
func TestSchedulerLeaseIntervalsAndFailures(t *testing.T) {
	clk := jobs.NewFake(time.Unix(1_800_000_000, 0))
	locker := coord.NewMemory(clk.Now)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Another replica holds the lease first.
	if ok, err := locker.TryLock(ctx, jobs.DefaultLease, "other", 30*time.Second); err != nil || !ok {
		t.Fatalf("other replica's lease: %v %v", ok, err)
	}
	var fast, slow atomic.Int32
	s, err := jobs.New(jobs.Options{Clock: clk, Locker: locker, Owner: "me"},
		jobs.Job{Name: "fast", Every: 10 * time.Second, Run: func(context.Context) error {
			if fast.Add(1)%2 == 0 {
				panic("every other run panics")
			}
			return errors.New("and the others fail")
		}},
		jobs.Job{Name: "slow", Every: time.Hour, Run: func(context.Context) error { slow.Add(1); return nil }},
	)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	step := func(d time.Duration) {
		t.Helper()
		waitFor(t, "the scheduler to wait", func() bool { return clk.Waiters() > 0 })
		clk.Advance(d)
	}
	// While the other replica renews its lease nothing runs here.
	for range 2 {
		step(10 * time.Second)
		if _, err := locker.TryLock(ctx, jobs.DefaultLease, "other", 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the scheduler to wait", func() bool { return clk.Waiters() > 0 })
	if fast.Load() != 0 || slow.Load() != 0 {
		t.Fatalf("jobs ran without the lease: fast %d slow %d", fast.Load(), slow.Load())
	}
	// The other replica stops renewing; its lease runs out and ours begins.
	// A job skipped for want of the lease waits for its next interval (the
	// other replica ran it), so only the fast one is due.
	step(40 * time.Second)
	waitFor(t, "the fast job to run", func() bool { return s.Runs("fast") == 1 })
	for i := 2; i <= 5; i++ {
		step(10 * time.Second)
		waitFor(t, "the fast job again", func() bool { return s.Runs("fast") == i })
	}
	if slow.Load() != 0 {
		t.Fatalf("slow job ran %d times within its hour", slow.Load())
	}
	step(time.Hour)
	waitFor(t, "the slow job after an hour", func() bool { return s.Runs("slow") == 1 })
	cancel()
	<-done
	// Stopping gives the lease up for the next replica.
	if ok, err := locker.TryLock(context.Background(), jobs.DefaultLease, "other", time.Minute); err != nil || !ok {
		t.Fatalf("lease not given up at stop: %v %v", ok, err)
	}
}

func TestSchedulerRejectsBadJobs(t *testing.T) {
	locker := coord.NewMemory(time.Now)
	run := func(context.Context) error { return nil }
	for name, js := range map[string][]jobs.Job{
		"no name":     {{Every: time.Second, Run: run}},
		"no interval": {{Name: "x", Run: run}},
		"no func":     {{Name: "x", Every: time.Second}},
		"duplicate":   {{Name: "x", Every: time.Second, Run: run}, {Name: "x", Every: time.Second, Run: run}},
	} {
		if _, err := jobs.New(jobs.Options{Locker: locker, Owner: "me"}, js...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := jobs.New(jobs.Options{Owner: "me"}); err == nil {
		t.Error("no locker: accepted")
	}
}
