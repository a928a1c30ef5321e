package feed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopRedis()
	os.Exit(code)
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// openRedis gives each replica its own client, as separate processes have.
func openRedis(t *testing.T, retain int) (replicatedFeed, func() replicatedFeed) {
	prefix := testenv.RedisPrefix(t)
	open := func() replicatedFeed {
		f := NewRedis(testenv.Redis(t), prefix, int64(retain), WithLogger(testLogger(t)))
		t.Cleanup(func() { _ = f.Close() })
		return f
	}
	return open(), open
}

func TestRedisFeed(t *testing.T)    { testFeed(t, openRedis) }
func TestRedisSignals(t *testing.T) { testSignals(t, openRedis) }

func TestRedisPrefixesAreSeparate(t *testing.T) {
	rdb := testenv.Redis(t)
	a := NewRedis(rdb, testenv.RedisPrefix(t), 100)
	b := NewRedis(rdb, testenv.RedisPrefix(t), 100)
	defer a.Close()
	defer b.Close()
	mustPublish(t, a, changes(1, 3)...)
	if last := mustLast(t, b); last != 0 {
		t.Fatalf("feed under another prefix has Last = %d, want 0", last)
	}
}

// The stream is the only state: a replica that starts later, or whose
// process restarted, reads what the others published.
func TestRedisNewInstanceReadsExistingStream(t *testing.T) {
	a, replica := openRedis(t, 100)
	mustPublish(t, a, changes(1, 4)...)
	b := replica()
	if last := mustLast(t, b); last != 4 {
		t.Fatalf("Last on a new instance = %d, want 4", last)
	}
	assertContiguous(t, readAll(t, b, 0, 10), 1, 4)
}

func TestRedisFeedSurvivesServerRestart(t *testing.T) {
	srv := testenv.StartRedisServer(t)
	prefix := testenv.RedisPrefix(t)
	a := NewRedis(srv.Client(), prefix, 1000, WithLogger(testLogger(t)))
	b := NewRedis(srv.Client(), prefix, 1000, WithLogger(testLogger(t)))
	defer a.Close()
	defer b.Close()

	wake := b.Wake(t.Context())
	waitSignal(t, wake, "initial signal")
	mustPublish(t, a, changes(1, 10)...)
	waitSignal(t, wake, "publish before the crash")

	srv.Kill()

	// Bounded by the caller's context, and an error rather than a hang.
	for name, call := range map[string]func(ctx context.Context) error{
		"Publish": func(ctx context.Context) error { return a.Publish(ctx, changes(11, 11)...) },
		"Since":   func(ctx context.Context) error { _, err := a.Since(ctx, 0, 10); return err },
		"Last":    func(ctx context.Context) error { _, err := a.Last(ctx); return err },
		"Send":    func(ctx context.Context) error { return a.Send(ctx, "node:1", nil) },
	} {
		result := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			result <- call(ctx)
		}()
		select {
		case err := <-result:
			if err == nil {
				t.Fatalf("%s with the server down succeeded", name)
			}
		case <-time.After(waitLimit):
			t.Fatalf("%s with the server down did not return within %s", name, waitLimit)
		}
	}

	srv.Start()

	// The restarted server is empty (no persistence): the pump republishes
	// from its outbox, and readers of lost revisions are sent to a snapshot.
	eventually(t, "Publish after restart", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return a.Publish(ctx, changes(11, 12)...) == nil
	})
	if last := mustLast(t, b); last != 12 {
		t.Fatalf("Last after restart = %d, want 12", last)
	}
	if _, err := b.Since(t.Context(), 0, 10); !errors.Is(err, ErrTrimmed) {
		t.Fatalf("Since(0) after the stream was lost = %v, want ErrTrimmed", err)
	}
	// The subscription came back by itself: B is woken for A's publishes.
	seen := int64(10)
	eventually(t, "replica B woken after restart", func() bool {
		select {
		case <-wake:
			seen = max(seen, lastOf(readAll(t, b, seen, 100), seen))
		default:
		}
		return seen == 12
	})
	mustPublish(t, a, changes(13, 13)...)
	eventually(t, "replica B woken for a publish after restart", func() bool {
		select {
		case <-wake:
			seen = max(seen, lastOf(readAll(t, b, seen, 100), seen))
		default:
		}
		return seen == 13
	})
}

func lastOf(cs []Change, otherwise int64) int64 {
	if len(cs) == 0 {
		return otherwise
	}
	return cs[len(cs)-1].Revision
}

// A trimmed stream must not be mistaken for a complete one when the oldest
// retained entry sits exactly one above the reader's revision.
func TestRedisTrimBoundaryIsExact(t *testing.T) {
	rdb := testenv.Redis(t)
	prefix := testenv.RedisPrefix(t)
	f := NewRedis(rdb, prefix, 100)
	defer f.Close()
	mustPublish(t, f, changes(1, 50)...)
	// Trim exactly, as an operator's XTRIM or a MINID policy would.
	if err := rdb.XTrimMinID(t.Context(), prefix+":changes", "21-0").Err(); err != nil {
		t.Fatalf("XTRIM: %v", err)
	}
	tests := []struct {
		after   int64
		trimmed bool
	}{{0, true}, {19, true}, {20, false}, {21, false}, {49, false}, {50, false}}
	for _, tc := range tests {
		cs, err := f.Since(t.Context(), tc.after, 100)
		if tc.trimmed {
			if !errors.Is(err, ErrTrimmed) {
				t.Errorf("Since(%d) = %v, %v; want ErrTrimmed", tc.after, revisions(cs), err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Since(%d): %v", tc.after, err)
		}
		assertContiguous(t, cs, tc.after+1, 50)
	}
}

func BenchmarkRedisPublish(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			f := NewRedis(testenv.Redis(b), testenv.RedisPrefix(b), 10000)
			defer f.Close()
			data := make([]byte, 200) // about one user upsert
			cs := make([]Change, batch)
			rev := int64(0)
			b.ReportAllocs()
			for b.Loop() {
				for i := range cs {
					rev++
					cs[i] = Change{Revision: rev, Data: data}
				}
				if err := f.Publish(context.Background(), cs...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rev), "ns/change")
		})
	}
}

func BenchmarkRedisSince(b *testing.B) {
	const stored = 10000
	for _, limit := range []int{1, 100} {
		b.Run(fmt.Sprintf("limit=%d", limit), func(b *testing.B) {
			f := NewRedis(testenv.Redis(b), testenv.RedisPrefix(b), stored)
			defer f.Close()
			data := make([]byte, 200)
			for from := int64(1); from <= stored; from += 500 {
				cs := make([]Change, 500)
				for i := range cs {
					cs[i] = Change{Revision: from + int64(i), Data: data}
				}
				if err := f.Publish(context.Background(), cs...); err != nil {
					b.Fatal(err)
				}
			}
			after := int64(0)
			b.ReportAllocs()
			for b.Loop() {
				cs, err := f.Since(context.Background(), after, limit)
				if err != nil || len(cs) != limit {
					b.Fatalf("Since(%d, %d) = %d changes, %v", after, limit, len(cs), err)
				}
				after = (after + int64(limit)) % (stored - int64(limit))
			}
		})
	}
}
