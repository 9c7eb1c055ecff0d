package cache_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livechat-gateway/gateway/internal/cache"
	"github.com/livechat-gateway/gateway/internal/testutil"
)

// The tests here are of what only Memory has: its bounds and its injected clock. Sizes are
// counted as Memory counts them: an entry weighs its key and value, a counter its key and 8.

// present returns the keys among keys that m holds an entry at, under the counter genKey.
func present(t *testing.T, m *cache.Memory, genKey string, keys ...string) []string {
	t.Helper()
	var got []string
	for _, k := range keys {
		if _, _, ok := mustLookup(t, m, genKey, k, long); ok {
			got = append(got, k)
		}
	}
	return got
}

func TestMemoryEviction(t *testing.T) {
	t.Parallel()
	// A counter "g" of 1+8 bytes and entries of 1+10: the bounds fit the counter and 3 entries.
	val := []byte("0123456789")
	for _, tc := range []struct {
		name       string
		maxEntries int
		maxBytes   int64
	}{
		{"by entries", 4, 1 << 20},
		{"by bytes", 1000, 9 + 3*11 + 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := cache.NewMemory(tc.maxEntries, tc.maxBytes)
			gen, _, _ := mustLookup(t, m, "g", "a", long)
			for _, k := range []string{"a", "b", "c"} {
				mustFill(t, m, "g", gen, k, val, long)
			}
			// Every call reads the counter, so it stays recently used, and the entries go first:
			// after this Lookup, b is the least recently used.
			mustLookup(t, m, "g", "a", long)
			mustFill(t, m, "g", gen, "d", val, long)
			// (A miss leaves the order alone, so checking for b does not disturb the test.)
			if _, _, ok := mustLookup(t, m, "g", "b", long); ok {
				t.Errorf("after Fill a, b, c, Lookup a, Fill d: b is present; want it evicted")
			}
			mustFill(t, m, "g", gen, "e", val, long) // c goes next
			if _, _, ok := mustLookup(t, m, "g", "c", long); ok {
				t.Errorf("after Fill e: c is present; want it evicted")
			}
			if got, want := present(t, m, "g", "a", "d", "e"), "[a d e]"; fmt.Sprint(got) != want {
				t.Errorf("present %v; want %s", got, want)
			}
			if got, _, _ := mustLookup(t, m, "g", "a", long); got != gen {
				t.Errorf("Lookup(g) = %d; want %d, the counter kept", got, gen)
			}
			if items, size := m.Size(); items != 4 || size != 9+33 {
				t.Errorf("Size() = %d items, %d bytes; want 4, 42", items, size)
			}
		})
	}
}

// TestMemoryCounterEvicted evicts a counter while an entry filled under it stays. The counter
// comes back with a fresh value, under which the entry never matches.
func TestMemoryCounterEvicted(t *testing.T) {
	t.Parallel()
	const maxBytes = 100
	m := cache.NewMemory(1000, maxBytes)
	gen, _, _ := mustLookup(t, m, "g", "e", long)
	fillGen(t, m, "g", gen, "e", long)
	mustBump(t, m, "g", long)
	fillGen(t, m, "g", gen+1, "e", long)
	// Now e is the most recently used, g the least. Another credential's counter h and an
	// entry x just large enough to fill the store with e but without g evict g alone. Then x
	// shrinks, which leaves room for g to come back without evicting e.
	e := int64(len("e") + len(genValue(gen+1)))
	hgen, _, _ := mustLookup(t, m, "h", "x", long)
	mustFill(t, m, "h", hgen, "x", bytes.Repeat([]byte("x"), int(maxBytes-9-e-1)), long)
	if _, _, ok := mustLookup(t, m, "h", "x", long); !ok {
		t.Fatal("Lookup(h, x) = miss; want the large x stored")
	}
	mustFill(t, m, "h", hgen, "x", bytes.Repeat([]byte("x"), 10), long)

	got, val, ok := mustLookup(t, m, "g", "e", long)
	checkFresh(t, "Lookup(g) after g was evicted", got, gen, gen+1)
	if ok {
		t.Errorf("Lookup(e) after its counter was evicted = %q, hit; want a miss", val)
	}
	// The entry is still there, filled under gen+1, a generation the counter no longer holds.
	if again, val, ok := mustLookup(t, m, "g", "e", long); again != got || !ok || matches(again, val, ok) {
		t.Errorf("second Lookup(g, e) = %d, %q, %v; want %d, and the old entry, which does not match it", again, val, ok, got)
	}
	if items, size := m.Size(); items != 4 || size != 9+e+9+11 {
		t.Errorf("Size() = %d items, %d bytes; want 4 (g, e, h, x), %d", items, size, 9+e+9+11)
	}
}

// TestMemoryExpiry moves the injected clock to the edges of the ttls: an item lives for exactly
// its ttl, and the counter for at least the ttls of the entries filled under it.
func TestMemoryExpiry(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock()
	m := cache.NewMemory(100, 1<<20, cache.WithClock(clock.Now))

	gen, _, _ := mustLookup(t, m, "g", "e", time.Minute) // g until 1m
	clock.Advance(30 * time.Second)
	fillGen(t, m, "g", gen, "e", time.Minute)     // e until 1m30s, and so g
	fillGen(t, m, "g", gen, "short", time.Second) // g is not shortened
	mustBump(t, m, "g", time.Millisecond)         // nor here
	gen++

	clock.Advance(time.Second - time.Nanosecond) // 31s less 1ns
	if _, _, ok := mustLookup(t, m, "g", "short", time.Minute); !ok {
		t.Errorf("Lookup(short) 1ns before its 1s ttl ends = miss; want a hit")
	}
	clock.Advance(time.Nanosecond)
	if _, _, ok := mustLookup(t, m, "g", "short", time.Minute); ok {
		t.Errorf("Lookup(short) as its 1s ttl ends = hit; want a miss")
	}

	clock.Advance(59*time.Second - time.Nanosecond) // 1m30s less 1ns: past the 1m g began with
	if got, _, _ := mustLookup(t, m, "g", "e", time.Minute); got != gen {
		t.Errorf("Lookup(g) 1ns before the ttl of the entry filled under it ends = %d; want %d", got, gen)
	}
	clock.Advance(time.Nanosecond)
	got, val, ok := mustLookup(t, m, "g", "e", time.Minute)
	checkFresh(t, "Lookup(g) as its ttl ends", got, gen-1, gen)
	if ok {
		t.Errorf("Lookup(e) as its ttl ends = %q, hit; want a miss", val)
	}
}

func TestMemoryOverwriteKeepsAccount(t *testing.T) {
	t.Parallel()
	m := cache.NewMemory(10, 100)
	gen, _, _ := mustLookup(t, m, "g", "keep", long)
	mustFill(t, m, "g", gen, "keep", []byte("x"), long)
	for i := range 50 { // 50 overwrites of 1+40 bytes: fine, as long as each replaces the last
		mustFill(t, m, "g", gen, "k", bytes.Repeat([]byte{byte(i)}, 40), long)
	}
	if got := present(t, m, "g", "keep", "k"); len(got) != 2 {
		t.Errorf("after overwriting k 50 times: present %v; want [keep k]", got)
	}
	if items, size := m.Size(); items != 3 || size != 9+(4+1)+(1+40) {
		t.Errorf("Size() = %d items, %d bytes; want 3, 55", items, size)
	}
}

func TestMemoryOversizeValueNotStored(t *testing.T) {
	t.Parallel()
	m := cache.NewMemory(10, 100)
	gen, _, _ := mustLookup(t, m, "g", "k", long)
	mustFill(t, m, "g", gen, "other", []byte("x"), long)
	mustFill(t, m, "g", gen, "k", []byte("small"), long)
	if mustFill(t, m, "g", gen, "k", bytes.Repeat([]byte("x"), 100), long) { // 1+100 > 100
		t.Errorf("Fill(k) of a value larger than the bound = stored; want not stored")
	}
	if _, val, ok := mustLookup(t, m, "g", "k", long); ok {
		t.Errorf("Lookup(k) after an oversize Fill = %q, hit; want a miss (neither the new value nor the replaced one)", val)
	}
	if got, _, ok := mustLookup(t, m, "g", "other", long); !ok || got != gen {
		t.Errorf("Lookup(g, other) = %d, %v; want %d, a hit: an oversize value must not evict the others", got, ok, gen)
	}
}

func TestMemoryUnbounded(t *testing.T) {
	t.Parallel()
	m := cache.NewMemory(0, 0) // no bound at all
	gen, _, _ := mustLookup(t, m, "g", "k", long)
	const n = 1000
	for i := range n {
		mustFill(t, m, "g", gen, fmt.Sprint("k", i), bytes.Repeat([]byte("x"), 1000), long)
	}
	if items, _ := m.Size(); items != n+1 {
		t.Errorf("Size() = %d items after %d Fills with no bounds; want %d", items, n, n+1)
	}
}

func TestMemoryValuesAreCopies(t *testing.T) {
	t.Parallel()
	m := cache.NewMemory(10, 100)
	gen, _, _ := mustLookup(t, m, "g", "k", long)
	val := []byte("abc")
	mustFill(t, m, "g", gen, "k", val, long)
	val[0] = 'X'
	_, got, _ := mustLookup(t, m, "g", "k", long)
	got[1] = 'Y'
	if _, got, _ := mustLookup(t, m, "g", "k", long); string(got) != "abc" {
		t.Errorf("Lookup(k) = %q after the caller changed its slices; want abc", got)
	}
}

// TestMemoryConcurrent runs every method from many goroutines over few keys and tight bounds,
// for the race detector, and then checks that the bounds held. The clock moves on by a
// millisecond at each reading, so that items expire along the way.
func TestMemoryConcurrent(t *testing.T) {
	t.Parallel()
	const maxEntries, maxBytes = 8, 200
	var ticks atomic.Int64
	start := time.Now()
	clock := func() time.Time { return start.Add(time.Duration(ticks.Add(1)) * time.Millisecond) }
	m := cache.NewMemory(maxEntries, maxBytes, cache.WithClock(clock))
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 0))
			for range 2000 {
				c, k := fmt.Sprint("g", r.IntN(4)), fmt.Sprint("k", r.IntN(16))
				ttl := time.Duration(1+r.IntN(50)) * time.Millisecond
				var err error
				switch r.IntN(3) {
				case 0:
					var gen int64
					if gen, _, _, err = m.Lookup(ctx, c, k, ttl); err == nil {
						_, err = m.Fill(ctx, c, gen, k, bytes.Repeat([]byte("v"), r.IntN(60)), ttl)
					}
				case 1:
					_, _, _, err = m.Lookup(ctx, c, k, ttl)
				case 2:
					_, err = m.Bump(ctx, c, ttl)
				}
				if err != nil {
					t.Errorf("%s, %s: %v", c, k, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if items, size := m.Size(); items > maxEntries || size > maxBytes {
		t.Errorf("Size() = %d items, %d bytes; want at most %d, %d", items, size, maxEntries, maxBytes)
	}
}
