package service

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/livechat-gateway/gateway/internal/cache"
	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/testutil/redistest"
)

// lenientRedis are store options for tests of what the cache does, not of how fast: the
// defaults' tens of milliseconds could fail a test on a machine busy with other packages.
var lenientRedis = cache.RedisOptions{
	Timeout: 5 * time.Second, DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second,
	WriteTimeout: 2 * time.Second, PoolTimeout: 2 * time.Second,
}

// newTestRedis returns a store on the Redis at url with lenient timeouts, closed when the test
// ends.
func newTestRedis(t *testing.T, url string) *cache.Redis {
	t.Helper()
	s, err := cache.NewRedis(url, lenientRedis)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// redisClient returns a plain client of srv, for a test to look at and change what the gateway
// stored.
func redisClient(t *testing.T, srv *redistest.Instance) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { c.Close() })
	return c
}

// counters returns the keys of the generation counters in srv.
func counters(t *testing.T, srv *redistest.Instance) []string {
	t.Helper()
	keys, err := redisClient(t, srv).Keys(context.Background(), "lcgw:*:gen").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 {
		t.Fatal("no generation counter in Redis")
	}
	return keys
}

// deleteCounters deletes every generation counter, as an operator's DEL or an eviction would.
func deleteCounters(t *testing.T, srv *redistest.Instance) {
	t.Helper()
	if err := redisClient(t, srv).Del(context.Background(), counters(t, srv)...).Err(); err != nil {
		t.Fatal(err)
	}
}

// expireCounters makes every generation counter expire, as its TTL would, and waits until Redis
// has dropped them.
func expireCounters(t *testing.T, srv *redistest.Instance) {
	t.Helper()
	c := redisClient(t, srv)
	keys := counters(t, srv)
	for _, k := range keys {
		if err := c.PExpire(context.Background(), k, time.Millisecond).Err(); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, "the counters expired", func() bool {
		n, err := c.Exists(context.Background(), keys...).Result()
		return err == nil && n == 0
	})
}
