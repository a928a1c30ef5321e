package events

import "testing"

// A subscriber that stops reading is dropped once its queue is full, and
// the queue never grows past QueueSize.
func TestSlowSubscriberIsDropped(t *testing.T) {
	b := New(nil, nil, 0)
	s := &Subscriber{queue: make(chan []byte, QueueSize), done: make(chan struct{})}
	b.subs[s] = struct{}{}
	for range QueueSize {
		s.offer([]byte(`{}`))
	}
	select {
	case <-s.Done():
		t.Fatal("dropped before its queue was full")
	default:
	}
	s.offer([]byte(`{}`))
	s.offer([]byte(`{}`))
	select {
	case <-s.Done():
	default:
		t.Fatal("not dropped after its queue overflowed")
	}
	if len(s.queue) != QueueSize {
		t.Fatalf("queue holds %d, want %d", len(s.queue), QueueSize)
	}
}
