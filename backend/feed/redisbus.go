package feed

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// subscribeTimeout bounds one SUBSCRIBE or UNSUBSCRIBE write, including a
// reconnect, so a dead Redis cannot wedge the subscription manager.
const subscribeTimeout = 5 * time.Second

// redisBus multiplexes one pub/sub connection onto the in-process fanout.
// go-redis reconnects and resubscribes that connection by itself; every
// resubscription of the wake channel signals all wakers, because publishes
// made while the connection was down were missed.
type redisBus struct {
	*fanout
	pubsub      *redis.PubSub
	wakeChannel string
	log         *slog.Logger

	ctx    context.Context // cancelled by close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	dirtyMu sync.Mutex
	dirty   map[string]struct{} // topics whose subscription may need to change
	kick    chan struct{}
}

func startRedisBus(rdb *redis.Client, wakeChannel string, log *slog.Logger) *redisBus {
	ctx, cancel := context.WithCancel(context.Background())
	b := &redisBus{
		fanout:      newFanout(),
		pubsub:      rdb.Subscribe(ctx), // no channels yet: does not dial
		wakeChannel: wakeChannel,
		log:         log,
		ctx:         ctx,
		cancel:      cancel,
		dirty:       map[string]struct{}{wakeChannel: {}},
		kick:        make(chan struct{}, 1),
	}
	b.topicChanged = b.markDirty
	b.dropped = func(topic string) {
		b.log.Warn("feed: signal listener is full, signal dropped", "channel", topic)
	}
	msgs := b.pubsub.ChannelWithSubscriptions(redis.WithChannelSize(1024))
	b.wg.Add(2)
	go b.dispatch(msgs)
	go b.manage()
	b.kick <- struct{}{}
	return b
}

// markDirty runs under the fanout's lock, so it only records and nudges.
func (b *redisBus) markDirty(topic string) {
	b.dirtyMu.Lock()
	b.dirty[topic] = struct{}{}
	b.dirtyMu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

func (b *redisBus) dispatch(msgs <-chan any) {
	defer b.wg.Done()
	for m := range msgs {
		switch m := m.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && m.Channel == b.wakeChannel {
				b.setWakeReady()
			}
		case *redis.Message:
			if m.Channel == b.wakeChannel {
				b.wake()
			} else {
				b.deliver(m.Channel, []byte(m.Payload))
			}
		}
	}
}

// manage serialises SUBSCRIBE and UNSUBSCRIBE so that they reach Redis in
// the order listeners came and went. The wake channel stays subscribed for
// the bus's life, so its readiness never flaps.
func (b *redisBus) manage() {
	defer b.wg.Done()
	subscribed := make(map[string]bool)
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-b.kick:
		}
		b.dirtyMu.Lock()
		dirty := b.dirty
		b.dirty = make(map[string]struct{})
		b.dirtyMu.Unlock()
		for topic := range dirty {
			want := topic == b.wakeChannel || b.hasListeners(topic)
			if want == subscribed[topic] {
				continue
			}
			ctx, cancel := context.WithTimeout(b.ctx, subscribeTimeout)
			var err error
			if want {
				// Even when this fails, go-redis keeps the channel in its
				// set and subscribes it on the next reconnect.
				err = b.pubsub.Subscribe(ctx, topic)
				subscribed[topic] = true
			} else {
				err = b.pubsub.Unsubscribe(ctx, topic)
				delete(subscribed, topic)
			}
			cancel()
			if err != nil && b.ctx.Err() == nil {
				b.log.Warn("feed: redis subscription change failed, will retry on reconnect",
					"channel", topic, "subscribe", want, "err", err)
			}
		}
	}
}

func (b *redisBus) close() error {
	b.cancel()
	err := b.pubsub.Close()
	b.wg.Wait()
	b.fanout.close()
	if err != nil && !errors.Is(err, redis.ErrClosed) {
		return err
	}
	return nil
}
