package feed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// publishScript appends a batch atomically. Revisions at or below the
// stream's newest entry are skipped, so replicas publishing overlapping
// ranges store each revision once, with the data of whoever came first
// (which is the same outbox row). Nothing can fail after the first XADD
// (IDs are checked to be above the newest), which keeps the script atomic:
// Redis does not roll back a script that errors halfway.
//
// KEYS[1] stream, KEYS[2] wake channel; ARGV[1] retain, then revision, data
// pairs in ascending order. Returns the number of entries added.
var publishScript = redis.NewScript(`
local last = 0
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #newest > 0 then
  last = tonumber(string.match(newest[1][1], '^(%d+)'))
end
local added, lastArg = 0, nil
for i = 2, #ARGV, 2 do
  local rev = tonumber(ARGV[i])
  if rev > last then
    redis.call('XADD', KEYS[1], ARGV[i] .. '-0', 'd', ARGV[i + 1])
    last, lastArg = rev, ARGV[i]
    added = added + 1
  end
end
if added > 0 then
  redis.call('XTRIM', KEYS[1], 'MAXLEN', '~', ARGV[1])
  redis.call('PUBLISH', KEYS[2], lastArg)
end
return added
`)

// Redis is the feed shared by panel replicas: a Redis Stream
// `<prefix>:changes` whose entry IDs are "<revision>-0", wake-ups on the
// pub/sub channel `<prefix>:wake` and signals on `<prefix>:sig:<topic>`.
//
// All Wake and Listen channels of one Redis share a single pub/sub
// connection, so a replica holding thousands of node sessions holds one
// subscriber connection, not thousands.
type Redis struct {
	rdb         *redis.Client
	stream      string
	wakeChannel string
	sigPrefix   string
	retain      int64
	log         *slog.Logger

	mu     sync.Mutex
	closed bool
	bus    *redisBus // started on first Wake or Listen
}

var (
	_ Feed    = (*Redis)(nil)
	_ Signals = (*Redis)(nil)
)

// RedisOption configures NewRedis.
type RedisOption func(*Redis)

// WithLogger sets the logger for subscription trouble and dropped signals.
// The default discards.
func WithLogger(l *slog.Logger) RedisOption {
	return func(r *Redis) { r.log = l }
}

// NewRedis returns a feed over rdb under prefix that keeps about the newest
// retain changes (at least retain; trimming is approximate and whole stream
// nodes go at once). Commands are bounded by their context only if rdb was
// built with ContextTimeoutEnabled; otherwise by rdb's own timeouts.
func NewRedis(rdb *redis.Client, prefix string, retain int64, opts ...RedisOption) *Redis {
	r := &Redis{
		rdb:         rdb,
		stream:      prefix + ":changes",
		wakeChannel: prefix + ":wake",
		sigPrefix:   prefix + ":sig:",
		retain:      max(retain, 1),
		log:         slog.New(slog.DiscardHandler),
	}
	for _, opt := range opts {
		opt(r)
	}
	return r
}

func (r *Redis) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

func (r *Redis) Publish(ctx context.Context, changes ...Change) error {
	if err := validateBatch(changes); err != nil {
		return err
	}
	if r.isClosed() {
		return ErrClosed
	}
	if len(changes) == 0 {
		return nil
	}
	args := make([]any, 0, 1+2*len(changes))
	args = append(args, r.retain)
	for _, c := range changes {
		args = append(args, strconv.FormatInt(c.Revision, 10), c.Data)
	}
	keys := []string{r.stream, r.wakeChannel}
	if err := publishScript.Run(ctx, r.rdb, keys, args...).Err(); err != nil {
		return fmt.Errorf("publishing revisions %d..%d: %w",
			changes[0].Revision, changes[len(changes)-1].Revision, err)
	}
	return nil
}

func (r *Redis) Last(ctx context.Context) (int64, error) {
	if r.isClosed() {
		return 0, ErrClosed
	}
	newest, err := r.rdb.XRevRangeN(ctx, r.stream, "+", "-", 1).Result()
	if err != nil {
		return 0, fmt.Errorf("reading newest feed revision: %w", err)
	}
	if len(newest) == 0 {
		return 0, nil
	}
	return parseEntryID(newest[0].ID)
}

// Since reads the page together with the oldest and newest entries in one
// MULTI, so trimming cannot slip between the range and the check that the
// range is complete.
func (r *Redis) Since(ctx context.Context, after int64, limit int) ([]Change, error) {
	if err := validateSince(after, limit); err != nil {
		return nil, err
	}
	if r.isClosed() {
		return nil, ErrClosed
	}
	var oldest, newest, page *redis.XMessageSliceCmd
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		oldest = p.XRangeN(ctx, r.stream, "-", "+", 1)
		newest = p.XRevRangeN(ctx, r.stream, "+", "-", 1)
		page = p.XRangeN(ctx, r.stream, strconv.FormatInt(after+1, 10), "+", int64(limit))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading feed after revision %d: %w", after, err)
	}
	if len(newest.Val()) == 0 {
		return nil, nil
	}
	last, err := parseEntryID(newest.Val()[0].ID)
	if err != nil {
		return nil, err
	}
	if after >= last {
		return nil, nil
	}
	first, err := parseEntryID(oldest.Val()[0].ID)
	if err != nil {
		return nil, err
	}
	// Revisions may have gaps, so only the oldest retained entry onwards is
	// known complete; after == first-1 is the exact boundary and is fine.
	if after < first-1 {
		return nil, ErrTrimmed
	}
	out := make([]Change, len(page.Val()))
	for i, msg := range page.Val() {
		rev, err := parseEntryID(msg.ID)
		if err != nil {
			return nil, err
		}
		data, _ := msg.Values["d"].(string)
		out[i] = Change{Revision: rev, Data: []byte(data)}
	}
	return out, nil
}

func (r *Redis) Wake(ctx context.Context) <-chan struct{} {
	bus := r.startBus()
	if bus == nil {
		return closedWake()
	}
	return bus.addWaker(ctx)
}

func (r *Redis) Send(ctx context.Context, topic string, payload []byte) error {
	if err := validateTopic(topic); err != nil {
		return err
	}
	if r.isClosed() {
		return ErrClosed
	}
	if err := r.rdb.Publish(ctx, r.sigPrefix+topic, payload).Err(); err != nil {
		return fmt.Errorf("sending signal on %q: %w", topic, err)
	}
	return nil
}

func (r *Redis) Listen(ctx context.Context, topic string) <-chan []byte {
	bus := r.startBus()
	if bus == nil {
		ch := make(chan []byte)
		close(ch)
		return ch
	}
	return bus.listen(ctx, r.sigPrefix+topic)
}

// Close is idempotent.
func (r *Redis) Close() error {
	r.mu.Lock()
	bus := r.bus
	r.closed = true
	r.mu.Unlock()
	if bus != nil {
		return bus.close()
	}
	return nil
}

// startBus returns the running bus, starting it on first use; nil once
// closed.
func (r *Redis) startBus() *redisBus {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	if r.bus == nil {
		r.bus = startRedisBus(r.rdb, r.wakeChannel, r.log)
	}
	return r.bus
}

func closedWake() <-chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}

var errBadEntryID = errors.New("feed: stream entry ID is not <revision>-0")

func parseEntryID(id string) (int64, error) {
	ms, seq, ok := strings.Cut(id, "-")
	if !ok || seq != "0" {
		return 0, fmt.Errorf("%w: %q", errBadEntryID, id)
	}
	rev, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", errBadEntryID, id)
	}
	return rev, nil
}
