package cache

import "github.com/redis/go-redis/v9"

// FreshGeneration is freshGeneration, for the test of its range.
var FreshGeneration = freshGeneration

// Size returns the number of items (entries and counters) and the bytes they are counted as,
// for tests of the bounds.
func (m *Memory) Size() (items int, bytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lru.Len(), m.bytes
}

// ClientOptions returns the options of a single-server client, for tests of the defaults.
func (r *Redis) ClientOptions() *redis.Options {
	return r.c.(*redis.Client).Options()
}
