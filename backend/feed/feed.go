// Package feed is the panel's change feed: the ordered, retained log of
// node-affecting changes that every replica's node hub reads to push deltas,
// plus node-directed signals between replicas.
//
// The SQL outbox is the source of truth; the feed is a cache of its tail that
// replicas share. Any replica may publish any range of the outbox, so
// publishing is idempotent by revision, and a reader is told when the
// revisions it asks for are gone (ErrTrimmed) rather than handed a gap.
//
// Two implementations pass one contract suite: Memory for a single process
// and Redis (a Stream plus pub/sub) for replicas.
package feed

import (
	"context"
	"errors"
	"fmt"

	"github.com/outpost-panel/outpost/backend/model"
)

// Change is one revision of desired state. Data is opaque to the feed and
// must not be modified after Publish or after Since returns it: readers share
// it.
type Change struct {
	Revision int64
	Data     []byte
}

var (
	// ErrTrimmed means some change after the requested revision is no longer
	// retained; the reader needs a full snapshot.
	ErrTrimmed = errors.New("feed: revision no longer retained")
	// ErrClosed is returned by every call on a closed feed.
	ErrClosed = errors.New("feed: closed")
)

// MaxRevision is the largest revision a feed accepts. Redis scripts compare
// revisions as Lua numbers (doubles), which are exact up to 2^53.
const MaxRevision = 1 << 53

// Feed is the change log shared by the panel's replicas.
type Feed interface {
	// Publish appends changes given in ascending revision order. Changes
	// whose revision is <= Last() are skipped silently, so replicas may
	// publish overlapping ranges. Atomic per call: a call that fails
	// validation or errors stores nothing.
	Publish(ctx context.Context, changes ...Change) error
	// Last is the newest revision published, 0 if none.
	Last(ctx context.Context) (int64, error)
	// Since returns up to limit changes with Revision > after, ascending. If
	// any change after `after` is no longer retained it returns ErrTrimmed,
	// never a silent gap; revisions older than the first one ever published
	// count as not retained. after >= Last() gives an empty result.
	Since(ctx context.Context, after int64, limit int) ([]Change, error)
	// Wake returns a channel that receives a signal once it is listening and
	// then after every Publish that stored something, by any replica.
	// Signals coalesce: a reader that re-reads the feed on each signal misses
	// nothing. The channel is closed when ctx ends or the feed is closed.
	Wake(ctx context.Context) <-chan struct{}
	// Close releases the feed's resources and closes every Wake and Listen
	// channel it handed out. It does not close a Redis client it was given.
	Close() error
}

// Signals carries node-directed messages between replicas, such as "drop
// your session of node 7". Delivery is at most once and only to listeners
// whose subscription is in effect: a signal is a nudge, and the durable
// truth (presence and fencing in package coord) must not depend on it.
type Signals interface {
	// Send delivers payload to every current listener of topic on any
	// replica.
	Send(ctx context.Context, topic string, payload []byte) error
	// Listen returns a channel of payloads sent to topic, closed when ctx
	// ends or the feed is closed. A listener that does not keep up loses
	// payloads rather than stalling other listeners.
	Listen(ctx context.Context, topic string) <-chan []byte
}

// validateBatch checks what Publish promises to reject before it stores
// anything.
func validateBatch(changes []Change) error {
	var prev int64
	for i, c := range changes {
		if c.Revision <= 0 || c.Revision > MaxRevision {
			return fmt.Errorf("publishing change %d: revision %d out of range: %w", i, c.Revision, model.ErrInvalid)
		}
		if i > 0 && c.Revision <= prev {
			return fmt.Errorf("publishing change %d: revision %d after %d is not ascending: %w", i, c.Revision, prev, model.ErrInvalid)
		}
		prev = c.Revision
	}
	return nil
}

func validateSince(after int64, limit int) error {
	if after < 0 {
		return fmt.Errorf("reading feed after revision %d: %w", after, model.ErrInvalid)
	}
	if limit <= 0 {
		return fmt.Errorf("reading feed with limit %d: %w", limit, model.ErrInvalid)
	}
	return nil
}

func validateTopic(topic string) error {
	if topic == "" {
		return fmt.Errorf("signal topic is empty: %w", model.ErrInvalid)
	}
	return nil
}
