package service

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/livechat-gateway/gateway/internal/metrics"
	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/upstream"
)

// mapStore is a Store in a map, which can be made to fail.
type mapStore struct {
	mu   sync.Mutex
	m    map[string][]byte
	gens map[string]int64
	fail error
}

func newMapStore() *mapStore { return &mapStore{m: map[string][]byte{}, gens: map[string]int64{}} }

func (s *mapStore) Get(_ context.Context, k string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, false, s.fail
	}
	v, ok := s.m[k]
	return v, ok, nil
}

func (s *mapStore) Set(_ context.Context, k string, v []byte, _ time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.m[k] = v
	return nil
}

func (s *mapStore) Generation(_ context.Context, k string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return 0, s.fail
	}
	return s.gens[k], nil
}

func (s *mapStore) Lookup(ctx context.Context, c, k string) (int64, []byte, bool, error) {
	gen, err := s.Generation(ctx, c)
	if err != nil {
		return 0, nil, false, err
	}
	v, ok, err := s.Get(ctx, k)
	return gen, v, ok, err
}

func (s *mapStore) Bump(_ context.Context, k string, _ time.Duration) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return 0, s.fail
	}
	s.gens[k]++
	return s.gens[k], nil
}

func cachedService(t *testing.T, up *fakeUpstream, store Store, reg *metrics.Registry) (*Service, *strings.Builder) {
	t.Helper()
	var logs strings.Builder
	s, err := New(up, slogTo(&logs), WithCache(Cache{Store: store, TTL: time.Minute, Secret: []byte("0123456789abcdef"), Metrics: reg}))
	if err != nil {
		t.Fatal(err)
	}
	return s, &logs
}

// TestCacheFailsOpen checks that a failing store costs no call: reads and writes are served by
// the upstream, counted as errors, and warned about once, not once a call.
func TestCacheFailsOpen(t *testing.T) {
	store := newMapStore()
	store.fail = errors.New("redis down")
	up := &fakeUpstream{resp: &upstream.Response{Body: []byte(`[{"id":0,"name":"General"}]`)}}
	reg := metrics.New()
	s, logs := cachedService(t, up, store, reg)
	a := testutil.Action(t, "list_groups")
	for range 5 {
		if _, err := s.Call(withToken("dal:x"), a, a.NewRequest()); err != nil {
			t.Fatalf("a read with the store down = %v, want it served by the upstream", err)
		}
	}
	w := testutil.Action(t, "delete_group")
	reads := up.resp
	up.resp = &upstream.Response{Body: []byte(`{}`)}
	if _, err := s.Call(withToken("dal:x"), w, mustRequest(t, w, `{"id":3}`)); err != nil {
		t.Fatalf("a write with the store down = %v", err)
	}
	up.resp = reads
	if len(up.calls) != 6 {
		t.Errorf("%d upstream calls, want 6", len(up.calls))
	}
	if n := reg.Counter("gateway_cache_reads_total", "", "action", "outcome").Value("list_groups", "error"); n != 5 {
		t.Errorf("store errors counted = %d, want 5", n)
	}
	if n := strings.Count(logs.String(), "cache store failed"); n != 1 {
		t.Errorf("the sick store was logged %d times, want once:\n%s", n, logs)
	}
	// When the store is back, caching resumes.
	store.fail = nil
	s.Call(withToken("dal:x"), a, a.NewRequest())
	s.Call(withToken("dal:x"), a, a.NewRequest())
	if len(up.calls) != 7 {
		t.Errorf("after the store came back: %d upstream calls, want 7 (one miss, one hit)", len(up.calls))
	}
}

// TestCacheKeysHoldNoToken checks the keys: a keyed hash of the credential, never the token.
func TestCacheKeysHoldNoToken(t *testing.T) {
	store := newMapStore()
	up := &fakeUpstream{resp: &upstream.Response{Body: []byte(`[]`)}}
	s, _ := cachedService(t, up, store, nil)
	a := testutil.Action(t, "list_groups")
	s.Call(withToken("dal:secret-token"), a, a.NewRequest())
	w := testutil.Action(t, "delete_group")
	up.resp = &upstream.Response{Body: []byte(`{}`)}
	if _, err := s.Call(withToken("dal:secret-token"), w, mustRequest(t, w, `{"id":3}`)); err != nil {
		t.Fatal(err)
	}
	for k := range store.m {
		if strings.Contains(k, "secret") || !strings.HasPrefix(k, "lcgw:{") {
			t.Errorf("key %q", k)
		}
	}
	for k := range store.gens {
		if strings.Contains(k, "secret") {
			t.Errorf("generation key %q holds the token", k)
		}
	}
	if len(store.m) != 1 || len(store.gens) != 1 {
		t.Errorf("store = %d entries, %d generations; want 1 and 1", len(store.m), len(store.gens))
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

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
