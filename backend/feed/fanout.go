package feed

import (
	"context"
	"sync"
)

// listenerBuffer is how many signals a slow listener may fall behind before
// it loses some. Signals are rare (session takeovers), so this is generous.
const listenerBuffer = 16

// fanout is the in-process side of wake-ups and signals: it hands out
// channels, closes them when their context ends, and delivers without ever
// blocking the deliverer. Memory uses it alone; Redis feeds it from one
// pub/sub connection.
type fanout struct {
	mu     sync.Mutex
	closed bool

	wakers    map[chan struct{}]struct{}
	wakeReady bool // a new waker gets its first signal at once

	topics map[string]map[chan []byte]struct{}
	// topicChanged, when set, is called with mu held after a topic gains its
	// first listener or loses its last one. It must not block.
	topicChanged func(topic string)
	// dropped, when set, is called with mu held when a listener's buffer is
	// full. It must not block.
	dropped func(topic string)
}

func newFanout() *fanout {
	return &fanout{
		wakers: make(map[chan struct{}]struct{}),
		topics: make(map[string]map[chan []byte]struct{}),
	}
}

func (f *fanout) addWaker(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		close(ch)
		return ch
	}
	f.wakers[ch] = struct{}{}
	if f.wakeReady {
		ch <- struct{}{}
	}
	context.AfterFunc(ctx, func() { f.removeWaker(ch) })
	return ch
}

func (f *fanout) removeWaker(ch chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.wakers[ch]; ok {
		delete(f.wakers, ch)
		close(ch)
	}
}

// wake signals every waker; a waker with a signal pending already has one.
func (f *fanout) wake() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.wakeLocked()
}

func (f *fanout) wakeLocked() {
	for ch := range f.wakers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// setWakeReady marks the wake source as live and signals every waker, since
// anything published before it went live may have been missed.
func (f *fanout) setWakeReady() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.wakeReady = true
	f.wakeLocked()
}

func (f *fanout) listen(ctx context.Context, topic string) <-chan []byte {
	ch := make(chan []byte, listenerBuffer)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		close(ch)
		return ch
	}
	set := f.topics[topic]
	if set == nil {
		set = make(map[chan []byte]struct{})
		f.topics[topic] = set
	}
	set[ch] = struct{}{}
	if len(set) == 1 && f.topicChanged != nil {
		f.topicChanged(topic)
	}
	context.AfterFunc(ctx, func() { f.unlisten(topic, ch) })
	return ch
}

func (f *fanout) unlisten(topic string, ch chan []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	set := f.topics[topic]
	if _, ok := set[ch]; !ok {
		return
	}
	delete(set, ch)
	close(ch)
	if len(set) == 0 {
		delete(f.topics, topic)
		if f.topicChanged != nil {
			f.topicChanged(topic)
		}
	}
}

// hasListeners reports whether topic has a listener now.
func (f *fanout) hasListeners(topic string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.topics[topic]) > 0
}

// deliver gives each listener of topic its own copy of payload, so one
// listener cannot change what another sees.
func (f *fanout) deliver(topic string, payload []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.topics[topic] {
		select {
		case ch <- append(make([]byte, 0, len(payload)), payload...):
		default:
			if f.dropped != nil {
				f.dropped(topic)
			}
		}
	}
}

// close closes every channel handed out; later ones are born closed.
func (f *fanout) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.closed = true
	for ch := range f.wakers {
		close(ch)
	}
	f.wakers = nil
	for _, set := range f.topics {
		for ch := range set {
			close(ch)
		}
	}
	f.topics = nil
}
