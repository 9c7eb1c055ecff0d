package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livechat-gateway/gateway/internal/cache"
	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/upstream"
)

// faultyStore is an in-process store that can be made to fail, and records the keys and the calls
// it is given.
type faultyStore struct {
	*cache.Memory
	mu    sync.Mutex
	fail  error
	calls map[string]int      // by method
	keys  map[string]struct{} // every key it was given
	vals  [][]byte            // every value filled
}

func newFaultyStore() *faultyStore {
	return &faultyStore{Memory: cache.NewMemory(0, 0), calls: map[string]int{}, keys: map[string]struct{}{}}
}

func (s *faultyStore) enter(op string, keys ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[op]++
	for _, k := range keys {
		s.keys[k] = struct{}{}
	}
	return s.fail
}

func (s *faultyStore) setFail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

func (s *faultyStore) count(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

func (s *faultyStore) Lookup(ctx context.Context, genKey, key string, ttl time.Duration) (int64, []byte, bool, error) {
	if err := s.enter("Lookup", genKey, key); err != nil {
		return 0, nil, false, err
	}
	return s.Memory.Lookup(ctx, genKey, key, ttl)
}

func (s *faultyStore) Fill(ctx context.Context, genKey string, gen int64, key string, val []byte, ttl time.Duration) (bool, error) {
	if err := s.enter("Fill", genKey, key); err != nil {
		return false, err
	}
	s.mu.Lock()
	s.vals = append(s.vals, append([]byte{}, val...))
	s.mu.Unlock()
	return s.Memory.Fill(ctx, genKey, gen, key, val, ttl)
}

func (s *faultyStore) Bump(ctx context.Context, genKey string, ttl time.Duration) (int64, error) {
	if err := s.enter("Bump", genKey); err != nil {
		return 0, err
	}
	return s.Memory.Bump(ctx, genKey, ttl)
}

// cachedService returns a service with a cache on store, whose breaker cools down in 10ms.
func cachedService(t *testing.T, up Upstream, store Store, reg prometheus.Registerer) (*Service, *testutil.SyncBuffer) {
	t.Helper()
	logs := &testutil.SyncBuffer{}
	s, err := New(up, slogTo(logs), WithCache(Cache{
		Store: store, TTL: time.Minute, Secret: []byte("0123456789abcdef"), Metrics: reg,
		Breaker: cache.BreakerOptions{Cooldown: 10 * time.Millisecond},
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, logs
}

// TestCacheFailsOpen checks that a failing store costs no call: reads and writes are served by
// the upstream, counted, and warned about once, not once a call; once the breaker has opened the
// store is not called at all; and when the store is back, the write made while it was down is
// reflected before any entry is served again, and caching resumes.
func TestCacheFailsOpen(t *testing.T) {
	store := newFaultyStore()
	up := &fakeUpstream{resp: &upstream.Response{Body: []byte(`[{"id":0,"name":"Before"}]`)}}
	// A cool-down of a second: the ten reads below must all fall within it, however slow the
	// machine, for the count of store calls to be exact.
	r := newRig(t, rigOptions{up: up, store: store, cache: func(c *Cache) { c.Breaker.Cooldown = time.Second }})
	read := func() result {
		t.Helper()
		return r.must("dal:x", "list_groups", `{}`)
	}
	read()
	r.settle()
	if got := read(); got.cache() != "hit" { // the entry the write below must retire
		t.Fatalf("second read: x-cache %q, want hit", got.cache())
	}

	store.setFail(errors.New("redis down"))
	for i := range 10 {
		if got := read(); got.cache() != "bypass" {
			t.Errorf("read %d with the store failing: x-cache %q, want bypass", i, got.cache())
		}
	}
	if n := store.count("Lookup"); n != 2+5 {
		t.Errorf("the store was called %d times by 10 reads while failing, want 5: the breaker opens after 5 failures", n-2)
	}
	up.resp = &upstream.Response{Body: []byte(`{}`)}
	r.must("dal:x", "delete_group", `{"id":3}`)
	up.resp = &upstream.Response{Body: []byte(`[{"id":0,"name":"After"}]`)}
	if n := int64(testutil.Metric(t, r.metrics, "gateway_cache_reads_total", "action", "list_groups", "outcome", "error")); n != 10 {
		t.Errorf("reads with the store failing counted = %d, want 10", n)
	}
	if n := strings.Count(r.logs.String(), "cache store failed"); n != 1 {
		t.Errorf("the sick store was logged %d times, want once:\n%s", n, r.logs)
	}

	store.setFail(nil)
	testutil.Eventually(t, "a hit after the store came back", func() bool {
		got := read()
		if s := got.resp.(interface{ String() string }).String(); !strings.Contains(s, "After") {
			t.Fatalf("a read after the write answered %s (x-cache %s), from before it", s, got.cache())
		}
		r.settle()
		return got.cache() == "hit"
	})
	if store.count("Bump") == 0 {
		t.Error("the write's bump was never made")
	}
}

// TestCacheKeysHoldNoToken checks the keys and values: a keyed hash of the credential, never the
// token, and no answer text in the clear.
func TestCacheKeysHoldNoToken(t *testing.T) {
	store := newFaultyStore()
	up := &fakeUpstream{resp: &upstream.Response{Body: []byte(`[{"id":7,"name":"Very secret group"}]`)}}
	s, _ := cachedService(t, up, store, nil)
	a := testutil.Action(t, "list_groups")
	if _, err := s.Call(withToken("dal:secret-token"), a, a.NewRequest()); err != nil {
		t.Fatal(err)
	}
	w := testutil.Action(t, "delete_group")
	up.resp = &upstream.Response{Body: []byte(`{}`)}
	if _, err := s.Call(withToken("dal:secret-token"), w, mustRequest(t, w, `{"id":3}`)); err != nil {
		t.Fatal(err)
	}
	s.Close() // waits for the fill
	for k := range store.keys {
		if strings.Contains(k, "secret") || !strings.HasPrefix(k, "lcgw:{") {
			t.Errorf("key %q", k)
		}
	}
	if len(store.keys) != 2 || len(store.vals) != 1 {
		t.Errorf("store saw %d keys and %d values; want 2 (counter and entry) and 1", len(store.keys), len(store.vals))
	}
	for _, v := range store.vals {
		if strings.Contains(string(v), "secret") || strings.Contains(string(v), "General") {
			t.Errorf("a cached value holds text of the answer or the token: %q", v)
		}
	}
}

// TestAnswerEncoding round-trips a cached answer and refuses a damaged one.
func TestAnswerEncoding(t *testing.T) {
	a := testutil.Action(t, "get_agent")
	resp := a.NewResponse()
	if err := jsonUnmarshal(`{"agent":{"id":"x","name":"X"}}`, resp); err != nil {
		t.Fatal(err)
	}
	in := &answer{resp: resp, legacy: "", deprecation: "2027-06-30"}
	b, err := encodeAnswer(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := decodeAnswer(a, b)
	if err != nil || !proto.Equal(out.resp, in.resp) || out.deprecation != in.deprecation || out.legacy != "" {
		t.Errorf("decodeAnswer(encodeAnswer(x)) = %+v, %v", out, err)
	}
	for _, bad := range [][]byte{nil, {0x05}, {0x00, 0x09, 'a'}} {
		if _, err := decodeAnswer(a, bad); err == nil {
			t.Errorf("decodeAnswer(%q) accepted a damaged entry", bad)
		}
	}
}

func TestNoCache(t *testing.T) {
	for v, want := range map[string]bool{
		"no-cache": true, "No-Cache": true, "max-age=0": true, "private, no-store": true,
		"": false, "max-age=60": false, "public": false,
	} {
		if got := noCache([]string{v}); got != want {
			t.Errorf("noCache(%q) = %v, want %v", v, got, want)
		}
	}
}

// TestPendingBumps checks the bookkeeping of owed invalidations: owed until made or until the
// entries they protect against have expired, and bounded, with distrust of everything past the
// bound.
func TestPendingBumps(t *testing.T) {
	now := time.Unix(1000, 0)
	p := &pendingBumps{max: 2, at: map[string]time.Time{}}
	if p.owed("a", now) {
		t.Fatal("owed before anything was added")
	}
	p.add("a", now, time.Minute)
	if !p.owed("a", now) || p.owed("b", now) {
		t.Fatal("a must be owed, b not")
	}
	if p.owed("a", now.Add(time.Minute)) {
		t.Error("a still owed after its life")
	}
	p.add("a", now, time.Minute)
	p.done("a")
	if p.owed("a", now) {
		t.Error("a owed after done")
	}
	p.add("a", now, time.Minute)
	p.add("b", now, time.Minute)
	p.add("c", now, time.Minute) // over the bound: nothing is trusted for a minute
	for _, id := range []string{"a", "b", "c", "z"} {
		if !p.owed(id, now.Add(time.Second)) {
			t.Errorf("after an overflow, %s is trusted", id)
		}
	}
	if p.owed("z", now.Add(time.Minute)) {
		t.Error("after an overflow's minute, z is still distrusted")
	}
	if ids := p.ids(now.Add(2 * time.Minute)); len(ids) != 0 {
		t.Errorf("ids after every life = %v, want none", ids)
	}
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// TestEntryKeyFormat: an entry's key is the one docs/cache.md shows, which replicas of other
// versions on the same Redis derive too.
func TestEntryKeyFormat(t *testing.T) {
	a := testutil.Action(t, "get_agent")
	body := []byte(`{"id":"owner-a@example.com"}`)
	sum := sha256.Sum256(body)
	for _, region := range []string{"", "dal"} {
		want := fmt.Sprintf("lcgw:{%s}:e:%s:%s:%s", "3f0c", region, a.Name, hex.EncodeToString(sum[:16]))
		if got := entryKey("3f0c", region, a, body); got != want {
			t.Errorf("entryKey = %q, want %q", got, want)
		}
	}
}

// deadlineStore is an in-process store that records the deadline of each lookup's context.
type deadlineStore struct {
	*cache.Memory
	mu        sync.Mutex
	deadlines []time.Time
}

func (s *deadlineStore) Lookup(ctx context.Context, genKey, key string, ttl time.Duration) (int64, []byte, bool, error) {
	d, _ := ctx.Deadline()
	s.mu.Lock()
	s.deadlines = append(s.deadlines, d)
	s.mu.Unlock()
	return s.Memory.Lookup(ctx, genKey, key, ttl)
}

// TestLookupDeadline: a lookup has half of its caller's remaining time at most, unless the
// store's own bound on a call (StoreTimeout) is shorter than that half.
func TestLookupDeadline(t *testing.T) {
	for _, c := range []struct {
		name         string
		storeTimeout time.Duration
		callerTime   time.Duration
		halved       bool
	}{
		{"no store bound", 0, time.Minute, true},
		{"the store's bound is tighter", 100 * time.Millisecond, time.Minute, false},
		{"half the caller's time is tighter", time.Minute, time.Minute, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			store := &deadlineStore{Memory: cache.NewMemory(0, 0)}
			up := &fakeUpstream{resp: &upstream.Response{Body: []byte(`[{"id":0,"name":"G"}]`)}}
			s, err := New(up, slogTo(&testutil.SyncBuffer{}), WithCache(Cache{
				Store: store, TTL: time.Minute, Secret: []byte("0123456789abcdef"), StoreTimeout: c.storeTimeout,
			}))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx, cancel := context.WithTimeout(context.Background(), c.callerTime)
			defer cancel()
			callerDeadline, _ := ctx.Deadline()
			ctx = metadata.NewIncomingContext(ctx, metadata.Pairs(MDAuthorization, "Bearer dal:x"))
			if _, err := s.Call(ctx, testutil.Action(t, "list_groups"), testutil.Action(t, "list_groups").NewRequest()); err != nil {
				t.Fatal(err)
			}
			store.mu.Lock()
			defer store.mu.Unlock()
			if len(store.deadlines) != 1 {
				t.Fatalf("%d lookups, want 1", len(store.deadlines))
			}
			got := store.deadlines[0]
			if halved := got.Before(callerDeadline.Add(-c.callerTime / 4)); halved != c.halved || got.IsZero() {
				t.Errorf("lookup's deadline %v, caller's %v: halved %v, want %v", got, callerDeadline, halved, c.halved)
			}
		})
	}
}
