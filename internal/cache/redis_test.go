package cache_test

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/livechat-gateway/gateway/internal/cache"
	"github.com/livechat-gateway/gateway/internal/testutil"
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

// TestNewRedisClientMinPoolSize: MinPoolSize raises the pool, the default's or a URL's smaller
// pool_size, and leaves a larger one: the webhook client's blocking reads must not be starved by
// a pool_size meant for the cache.
func TestNewRedisClientMinPoolSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url       string
		min, want int
	}{
		{"redis://127.0.0.1:1", 1300, 1300},
		{"redis://127.0.0.1:1?pool_size=3", 1300, 1300},
		{"redis://127.0.0.1:1?pool_size=2000", 1300, 2000},
	} {
		c, err := cache.NewRedisClient(tc.url, cache.RedisOptions{MinPoolSize: tc.min})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.(*redis.Client).Options().PoolSize; got != tc.want {
			t.Errorf("NewRedisClient(%q, MinPoolSize %d): pool %d, want %d", tc.url, tc.min, got, tc.want)
		}
		c.Close()
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
func allOps(t *testing.T, s cache.Store) {
	t.Helper()
	ctx, c, k := context.Background(), key(t, "gen"), key(t, "e:k")
	ops := []struct {
		name string
		call func() error
	}{
		{"Lookup", func() error { _, _, _, err := s.Lookup(ctx, c, k, time.Minute); return err }},
		{"Fill", func() error { _, err := s.Fill(ctx, c, 1, k, []byte("v"), time.Minute); return err }},
		{"Bump", func() error { _, err := s.Bump(ctx, c, time.Minute); return err }},
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

// works reports whether s serves a Lookup, a Fill under the generation it returned, and a
// Lookup that finds the entry.
func works(t *testing.T, s cache.Store) bool {
	ctx, c, k := context.Background(), key(t, "probe:gen"), key(t, "probe:e")
	gen, _, _, err := s.Lookup(ctx, c, k, time.Minute)
	if err != nil {
		return false
	}
	if stored, err := s.Fill(ctx, c, gen, k, genValue(gen), time.Minute); err != nil || !stored {
		return false
	}
	gen, val, ok, err := s.Lookup(ctx, c, k, time.Minute)
	return err == nil && matches(gen, val, ok)
}

// TestRedisDownThenBack uses the default, short timeouts: it is about a Redis that is killed and
// restarted under a Store that lives on.
func TestRedisDownThenBack(t *testing.T) {
	t.Parallel()
	srv := redistest.Server(t)
	s := newRedis(t, srv.URL(), cache.RedisOptions{})
	// Polled: one call may miss the defaults' tens of milliseconds on a busy test machine.
	testutil.Eventually(t, "store works with the default options", func() bool { return works(t, s) })

	srv.Kill()
	allOps(t, s)

	srv.Restart()
	testutil.Eventually(t, "the same store works again after Redis restarted", func() bool { return works(t, s) })
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

// do sends a command to the Redis at addr with redistest.Do and fails the test on an error.
func do(t *testing.T, addr string, args ...string) string {
	t.Helper()
	reply, err := redistest.Do(addr, args...)
	if err != nil {
		t.Fatalf("%s on %s: %v", strings.Join(args, " "), addr, err)
	}
	return reply
}

// TestRedisCounterLost loses a counter in each way Redis can lose one, behind the store's back,
// and checks that it comes back with a fresh generation: never one it held before, under which
// an entry filled before the loss could match again.
func TestRedisCounterLost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ttl  time.Duration // of the counter and the entry
		lose func(t *testing.T, srv *redistest.Instance, genKey string)
		// entry says what becomes of the entry filled before the loss: "kept", so that the test
		// can check it does not match, "lost" with the counter, or "either".
		entry string
	}{
		{
			name: "deleted",
			ttl:  time.Minute,
			lose: func(t *testing.T, srv *redistest.Instance, genKey string) {
				do(t, srv.Addr(), "DEL", genKey)
			},
			entry: "kept",
		},
		{
			name: "expired",
			ttl:  100 * time.Millisecond,
			lose: func(t *testing.T, srv *redistest.Instance, genKey string) {
				testutil.Eventually(t, "the counter expired", func() bool { return do(t, srv.Addr(), "EXISTS", genKey) == "0" })
			},
			entry: "lost", // it had the counter's ttl
		},
		{
			name: "restarted",
			ttl:  time.Minute,
			lose: func(t *testing.T, srv *redistest.Instance, genKey string) {
				srv.Restart() // without persistence: Redis comes back empty
			},
			entry: "lost",
		},
		{
			name: "evicted",
			ttl:  time.Minute,
			lose: func(t *testing.T, srv *redistest.Instance, genKey string) {
				// With a maxmemory just above what Redis uses now, each large value written
				// evicts keys, chosen by sampling their idle times; write until the counter is
				// one of them. The bound on the loop only catches a Redis that never evicts.
				addr := srv.Addr()
				used := usedMemory(t, addr)
				do(t, addr, "CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
				do(t, addr, "CONFIG", "SET", "maxmemory", strconv.FormatInt(used+1<<20, 10))
				filler := strings.Repeat("x", 64<<10)
				for i := 0; do(t, addr, "EXISTS", genKey) == "1"; i++ {
					if i == 2000 {
						t.Fatalf("counter %q not evicted after writing %d values of 64 KiB", genKey, i)
					}
					do(t, addr, "SET", fmt.Sprint("filler:", i), filler)
				}
				// The eviction is over: what follows must not be evicted in turn.
				do(t, addr, "CONFIG", "SET", "maxmemory", "0")
			},
			entry: "either", // evicted too, or not
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Server(t)
			s := newRedis(t, srv.URL(), lenient)
			c, k := key(t, "gen"), key(t, "e:k")
			gen, _, _ := mustLookup(t, s, c, k, tc.ttl)
			fillGen(t, s, c, gen, k, tc.ttl)
			bumped := mustBump(t, s, c, tc.ttl)
			fillGen(t, s, c, bumped, k, tc.ttl)

			tc.lose(t, srv, c)
			if tc.entry == "kept" && do(t, srv.Addr(), "EXISTS", k) != "1" {
				t.Fatalf("entry %q gone with its counter; the test needs it kept", k)
			}

			// Polled: after a restart the store's pooled connection fails once.
			var (
				got int64
				val []byte
				ok  bool
				err error
			)
			testutil.Eventually(t, "Lookup succeeds", func() bool {
				got, val, ok, err = s.Lookup(context.Background(), c, k, tc.ttl)
				return err == nil
			})
			checkFresh(t, fmt.Sprintf("Lookup(%q) after the counter was %s", c, tc.name), got, gen, bumped)
			if ok {
				t.Errorf("Lookup(%q) after its counter was %s = %q, hit; want a miss", k, tc.name, val)
			}
			// The next Lookup reads the entry filled before the loss, if Redis kept it, under a
			// generation that no longer matches.
			again, val, ok := mustLookup(t, s, c, k, tc.ttl)
			if again != got || matches(again, val, ok) || (tc.entry == "kept" && !ok) || (tc.entry == "lost" && ok) {
				t.Errorf("second Lookup(%q) = %d, %q, %v; want %d, no entry filled under it, the entry %s", k, again, val, ok, got, tc.entry)
			}
			// Caching goes on under the new generation.
			if !fillGen(t, s, c, got, k, time.Minute) {
				t.Fatalf("Fill(%q, %d) under the new generation = not stored; want stored", k, got)
			}
			if again, val, ok := mustLookup(t, s, c, k, tc.ttl); again != got || !matches(again, val, ok) {
				t.Errorf("Lookup(%q) after the Fill = %d, %q, %v; want %d, %q, a hit", k, again, val, ok, got, genValue(got))
			}
		})
	}
}

// usedMemory returns the used_memory that INFO reports for the Redis at addr.
func usedMemory(t *testing.T, addr string) int64 {
	t.Helper()
	info := do(t, addr, "INFO", "memory")
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("INFO memory: used_memory:%s: %v", v, err)
			}
			return n
		}
	}
	t.Fatalf("INFO memory has no used_memory: %q", info)
	return 0
}

func TestRedisClusterKeys(t *testing.T) {
	t.Parallel()
	c := redistest.Cluster(t)
	s := newRedis(t, c.URL(), lenient)
	slot := func(t *testing.T, k string) string {
		t.Helper()
		return do(t, c.Addrs()[0], "CLUSTER", "KEYSLOT", k)
	}

	t.Run("one credential, one slot", func(t *testing.T) {
		gen := "lcgw:{cred}:gen"
		entries := []string{"lcgw:{cred}:e:get_agent:1", "lcgw:{cred}:e:list_bots:2", "lcgw:{cred}:e:x"}
		slots := map[string]bool{slot(t, gen): true}
		for _, k := range entries {
			slots[slot(t, k)] = true
		}
		if len(slots) != 1 {
			t.Fatalf("keys %s, %v are in slots %v; want one slot", gen, entries, slots)
		}
		// Lookup's MGET and the scripts each touch two of these keys: a Cluster takes them only
		// from one slot.
		g, _, _ := mustLookup(t, s, gen, entries[0], time.Minute)
		for _, k := range entries {
			if !fillGen(t, s, gen, g, k, time.Minute) {
				t.Errorf("Fill(%q, %d) = not stored; want stored", k, g)
			}
		}
		for _, k := range entries {
			if got, val, ok := mustLookup(t, s, gen, k, time.Minute); got != g || !matches(got, val, ok) {
				t.Errorf("Lookup(%q) = %d, %q, %v; want %d, %q, a hit", k, got, val, ok, g, genValue(g))
			}
		}
		if got := mustBump(t, s, gen, time.Minute); got != g+1 {
			t.Errorf("Bump(%q) = %d; want %d", gen, got, g+1)
		}
	})

	t.Run("credentials spread over the nodes", func(t *testing.T) {
		for i := range 100 {
			gen, k := fmt.Sprintf("lcgw:{cred%d}:gen", i), fmt.Sprintf("lcgw:{cred%d}:e:k", i)
			g, _, _ := mustLookup(t, s, gen, k, time.Minute)
			fillGen(t, s, gen, g, k, time.Minute)
		}
		var sizes []int
		used := 0
		for _, addr := range c.Addrs() {
			n, err := strconv.Atoi(do(t, addr, "DBSIZE"))
			if err != nil {
				t.Fatalf("DBSIZE on %s: %v", addr, err)
			}
			sizes = append(sizes, n)
			if n > 0 {
				used++
			}
		}
		if used < 2 {
			t.Errorf("100 credentials with their own hash tags: DBSIZE per node %v; want keys on more than one node", sizes)
		}
	})

	t.Run("counter and entry in different slots", func(t *testing.T) {
		// A key scheme that forgot the hash tag fails loudly rather than reading one slot.
		gen, k := "lcgw:{a}:gen", "lcgw:{b}:e:k"
		if slot(t, gen) == slot(t, k) {
			t.Fatalf("%s and %s share a slot; the test needs two", gen, k)
		}
		if got, val, ok, err := s.Lookup(context.Background(), gen, k, time.Minute); err == nil {
			t.Errorf("Lookup(%q, %q) = %d, %q, %v, nil; want a cross-slot error", gen, k, got, val, ok)
		}
		if stored, err := s.Fill(context.Background(), gen, 1, k, []byte("v"), time.Minute); err == nil {
			t.Errorf("Fill(%q, %q) = %v, nil; want a cross-slot error", gen, k, stored)
		}
	})
}
