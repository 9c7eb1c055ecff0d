package cache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/livechat-gateway/gateway/internal/cache"
	"github.com/livechat-gateway/gateway/internal/testutil/redistest"
)

// The store tests are one suite, run against every implementation, so that the in-process store
// and Redis cannot drift apart.

func TestMemory(t *testing.T) {
	t.Parallel()
	testStore(t, func(t *testing.T) cache.Store {
		return cache.NewMemory(cache.DefaultMaxEntries, cache.DefaultMaxBytes)
	})
}

func TestRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.Server(t)
	testStore(t, func(t *testing.T) cache.Store { return newRedis(t, srv.URL(), lenient) })
}

func TestRedisCluster(t *testing.T) {
	t.Parallel()
	c := redistest.Cluster(t)
	testStore(t, func(t *testing.T) cache.Store { return newRedis(t, c.URL(), lenient) })
}

func TestRedisSentinel(t *testing.T) {
	t.Parallel()
	s := redistest.Sentinel(t)
	testStore(t, func(t *testing.T) cache.Store { return newRedis(t, s.URL(), lenient) })
}

// lenient are options for tests of what a store does, not of how fast: the defaults' tens of
// milliseconds could fail a test on a machine busy with other test packages under -race.
var lenient = cache.RedisOptions{
	Timeout:      5 * time.Second,
	DialTimeout:  2 * time.Second,
	ReadTimeout:  2 * time.Second,
	WriteTimeout: 2 * time.Second,
	PoolTimeout:  2 * time.Second,
}

func newRedis(t *testing.T, url string, o cache.RedisOptions) *cache.Redis {
	t.Helper()
	s, err := cache.NewRedis(url, o)
	if err != nil {
		t.Fatalf("NewRedis(%q) = %v", url, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// key returns a key of the test's own, with a hash tag as the gateway's keys have, so that
// subtests sharing one Redis never see each other's data.
func key(t *testing.T, name string) string {
	return fmt.Sprintf("lcgw:{%s}:%s", t.Name(), name)
}

// eventually polls cond until it holds, failing the test after a generous bound: expiry is
// checked without any upper bound on how soon it happens.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 10s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustGet(t *testing.T, s cache.Store, key string) ([]byte, bool) {
	t.Helper()
	val, ok, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q) = %v", key, err)
	}
	return val, ok
}

func mustSet(t *testing.T, s cache.Store, key string, val []byte, ttl time.Duration) {
	t.Helper()
	if err := s.Set(context.Background(), key, val, ttl); err != nil {
		t.Fatalf("Set(%q) = %v", key, err)
	}
}

func mustGeneration(t *testing.T, s cache.Store, key string) int64 {
	t.Helper()
	n, err := s.Generation(context.Background(), key)
	if err != nil {
		t.Fatalf("Generation(%q) = %v", key, err)
	}
	return n
}

func mustBump(t *testing.T, s cache.Store, key string, ttl time.Duration) int64 {
	t.Helper()
	n, err := s.Bump(context.Background(), key, ttl)
	if err != nil {
		t.Fatalf("Bump(%q) = %v", key, err)
	}
	return n
}

// testStore runs the Store contract against the stores that newStore returns, a fresh one for
// each subtest. The subtests run in parallel, each with keys of its own, since several wait for
// expiry.
func testStore(t *testing.T, newStore func(t *testing.T) cache.Store) {
	t.Run("Lookup", func(t *testing.T) {
		t.Parallel()
		s, c, k := newStore(t), key(t, "gen"), key(t, "k")
		if gen, val, ok, err := s.Lookup(context.Background(), c, k); err != nil || gen != 0 || ok || val != nil {
			t.Fatalf("Lookup on nothing = %d, %q, %v, %v; want 0, nil, miss", gen, val, ok, err)
		}
		mustBump(t, s, c, time.Minute)
		mustBump(t, s, c, time.Minute)
		mustSet(t, s, k, []byte("v\x00\xff"), time.Minute)
		if gen, val, ok, err := s.Lookup(context.Background(), c, k); err != nil || gen != 2 || !ok || string(val) != "v\x00\xff" {
			t.Fatalf("Lookup = %d, %q, %v, %v; want 2, the value, hit", gen, val, ok, err)
		}
	})

	t.Run("MissThenHit", func(t *testing.T) {
		t.Parallel()
		s, k := newStore(t), key(t, "k")
		if val, ok := mustGet(t, s, k); ok {
			t.Fatalf("Get(%q) before Set = %q, hit; want a miss", k, val)
		}
		mustSet(t, s, k, []byte("v1"), time.Minute)
		if val, ok := mustGet(t, s, k); !ok || string(val) != "v1" {
			t.Fatalf("Get(%q) = %q, %v; want v1, hit", k, val, ok)
		}
	})

	t.Run("Overwrite", func(t *testing.T) {
		t.Parallel()
		s, k := newStore(t), key(t, "k")
		mustSet(t, s, k, []byte("old value"), time.Minute)
		mustSet(t, s, k, []byte("new"), time.Minute)
		if val, ok := mustGet(t, s, k); !ok || string(val) != "new" {
			t.Fatalf("Get(%q) = %q, %v; want new, hit", k, val, ok)
		}
	})

	t.Run("KeysAreIndependent", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		mustSet(t, s, key(t, "a"), []byte("A"), time.Minute)
		mustSet(t, s, key(t, "b"), []byte("B"), time.Minute)
		for k, want := range map[string]string{"a": "A", "b": "B"} {
			if val, ok := mustGet(t, s, key(t, k)); !ok || string(val) != want {
				t.Errorf("Get(%q) = %q, %v; want %s, hit", key(t, k), val, ok, want)
			}
		}
	})

	t.Run("BinaryValues", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		all := make([]byte, 256)
		for i := range all {
			all[i] = byte(i)
		}
		big := bytes.Repeat([]byte("\x00\r\n$*-+:\xff"), 32<<10) // 288 KiB of RESP's own bytes
		for name, val := range map[string][]byte{"empty": {}, "all-bytes": all, "big": big} {
			k := key(t, name)
			mustSet(t, s, k, val, time.Minute)
			if got, ok := mustGet(t, s, k); !ok || !bytes.Equal(got, val) {
				t.Errorf("Get(%q) = %d bytes, %v; want the %d bytes set, hit", k, len(got), ok, len(val))
			}
		}
	})

	t.Run("TTLExpiry", func(t *testing.T) {
		t.Parallel()
		s, short, long := newStore(t), key(t, "short"), key(t, "long")
		mustSet(t, s, long, []byte("stays"), time.Hour)
		mustSet(t, s, short, []byte("goes"), 100*time.Millisecond)
		eventually(t, "entry with a 100ms ttl expired", func() bool {
			_, ok := mustGet(t, s, short)
			return !ok
		})
		if val, ok := mustGet(t, s, long); !ok || string(val) != "stays" {
			t.Errorf("Get(%q) = %q, %v; want stays, hit", long, val, ok)
		}
	})

	t.Run("NonPositiveTTLRefused", func(t *testing.T) {
		t.Parallel()
		s, k := newStore(t), key(t, "k")
		for _, ttl := range []time.Duration{0, -time.Second} {
			if err := s.Set(context.Background(), k, []byte("v"), ttl); err == nil {
				t.Errorf("Set(%q, ttl %v) = nil; want an error", k, ttl)
			}
			if n, err := s.Bump(context.Background(), k, ttl); err == nil {
				t.Errorf("Bump(%q, ttl %v) = %d, nil; want an error", k, ttl, n)
			}
		}
		if val, ok := mustGet(t, s, k); ok {
			t.Errorf("Get(%q) = %q after refused Sets; want a miss", k, val)
		}
	})

	t.Run("GenerationOfMissingKeyIsZero", func(t *testing.T) {
		t.Parallel()
		s, k := newStore(t), key(t, "gen")
		if n := mustGeneration(t, s, k); n != 0 {
			t.Fatalf("Generation(%q) = %d; want 0", k, n)
		}
	})

	t.Run("BumpIncrements", func(t *testing.T) {
		t.Parallel()
		s, k := newStore(t), key(t, "gen")
		for want := int64(1); want <= 3; want++ {
			if n := mustBump(t, s, k, time.Minute); n != want {
				t.Fatalf("Bump(%q) = %d; want %d", k, n, want)
			}
			if n := mustGeneration(t, s, k); n != want {
				t.Fatalf("Generation(%q) = %d after Bump; want %d", k, n, want)
			}
		}
		if n := mustGeneration(t, s, key(t, "other")); n != 0 {
			t.Errorf("Generation of another key = %d; want 0", n)
		}
	})

	t.Run("BumpRefreshesTTL", func(t *testing.T) {
		t.Parallel()
		s, k := newStore(t), key(t, "gen")
		mustBump(t, s, k, 500*time.Millisecond)
		if n := mustBump(t, s, k, time.Hour); n != 2 {
			t.Fatalf("second Bump(%q) = %d; want 2", k, n)
		}
		time.Sleep(time.Second) // past the first ttl, which the second bump replaced
		if n := mustGeneration(t, s, k); n != 2 {
			t.Fatalf("Generation(%q) = %d a second after a Bump with ttl 1h; want 2", k, n)
		}
	})

	t.Run("CounterExpiresByLatestTTL", func(t *testing.T) {
		t.Parallel()
		s, k := newStore(t), key(t, "gen")
		mustBump(t, s, k, time.Hour)
		mustBump(t, s, k, 100*time.Millisecond) // each bump sets the ttl, also a shorter one
		eventually(t, "counter with a 100ms ttl expired", func() bool { return mustGeneration(t, s, k) == 0 })
		if n := mustBump(t, s, k, time.Minute); n != 1 {
			t.Fatalf("Bump(%q) after expiry = %d; want 1 (a fresh counter)", k, n)
		}
	})

	t.Run("CounterSurvivesEntries", func(t *testing.T) {
		t.Parallel()
		s, k := newStore(t), key(t, "gen")
		mustBump(t, s, k, time.Minute)
		for i := range 100 {
			mustSet(t, s, key(t, fmt.Sprint("entry", i)), bytes.Repeat([]byte("x"), 1000), time.Minute)
		}
		if n := mustGeneration(t, s, k); n != 1 {
			t.Fatalf("Generation(%q) = %d after 100 Sets; want 1", k, n)
		}
	})

	t.Run("ConcurrentBumpsAreAtomic", func(t *testing.T) {
		t.Parallel()
		s, k := newStore(t), key(t, "gen")
		const n = 20
		got := make([]int64, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				var err error
				if got[i], err = s.Bump(context.Background(), k, time.Minute); err != nil {
					t.Errorf("Bump(%q) = %v", k, err)
				}
			})
		}
		wg.Wait()
		slices.Sort(got)
		for i, v := range got {
			if v != int64(i+1) {
				t.Fatalf("%d concurrent Bumps returned %v; want each of 1..%d once", n, got, n)
			}
		}
		if g := mustGeneration(t, s, k); g != n {
			t.Fatalf("Generation(%q) = %d after %d Bumps; want %d", k, g, n, n)
		}
	})

	t.Run("Ping", func(t *testing.T) {
		t.Parallel()
		s, ok := newStore(t).(interface{ Ping(context.Context) error })
		if !ok {
			t.Fatal("the store has no Ping method")
		}
		if err := s.Ping(context.Background()); err != nil {
			t.Fatalf("Ping() = %v", err)
		}
	})

	t.Run("ContextErrors", func(t *testing.T) {
		t.Parallel()
		s, k := newStore(t), key(t, "k")
		canceled, cancel := context.WithCancel(context.Background())
		cancel()
		expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		for _, tc := range []struct {
			name string
			ctx  context.Context
			want error
		}{
			{"canceled", canceled, context.Canceled},
			{"deadline", expired, context.DeadlineExceeded},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ops := map[string]error{}
				_, _, ops["Get"] = s.Get(tc.ctx, k)
				ops["Set"] = s.Set(tc.ctx, k, []byte("v"), time.Minute)
				_, ops["Generation"] = s.Generation(tc.ctx, k)
				_, ops["Bump"] = s.Bump(tc.ctx, k, time.Minute)
				for op, err := range ops {
					if !errors.Is(err, tc.want) {
						t.Errorf("%s with a %s context = %v; want an error wrapping %v", op, tc.name, err, tc.want)
					}
				}
			})
		}
		// The refused calls changed nothing.
		if val, ok := mustGet(t, s, k); ok {
			t.Errorf("Get(%q) = %q; want a miss", k, val)
		}
	})
}
