package cache_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/livechat-gateway/gateway/internal/cache"
)

// present returns the keys among keys that m holds.
func present(t *testing.T, m *cache.Memory, keys ...string) []string {
	t.Helper()
	var got []string
	for _, k := range keys {
		if _, ok := mustGet(t, m, k); ok {
			got = append(got, k)
		}
	}
	return got
}

func TestMemoryEviction(t *testing.T) {
	t.Parallel()
	val := []byte("0123456789") // each entry is 1+10 bytes
	for _, tc := range []struct {
		name       string
		maxEntries int
		maxBytes   int64
	}{
		{"by entries", 3, 1 << 20},
		{"by bytes", 1000, 3*11 + 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := cache.NewMemory(tc.maxEntries, tc.maxBytes)
			for _, k := range []string{"a", "b", "c"} {
				mustSet(t, m, k, val, time.Minute)
			}
			mustGet(t, m, "a") // now b is the least recently used
			mustSet(t, m, "d", val, time.Minute)
			// (A miss leaves the order alone, so checking for b does not disturb the test.)
			if _, ok := mustGet(t, m, "b"); ok {
				t.Errorf("after Set a, b, c, Get a, Set d: b is present; want it evicted")
			}
			mustSet(t, m, "e", val, time.Minute) // c goes next
			if _, ok := mustGet(t, m, "c"); ok {
				t.Errorf("after Set e: c is present; want it evicted")
			}
			if got, want := present(t, m, "a", "d", "e"), "[a d e]"; fmt.Sprint(got) != want {
				t.Errorf("present %v; want %s", got, want)
			}
			if entries, _, size := m.Size(); entries != 3 || size != 33 {
				t.Errorf("Size() = %d entries, %d bytes; want 3, 33", entries, size)
			}
		})
	}
}

func TestMemoryOverwriteKeepsAccount(t *testing.T) {
	t.Parallel()
	m := cache.NewMemory(10, 100)
	mustSet(t, m, "keep", []byte("x"), time.Minute)
	for i := range 50 { // 50 overwrites of 1+40 bytes: fine, as long as each replaces the last
		mustSet(t, m, "k", bytes.Repeat([]byte{byte(i)}, 40), time.Minute)
	}
	if got := present(t, m, "keep", "k"); len(got) != 2 {
		t.Errorf("after overwriting k 50 times: present %v; want [keep k]", got)
	}
	if entries, _, size := m.Size(); entries != 2 || size != 4+1+1+40 {
		t.Errorf("Size() = %d entries, %d bytes; want 2, 46", entries, size)
	}
}

func TestMemoryOversizeValueNotStored(t *testing.T) {
	t.Parallel()
	m := cache.NewMemory(10, 100)
	mustSet(t, m, "other", []byte("x"), time.Minute)
	mustSet(t, m, "k", []byte("small"), time.Minute)
	mustSet(t, m, "k", bytes.Repeat([]byte("x"), 100), time.Minute) // 1+100 > 100
	if val, ok := mustGet(t, m, "k"); ok {
		t.Errorf("Get(k) after an oversize Set = %q, hit; want a miss (neither the new value nor the replaced one)", val)
	}
	if _, ok := mustGet(t, m, "other"); !ok {
		t.Errorf("Get(other) = miss; an oversize value must not evict the others")
	}
}

func TestMemoryCountersAreNotEvicted(t *testing.T) {
	t.Parallel()
	m := cache.NewMemory(2, 100)
	mustBump(t, m, "gen", time.Minute)
	for i := range 20 {
		mustSet(t, m, fmt.Sprint("k", i), bytes.Repeat([]byte("x"), 40), time.Minute)
	}
	if n := mustGeneration(t, m, "gen"); n != 1 {
		t.Errorf("Generation(gen) = %d after filling the entries; want 1", n)
	}
}

func TestMemoryExpiredCountersAreSwept(t *testing.T) {
	t.Parallel()
	m := cache.NewMemory(10, 100)
	for i := range 5000 {
		mustBump(t, m, fmt.Sprint("gen", i), time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond)
	for i := range 5000 {
		mustBump(t, m, fmt.Sprint("new", i), time.Minute)
	}
	// Without sweeping there would be 10000; the sweeps leave the live ones and fewer dead ones
	// than there were at the last sweep.
	if _, counters, _ := m.Size(); counters >= 10000 {
		t.Errorf("Size() = %d counters; want the expired ones swept", counters)
	}
}

func TestMemoryValuesAreCopies(t *testing.T) {
	t.Parallel()
	m := cache.NewMemory(10, 100)
	val := []byte("abc")
	mustSet(t, m, "k", val, time.Minute)
	val[0] = 'X'
	got, _ := mustGet(t, m, "k")
	got[1] = 'Y'
	if got, _ := mustGet(t, m, "k"); string(got) != "abc" {
		t.Errorf("Get(k) = %q after the caller changed its slices; want abc", got)
	}
}

// TestMemoryConcurrent runs every method from many goroutines over few keys and tight bounds,
// for the race detector, and then checks that the bounds held.
func TestMemoryConcurrent(t *testing.T) {
	t.Parallel()
	const maxEntries, maxBytes = 8, 200
	m := cache.NewMemory(maxEntries, maxBytes)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 0))
			for range 2000 {
				k := fmt.Sprint("k", r.IntN(16))
				var err error
				switch r.IntN(4) {
				case 0:
					err = m.Set(ctx, k, bytes.Repeat([]byte("v"), r.IntN(60)), time.Duration(1+r.IntN(5))*time.Millisecond)
				case 1:
					_, _, err = m.Get(ctx, k)
				case 2:
					_, err = m.Bump(ctx, k, time.Minute)
				case 3:
					_, err = m.Generation(ctx, k)
				}
				if err != nil {
					t.Errorf("%s: %v", k, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if entries, _, size := m.Size(); entries > maxEntries || size > maxBytes {
		t.Errorf("Size() = %d entries, %d bytes; want at most %d, %d", entries, size, maxEntries, maxBytes)
	}
}
