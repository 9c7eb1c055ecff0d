package upstream

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/livechat-gateway/gateway/internal/emulator"
	"github.com/livechat-gateway/gateway/internal/testutil"
)

// blockingFake is an upstream whose answers wait until unblock is called, counting the calls
// it gets and the connections it has open at once.
type blockingFake struct {
	srv          *httptest.Server
	unblock      func()
	hits, inCall atomic.Int64
	conns        emulator.Conns
}

func newBlockingFake(t *testing.T) *blockingFake {
	b := &blockingFake{}
	release := make(chan struct{})
	b.unblock = sync.OnceFunc(func() { close(release) })
	b.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		b.inCall.Add(1)
		defer b.inCall.Add(-1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
		writeJSON(w, 200, `{"id":"a"}`)
	}))
	b.srv.Config.ConnState = b.conns.ConnState
	b.srv.Start()
	t.Cleanup(b.srv.Close)
	t.Cleanup(b.unblock) // runs first: the handlers return, so Close does not wait for them
	return b
}

// TestShedding checks that calls past MaxInFlight, or past one credential's MaxPerCredential,
// fail at once with a *ShedError and are not sent, that the calls admitted use at most MaxConns
// connections, and that a slot freed by an ended call admits the next one.
func TestShedding(t *testing.T) {
	b := newBlockingFake(t)
	c, _ := newClient(t, Options{BaseURL: b.srv.URL, MaxConns: 2, MaxInFlight: 5, MaxPerCredential: 3})

	var wg sync.WaitGroup
	results := make(chan error, 5)
	start := func(auth string) {
		wg.Go(func() {
			_, err := c.Do(context.Background(), &Request{Action: "get_agent", Read: true, Body: []byte(`{}`), Authorization: auth})
			results <- err
		})
	}
	for range 3 {
		start(authA)
	}
	testutil.Eventually(t, "3 calls of one credential in flight", func() bool { all, _ := c.limit.inFlight(authA); return all == 3 })

	// A fourth call of the same credential is over its share.
	_, err := c.Do(t.Context(), &Request{Action: "get_agent", Read: true, Body: []byte(`{}`), Authorization: authA})
	var shed *ShedError
	if !errors.As(err, &shed) || !shed.PerCredential || shed.Limit != 3 || !errors.Is(err, ErrShed) {
		t.Fatalf("a 4th call of one credential: %v, want a per-credential *ShedError", err)
	}
	checkNoSecret(t, "the shed error", err.Error())

	// Other credentials still get the remaining slots, then the client is full.
	start(authF)
	start(authSecret)
	testutil.Eventually(t, "5 calls in flight", func() bool { all, _ := c.limit.inFlight(""); return all == 5 })
	_, err = c.Do(t.Context(), &Request{Action: "get_agent", Read: true, Body: []byte(`{}`), Authorization: "Bearer dal:other-1234"})
	if !errors.As(err, &shed) || shed.PerCredential || shed.Limit != 5 {
		t.Fatalf("a 6th call: %v, want a client-wide *ShedError", err)
	}

	// Two connections serve; the other calls wait for them inside the transport.
	testutil.Eventually(t, "2 calls at the upstream", func() bool { return b.inCall.Load() == 2 })
	if hits := b.hits.Load(); hits != 2 {
		t.Errorf("the upstream got %d calls while 2 connections were busy, want 2 (shed calls are never sent)", hits)
	}
	b.unblock()
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Errorf("an admitted call failed: %v", err)
		}
	}
	if peak := b.conns.Stats().Peak; peak > 2 {
		t.Errorf("the upstream saw %d connections at once, want at most MaxConns = 2", peak)
	}
	if all, _ := c.limit.inFlight(""); all != 0 || len(c.limit.byKey) != 0 {
		t.Errorf("after the calls ended: %d in flight, %d credentials tracked; want 0 and 0", all, len(c.limit.byKey))
	}
	if _, err := c.Do(t.Context(), &Request{Action: "get_agent", Read: true, Body: []byte(`{}`), Authorization: authA}); err != nil {
		t.Errorf("a call after the others ended: %v", err)
	}
}

// TestShedDefaults checks the defaults: 3 × MaxConns in flight, a quarter of MaxConns per
// credential.
func TestShedDefaults(t *testing.T) {
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.limit.max != 3*DefaultMaxConns || c.limit.perCred != DefaultMaxConns/4 {
		t.Errorf("defaults: %d in flight, %d per credential; want %d and %d", c.limit.max, c.limit.perCred, 3*DefaultMaxConns, DefaultMaxConns/4)
	}
	if tr := c.hc.Transport.(*http.Transport); tr.MaxConnsPerHost != DefaultMaxConns {
		t.Errorf("MaxConnsPerHost = %d, want %d", tr.MaxConnsPerHost, DefaultMaxConns)
	}
	if c, _ := New(Options{MaxConns: 1}); c.limit.perCred != 1 {
		t.Errorf("MaxConns 1: %d per credential, want at least 1", c.limit.perCred)
	}
	if _, err := New(Options{MaxConns: 8, MaxInFlight: 4}); err == nil || !strings.Contains(err.Error(), "MaxInFlight") {
		t.Errorf("MaxInFlight below MaxConns: %v, want it refused", err)
	}
}

// TestAnswerLimitOption checks that MaxAnswerBytes sets the bound, and that an answer over it is
// ErrAnswerTooLarge, sent once.
func TestAnswerLimitOption(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"id":"`+strings.Repeat("x", 100<<10)+`"}`)
	})
	c, _ := newClient(t, Options{BaseURL: f.srv.URL, MaxAnswerBytes: 64 << 10})
	_, err := c.Do(t.Context(), &Request{Action: "get_agent", Read: true, Body: []byte(`{}`), Authorization: authA})
	if !errors.Is(err, ErrAnswerTooLarge) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("Do = %v, want ErrAnswerTooLarge and not ErrUnavailable", err)
	}
	if n := f.hits.Load(); n != 1 {
		t.Errorf("the upstream got %d calls, want 1: a too large answer is not retried", n)
	}
}
