// Package cache stores the gateway's cached answers and the generation counters that say which of
// them may still be served, in Redis (shared by the replicas) or, when no Redis is configured, in
// process. Breaker wraps either in a circuit breaker, so that a sick Redis costs nothing once it
// has been seen failing.
//
// The package knows nothing of credentials or answers: internal/service decides what to store,
// under which keys, and seals the values. What it does own is the rule that makes invalidation
// safe: a generation value, once used for a counter, is never used for it again. Counters count up
// from a fresh random value, and a counter that is missing for any reason (never created,
// expired, evicted, deleted, lost in a failover or a restart) starts again from a new random
// value, never from 0 or 1. An entry records the generation it was filled under, so entries of
// any earlier life of the counter can never match it again.
//
// Both stores have the same semantics and are tested by one suite.
package cache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Store holds entries (opaque values with a TTL) and generation counters. Every method honours
// ctx's deadline. A counter and the entries filled under it must share a Redis Cluster hash tag,
// since Lookup and Fill read both at once.
type Store interface {
	// Lookup returns the generation of the counter at genKey and the value at key, in one round
	// trip where the store has round trips. When the counter does not exist, Lookup creates it
	// with a fresh value, living for ttl, and reports a miss (ok=false): no entry can belong to a
	// generation that did not exist.
	Lookup(ctx context.Context, genKey, key string, ttl time.Duration) (gen int64, val []byte, ok bool, err error)
	// Fill stores val at key for ttl, but only while the counter at genKey still holds gen, and
	// then makes the counter live at least as long as the entry. It reports whether it stored:
	// an answer read before a write bumped the counter is out of date and is dropped here.
	Fill(ctx context.Context, genKey string, gen int64, key string, val []byte, ttl time.Duration) (stored bool, err error)
	// Bump moves the counter at genKey to a value it never held and returns it: the next value,
	// or a fresh one when the counter does not exist. The counter then lives at least ttl.
	Bump(ctx context.Context, genKey string, ttl time.Duration) (int64, error)
	// Ping reports whether the store answers, for readiness checks and the breaker's probes.
	Ping(ctx context.Context) error
	// Close releases resources.
	Close() error
}

var (
	_ Store = (*Memory)(nil)
	_ Store = (*Redis)(nil)
	_ Store = (*Breaker)(nil)
)

// freshGeneration returns a counter's first value: random in [1, 2^52]. The space is wide enough
// that a counter started again never meets a value an earlier life of it used (two lives of a
// credential's counter overlap with odds of about bumps/2^52), and small enough that Redis's Lua,
// whose numbers are doubles, and INCR, which stops at 2^63, handle every value exactly.
func freshGeneration() int64 { return rand.Int64N(1<<52) + 1 }

// checkTTL refuses a ttl that is not positive: Redis would store such an entry (or counter)
// without expiry, and an entry that never expires could be served after its data changed.
func checkTTL(op, key string, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("cache: %s %q: ttl %v is not positive", op, key, ttl)
	}
	return nil
}
