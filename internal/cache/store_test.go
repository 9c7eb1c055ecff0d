package cache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livechat-gateway/gateway/internal/cache"
	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/testutil/redistest"
)

// The store tests are one suite, run against every implementation, so that the in-process store
// and Redis cannot drift apart.

func TestMemory(t *testing.T) {
	t.Parallel()
	testStore(t, memoryEnv)
}

func TestRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.Server(t)
	testStore(t, redisEnv(srv.URL()))
}

func TestRedisCluster(t *testing.T) {
	t.Parallel()
	c := redistest.Cluster(t)
	testStore(t, redisEnv(c.URL()))
}

func TestRedisSentinel(t *testing.T) {
	t.Parallel()
	s := redistest.Sentinel(t)
	testStore(t, redisEnv(s.URL()))
}

func TestFreshGeneration(t *testing.T) {
	t.Parallel()
	seen := map[int64]bool{}
	for range 10_000 {
		g := cache.FreshGeneration()
		// Above 2^52 a Lua number (a double) would no longer hold every value exactly.
		if g < 1 || g > 1<<52 {
			t.Fatalf("FreshGeneration() = %d; want a value in [1, 2^52]", g)
		}
		seen[g] = true
	}
	// 10000 draws from 2^52 values collide with odds of about 1e-8: a repeat means the values
	// are not random.
	if len(seen) != 10_000 {
		t.Errorf("10000 FreshGeneration() calls gave %d distinct values; want 10000", len(seen))
	}
}

// storeEnv is a store under test, with its way of letting time pass.
type storeEnv struct {
	cache.Store
	// tick lets a little of the store's time pass between two polls of a condition: a Memory's
	// injected clock is moved on, while for Redis, whose clock is the real one, it waits a
	// moment.
	tick func()
}

// memoryEnv returns a Memory with the default bounds on a fake clock of its own, so that the
// suite's expiry tests move time instead of waiting for it.
func memoryEnv(*testing.T) storeEnv {
	clock := testutil.NewClock()
	m := cache.NewMemory(cache.DefaultMaxEntries, cache.DefaultMaxBytes, cache.WithClock(clock.Now))
	return storeEnv{Store: m, tick: func() { clock.Advance(10 * time.Millisecond) }}
}

// redisEnv returns a function making stores on the Redis at url, with lenient options.
func redisEnv(url string) func(*testing.T) storeEnv {
	return func(t *testing.T) storeEnv {
		pause := func() { time.Sleep(10 * time.Millisecond) } // between two polls, not a wait for an event
		return storeEnv{Store: newRedis(t, url, lenient), tick: pause}
	}
}

// maxTicks bounds how often eventually polls: 10s of the store's time at least.
const maxTicks = 1000

// eventually polls cond, letting a tick of the store's time pass between polls, until it holds,
// and fails the test if it never does. Expiry is checked this way, with no upper bound on how
// soon it happens beyond a generous one.
func (e storeEnv) eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range maxTicks {
		if cond() {
			return
		}
		e.tick()
	}
	if !cond() {
		t.Fatalf("%s: not after %d ticks", what, maxTicks)
	}
}

// witnesses numbers the witnesses of pass, so that no two share a key.
var witnesses atomic.Int64

// pass returns once at least d of the store's time has passed since it was called. It watches a
// witness entry, filled with ttl d, until it has expired: a counter or entry written before
// pass, with a ttl of d or less, is then gone, and anything that lives on outlived it.
func (e storeEnv) pass(t *testing.T, d time.Duration) {
	t.Helper()
	n := witnesses.Add(1)
	w, wk := key(t, fmt.Sprint("witness", n)), key(t, fmt.Sprint("witness-entry", n))
	// The witness's counter lives long, so that only the entry's ttl is timed.
	gen, _, _ := mustLookup(t, e, w, wk, long)
	if !mustFill(t, e, w, gen, wk, []byte("w"), d) {
		t.Fatalf("Fill(%q) of the witness = not stored; want stored", wk)
	}
	e.eventually(t, fmt.Sprintf("witness entry with ttl %v expired", d), func() bool {
		_, _, ok := mustLookup(t, e, w, wk, long)
		return !ok
	})
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

// newRedis returns a store on the Redis at url, closed when the test ends.
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
// subtests sharing one Redis never see each other's data, and the counter and entries of one
// test share a Cluster slot.
func key(t *testing.T, name string) string {
	return fmt.Sprintf("lcgw:{%s}:%s", t.Name(), name)
}

// long is the ttl of counters and entries that must not expire during a test.
const long = time.Hour

// mustLookup calls Lookup and fails the test on an error.
func mustLookup(t *testing.T, s cache.Store, genKey, key string, ttl time.Duration) (gen int64, val []byte, ok bool) {
	t.Helper()
	gen, val, ok, err := s.Lookup(context.Background(), genKey, key, ttl)
	if err != nil {
		t.Fatalf("Lookup(%q, %q) = %v", genKey, key, err)
	}
	return gen, val, ok
}

// mustFill calls Fill and fails the test on an error.
func mustFill(t *testing.T, s cache.Store, genKey string, gen int64, key string, val []byte, ttl time.Duration) bool {
	t.Helper()
	stored, err := s.Fill(context.Background(), genKey, gen, key, val, ttl)
	if err != nil {
		t.Fatalf("Fill(%q, %d, %q) = %v", genKey, gen, key, err)
	}
	return stored
}

// mustBump calls Bump and fails the test on an error.
func mustBump(t *testing.T, s cache.Store, genKey string, ttl time.Duration) int64 {
	t.Helper()
	gen, err := s.Bump(context.Background(), genKey, ttl)
	if err != nil {
		t.Fatalf("Bump(%q) = %v", genKey, err)
	}
	return gen
}

// The store's values are opaque to it; the service seals the generation an entry was filled
// under into the value, and serves the entry only when that is the generation Lookup returned.
// The generation tests store values the same way, as the generation in decimal, so that they can
// check that rule with genValue and matches.

// genValue is the value filled under gen.
func genValue(gen int64) []byte { return strconv.AppendInt(nil, gen, 10) }

// matches reports whether a Lookup that returned gen, val and ok finds an entry that the service
// would serve: one filled under gen.
func matches(gen int64, val []byte, ok bool) bool { return ok && bytes.Equal(val, genValue(gen)) }

// fillGen fills key with genValue(gen) under gen, and reports whether it was stored.
func fillGen(t *testing.T, s cache.Store, genKey string, gen int64, key string, ttl time.Duration) bool {
	t.Helper()
	return mustFill(t, s, genKey, gen, key, genValue(gen), ttl)
}

// checkFresh fails the test unless gen, the value a counter took after it was found missing,
// is a fresh one: positive, within the range of FreshGeneration, not 1 (which a counter that
// restarts from zero would hold) and none of the values the counter held before.
func checkFresh(t *testing.T, what string, gen int64, held ...int64) {
	t.Helper()
	if gen <= 1 || gen > 1<<52 || slices.Contains(held, gen) {
		t.Errorf("%s = %d; want a fresh generation in (1, 2^52], none of %v", what, gen, held)
	}
}

// testStore runs the Store contract against the stores that newEnv returns, a fresh one for
// each subtest. The subtests run in parallel, each with keys of its own, since several wait for
// expiry.
func testStore(t *testing.T, newEnv func(t *testing.T) storeEnv) {
	t.Run("LookupCreatesCounter", func(t *testing.T) {
		t.Parallel()
		s, c, k := newEnv(t), key(t, "gen"), key(t, "e:k")
		gen, val, ok := mustLookup(t, s, c, k, long)
		if ok || val != nil {
			t.Errorf("Lookup(%q) of a new counter = %q, %v; want nil, a miss", k, val, ok)
		}
		checkFresh(t, fmt.Sprintf("Lookup(%q) of a new counter", c), gen)
		// The counter now exists: a second Lookup reads it.
		if again, val, ok := mustLookup(t, s, c, k, long); again != gen || ok {
			t.Errorf("second Lookup(%q) = %d, %q, %v; want %d, a miss", c, again, val, ok, gen)
		}
		// Another credential's counter starts at a value of its own.
		other, _, _ := mustLookup(t, s, key(t, "other:gen"), key(t, "other:e:k"), long)
		checkFresh(t, "Lookup of another new counter", other, gen)
	})

	t.Run("FillThenHit", func(t *testing.T) {
		t.Parallel()
		s, c, k := newEnv(t), key(t, "gen"), key(t, "e:k")
		gen, _, _ := mustLookup(t, s, c, k, long)
		if !fillGen(t, s, c, gen, k, long) {
			t.Fatalf("Fill(%q, %d) under the current generation = not stored; want stored", k, gen)
		}
		if got, val, ok := mustLookup(t, s, c, k, long); got != gen || !matches(gen, val, ok) {
			t.Errorf("Lookup(%q) = %d, %q, %v; want %d, %q, a hit", k, got, val, ok, gen, genValue(gen))
		}
	})

	t.Run("BumpInvalidates", func(t *testing.T) {
		t.Parallel()
		s, c, k := newEnv(t), key(t, "gen"), key(t, "e:k")
		gen, _, _ := mustLookup(t, s, c, k, long)
		fillGen(t, s, c, gen, k, long)
		if got := mustBump(t, s, c, long); got != gen+1 {
			t.Fatalf("Bump(%q) = %d; want %d", c, got, gen+1)
		}
		// The entry is still stored, but it was filled under the generation before.
		got, val, ok := mustLookup(t, s, c, k, long)
		if got != gen+1 || matches(got, val, ok) {
			t.Errorf("Lookup(%q) after Bump = %d, %q, %v; want %d and no entry filled under it", k, got, val, ok, gen+1)
		}
		if !fillGen(t, s, c, gen+1, k, long) {
			t.Fatalf("Fill(%q, %d) under the bumped generation = not stored; want stored", k, gen+1)
		}
		if got, val, ok := mustLookup(t, s, c, k, long); !matches(got, val, ok) {
			t.Errorf("Lookup(%q) after the new Fill = %d, %q, %v; want %d, %q, a hit", k, got, val, ok, gen+1, genValue(gen+1))
		}
	})

	t.Run("StaleFillRefused", func(t *testing.T) {
		t.Parallel()
		s, c, k := newEnv(t), key(t, "gen"), key(t, "e:k")
		gen, _, _ := mustLookup(t, s, c, k, long)
		mustBump(t, s, c, long)
		cur := gen + 1
		fillGen(t, s, c, cur, k, long)
		// An answer read under gen, before the Bump, arrives late; and one under a generation
		// the counter never held.
		for _, stale := range []int64{gen, cur + 1, 0} {
			if mustFill(t, s, c, stale, k, []byte("stale"), long) {
				t.Errorf("Fill(%q, %d) while the counter holds %d = stored; want refused", k, stale, cur)
			}
		}
		if got, val, ok := mustLookup(t, s, c, k, long); got != cur || !matches(got, val, ok) {
			t.Errorf("Lookup(%q) after refused Fills = %d, %q, %v; want %d, %q, a hit: the entry untouched", k, got, val, ok, cur, genValue(cur))
		}
	})

	t.Run("FillWithoutCounterRefused", func(t *testing.T) {
		t.Parallel()
		s, c, k := newEnv(t), key(t, "gen"), key(t, "e:k")
		if mustFill(t, s, c, 12345, k, genValue(12345), long) {
			t.Errorf("Fill(%q) under a counter that does not exist = stored; want refused", k)
		}
		// The Lookup creates the counter, and reports a miss in any case; the one after would
		// find the entry if the Fill had stored it.
		mustLookup(t, s, c, k, long)
		if gen, val, ok := mustLookup(t, s, c, k, long); ok {
			t.Errorf("Lookup(%q) = %d, %q, %v after a refused Fill; want a miss", k, gen, val, ok)
		}
	})

	t.Run("BumpOfMissingCounterIsFresh", func(t *testing.T) {
		t.Parallel()
		s, c := newEnv(t), key(t, "gen")
		gen := mustBump(t, s, c, long)
		checkFresh(t, fmt.Sprintf("Bump(%q) of a missing counter", c), gen)
		if got, _, _ := mustLookup(t, s, c, key(t, "e:k"), long); got != gen {
			t.Errorf("Lookup(%q) after Bump = %d; want %d", c, got, gen)
		}
		if got := mustBump(t, s, c, long); got != gen+1 {
			t.Errorf("second Bump(%q) = %d; want %d", c, got, gen+1)
		}
	})

	t.Run("FillExtendsCounterTTL", func(t *testing.T) {
		t.Parallel()
		// The short ttl leaves a busy machine time for the Fill before the counter expires.
		const short = 300 * time.Millisecond
		s, c, k := newEnv(t), key(t, "gen"), key(t, "e:k")
		gen, _, _ := mustLookup(t, s, c, k, short)
		if !fillGen(t, s, c, gen, k, long) {
			t.Fatalf("Fill(%q, %d) = not stored; want stored", k, gen)
		}
		s.pass(t, short)
		// The counter outlives the entry's ttl, else the entry would be lost with it.
		if got, val, ok := mustLookup(t, s, c, k, short); got != gen || !matches(got, val, ok) {
			t.Errorf("Lookup(%q) past the counter's first ttl = %d, %q, %v; want %d, %q, a hit", k, got, val, ok, gen, genValue(gen))
		}
	})

	t.Run("BumpExtendsCounterTTL", func(t *testing.T) {
		t.Parallel()
		const short = 300 * time.Millisecond
		s, c, k := newEnv(t), key(t, "gen"), key(t, "e:k")
		gen, _, _ := mustLookup(t, s, c, k, short)
		if got := mustBump(t, s, c, long); got != gen+1 {
			t.Fatalf("Bump(%q) = %d; want %d", c, got, gen+1)
		}
		s.pass(t, short)
		if got, _, _ := mustLookup(t, s, c, k, short); got != gen+1 {
			t.Errorf("Lookup(%q) past the counter's first ttl = %d; want %d", c, got, gen+1)
		}
	})

	t.Run("TTLNeverShortened", func(t *testing.T) {
		t.Parallel()
		const short = 50 * time.Millisecond
		s, c, k := newEnv(t), key(t, "gen"), key(t, "e:k")
		gen, _, _ := mustLookup(t, s, c, k, long)
		// Each of these would end the counter after short if it set the ttl instead of extending
		// it: the counter must outlive the entries filled under it.
		fillGen(t, s, c, gen, k, short)
		mustBump(t, s, c, short)
		s.pass(t, short)
		if got, _, _ := mustLookup(t, s, c, k, long); got != gen+1 {
			t.Errorf("Lookup(%q) past the short ttls = %d; want %d", c, got, gen+1)
		}
	})

	t.Run("CounterExpires", func(t *testing.T) {
		t.Parallel()
		const short = 100 * time.Millisecond
		s, c, k := newEnv(t), key(t, "gen"), key(t, "e:k")
		gen, _, _ := mustLookup(t, s, c, k, short)
		fillGen(t, s, c, gen, k, short)
		// Not checked against gen+1: on a busy machine the counter may already have expired,
		// and what matters is that no value it held comes back.
		bumped := mustBump(t, s, c, short)
		s.pass(t, short)
		got, val, ok := mustLookup(t, s, c, k, short)
		checkFresh(t, fmt.Sprintf("Lookup(%q) after it expired", c), got, gen, bumped)
		if ok {
			t.Errorf("Lookup(%q) after its counter expired = %q, hit; want a miss", k, val)
		}
	})

	t.Run("EntryExpires", func(t *testing.T) {
		t.Parallel()
		s, c := newEnv(t), key(t, "gen")
		short, stays := key(t, "e:short"), key(t, "e:long")
		gen, _, _ := mustLookup(t, s, c, stays, long)
		fillGen(t, s, c, gen, stays, long)
		fillGen(t, s, c, gen, short, 100*time.Millisecond)
		s.eventually(t, "entry with a 100ms ttl expired", func() bool {
			_, _, ok := mustLookup(t, s, c, short, long)
			return !ok
		})
		if got, val, ok := mustLookup(t, s, c, stays, long); got != gen || !matches(got, val, ok) {
			t.Errorf("Lookup(%q) = %d, %q, %v; want %d, %q, a hit", stays, got, val, ok, gen, genValue(gen))
		}
	})

	t.Run("NonPositiveTTLRefused", func(t *testing.T) {
		t.Parallel()
		s, c, k := newEnv(t), key(t, "gen"), key(t, "e:k")
		ctx := context.Background()
		gen, _, _ := mustLookup(t, s, c, k, long)
		for _, ttl := range []time.Duration{0, -time.Second} {
			if got, val, ok, err := s.Lookup(ctx, c, k, ttl); err == nil {
				t.Errorf("Lookup(%q, ttl %v) = %d, %q, %v, nil; want an error", k, ttl, got, val, ok)
			}
			if stored, err := s.Fill(ctx, c, gen, k, genValue(gen), ttl); err == nil {
				t.Errorf("Fill(%q, ttl %v) = %v, nil; want an error", k, ttl, stored)
			}
			if got, err := s.Bump(ctx, c, ttl); err == nil {
				t.Errorf("Bump(%q, ttl %v) = %d, nil; want an error", c, ttl, got)
			}
		}
		if got, val, ok := mustLookup(t, s, c, k, long); got != gen || ok {
			t.Errorf("Lookup(%q) after refused calls = %d, %q, %v; want %d, a miss", k, got, val, ok, gen)
		}
	})

	t.Run("Overwrite", func(t *testing.T) {
		t.Parallel()
		s, c, k := newEnv(t), key(t, "gen"), key(t, "e:k")
		gen, _, _ := mustLookup(t, s, c, k, long)
		mustFill(t, s, c, gen, k, []byte("an old value, longer than the new"), long)
		mustFill(t, s, c, gen, k, []byte("new"), long)
		if _, val, ok := mustLookup(t, s, c, k, long); !ok || string(val) != "new" {
			t.Errorf("Lookup(%q) = %q, %v; want new, a hit", k, val, ok)
		}
	})

	t.Run("CredentialsAreIndependent", func(t *testing.T) {
		t.Parallel()
		s := newEnv(t)
		ca, ka, cb, kb := key(t, "a:gen"), key(t, "a:e:k"), key(t, "b:gen"), key(t, "b:e:k")
		genA, _, _ := mustLookup(t, s, ca, ka, long)
		genB, _, _ := mustLookup(t, s, cb, kb, long)
		fillGen(t, s, ca, genA, ka, long)
		fillGen(t, s, cb, genB, kb, long)
		mustBump(t, s, ca, long)
		if got, val, ok := mustLookup(t, s, cb, kb, long); got != genB || !matches(got, val, ok) {
			t.Errorf("Lookup(%q) after a Bump of %q = %d, %q, %v; want %d, %q, a hit", kb, ca, got, val, ok, genB, genValue(genB))
		}
		if got, val, ok := mustLookup(t, s, ca, ka, long); got != genA+1 || matches(got, val, ok) {
			t.Errorf("Lookup(%q) after its Bump = %d, %q, %v; want %d and no entry filled under it", ka, got, val, ok, genA+1)
		}
	})

	t.Run("BinaryValues", func(t *testing.T) {
		t.Parallel()
		s, c := newEnv(t), key(t, "gen")
		all := make([]byte, 256)
		for i := range all {
			all[i] = byte(i)
		}
		big := bytes.Repeat([]byte("\x00\r\n$*-+:\xff"), 32<<10) // 288 KiB of RESP's own bytes
		gen, _, _ := mustLookup(t, s, c, key(t, "e:none"), long)
		for _, tc := range []struct {
			name string
			val  []byte
		}{
			{"empty", []byte{}},
			{"all-bytes", all},
			{"big", big},
		} {
			k := key(t, "e:"+tc.name)
			if !mustFill(t, s, c, gen, k, tc.val, long) {
				t.Errorf("Fill(%q) of %d bytes = not stored; want stored", k, len(tc.val))
				continue
			}
			if _, got, ok := mustLookup(t, s, c, k, long); !ok || !bytes.Equal(got, tc.val) {
				t.Errorf("Lookup(%q) = %d bytes, %v; want the %d bytes filled, a hit", k, len(got), ok, len(tc.val))
			}
		}
	})

	t.Run("ConcurrentBumpsAreAtomic", func(t *testing.T) {
		t.Parallel()
		s, c := newEnv(t), key(t, "gen")
		gen, _, _ := mustLookup(t, s, c, key(t, "e:k"), long)
		const n = 20
		got := make([]int64, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				var err error
				if got[i], err = s.Bump(context.Background(), c, long); err != nil {
					t.Errorf("Bump(%q) = %v", c, err)
				}
			})
		}
		wg.Wait()
		slices.Sort(got)
		for i, v := range got {
			if v != gen+1+int64(i) {
				t.Fatalf("%d concurrent Bumps of %d returned %v; want each of %d..%d once", n, gen, got, gen+1, gen+n)
			}
		}
		if g, _, _ := mustLookup(t, s, c, key(t, "e:k"), long); g != gen+n {
			t.Errorf("Lookup(%q) after %d Bumps = %d; want %d", c, n, g, gen+n)
		}
	})

	t.Run("ConcurrentBumpsOfMissingCounter", func(t *testing.T) {
		t.Parallel()
		s, c := newEnv(t), key(t, "gen")
		// One Bump creates the counter; the others must count on from it, not each create it.
		const n = 20
		got := make([]int64, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				var err error
				if got[i], err = s.Bump(context.Background(), c, long); err != nil {
					t.Errorf("Bump(%q) = %v", c, err)
				}
			})
		}
		wg.Wait()
		slices.Sort(got)
		for i, v := range got {
			if v != got[0]+int64(i) {
				t.Fatalf("%d concurrent Bumps of a missing counter returned %v; want %d consecutive values", n, got, n)
			}
		}
		checkFresh(t, "the first of the concurrent Bumps", got[0])
	})

	t.Run("ConcurrentLookupsCreateOneCounter", func(t *testing.T) {
		t.Parallel()
		s, c, k := newEnv(t), key(t, "gen"), key(t, "e:k")
		// Many requests of a credential that was never seen race to create its counter: all
		// must get the one that won, or some would fill entries under a value that is gone.
		const n = 20
		got := make([]int64, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				var err error
				if got[i], _, _, err = s.Lookup(context.Background(), c, k, long); err != nil {
					t.Errorf("Lookup(%q) = %v", c, err)
				}
			})
		}
		wg.Wait()
		if slices.Min(got) != slices.Max(got) {
			t.Fatalf("%d concurrent Lookups of a missing counter returned %v; want one generation", n, got)
		}
		if gen, _, _ := mustLookup(t, s, c, k, long); gen != got[0] {
			t.Errorf("Lookup(%q) after the race = %d; want %d", c, gen, got[0])
		}
	})

	t.Run("Ping", func(t *testing.T) {
		t.Parallel()
		if err := newEnv(t).Ping(context.Background()); err != nil {
			t.Fatalf("Ping() = %v", err)
		}
	})

	t.Run("ContextErrors", func(t *testing.T) {
		t.Parallel()
		s, c, k, missing := newEnv(t), key(t, "gen"), key(t, "e:k"), key(t, "missing:gen")
		gen, _, _ := mustLookup(t, s, c, k, long)
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
				_, _, _, ops["Lookup"] = s.Lookup(tc.ctx, c, k, long)
				_, _, _, ops["Lookup of a missing counter"] = s.Lookup(tc.ctx, missing, k, long)
				_, ops["Fill"] = s.Fill(tc.ctx, c, gen, k, genValue(gen), long)
				_, ops["Bump"] = s.Bump(tc.ctx, c, long)
				for op, err := range ops {
					if !errors.Is(err, tc.want) {
						t.Errorf("%s with a %s context = %v; want an error wrapping %v", op, tc.name, err, tc.want)
					}
				}
			})
		}
		// The refused calls changed nothing: no Fill, no Bump.
		if got, val, ok := mustLookup(t, s, c, k, long); got != gen || ok {
			t.Errorf("Lookup(%q) after calls with ended contexts = %d, %q, %v; want %d, a miss", k, got, val, ok, gen)
		}
	})
}
