package feed

import (
	"context"
	"testing"
	"time"
)

// Replicas counts the feeds following the same Redis prefix, and forgets
// one that closed.
func TestRedisReplicas(t *testing.T) {
	a, open := openRedis(t, 100)
	b := open()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	count := func() int {
		n, err := a.(*Redis).Replicas(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitCount := func(want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for count() != want {
			if time.Now().After(deadline) {
				t.Fatalf("replicas = %d, want %d", count(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitCount(0) // nobody follows the feed yet
	<-a.Wake(ctx)
	<-b.Wake(ctx)
	waitCount(2)
	_ = b.Close()
	waitCount(1)
	if n, _ := NewMemory(1).Replicas(ctx); n != 1 {
		t.Fatalf("memory replicas = %d", n)
	}
}
