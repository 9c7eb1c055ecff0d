// Package cache stores the gateway's cached answers: a byte cache with TTLs and counters, kept
// in Redis (shared by the replicas) or, when no Redis is configured, in process.
//
// The package knows nothing of keys, credentials or answers; internal/service decides what to
// store and under which key. Both stores have the same semantics and are tested by one suite.
package cache

import (
	"context"
	"fmt"
	"time"
)

// Store is a byte cache shared by the gateway's replicas. Every method honours ctx's deadline.
// Entries (Get, Set) and counters (Generation, Bump) must have keys apart: Redis holds both in
// one keyspace.
type Store interface {
	// Get returns the value at key, or ok=false on a miss (an expired entry is a miss).
	Get(ctx context.Context, key string) (val []byte, ok bool, err error)
	// Set stores val at key for ttl, which must be positive: nothing is stored forever.
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	// Generation returns the counter at key, 0 when it does not exist.
	Generation(ctx context.Context, key string) (int64, error)
	// Bump increments the counter at key (atomically, Redis INCR) and returns the new value; the
	// counter then lives for ttl after this bump (refreshed by each bump). A counter that expires
	// starts again from 0, so ttl should outlive every entry stored under an older value.
	Bump(ctx context.Context, key string, ttl time.Duration) (int64, error)
	// Lookup returns Generation(counterKey) and Get(key) together, in one round trip where the
	// store has round trips. The two keys must share a hash tag.
	Lookup(ctx context.Context, counterKey, key string) (gen int64, val []byte, ok bool, err error)
	// Close releases resources.
	Close() error
}

var (
	_ Store = (*Memory)(nil)
	_ Store = (*Redis)(nil)
)

// checkTTL refuses a ttl that is not positive: Redis would store such an entry (or counter)
// without expiry, and an entry that never expires could be served after its data changed.
func checkTTL(op, key string, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("cache: %s %q: ttl %v is not positive", op, key, ttl)
	}
	return nil
}
