package cache

import "github.com/redis/go-redis/v9"

// Size returns the number of entries and counters and the bytes of the entries, for tests of
// the bounds.
func (m *Memory) Size() (entries, counters int, bytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lru.Len(), len(m.counters), m.bytes
}

// ClientOptions returns the options of a single-server client, for tests of the defaults.
func (r *Redis) ClientOptions() *redis.Options {
	return r.c.(*redis.Client).Options()
}
