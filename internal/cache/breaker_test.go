package cache_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/livechat-gateway/gateway/internal/cache"
	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/testutil/redistest"
)

// errFake is the failure of a fakeStore that is failing.
var errFake = errors.New("fake store: failing")

// fakeStore is a Store that fails on demand and counts the calls that reach it. It honours ctx
// as the real stores do: a call whose ctx has ended fails with an error wrapping ctx's.
type fakeStore struct {
	failing atomic.Bool
	calls   atomic.Int64 // Lookup, Fill and Bump
	pings   atomic.Int64

	// When release is not nil, each call sends on entered and then waits until release is
	// closed or its ctx ends, so that a test can hold a call in flight. Set both before the
	// first call, entered with room for every call that may arrive.
	entered chan struct{}
	release chan struct{}
	// err, when not nil, is what a failing call returns instead of errFake.
	err error
}

func (f *fakeStore) call(ctx context.Context) error {
	f.calls.Add(1)
	if f.release != nil {
		f.entered <- struct{}{}
		select {
		case <-f.release:
		case <-ctx.Done():
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fake store: %w", err)
	}
	if f.failing.Load() {
		if f.err != nil {
			return f.err
		}
		return errFake
	}
	return nil
}

func (f *fakeStore) Lookup(ctx context.Context, _, _ string, _ time.Duration) (int64, []byte, bool, error) {
	if err := f.call(ctx); err != nil {
		return 0, nil, false, err
	}
	return 7, []byte("v"), true, nil
}

func (f *fakeStore) Fill(ctx context.Context, _ string, _ int64, _ string, _ []byte, _ time.Duration) (bool, error) {
	if err := f.call(ctx); err != nil {
		return false, err
	}
	return true, nil
}

func (f *fakeStore) Bump(ctx context.Context, _ string, _ time.Duration) (int64, error) {
	if err := f.call(ctx); err != nil {
		return 0, err
	}
	return 8, nil
}

func (f *fakeStore) Ping(context.Context) error {
	f.pings.Add(1)
	if f.failing.Load() {
		return errFake
	}
	return nil
}

func (f *fakeStore) Close() error { return nil }

// storeOps are the Store methods that go through the breaker, each as one call with fixed
// arguments.
var storeOps = []struct {
	name string
	call func(ctx context.Context, s cache.Store) error
}{
	{"Lookup", func(ctx context.Context, s cache.Store) error {
		_, _, _, err := s.Lookup(ctx, "lcgw:{c}:gen", "lcgw:{c}:e:k", time.Minute)
		return err
	}},
	{"Fill", func(ctx context.Context, s cache.Store) error {
		_, err := s.Fill(ctx, "lcgw:{c}:gen", 1, "lcgw:{c}:e:k", []byte("v"), time.Minute)
		return err
	}},
	{"Bump", func(ctx context.Context, s cache.Store) error {
		_, err := s.Bump(ctx, "lcgw:{c}:gen", time.Minute)
		return err
	}},
}

// stateLog records a breaker's changes of state as OnStateChange reports them, "from→to". It is
// safe for concurrent use.
type stateLog struct {
	mu      sync.Mutex
	changes []string
}

func (l *stateLog) record(from, to string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.changes = append(l.changes, from+"→"+to)
}

// get returns the changes so far.
func (l *stateLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.changes)
}

// newBreaker wraps s in a breaker that opens after failures failures, with a cool-down, and
// logs its changes of state.
func newBreaker(s cache.Store, failures uint32, cooldown time.Duration) (*cache.Breaker, *stateLog) {
	log := &stateLog{}
	return cache.NewBreaker(s, cache.BreakerOptions{Failures: failures, Cooldown: cooldown, OnStateChange: log.record}), log
}

// A breaker's tests that need no cool-down use one far longer than the test.
const noCooldown = time.Hour

// TestBreakerMemory runs the store suite through a closed breaker: it must pass on what the
// store answers, errors included, unchanged.
func TestBreakerMemory(t *testing.T) {
	t.Parallel()
	testStore(t, func(t *testing.T) storeEnv {
		env := memoryEnv(t)
		// To the breaker a call refused for its arguments is a failure like any other, and
		// NonPositiveTTLRefused makes six in a row: more Failures than that keep the breaker
		// closed through the suite. (The service refuses a non-positive TTL when it starts.)
		env.Store = cache.NewBreaker(env.Store, cache.BreakerOptions{Failures: 100})
		return env
	})
}

func TestBreakerOpensAfterFailures(t *testing.T) {
	t.Parallel()
	f := &fakeStore{}
	f.failing.Store(true)
	b, log := newBreaker(f, 3, noCooldown)
	ctx := context.Background()
	// Each method's failures count, and are returned as the store's own errors.
	for i, op := range storeOps {
		if err := op.call(ctx, b); !errors.Is(err, errFake) || errors.Is(err, cache.ErrSkipped) {
			t.Errorf("%s, failure %d of 3 = %v; want the store's error", op.name, i+1, err)
		}
	}
	if got := b.State(); got != "open" {
		t.Fatalf("State() after 3 failures = %s; want open", got)
	}
	if got, want := log.get(), []string{"closed→open"}; !slices.Equal(got, want) {
		t.Errorf("OnStateChange reported %v; want %v", got, want)
	}
	calls := f.calls.Load()
	for _, op := range storeOps {
		for range 5 {
			if err := op.call(ctx, b); !errors.Is(err, cache.ErrSkipped) || errors.Is(err, errFake) {
				t.Errorf("%s on an open breaker = %v; want an error wrapping ErrSkipped", op.name, err)
			}
		}
	}
	if got := f.calls.Load(); got != calls {
		t.Errorf("an open breaker let %d calls through to the store; want none", got-calls)
	}
	// Ping reports on the store itself, whatever the breaker thinks of it.
	if err := b.Ping(ctx); !errors.Is(err, errFake) || f.pings.Load() != 1 {
		t.Errorf("Ping() on an open breaker = %v, %d pings reached the store; want the store's error, 1", err, f.pings.Load())
	}
}

func TestBreakerCountsFailuresInARow(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		failures uint32 // 0 takes the default, 5
		results  []bool // each call's success
		want     string // State() after them
	}{
		{"fewer than Failures", 3, []bool{false, false}, "closed"},
		{"a success resets the count", 3, []bool{false, false, true, false, false}, "closed"},
		{"Failures in a row", 3, []bool{false, false, true, false, false, false}, "open"},
		{"default, fewer", 0, []bool{false, false, false, false}, "closed"},
		{"default, enough", 0, []bool{false, false, false, false, false}, "open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeStore{}
			b, _ := newBreaker(f, tc.failures, noCooldown)
			for _, ok := range tc.results {
				f.failing.Store(!ok)
				storeOps[0].call(context.Background(), b)
			}
			if got := b.State(); got != tc.want {
				t.Errorf("State() after calls succeeding %v = %s; want %s", tc.results, got, tc.want)
			}
		})
	}
}

func TestBreakerProbe(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		healthy bool // whether the store works again by the probe
		want    []string
	}{
		{"success closes", true, []string{"closed→open", "open→half-open", "half-open→closed"}},
		{"failure opens again", false, []string{"closed→open", "open→half-open", "half-open→open"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeStore{}
			f.failing.Store(true)
			b, log := newBreaker(f, 1, 20*time.Millisecond)
			ctx := context.Background()
			storeOps[0].call(ctx, b)
			f.failing.Store(!tc.healthy)
			// Until the cool-down ends calls are skipped; the first after it is the probe.
			calls := f.calls.Load()
			var err error
			testutil.Eventually(t, "a call reached the store after the cool-down", func() bool {
				err = storeOps[0].call(ctx, b)
				if f.calls.Load() == calls && !errors.Is(err, cache.ErrSkipped) {
					t.Fatalf("Lookup that did not reach the store = %v; want an error wrapping ErrSkipped", err)
				}
				return f.calls.Load() > calls
			})
			if got := f.calls.Load() - calls; got != 1 {
				t.Errorf("%d calls reached the store at the end of the cool-down; want 1, the probe", got)
			}
			if (tc.healthy && err != nil) || (!tc.healthy && !errors.Is(err, errFake)) {
				t.Errorf("the probe = %v; want the store's answer", err)
			}
			if got := log.get(); !slices.Equal(got, tc.want) {
				t.Errorf("OnStateChange reported %v; want %v", got, tc.want)
			}
			if tc.healthy {
				for _, op := range storeOps {
					if err := op.call(ctx, b); err != nil {
						t.Errorf("%s after the breaker closed = %v; want it served by the store", op.name, err)
					}
				}
			}
		})
	}
}

// TestBreakerOneProbeAtATime holds the probe in flight: the calls made meanwhile are skipped,
// for a store that just failed gets one call to prove itself, not a burst.
func TestBreakerOneProbeAtATime(t *testing.T) {
	t.Parallel()
	f := &fakeStore{}
	f.failing.Store(true)
	b, _ := newBreaker(f, 1, 20*time.Millisecond)
	ctx := context.Background()
	storeOps[0].call(ctx, b)
	f.failing.Store(false)
	f.entered, f.release = make(chan struct{}, 10), make(chan struct{})
	testutil.Eventually(t, "breaker half-open", func() bool { return b.State() == "half-open" })

	probe := make(chan error)
	go func() { probe <- storeOps[0].call(ctx, b) }()
	<-f.entered
	// A call that wrongly reached the store would be held too: its ctx ends that, and it
	// fails the test instead of hanging it.
	held, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	for _, op := range storeOps {
		if err := op.call(held, b); !errors.Is(err, cache.ErrSkipped) {
			t.Errorf("%s while the probe is in flight = %v; want an error wrapping ErrSkipped", op.name, err)
		}
	}
	close(f.release)
	if err := <-probe; err != nil {
		t.Errorf("the probe = %v; want success", err)
	}
	if got := b.State(); got != "closed" {
		t.Errorf("State() after the probe succeeded = %s; want closed", got)
	}
	if got := f.calls.Load(); got != 2 {
		t.Errorf("%d calls reached the store; want 2, the failure and the probe", got)
	}
}

// TestBreakerIgnoresCallerGone checks that a call its caller cancelled counts neither as a
// failure nor as a success: a client that hung up says nothing about the store.
func TestBreakerIgnoresCallerGone(t *testing.T) {
	t.Parallel()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	gone := []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"canceled", canceled, context.Canceled},
	}
	ctx := context.Background()

	t.Run("closed", func(t *testing.T) {
		t.Parallel()
		f := &fakeStore{}
		f.failing.Store(true)
		b, log := newBreaker(f, 2, noCooldown)
		// Calls with ended contexts between two failures: were they failures, the breaker would
		// open at once; were they successes, the second failure would not open it.
		storeOps[0].call(ctx, b)
		for _, g := range gone {
			for _, op := range storeOps {
				for range 3 {
					if err := op.call(g.ctx, b); !errors.Is(err, g.want) || errors.Is(err, cache.ErrSkipped) {
						t.Errorf("%s with a %s context = %v; want the store's error, wrapping %v", op.name, g.name, err, g.want)
					}
				}
			}
		}
		if got := b.State(); got != "closed" {
			t.Fatalf("State() after 1 failure and calls with ended contexts = %s; want closed", got)
		}
		if got := f.calls.Load(); got != 1+3*3 {
			t.Errorf("%d calls reached the store; want %d", got, 1+3*3)
		}
		storeOps[0].call(ctx, b)
		if got, want := log.get(), []string{"closed→open"}; b.State() != "open" || !slices.Equal(got, want) {
			t.Errorf("State() after the second failure = %s, changes %v; want open, %v", b.State(), got, want)
		}
	})

	t.Run("half-open", func(t *testing.T) {
		t.Parallel()
		f := &fakeStore{}
		f.failing.Store(true)
		b, _ := newBreaker(f, 1, 20*time.Millisecond)
		storeOps[0].call(ctx, b)
		f.failing.Store(false)
		testutil.Eventually(t, "breaker half-open", func() bool { return b.State() == "half-open" })
		// A probe whose caller gave up proves nothing, and must not use up the one probe the
		// breaker allows.
		for _, g := range gone {
			if err := storeOps[0].call(g.ctx, b); !errors.Is(err, g.want) || errors.Is(err, cache.ErrSkipped) {
				t.Errorf("probe with a %s context = %v; want the store's error, wrapping %v", g.name, err, g.want)
			}
			if got := b.State(); got != "half-open" {
				t.Fatalf("State() after a probe with a %s context = %s; want half-open", g.name, got)
			}
		}
		if err := storeOps[0].call(ctx, b); err != nil {
			t.Errorf("probe = %v; want success", err)
		}
		if got := b.State(); got != "closed" {
			t.Errorf("State() after a successful probe = %s; want closed", got)
		}
	})
}

// TestBreakerCountsDeadlines checks that a call whose deadline passed is a failure, whoever set
// the deadline: otherwise callers with deadlines shorter than the store's own timeout would keep
// a hung store's breaker closed, each waiting on it for all its time.
func TestBreakerCountsDeadlines(t *testing.T) {
	t.Parallel()
	f := &fakeStore{}
	f.failing.Store(true)
	b, _ := newBreaker(f, 3, noCooldown)
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	for range 3 {
		storeOps[0].call(expired, b)
	}
	if got := b.State(); got != "open" {
		t.Errorf("State() after 3 calls past their deadline = %s; want open", got)
	}
}

// counting is a Store that counts the calls that pass through it to the Store it wraps.
type counting struct {
	cache.Store
	calls atomic.Int64
}

func (c *counting) Lookup(ctx context.Context, genKey, key string, ttl time.Duration) (int64, []byte, bool, error) {
	c.calls.Add(1)
	return c.Store.Lookup(ctx, genKey, key, ttl)
}

func (c *counting) Fill(ctx context.Context, genKey string, gen int64, key string, val []byte, ttl time.Duration) (bool, error) {
	c.calls.Add(1)
	return c.Store.Fill(ctx, genKey, gen, key, val, ttl)
}

func (c *counting) Bump(ctx context.Context, genKey string, ttl time.Duration) (int64, error) {
	c.calls.Add(1)
	return c.Store.Bump(ctx, genKey, ttl)
}

// TestBreakerRedis puts a breaker on a real Redis, with the default short timeouts, and takes
// Redis away: paused, so that calls time out, or killed, so that they are refused. Once the
// breaker is open, calls cost nothing and do not reach Redis; once Redis is back, the same
// store serves again.
func TestBreakerRedis(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		down, up func(*redistest.Instance)
		kept     bool // whether Redis keeps its data across down and up
	}{
		{"paused", (*redistest.Instance).Pause, (*redistest.Instance).Resume, true},
		{"killed", (*redistest.Instance).Kill, (*redistest.Instance).Restart, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Server(t)
			r := &counting{Store: newRedis(t, srv.URL(), cache.RedisOptions{})}
			// The cool-down is long enough for the checks made while the breaker is open, on a
			// busy machine, and short enough to cost the test little.
			const cooldown = 500 * time.Millisecond
			b, log := newBreaker(r, 3, cooldown)
			ctx, c, k := context.Background(), key(t, "gen"), key(t, "e:k")
			// Polled, as every wait on this Redis: a call may miss the defaults' tens of
			// milliseconds on a busy machine.
			testutil.Eventually(t, "the store works", func() bool { return works(t, b) })
			var gen int64
			testutil.Eventually(t, "a Fill", func() bool {
				var err error
				if gen, _, _, err = b.Lookup(ctx, c, k, time.Minute); err != nil {
					return false
				}
				stored, err := b.Fill(ctx, c, gen, k, genValue(gen), time.Minute)
				return err == nil && stored
			})

			tc.down(srv)
			// Each call fails, after at most the store's 100ms timeout, until three in a row have
			// opened the breaker.
			testutil.Eventually(t, "breaker open", func() bool {
				if _, _, _, err := b.Lookup(ctx, c, k, time.Minute); err == nil {
					t.Fatalf("Lookup on a Redis that is %s = success; want an error", tc.name)
				}
				return b.State() == "open"
			})
			calls, start := r.calls.Load(), time.Now()
			for _, op := range storeOps {
				for range 10 {
					if err := op.call(ctx, b); !errors.Is(err, cache.ErrSkipped) {
						t.Errorf("%s with the breaker open = %v; want an error wrapping ErrSkipped", op.name, err)
					}
				}
			}
			took := time.Since(start)
			// Still open now, so none of those calls came after the cool-down and could have been
			// a probe.
			if got := b.State(); got != "open" {
				t.Fatalf("State() after the skipped calls (%v) = %s; want open: is the machine too slow for a %v cool-down?", took, got, cooldown)
			}
			if got := r.calls.Load() - calls; got != 0 {
				t.Errorf("%d calls reached Redis with the breaker open; want none", got)
			}
			if took > 100*time.Millisecond {
				t.Errorf("30 calls with the breaker open took %v; want less than one call's timeout, 100ms", took)
			}

			tc.up(srv)
			testutil.Eventually(t, "the same store works again", func() bool { return works(t, b) })
			if got := b.State(); got != "closed" {
				t.Errorf("State() once Redis works again = %s; want closed", got)
			}
			if got := log.get(); len(got) < 3 || !slices.Equal(got[:2], []string{"closed→open", "open→half-open"}) || got[len(got)-1] != "half-open→closed" {
				t.Errorf("OnStateChange reported %v; want closed→open, open→half-open, and at last half-open→closed", got)
			}
			// What was cached before is still there if Redis kept its data; else the counter
			// starts again from a fresh value.
			got, val, ok, err := b.Lookup(ctx, c, k, time.Minute)
			switch {
			case err != nil:
				t.Errorf("Lookup(%q) after Redis came back = %v", k, err)
			case tc.kept && (got != gen || !matches(got, val, ok)):
				t.Errorf("Lookup(%q) after Redis came back = %d, %q, %v; want %d, %q, a hit", k, got, val, ok, gen, genValue(gen))
			case !tc.kept:
				checkFresh(t, fmt.Sprintf("Lookup(%q) after a restart", c), got, gen)
				if ok {
					t.Errorf("Lookup(%q) after a restart = %q, hit; want a miss", k, val)
				}
			}
		})
	}
}

// TestBreakerIgnoresPoolTimeouts checks that a call that waited in vain for a pooled connection
// is not counted: a burst of reads on a healthy Redis must not turn the cache off.
func TestBreakerIgnoresPoolTimeouts(t *testing.T) {
	t.Parallel()
	f := &fakeStore{err: fmt.Errorf("cache: lookup: %w", redis.ErrPoolTimeout)}
	f.failing.Store(true)
	b, _ := newBreaker(f, 2, noCooldown)
	for range 10 {
		if err := storeOps[0].call(context.Background(), b); !errors.Is(err, redis.ErrPoolTimeout) {
			t.Fatalf("call = %v, want the pool timeout", err)
		}
	}
	if got := b.State(); got != "closed" {
		t.Errorf("State() after 10 pool timeouts = %s; want closed", got)
	}
}
