package feed

import (
	"context"
	"fmt"
)

// ReplicaCounter is implemented by feeds that can tell how many panel
// processes follow them (the dashboard's overview shows it).
type ReplicaCounter interface {
	// Replicas counts the processes whose Wake is listening now.
	Replicas(ctx context.Context) (int, error)
}

var (
	_ ReplicaCounter = (*Memory)(nil)
	_ ReplicaCounter = (*Redis)(nil)
)

// Replicas is 1: a Memory feed is one process's own.
func (m *Memory) Replicas(context.Context) (int, error) { return 1, nil }

// Replicas counts the subscribers of the wake channel. Every replica's
// feed subscribes it once, on one connection, for its life (the hub
// follows the feed from start to stop), so the count is the replicas
// alive now, with no heartbeat to keep: a replica that dies drops its
// connection and leaves the count.
func (r *Redis) Replicas(ctx context.Context) (int, error) {
	n, err := r.rdb.PubSubNumSub(ctx, r.wakeChannel).Result()
	if err != nil {
		return 0, fmt.Errorf("counting replicas: %w", err)
	}
	return int(n[r.wakeChannel]), nil
}
