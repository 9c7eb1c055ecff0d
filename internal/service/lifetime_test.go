package service

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/livechat-gateway/gateway/internal/cache"
	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/upstream"
)

// The lifetime of shared upstream calls, end to end: a caller who leaves costs nothing upstream,
// a call goes on while anyone waits for it, and Close ends what still runs. The flight package's
// tests check the same promises of flight.Group in isolation, including the strict one (the call
// is cancelled before its last waiter's Do returns), which timing cannot measure.

// ltBound is how long these tests wait for something that must happen before they fail rather
// than hang. Nothing takes near it unless the code under test is broken.
const ltBound = 10 * time.Second

// ltLongTimeout is the shared calls' own bound, in both the cache and the upstream client: long
// enough that only the cancellation these tests are about can end an upstream request in time.
const ltLongTimeout = time.Minute

// ltAgentAnswer is a valid get_agent answer.
const ltAgentAnswer = `{"id":"agent@example.com","name":"Agent"}`

// ltNoLeaks fails t if goroutines that were not running when it was called are left after t's
// other cleanups. Call it first in a test, so that its cleanup runs last: after the rig's (gRPC
// server and connection, Service.Close) and the fake upstream's. goleak retries for a while, for
// goroutines that are on their way out.
func ltNoLeaks(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// ltWithin runs f on a goroutine and fails t if it has not returned within ltBound.
func ltWithin(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(ltBound):
		t.Fatalf("%s: not done after %v", what, ltBound)
	}
}

// ltAgentBody is the get_agent request of agent i.
func ltAgentBody(i int) string { return fmt.Sprintf(`{"id":"agent-%d@example.com"}`, i) }

// ltAgentID returns the id of a get_agent request body.
func ltAgentID(body []byte) string {
	var req struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(body, &req)
	return req.ID
}

// ltUpRequest is one request the fake HTTP upstream received.
type ltUpRequest struct {
	id        string
	cancelled time.Time // when the gateway cancelled the shared call that sent it
	arrived   time.Time
	ended     time.Time // when its context ended or it was answered; zero while in flight
	// canceled: its context ended (the client went away) before it was released.
	canceled bool
}

// ltHangingUpstream is a fake HTTP upstream whose requests hang until their context ends (the
// client cancelled the request and closed its connection) or release is closed, when they are
// answered with ltAgentAnswer. It counts requests in flight and open connections. Requests for
// agents whose id starts with "warm" are answered at once, and not recorded.
type ltHangingUpstream struct {
	srv      *httptest.Server
	inflight atomic.Int64
	conns    atomic.Int64 // connections open (new, active or idle)

	releaseOnce sync.Once
	release     chan struct{}

	mu        sync.Mutex
	reqs      []*ltUpRequest
	cancelled map[string]time.Time // when the shared call of an agent was cancelled, by id
}

// ltNewHangingUpstream starts a fake upstream, which is released and closed when t ends.
func ltNewHangingUpstream(t *testing.T) *ltHangingUpstream {
	t.Helper()
	u := &ltHangingUpstream{release: make(chan struct{}), cancelled: map[string]time.Time{}}
	u.srv = httptest.NewUnstartedServer(http.HandlerFunc(u.serve))
	u.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			u.conns.Add(1)
		case http.StateClosed, http.StateHijacked:
			u.conns.Add(-1)
		}
	}
	u.srv.Start()
	// Closing the server also closes the connections the client dialed but never sent a request
	// on (its transport keeps a dial that a cancelled request started, for the next request), so
	// that the client's goroutines reading them end too. It runs after the rig's cleanup.
	t.Cleanup(u.srv.Close)
	return u
}

// ltHTTPRig returns a rig whose upstream client calls u, with the shared calls' timeouts at
// ltLongTimeout.
func ltHTTPRig(t *testing.T, u *ltHangingUpstream) *rig {
	t.Helper()
	// The rig's own client, as it would build it from upstreamURL, in a wrapper that notes when
	// each shared call was cancelled.
	// The limits let every read of the tests reach the upstream at once: what is tested is
	// their cancellation, not the shedding.
	c, err := upstream.New(upstream.Options{BaseURL: u.srv.URL, BaseBackoff: time.Nanosecond, Timeout: ltLongTimeout,
		MaxConns: 1000, MaxPerCredential: 1000})
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, rigOptions{
		up:    &ltTimedUpstream{c: c, u: u},
		cache: func(c *Cache) { c.UpstreamTimeout = ltLongTimeout },
	})
	// Before the rig's cleanup: whatever still hangs is answered, so that a broken cancellation
	// cannot hang the test's end.
	t.Cleanup(u.releaseAll)
	return r
}

// ltTimedUpstream is an upstream client that notes, in its fake upstream, when the context of
// each call (the shared call's) ended: when the gateway's last waiter for it left.
type ltTimedUpstream struct {
	c *upstream.Client
	u *ltHangingUpstream
}

func (t *ltTimedUpstream) Do(ctx context.Context, r *upstream.Request) (*upstream.Response, error) {
	id := ltAgentID(r.Body)
	// Not stopped: the shared call's context always ends, at the latest when its goroutine does.
	context.AfterFunc(ctx, func() {
		now := time.Now()
		t.u.mu.Lock()
		t.u.cancelled[id] = now
		t.u.mu.Unlock()
	})
	return t.c.Do(ctx, r)
}

func (u *ltHangingUpstream) releaseAll() { u.releaseOnce.Do(func() { close(u.release) }) }

func (u *ltHangingUpstream) serve(w http.ResponseWriter, r *http.Request) {
	u.inflight.Add(1)
	defer u.inflight.Add(-1)
	// Reading the body to its end matters: only then does net/http start the background read
	// that notices the client closing the connection and ends r.Context().
	body, _ := io.ReadAll(r.Body)
	rec := &ltUpRequest{id: ltAgentID(body), arrived: time.Now()}
	if strings.HasPrefix(rec.id, "warm") {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, ltAgentAnswer)
		return
	}
	u.mu.Lock()
	u.reqs = append(u.reqs, rec)
	u.mu.Unlock()
	canceled := false
	select {
	case <-r.Context().Done():
		canceled = true
	case <-u.release:
	}
	ended := time.Now()
	u.mu.Lock()
	rec.ended, rec.canceled = ended, canceled
	u.mu.Unlock()
	if !canceled {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, ltAgentAnswer)
	}
}

// requests returns copies of the requests received so far.
func (u *ltHangingUpstream) requests() []ltUpRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]ltUpRequest, len(u.reqs))
	for i, r := range u.reqs {
		out[i] = *r
		out[i].cancelled = u.cancelled[r.id]
	}
	return out
}

// waitArrived waits until n requests have arrived in all.
func (u *ltHangingUpstream) waitArrived(t *testing.T, n int) {
	t.Helper()
	testutil.Eventually(t, fmt.Sprintf("%d upstream requests arrived", n), func() bool { return len(u.requests()) >= n })
}

// waitIdle waits until no request is in flight and every one that arrived has ended.
func (u *ltHangingUpstream) waitIdle(t *testing.T) {
	t.Helper()
	testutil.Eventually(t, "no upstream request in flight", func() bool { return u.inflight.Load() == 0 })
}

// ltLagStats returns the max, median and 99th percentile of lags.
func ltLagStats(lags []time.Duration) (maxLag, p50, p99 time.Duration) {
	if len(lags) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(lags)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return s[len(s)-1], at(0.50), at(0.99)
}

// ltLagBound is what TestLifetimeAbandonedReadsCancelUpstream asserts of every request's lag
// from its caller's return to the end of its upstream request.
//
// The promise is 100ms. It is not what the test asserts, because this lag is mostly made of
// things the gateway does not own: the gRPC server noticing a deadline or a cancellation after
// the client has, the scheduling of some 2000 goroutines, the client transport closing each
// connection, and the fake server's background read noticing that. Measured on a 2-core machine:
// p99 25 to 80ms without -race; 60 to 260ms under -race with other packages' tests running, of
// which 30 to 180ms from the gateway's cancellation of the shared call to the fake server's
// request context ending (net/http alone). A 100ms assertion would be flaky there. What the test
// must tell apart is "cancelled when the caller left" from "ran until a timeout" (1 minute
// here), and a few seconds does that with no flakiness; the numbers are logged. The strict
// guarantee, that the call is cancelled before its last waiter's Do returns, is checked with no
// timing in internal/flight (TestLastWaiterLeavingCancels, TestSyncCancelUnderContention), and
// synchronously through the Service by TestLifetimeUpstreamContextDoneWhenCallReturns.
const ltLagBound = 3 * time.Second

// finish waits until every shared call of r has ended and no upstream request is in flight, then
// closes the fake upstream, which waits for its handlers and drops the connections that never
// carried a request (a cancelled request's dial, kept by the client's transport). What it
// returns is then every request the upstream will ever have seen, and how many connections were
// still open before the close.
func (u *ltHangingUpstream) finish(t *testing.T, r *rig) ([]ltUpRequest, int64) {
	t.Helper()
	r.settle()
	u.waitIdle(t)
	open := u.conns.Load()
	closed := make(chan struct{})
	go func() { u.srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(ltBound):
		u.releaseAll()
		<-closed
		t.Fatalf("upstream requests still hanging %v after the last shared call ended", ltBound)
	}
	return u.requests(), open
}

// ltWarmUp makes one read that the fake upstream answers, so that what is made lazily on the
// way (the rig's gRPC connection, the upstream client's first connection, the fake server's
// first goroutines) is up before a test measures anything.
func ltWarmUp(t *testing.T, r *rig) {
	t.Helper()
	r.must("dal:lifetime", "get_agent", `{"id":"warm@example.com"}`)
	r.settle()
}

// ltLags checks that each upstream request was cancelled, at most once per agent, and returns the
// lag of each from its caller's return (returned, by agent number) to its end, and the part of it
// from the gateway's cancellation of the shared call to the request's end.
func ltLags(t *testing.T, reqs []ltUpRequest, returned []time.Time) (lags, httpLags []time.Duration, seen int) {
	t.Helper()
	idx := map[string]int{}
	for i := range returned {
		idx[fmt.Sprintf("agent-%d@example.com", i)] = i
	}
	got := map[string]bool{}
	for _, q := range reqs {
		i, ok := idx[q.id]
		switch {
		case !ok:
			t.Errorf("an upstream request for %q, which no caller asked for", q.id)
			continue
		case got[q.id]:
			t.Errorf("two upstream requests for %s", q.id)
		case !q.canceled:
			t.Errorf("the upstream request for %s was not cancelled", q.id)
		}
		got[q.id] = true
		lags = append(lags, q.ended.Sub(returned[i]))
		if q.cancelled.IsZero() {
			t.Errorf("the shared call of %s was never cancelled", q.id)
		} else {
			httpLags = append(httpLags, q.ended.Sub(q.cancelled))
		}
	}
	return lags, httpLags, len(got)
}

// TestLifetimeAbandonedReadsCancelUpstream is the acceptance test: 500 concurrent distinct reads
// whose callers leave, against an upstream that hangs. Every upstream request is cancelled soon
// after its caller left (well before the 1-minute timeouts), and nothing is left running.
//
// With 50ms deadlines, only some of the 500 reads reach the upstream before their deadline on a
// 2-core machine (see the log; from none to a few hundred, fewer under -race). The rest spend
// their 50ms in gRPC and in dialling a connection each, and are cancelled before they send
// anything, which is right but proves nothing about a request in flight. So the second subtest
// holds all 500 requests in flight at the upstream first, and then makes every caller leave at
// once.
func TestLifetimeAbandonedReadsCancelUpstream(t *testing.T) {
	ltNoLeaks(t)
	const n = 500
	t.Run("50ms deadlines", func(t *testing.T) {
		up := ltNewHangingUpstream(t)
		r := ltHTTPRig(t, up)
		ltWarmUp(t, r)
		returned := make([]time.Time, n)
		got := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				defer cancel()
				res := r.call(ctx, "dal:lifetime", "get_agent", ltAgentBody(i))
				returned[i] = time.Now()
				got[i] = res.err
			})
		}
		began := time.Now()
		close(start)
		wg.Wait()
		for i, err := range got {
			if status.Code(err) != codes.DeadlineExceeded {
				t.Errorf("read %d: %v, want DEADLINE_EXCEEDED", i, err)
			}
		}
		if seen := ltCheckLags(t, up, r, returned, began); seen == 0 {
			// Possible on a loaded machine; the next subtest has every request in flight.
			t.Log("no read reached the upstream within its 50ms")
		}
	})
	t.Run("all in flight, then every caller leaves", func(t *testing.T) {
		up := ltNewHangingUpstream(t)
		r := ltHTTPRig(t, up)
		ltWarmUp(t, r)
		returned := make([]time.Time, n)
		got := make([]error, n)
		ctx, leave := context.WithCancel(context.Background())
		defer leave()
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				res := r.call(ctx, "dal:lifetime", "get_agent", ltAgentBody(i))
				returned[i] = time.Now()
				got[i] = res.err
			})
		}
		up.waitArrived(t, n)
		for _, q := range up.requests() {
			if !q.ended.IsZero() {
				t.Fatalf("the upstream request for %s ended before its caller left", q.id)
			}
		}
		left := time.Now()
		leave()
		wg.Wait()
		for i, err := range got {
			if status.Code(err) != codes.Canceled {
				t.Errorf("read %d: %v, want CANCELED", i, err)
			}
		}
		if seen := ltCheckLags(t, up, r, returned, left); seen != n {
			t.Errorf("%d of %d reads reached the upstream", seen, n)
		}
	})
}

// ltCheckLags ends up's requests, logs the lags from each caller's return (returned, the calls
// having begun or been left at from) to its upstream request's end, fails t if one is over
// ltLagBound, and returns how many reads reached the upstream.
func ltCheckLags(t *testing.T, up *ltHangingUpstream, r *rig, returned []time.Time, from time.Time) int {
	t.Helper()
	reqs, open := up.finish(t, r)
	lags, httpLags, seen := ltLags(t, reqs, returned)
	maxLag, p50, p99 := ltLagStats(lags)
	hMax, h50, h99 := ltLagStats(httpLags)
	t.Logf("%d reads returned within %v; %d reached the upstream; lag from a caller's return to its upstream request's end: max %v, p50 %v, p99 %v; of which from the shared call's cancellation: max %v, p50 %v, p99 %v; idle connections left open: %d",
		len(returned), slices.MaxFunc(returned, time.Time.Compare).Sub(from), seen, maxLag, p50, p99, hMax, h50, h99, open)
	if maxLag > ltLagBound {
		t.Errorf("an upstream request ended %v after its caller left, want within %v (p99 %v)", maxLag, ltLagBound, p99)
	}
	return seen
}

// ltUpstream is an Upstream for get_agent that hangs on the agents hang says, until its context
// ends (answering its error) or release is closed (answering ltAgentAnswer), and answers the
// others at once. It keeps each call's context, and checks that a call that begins after its
// only caller has returned begins cancelled.
type ltUpstream struct {
	hang    func(id string) bool
	entered chan string // ids, as calls begin
	release chan struct{}

	abortOnce sync.Once
	abort     chan struct{}

	mu    sync.Mutex
	ctxs  map[string]context.Context
	calls map[string]int
	left  map[string]bool // ids whose only caller has returned
	late  int             // calls that began after their caller returned, cancelled as they must be
	bad   []string        // calls that began live after their caller returned
}

func ltNewUpstream(hang func(id string) bool) *ltUpstream {
	return &ltUpstream{
		hang: hang, entered: make(chan string, 10_000), release: make(chan struct{}), abort: make(chan struct{}),
		ctxs: map[string]context.Context{}, calls: map[string]int{}, left: map[string]bool{},
	}
}

// ltRig returns a rig on u, with the shared calls' timeout at ltLongTimeout and o's other
// options.
func ltRig(t *testing.T, u *ltUpstream, o rigOptions) *rig {
	t.Helper()
	o.up = u
	o.cache = func(c *Cache) { c.UpstreamTimeout = ltLongTimeout }
	r := newRig(t, o)
	// Before the rig's cleanup: whatever still hangs ends, so that a broken cancellation cannot
	// hang the test's end.
	t.Cleanup(func() { u.abortOnce.Do(func() { close(u.abort) }) })
	return r
}

func (u *ltUpstream) Do(ctx context.Context, r *upstream.Request) (*upstream.Response, error) {
	id := ltAgentID(r.Body)
	u.mu.Lock()
	u.calls[id]++
	u.ctxs[id] = ctx
	if u.left[id] {
		if ctx.Err() == nil {
			u.bad = append(u.bad, id)
		} else {
			u.late++
		}
	}
	u.mu.Unlock()
	u.entered <- id
	if !u.hang(id) {
		return &upstream.Response{Body: []byte(ltAgentAnswer)}, nil
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-u.release:
		return &upstream.Response{Body: []byte(ltAgentAnswer)}, nil
	case <-u.abort:
		return nil, fmt.Errorf("the test ended")
	}
}

// callerLeft records that the only caller of id has returned, and returns the context of its
// upstream call if that has begun.
func (u *ltUpstream) callerLeft(id string) context.Context {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.left[id] = true
	return u.ctxs[id]
}

// ctx returns the context of id's upstream call, or nil.
func (u *ltUpstream) ctx(id string) context.Context {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.ctxs[id]
}

// ltIncoming returns ctx with the incoming metadata of a gRPC call with token.
func ltIncoming(ctx context.Context, token string) context.Context {
	return metadata.NewIncomingContext(ctx, metadata.Pairs(MDAuthorization, "Bearer "+token))
}

// TestLifetimeUpstreamContextDoneWhenCallReturns: 500 concurrent distinct reads with a 50ms
// deadline through Service.Call, against an Upstream that blocks on its context. Each upstream
// context is already done when its only caller's Call returns: checked synchronously, right
// after the return, with no waiting. (A call that had not yet begun when its caller returned must
// begin cancelled, which the Upstream checks, or never begin.)
func TestLifetimeUpstreamContextDoneWhenCallReturns(t *testing.T) {
	ltNoLeaks(t)
	up := ltNewUpstream(func(string) bool { return true })
	r := ltRig(t, up, rigOptions{})
	a := testutil.Action(t, "get_agent")

	const n = 500
	start := make(chan struct{})
	var (
		wg                    sync.WaitGroup
		begun, notYet, undone atomic.Int32
	)
	for i := range n {
		req := mustRequest(t, a, ltAgentBody(i))
		id := fmt.Sprintf("agent-%d@example.com", i)
		wg.Go(func() {
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			_, err := r.svc.Call(ltIncoming(ctx, "dal:lifetime"), a, req)
			upCtx := up.callerLeft(id)
			switch {
			case upCtx == nil:
				notYet.Add(1)
			case upCtx.Err() == nil:
				undone.Add(1)
			default:
				begun.Add(1)
			}
			if status.Code(err) != codes.DeadlineExceeded {
				t.Errorf("read %d: %v, want DEADLINE_EXCEEDED", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	r.settle()

	up.mu.Lock()
	defer up.mu.Unlock()
	t.Logf("%d reads: %d upstream calls had begun when their caller returned, %d began afterwards (cancelled already)", n, begun.Load(), up.late)
	if c := undone.Load(); c != 0 {
		t.Errorf("%d upstream contexts were still live when their only caller's Call returned", c)
	}
	if len(up.bad) != 0 {
		t.Errorf("%d upstream calls began with a live context after their only caller had returned: %v", len(up.bad), up.bad)
	}
	// A call that had not begun when its caller returned began later (cancelled already), or
	// never: a caller whose deadline had passed before it reached the shared calls starts none.
	never := 0
	for i := range n {
		switch c := up.calls[fmt.Sprintf("agent-%d@example.com", i)]; c {
		case 0:
			never++
		case 1:
		default:
			t.Errorf("agent %d: %d upstream calls, want at most 1", i, c)
		}
	}
	if int(notYet.Load()) != up.late+never {
		t.Errorf("%d calls had not begun when their caller returned; %d began later and %d never", notYet.Load(), up.late, never)
	}
}

// TestLifetimeCoalescedCallOwned: identical reads share one upstream call. One caller with a
// short deadline leaving does not end it: the others get its answer. When all leave, the upstream
// request is cancelled.
func TestLifetimeCoalescedCallOwned(t *testing.T) {
	ltNoLeaks(t)
	const (
		n     = 6
		token = "dal:coalesced"
		body  = `{"id":"agent@example.com"}`
	)
	t.Run("one leaves, the others get the answer", func(t *testing.T) {
		up := ltNewUpstream(func(string) bool { return true })
		r := ltRig(t, up, rigOptions{})
		// The long callers first, over gRPC: one of them starts the call and none leaves, so
		// every one that arrives before the answer joins it.
		results := make(chan result, n-1)
		var wg sync.WaitGroup
		for range n - 1 {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), ltBound)
				defer cancel()
				results <- r.call(ctx, token, "get_agent", body)
			})
		}
		testutil.Recv(t, "the upstream call", up.entered)
		// The short caller joins and leaves. It calls the Service directly, so that when it has
		// returned its waiter has left the shared call, and the call's context can be checked
		// at once.
		a := testutil.Action(t, "get_agent")
		ctx, cancel := context.WithTimeout(ltIncoming(context.Background(), token), 50*time.Millisecond)
		defer cancel()
		if _, err := r.svc.Call(ctx, a, mustRequest(t, a, body)); status.Code(err) != codes.DeadlineExceeded {
			t.Errorf("the short caller got %v, want DEADLINE_EXCEEDED", err)
		}
		if err := up.ctx("agent@example.com").Err(); err != nil {
			t.Fatalf("the shared upstream call's context ended (%v) when one of its callers left", err)
		}
		close(up.release)
		wg.Wait()
		close(results)
		outcomes := map[string]int{}
		for res := range results {
			if res.err != nil || !strings.Contains(fmt.Sprint(res.resp), "Agent") {
				t.Errorf("a long caller got %v, %v; want the upstream's answer", res.resp, res.err)
			}
			outcomes[res.cache()]++
		}
		// miss: waited for the call; hit: arrived after its answer, while it was stored.
		t.Logf("x-cache of the long callers: %v", outcomes)
		r.settle()
		up.mu.Lock()
		defer up.mu.Unlock()
		if c := up.calls["agent@example.com"]; c != 1 {
			t.Errorf("%d upstream calls for %d identical reads, want 1", c, n)
		}
	})
	t.Run("all leave, the request is cancelled", func(t *testing.T) {
		up := ltNewHangingUpstream(t)
		r := ltHTTPRig(t, up)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				if res := r.call(ctx, token, "get_agent", body); status.Code(res.err) != codes.Canceled {
					t.Errorf("a caller got %v, want CANCELED", res.err)
				}
			})
		}
		up.waitArrived(t, 1)
		cancel()
		wg.Wait()
		left := time.Now()
		q, _ := up.finish(t, r)
		for _, rq := range q {
			if !rq.canceled {
				t.Errorf("an upstream request was not cancelled")
			} else if lag := rq.ended.Sub(left); lag > ltLagBound {
				t.Errorf("an upstream request ended %v after the last caller left, want within %v", lag, ltLagBound)
			}
		}
		// A caller that had not reached the shared call when the others had all left would
		// make a call of its own, cancelled as soon as it leaves too: possible, not expected.
		t.Logf("%d upstream request(s) for %d identical reads; the first ended %v after the last caller returned",
			len(q), n, q[0].ended.Sub(left))
	})
}

// ltFillStore is an in-process store whose Fill blocks until the fill's context ends and then
// until released, so that a test can hold a shared call in its then (its cache fill).
type ltFillStore struct {
	*cache.Memory
	once      sync.Once
	entered   chan struct{}
	sawCancel chan struct{}
	release   chan struct{}
	done      atomic.Bool
}

func (s *ltFillStore) Fill(ctx context.Context, genKey string, gen int64, key string, val []byte, ttl time.Duration) (bool, error) {
	first := false
	s.once.Do(func() { first = true })
	if !first {
		return s.Memory.Fill(ctx, genKey, gen, key, val, ttl)
	}
	close(s.entered)
	<-ctx.Done()
	close(s.sawCancel)
	<-s.release
	s.done.Store(true)
	return false, ctx.Err()
}

// TestLifetimeClose: Service.Close cancels a shared call hanging upstream, whose caller gets
// UNAVAILABLE "shutting down" (it did not cancel anything itself), waits for every shared call's goroutine, a cache fill in progress included, and
// makes later reads fail at once with UNAVAILABLE "shutting down". Close may be called again.
func TestLifetimeClose(t *testing.T) {
	ltNoLeaks(t)
	store := &ltFillStore{Memory: cache.NewMemory(0, 0), entered: make(chan struct{}), sawCancel: make(chan struct{}), release: make(chan struct{})}
	up := ltNewUpstream(func(id string) bool { return strings.HasPrefix(id, "hang") })
	r := ltRig(t, up, rigOptions{store: store})
	t.Cleanup(func() {
		select {
		case <-store.release:
		default:
			close(store.release) // let a broken Close end
		}
	})

	// A read hanging upstream, whose caller would wait for ltBound.
	hung := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), ltBound)
		defer cancel()
		hung <- r.call(ctx, "dal:close", "get_agent", `{"id":"hang@example.com"}`)
	}()
	if id := testutil.Recv(t, "the hung upstream call", up.entered); id != "hang@example.com" {
		t.Fatalf("upstream called for %q", id)
	}
	// A read that was answered, whose fill is in progress.
	if res := r.must("dal:close", "get_agent", `{"id":"fill@example.com"}`); !strings.Contains(fmt.Sprint(res.resp), "Agent") {
		t.Fatalf("get_agent = %v", res.resp)
	}
	testutil.Recv(t, "the answered upstream call", up.entered)
	testutil.Recv(t, "the fill", store.entered)
	if n := r.svc.reads.flights.Running(); n != 2 {
		t.Fatalf("Running() = %d, want 2: the hung call and the filling one", n)
	}

	closed := make(chan struct{})
	go func() { r.svc.Close(); close(closed) }()
	select {
	case <-store.sawCancel: // Close cancelled the fill's context: it has begun
	case <-time.After(ltBound):
		t.Fatalf("Close did not cancel the fill in %v", ltBound)
	}
	select {
	case res := <-hung:
		if st := status.Convert(res.err); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "shutting down") {
			t.Errorf("the hung read's caller got %v, want UNAVAILABLE shutting down: the gateway cancelled its call, not the caller", res.err)
		}
	case <-time.After(ltBound):
		t.Fatalf("the hung read's caller was not answered %v after Close began", ltBound)
	}
	if ctx := up.ctx("hang@example.com"); ctx.Err() == nil {
		t.Error("the hung upstream call's context is live during Close")
	}
	select {
	case <-closed:
		t.Fatal("Close returned while a fill was in progress")
	default:
	}
	close(store.release)
	select {
	case <-closed:
	case <-time.After(ltBound):
		t.Fatalf("Close did not return %v after the fill was released", ltBound)
	}
	if !store.done.Load() {
		t.Error("Close returned before the fill ended")
	}
	if n := r.svc.reads.flights.Running(); n != 0 {
		t.Errorf("Running() = %d right after Close, want 0", n)
	}

	// Reads after Close fail at once, without a call upstream.
	ctx, cancel := context.WithTimeout(context.Background(), ltBound)
	defer cancel()
	res := r.call(ctx, "dal:close", "get_agent", `{"id":"after@example.com"}`)
	if st := status.Convert(res.err); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "shutting down") {
		t.Errorf("a read after Close got %v, want UNAVAILABLE shutting down", res.err)
	}
	if ctx.Err() != nil {
		t.Error("a read after Close hung until its deadline")
	}
	up.mu.Lock()
	if c := up.calls["after@example.com"]; c != 0 {
		t.Errorf("a read after Close called the upstream %d times", c)
	}
	up.mu.Unlock()
	ltWithin(t, "a second Close", r.svc.Close)
}
