package cache

import (
	"context"
	"fmt"
	"strconv"
)

// Lookup returns, in one round trip, the counter at counterKey (0 when it does not exist) and
// the value at key (ok=false on a miss). A cached read needs both, the generation of its
// credential and the entry; fetched one after the other they would double a hit's latency on
// Redis. In a Redis Cluster the two keys must share a hash tag, so that one node holds both.
func (r *Redis) Lookup(ctx context.Context, counterKey, key string) (gen int64, val []byte, ok bool, err error) {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	vals, err := r.c.MGet(ctx, counterKey, key).Result()
	if err != nil {
		return 0, nil, false, fmt.Errorf("cache: lookup %q: %w", key, err)
	}
	if len(vals) != 2 {
		return 0, nil, false, fmt.Errorf("cache: lookup %q: %d values for 2 keys", key, len(vals))
	}
	if s, isStr := vals[0].(string); isStr {
		if gen, err = strconv.ParseInt(s, 10, 64); err != nil {
			return 0, nil, false, fmt.Errorf("cache: lookup %q: counter: %w", counterKey, err)
		}
	}
	if s, isStr := vals[1].(string); isStr {
		return gen, []byte(s), true, nil
	}
	return gen, nil, false, nil
}

// Lookup returns the counter at counterKey and the value at key, as Redis.Lookup does.
func (m *Memory) Lookup(ctx context.Context, counterKey, key string) (gen int64, val []byte, ok bool, err error) {
	if gen, err = m.Generation(ctx, counterKey); err != nil {
		return 0, nil, false, err
	}
	if val, ok, err = m.Get(ctx, key); err != nil {
		return 0, nil, false, err
	}
	return gen, val, ok, nil
}
