// Package jobs is the panel's one scheduler of background work: named jobs
// run at intervals on the replica that holds the jobs lease (coord.Locker),
// each failure logged and none able to stop the loop. Time comes from an
// injectable Clock so tests move it instead of sleeping.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/outpost-panel/outpost/backend/audit"
	"github.com/outpost-panel/outpost/backend/coord"
	"github.com/outpost-panel/outpost/backend/metrics"
	"github.com/outpost-panel/outpost/backend/state"
	"github.com/outpost-panel/outpost/nodes/protocol"
)

// DefaultLease is the name of the lease that elects the jobs replica.
const DefaultLease = "jobs"

// Job is one named piece of work run every Every.
type Job struct {
	Name  string
	Every time.Duration
	Run   func(ctx context.Context) error
}

// Options configure a Scheduler.
type Options struct {
	Clock  Clock        // nil: Real()
	Locker coord.Locker // required: a replica runs jobs only while it holds the lease
	Owner  string       // this replica's name in the lease
	Lease  string       // "" means DefaultLease
	// LeaseTTL is how long a taken lease lasts unless renewed; the scheduler
	// renews it on every wake-up. 0 means three times the shortest interval.
	LeaseTTL time.Duration
	Log      *slog.Logger
}

// Scheduler runs jobs. Jobs run one after another on one goroutine, so two
// never race each other on this replica.
type Scheduler struct {
	opts Options
	jobs []Job
	next []time.Time

	mu   sync.Mutex
	runs map[string]int
}

// New builds a scheduler; every job is due at the first wake-up.
func New(opts Options, jobs ...Job) (*Scheduler, error) {
	if opts.Clock == nil {
		opts.Clock = Real()
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Lease == "" {
		opts.Lease = DefaultLease
	}
	if opts.Locker == nil || opts.Owner == "" {
		return nil, errors.New("jobs: Locker and Owner are required")
	}
	shortest := time.Duration(0)
	seen := map[string]bool{}
	for _, j := range jobs {
		if j.Name == "" || j.Every <= 0 || j.Run == nil || seen[j.Name] {
			return nil, fmt.Errorf("jobs: job %q needs a unique name, a positive interval and a function", j.Name)
		}
		seen[j.Name] = true
		if shortest == 0 || j.Every < shortest {
			shortest = j.Every
		}
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = 3 * shortest
		if opts.LeaseTTL <= 0 {
			opts.LeaseTTL = time.Minute
		}
	}
	return &Scheduler{opts: opts, jobs: jobs, next: make([]time.Time, len(jobs)), runs: map[string]int{}}, nil
}

// Runs is how many times the named job has run here (finished, with or
// without error): tests wait on it.
func (s *Scheduler) Runs(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs[name]
}

// Run runs the jobs until ctx ends, then gives the lease up.
func (s *Scheduler) Run(ctx context.Context) {
	defer func() {
		if err := s.opts.Locker.Unlock(context.Background(), s.opts.Lease, s.opts.Owner); err != nil && !errors.Is(err, coord.ErrNotHeld) {
			s.opts.Log.Warn("giving up the jobs lease", "err", err)
		}
	}()
	for {
		if ctx.Err() != nil {
			return
		}
		s.pass(ctx)
		wait := s.untilNext()
		select {
		case <-ctx.Done():
			return
		case <-s.opts.Clock.After(wait):
		}
	}
}

// untilNext is the time to the earliest due job.
func (s *Scheduler) untilNext() time.Duration {
	if len(s.jobs) == 0 {
		return time.Hour
	}
	now := s.opts.Clock.Now()
	earliest := s.next[0]
	for _, t := range s.next[1:] {
		if t.Before(earliest) {
			earliest = t
		}
	}
	return earliest.Sub(now)
}

// pass takes or renews the lease and runs every due job. Without the lease
// the due jobs are skipped to their next interval: another replica runs
// them.
func (s *Scheduler) pass(ctx context.Context) {
	held, err := s.opts.Locker.TryLock(ctx, s.opts.Lease, s.opts.Owner, s.opts.LeaseTTL)
	// The leadership gauge is the jobs lease's; a scheduler on a lease of
	// its own (scheduled backups) must not flip it.
	if s.opts.Lease == DefaultLease {
		metrics.SetLeader(held)
	}
	if err != nil && ctx.Err() == nil {
		s.opts.Log.Warn("taking the jobs lease", "err", err)
	}
	for i, j := range s.jobs {
		now := s.opts.Clock.Now()
		if now.Before(s.next[i]) {
			continue
		}
		if held && ctx.Err() == nil {
			s.runJob(ctx, j)
		}
		s.next[i] = s.opts.Clock.Now().Add(j.Every)
	}
}

func (s *Scheduler) runJob(ctx context.Context, j Job) {
	defer func() {
		if p := recover(); p != nil {
			s.opts.Log.Error("job panicked", "job", j.Name, "panic", fmt.Sprint(p))
		}
		s.mu.Lock()
		s.runs[j.Name]++
		s.mu.Unlock()
	}()
	// A job's changes are logged under its name; only transactions that
	// change what nodes run get an automatic entry (state writes explicit
	// ones for the rest), so tidying jobs leave no trail.
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.KindJob, Name: j.Name})
	ctx = audit.WithOperation(ctx, &audit.Operation{Action: "job " + j.Name, RevisionsOnly: true})
	if err := j.Run(ctx); err != nil && ctx.Err() == nil {
		s.opts.Log.Warn("job failed", "job", j.Name, "err", err)
	}
}

// AutoDeleteEvery is Marzban's auto-delete interval.
const AutoDeleteEvery = 6 * time.Hour

// Lifecycle are the panel's user lifecycle jobs on s: the review tick
// (periodic resets, on-hold starts, limits, next plans) and outbox pruning
// every reviewEvery, and auto-delete every AutoDeleteEvery.
func Lifecycle(s *state.State, reviewEvery time.Duration) []Job {
	return []Job{
		{Name: "review", Every: reviewEvery, Run: func(ctx context.Context) error {
			_, err := s.Review(ctx)
			return err
		}},
		{Name: "prune-outbox", Every: reviewEvery, Run: s.PruneChanges},
		{Name: "auto-delete", Every: AutoDeleteEvery, Run: func(ctx context.Context) error {
			_, err := s.AutoDeleteUsers(ctx)
			return err
		}},
	}
}

// AuditPruneEvery is how often old audit log entries are pruned.
const AuditPruneEvery = time.Hour

// AuditPrune deletes audit log entries older than retention (0: keeps all),
// in batches of state.AuditPruneBatch.
func AuditPrune(s *state.State, retention time.Duration) Job {
	return Job{Name: "prune-audit", Every: AuditPruneEvery, Run: func(ctx context.Context) error {
		_, err := s.PruneAudit(ctx, retention)
		return err
	}}
}

// UserIPsPruneEvery is how often addresses past state.UserIPsRetention
// are forgotten.
const UserIPsPruneEvery = 10 * time.Minute

// IPLimit is the IP limit (state.IPLimiter), run as often as nodes sample
// who is online for a panel with usage interval usageEvery, counting the
// addresses seen within two samples, and the pruning of old addresses.
func IPLimit(s *state.State, usageEvery time.Duration) []Job {
	sample := protocol.OnlineEvery(usageEvery)
	limiter := s.NewIPLimiter(2 * sample)
	return []Job{
		{Name: "ip-limit", Every: sample, Run: func(ctx context.Context) error {
			_, err := limiter.Tick(ctx)
			return err
		}},
		{Name: "prune-user-ips", Every: UserIPsPruneEvery, Run: s.PruneUserIPs},
	}
}
