package cache_test

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livechat-gateway/gateway/internal/cache"
	"github.com/livechat-gateway/gateway/internal/testutil/redistest"
)

func TestRedisDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url                   string
		read, dial            time.Duration
		poolSize, dialRetries int
	}{
		{"redis://127.0.0.1:1", 50 * time.Millisecond, 100 * time.Millisecond, 10 * runtime.GOMAXPROCS(0), 1},
		// What REDIS_URL says wins over the defaults.
		{"redis://127.0.0.1:1?read_timeout=300ms&dial_timeout=2s&pool_size=3", 300 * time.Millisecond, 2 * time.Second, 3, 1},
	} {
		s := newRedis(t, tc.url, cache.RedisOptions{})
		o := s.ClientOptions()
		if o.ReadTimeout != tc.read || o.WriteTimeout != 50*time.Millisecond || o.DialTimeout != tc.dial ||
			o.PoolSize != tc.poolSize || o.PoolTimeout != 50*time.Millisecond ||
			o.MaxRetries != 0 || o.DialerRetries != tc.dialRetries || !o.ContextTimeoutEnabled {
			t.Errorf("NewRedis(%q) options: read %v, write %v, dial %v, pool %d, pool timeout %v, "+
				"max retries %d, dialer retries %d, context timeouts %v; want read %v, write 50ms, dial %v, "+
				"pool %d, pool timeout 50ms, max retries 0 (go-redis reads the -1 it was given as none), dialer retries %d, context timeouts true",
				tc.url, o.ReadTimeout, o.WriteTimeout, o.DialTimeout, o.PoolSize, o.PoolTimeout, o.MaxRetries,
				o.DialerRetries, o.ContextTimeoutEnabled, tc.read, tc.dial, tc.poolSize, tc.dialRetries)
		}
	}
}

func TestNewRedisBadURL(t *testing.T) {
	t.Parallel()
	_, err := cache.NewRedis("redis://:s3cretPW@h:1/x", cache.RedisOptions{})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("NewRedis(a bad URL) = %v; want an error without the password", err)
	}
}

// allOps runs every Store method once, for the tests of a Redis that is down. Each call must
// fail, and within 2s: the bound is there to catch a hang, not to time the fall-back.
func allOps(t *testing.T, s *cache.Redis) {
	t.Helper()
	ctx, k := context.Background(), key(t, "k")
	ops := []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, _, err := s.Get(ctx, k); return err }},
		{"Set", func() error { return s.Set(ctx, k, []byte("v"), time.Minute) }},
		{"Generation", func() error { _, err := s.Generation(ctx, k); return err }},
		{"Bump", func() error { _, err := s.Bump(ctx, k, time.Minute); return err }},
		{"Ping", func() error { return s.Ping(ctx) }},
	}
	for _, op := range ops {
		start := time.Now()
		err := op.call()
		if took := time.Since(start); err == nil || took > 2*time.Second {
			t.Errorf("%s on a Redis that is down = %v after %v; want an error within 2s", op.name, err, took)
		}
	}
}

// works reports whether s serves a Set and then a Get of the value set.
func works(t *testing.T, s *cache.Redis) bool {
	ctx, k := context.Background(), key(t, "probe")
	if err := s.Set(ctx, k, []byte("v"), time.Minute); err != nil {
		return false
	}
	val, ok, err := s.Get(ctx, k)
	return err == nil && ok && string(val) == "v"
}

// TestRedisDownThenBack uses the default, short timeouts: it is about a Redis that is killed and
// restarted under a Store that lives on.
func TestRedisDownThenBack(t *testing.T) {
	t.Parallel()
	srv := redistest.Server(t)
	s := newRedis(t, srv.URL(), cache.RedisOptions{})
	// Polled: one call may miss the defaults' tens of milliseconds on a busy test machine.
	eventually(t, "store works with the default options", func() bool { return works(t, s) })

	srv.Kill()
	allOps(t, s)

	srv.Restart()
	eventually(t, "the same store works again after Redis restarted", func() bool { return works(t, s) })
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping after the restart = %v", err)
	}
}

func TestRedisNeverStarted(t *testing.T) {
	t.Parallel()
	srv := redistest.Server(t)
	addr := srv.Addr()
	srv.Stop() // nothing listens there now
	// No error: NewRedis does not connect.
	s := newRedis(t, "redis://"+addr, cache.RedisOptions{})
	allOps(t, s)
}

func TestRedisClusterKeys(t *testing.T) {
	t.Parallel()
	c := redistest.Cluster(t)
	s := newRedis(t, c.URL(), lenient)
	ctx := context.Background()

	t.Run("same hash tag, same slot", func(t *testing.T) {
		keys := []string{"lcgw:{cred}:get_agent:1", "lcgw:{cred}:list_bots:2", "lcgw:{cred}:x"}
		slots := map[string]bool{}
		for _, k := range keys {
			mustSet(t, s, k, []byte(k), time.Minute)
			slot, err := redistest.Do(c.Addrs()[0], "CLUSTER", "KEYSLOT", k)
			if err != nil {
				t.Fatalf("CLUSTER KEYSLOT %s: %v", k, err)
			}
			slots[slot] = true
		}
		if len(slots) != 1 {
			t.Errorf("keys %v are in slots %v; want one slot", keys, slots)
		}
		for _, k := range keys {
			if val, ok := mustGet(t, s, k); !ok || string(val) != k {
				t.Errorf("Get(%q) = %q, %v; want %q, hit", k, val, ok, k)
			}
		}
		gen := "lcgw:{cred}:gen"
		if n, err := s.Bump(ctx, gen, time.Minute); err != nil || n != 1 {
			t.Errorf("Bump(%q) = %d, %v; want 1", gen, n, err)
		}
	})

	t.Run("different hash tags spread over the nodes", func(t *testing.T) {
		for i := range 100 {
			mustSet(t, s, fmt.Sprintf("lcgw:{cred%d}:k", i), []byte("v"), time.Minute)
		}
		var sizes []int
		used := 0
		for _, addr := range c.Addrs() {
			reply, err := redistest.Do(addr, "DBSIZE")
			n, _ := strconv.Atoi(reply)
			if err != nil {
				t.Fatalf("DBSIZE on %s: %v", addr, err)
			}
			sizes = append(sizes, n)
			if n > 0 {
				used++
			}
		}
		if used < 2 {
			t.Errorf("100 keys with different hash tags: DBSIZE per node %v; want keys on more than one node", sizes)
		}
	})
}
