package server_test

// Issue 5, acceptance 6: a sick Redis costs no request. Each test runs a real redis-server
// (redistest) and a gateway in front of an in-process emulator, and makes Redis sick under it:
// killed, killed and restarted, or slowed down by a delaying TCP proxy.
//
// Timing bounds here are deliberately generous (seconds): they are there to catch a gateway that
// waits on a sick Redis, not to measure it.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/livechat-gateway/gateway/internal/emulator"
	"github.com/livechat-gateway/gateway/internal/server"
	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/testutil/redistest"
)

// sickClient bounds every REST request of these tests, so that a gateway stuck on a sick Redis
// fails the test instead of hanging it.
var sickClient = &http.Client{Timeout: 10 * time.Second}

// tryRest is env.rest for goroutines: it returns its error instead of failing the test.
func (v *env) tryRest(token, name, body string) (answer, error) {
	req, err := http.NewRequest(http.MethodPost, v.httpURL+"/v3.2/configuration/action/"+name, strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := sickClient.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{resp.StatusCode, resp.Header, string(b)}, nil
}

// cacheErrors returns the sum of gateway_cache_reads_total{outcome="error"} on the gateway's
// /metrics, for action name, or for every action when name is "".
func (v *env) cacheErrors(name string) int64 {
	v.t.Helper()
	resp, err := sickClient.Get(v.httpURL + "/metrics")
	if err != nil {
		v.t.Fatalf("/metrics: %v", err)
	}
	defer resp.Body.Close()
	var sum int64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "gateway_cache_reads_total{") || !strings.Contains(line, `outcome="error"`) {
			continue
		}
		if name != "" && !strings.Contains(line, `action="`+name+`"`) {
			continue
		}
		n, err := strconv.ParseInt(line[strings.LastIndexByte(line, ' ')+1:], 10, 64)
		if err != nil {
			v.t.Fatalf("/metrics line %q: %v", line, err)
		}
		sum += n
	}
	if err := sc.Err(); err != nil {
		v.t.Fatalf("/metrics: %v", err)
	}
	return sum
}

// uncached reports whether an X-Cache value says the upstream answered.
func uncached(xcache string) bool { return xcache == "bypass" || xcache == "miss" }

// sickRead is a read of the tests' load.
type sickRead struct{ name, body string }

// sickSame is the read repeated throughout: owner-a's groups, which no write of the tests
// changes, so its answer must stay the same byte for byte whoever answers it.
var sickSame = sickRead{"get_agent", `{"id":"owner-a@example.com","fields":["groups"]}`}

// sickReads are the load's other reads.
var sickReads = []sickRead{
	{"get_agent", `{"id":"agent-a@example.com","fields":["job_title"]}`},
	{"list_groups", `{}`},
	{"get_group", `{"id":0}`},
	{"list_bots", `{"all":true}`},
	{"list_agents", `{}`},
}

// readCalls sums the emulator's call counts of the load's reads.
func (v *env) readCalls() int64 {
	v.t.Helper()
	seen := map[string]bool{}
	var n int64
	for _, r := range append([]sickRead{sickSame}, sickReads...) {
		if !seen[r.name] {
			seen[r.name] = true
			n += v.calls(r.name)
		}
	}
	return n
}

// warmRead reads r twice and checks the cache answers the second time: Redis is in use.
func warmRead(t *testing.T, v *env, r sickRead) answer {
	t.Helper()
	first := v.rest(ownerA, r.name, r.body)
	second := v.rest(ownerA, r.name, r.body)
	if first.status != 200 || second.status != 200 || first.header.Get("X-Cache") != "miss" || second.header.Get("X-Cache") != "hit" {
		t.Fatalf("%s %s with a healthy Redis: %d %q then %d %q, want 200 miss then 200 hit (%s)", r.name, r.body,
			first.status, first.header.Get("X-Cache"), second.status, second.header.Get("X-Cache"), second.body)
	}
	if first.body != second.body {
		t.Fatalf("%s: the hit %s differs from the miss %s", r.name, second.body, first.body)
	}
	return first
}

// loadStats is what the load saw.
type loadStats struct {
	mu                      sync.Mutex
	total, hitsBefore       int
	after, bypassAfter      int           // requests started after the kill, and reads among them the upstream answered
	readsAfter, writesAfter int           // of which reads, writes
	slowestAfter            time.Duration // the longest request started after the kill
	failures                []string
}

func (s *loadStats) fail(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failures) < 20 {
		s.failures = append(s.failures, fmt.Sprintf(format, args...))
	}
}

// TestSickRedisKilled: Redis is killed (SIGKILL) while REST and gRPC reads and writes run through
// the gateway. Every request still succeeds, the reads after the kill are answered by the
// upstream, and /metrics counts the store errors.
func TestSickRedisKilled(t *testing.T) {
	rs := redistest.Server(t)
	v := newCachedEnv(t, rs.URL())
	getAgent := testutil.Action(t, "get_agent")

	want := warmRead(t, v, sickSame)
	for _, r := range sickReads {
		warmRead(t, v, r)
	}

	var (
		killed atomic.Bool
		st     loadStats
		stop   = make(chan struct{})
		wg     sync.WaitGroup
		once   sync.Once
	)
	stopLoad := func() { once.Do(func() { close(stop); wg.Wait() }) }
	defer stopLoad() // also when the test fails early: no request may outlive the gateway
	done := func(after bool, read bool, xcache string, el time.Duration) {
		st.mu.Lock()
		defer st.mu.Unlock()
		st.total++
		switch {
		case !after && xcache == "hit":
			st.hitsBefore++
		case after:
			st.after++
			st.slowestAfter = max(st.slowestAfter, el)
			if read {
				st.readsAfter++
				if uncached(xcache) {
					st.bypassAfter++
				}
			} else {
				st.writesAfter++
			}
		}
	}
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}

	// REST workers: the same read every fourth request, a write every fourth, other reads between.
	for w := range 3 {
		wg.Go(func() {
			for i := 0; !stopped(); i++ {
				after := killed.Load()
				start := time.Now()
				switch i % 4 {
				case 0, 1:
					r := sickSame
					if i%4 == 1 {
						r = sickReads[(w+i)%len(sickReads)]
					}
					got, err := v.tryRest(ownerA, r.name, r.body)
					switch {
					case err != nil:
						st.fail("REST %s (after the kill: %v): %v", r.name, after, err)
					case got.status != 200:
						st.fail("REST %s (after the kill: %v): %d %s", r.name, after, got.status, got.body)
					case r == sickSame && got.body != want.body:
						st.fail("REST %s (X-Cache %q) = %s, want %s", r.name, got.header.Get("X-Cache"), got.body, want.body)
					case after && !uncached(got.header.Get("X-Cache")):
						st.fail("REST %s after the kill: X-Cache %q, want bypass or miss", r.name, got.header.Get("X-Cache"))
					default:
						done(after, true, got.header.Get("X-Cache"), time.Since(start))
					}
				case 2:
					r := sickReads[(w+i)%len(sickReads)]
					got, err := v.tryRest(ownerA, r.name, r.body)
					if err != nil || got.status != 200 {
						st.fail("REST %s (after the kill: %v): %v %d %s", r.name, after, err, got.status, got.body)
						continue
					}
					done(after, true, got.header.Get("X-Cache"), time.Since(start))
				case 3:
					body := fmt.Sprintf(`{"id":"agent-a@example.com","job_title":"Job %d-%d"}`, w, i)
					got, err := v.tryRest(ownerA, "update_agent", body)
					if err != nil || got.status != 200 {
						st.fail("REST update_agent (after the kill: %v): %v %d %s", after, err, got.status, got.body)
						continue
					}
					done(after, false, "", time.Since(start))
				}
			}
		})
	}
	// A gRPC worker: the same read, over and over.
	msg := req(t, getAgent, sickSame.body)
	var (
		wantMsg proto.Message // the first answer; every other must equal it
		wantMu  sync.Mutex
	)
	wg.Go(func() {
		for !stopped() {
			after := killed.Load()
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			resp, header, err := v.rpc(ctx, ownerA, getAgent, msg)
			cancel()
			xcache := strings.Join(header.Get("x-cache"), ",")
			if err != nil {
				st.fail("gRPC get_agent (after the kill: %v): %v", after, err)
				continue
			}
			wantMu.Lock()
			if wantMsg == nil {
				wantMsg = resp
			} else if !proto.Equal(resp, wantMsg) {
				st.fail("gRPC get_agent (x-cache %q) = %v, want %v", xcache, resp, wantMsg)
			}
			wantMu.Unlock()
			if after && !uncached(xcache) {
				st.fail("gRPC get_agent after the kill: x-cache %q, want bypass or miss", xcache)
				continue
			}
			done(after, true, xcache, time.Since(start))
		}
	})

	// waitFor polls cond, under st.mu, for at most d.
	waitFor := func(d time.Duration, cond func() bool) bool {
		for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			st.mu.Lock()
			ok := cond()
			st.mu.Unlock()
			if ok {
				return true
			}
		}
		return false
	}
	if !waitFor(5*time.Second, func() bool { return st.total >= 40 && st.hitsBefore > 0 }) {
		st.mu.Lock()
		t.Fatalf("the load before the kill: %d requests, %d hits, failures %q; want 40 requests and some hits", st.total, st.hitsBefore, st.failures)
	}
	errorsBefore := v.cacheErrors("")
	callsBefore := v.readCalls()
	rs.Kill()
	killed.Store(true)
	if !waitFor(8*time.Second, func() bool { return st.readsAfter >= 100 && st.writesAfter >= 10 }) {
		st.mu.Lock()
		t.Errorf("the load after the kill: %d reads and %d writes in 8s, want 100 and 10 (failures: %q)", st.readsAfter, st.writesAfter, st.failures)
		st.mu.Unlock()
	}
	stopLoad()

	t.Logf("load: %d requests, %d hits before the kill; after it %d reads (%d answered upstream) and %d writes, the slowest in %v",
		st.total, st.hitsBefore, st.readsAfter, st.bypassAfter, st.writesAfter, st.slowestAfter)
	for _, f := range st.failures {
		t.Errorf("a request failed: %s", f)
	}
	if grew := v.readCalls() - callsBefore; st.bypassAfter == 0 || grew < int64(st.bypassAfter) {
		t.Errorf("after the kill the emulator's read counters grew by %d, for %d reads the upstream answered (X-Cache bypass or miss); want at least as many, and more than 0",
			grew, st.bypassAfter)
	}
	// A dead Redis refuses connections at once: no request has reason to wait on it.
	if st.slowestAfter > 3*time.Second {
		t.Errorf("a request after the kill took %v; a dead Redis must cost no wait", st.slowestAfter)
	}

	// One by one now: the same read is the upstream's each time, and right.
	for i := range 5 {
		before := v.calls(sickSame.name)
		got := v.rest(ownerA, sickSame.name, sickSame.body)
		if got.status != 200 || !uncached(got.header.Get("X-Cache")) || got.body != want.body {
			t.Errorf("read %d after the kill: %d X-Cache %q %s; want 200, bypass or miss, %s", i, got.status, got.header.Get("X-Cache"), got.body, want.body)
		}
		if n := v.calls(sickSame.name) - before; n != 1 {
			t.Errorf("read %d after the kill made %d upstream calls, want 1", i, n)
		}
	}
	_, header, err := v.rpc(context.Background(), ownerA, getAgent, msg)
	if xc := strings.Join(header.Get("x-cache"), ","); err != nil || !uncached(xc) {
		t.Errorf("gRPC read after the kill: %v, x-cache %q; want OK and bypass or miss", err, xc)
	}
	// A write still lands, and the next read shows it.
	if w := v.rest(ownerA, "update_agent", `{"id":"agent-a@example.com","job_title":"After the kill"}`); w.status != 200 {
		t.Errorf("a write after the kill: %d %s", w.status, w.body)
	}
	if got := v.rest(ownerA, "get_agent", `{"id":"agent-a@example.com","fields":["job_title"]}`); !strings.Contains(got.body, `"job_title":"After the kill"`) {
		t.Errorf("the read after a write after the kill = %d %s (X-Cache %q), want the written job_title", got.status, got.body, got.header.Get("X-Cache"))
	}

	if n := v.cacheErrors(""); n <= errorsBefore {
		t.Errorf(`gateway_cache_reads_total{outcome="error"} = %d after the kill, %d before; want it to grow`, n, errorsBefore)
	} else {
		t.Logf(`gateway_cache_reads_total{outcome="error"}: %d before the kill, %d after`, errorsBefore, n)
	}
	// The warning is rate-limited (once per 10s), not logged once per failed call.
	if n := strings.Count(v.logs.String(), "cache store failed"); n < 1 || n > 2 {
		t.Errorf("the gateway logged %d store warnings in a few seconds of a dead Redis, want 1 or 2", n)
	}
}

// TestSickRedisRestarted: Redis is killed, the gateway serves from the upstream, and when Redis
// comes back on the same port, empty, hits come back without restarting the gateway, and writes
// invalidate again.
func TestSickRedisRestarted(t *testing.T) {
	rs := redistest.Server(t)
	v := newCachedEnv(t, rs.URL())
	want := warmRead(t, v, sickSame)

	rs.Kill()
	// Enough reads that go-redis's dial circuit breaker opens: after PoolSize failed dials
	// (10*GOMAXPROCS by default) it stops dialling and probes Redis once a second, so the
	// restart below must be noticed by that probe, not by a call's own dial.
	dead := 10*runtime.GOMAXPROCS(0) + 10
	for i := range dead {
		before := v.calls(sickSame.name)
		got := v.rest(ownerA, sickSame.name, sickSame.body)
		if got.status != 200 || !uncached(got.header.Get("X-Cache")) || got.body != want.body || v.calls(sickSame.name) != before+1 {
			t.Fatalf("read %d with Redis dead: %d X-Cache %q %s, %d upstream calls; want 200, bypass or miss, %s, 1 call",
				i, got.status, got.header.Get("X-Cache"), got.body, v.calls(sickSame.name)-before, want.body)
		}
	}

	rs.Restart()
	// go-redis reconnects lazily, on the next call; poll, within a bound, for the first hit.
	start := time.Now()
	var reads int
	for {
		got := v.rest(ownerA, sickSame.name, sickSame.body)
		reads++
		if got.status != 200 || got.body != want.body {
			t.Fatalf("read %d after the restart: %d %s, want 200 %s", reads, got.status, got.body, want.body)
		}
		if got.header.Get("X-Cache") == "hit" {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("no hit within 10s (%d reads) of Redis's restart; the last read said X-Cache %q", reads, got.header.Get("X-Cache"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%d reads with Redis dead; the first hit after the restart came after %v, on read %d", dead, time.Since(start), reads)

	// Hits now, and the upstream counter stands still, over REST and gRPC alike.
	before := v.calls(sickSame.name)
	for i := range 10 {
		if got := v.rest(ownerA, sickSame.name, sickSame.body); got.status != 200 || got.header.Get("X-Cache") != "hit" || got.body != want.body {
			t.Errorf("read %d after the first hit: %d X-Cache %q %s, want 200 hit %s", i, got.status, got.header.Get("X-Cache"), got.body, want.body)
		}
	}
	a := testutil.Action(t, "get_agent")
	if _, header, err := v.rpc(context.Background(), ownerA, a, req(t, a, sickSame.body)); err != nil || strings.Join(header.Get("x-cache"), ",") != "hit" {
		t.Errorf("gRPC read after the restart: %v, x-cache %v; want OK and hit", err, header.Get("x-cache"))
	}
	if n := v.calls(sickSame.name) - before; n != 0 {
		t.Errorf("11 reads after caching resumed made %d upstream calls, want 0", n)
	}

	// Writes invalidate again: a cached read, a write, and the next read shows it.
	agent := sickRead{"get_agent", `{"id":"agent-a@example.com","fields":["job_title"]}`}
	warmRead(t, v, agent)
	if w := v.rest(ownerA, "update_agent", `{"id":"agent-a@example.com","job_title":"Restarted"}`); w.status != 200 {
		t.Fatalf("write after the restart: %d %s", w.status, w.body)
	}
	if got := v.rest(ownerA, agent.name, agent.body); !strings.Contains(got.body, `"job_title":"Restarted"`) || got.header.Get("X-Cache") != "miss" {
		t.Errorf("the read after a write after the restart = %s (X-Cache %q), want a miss showing the written job_title", got.body, got.header.Get("X-Cache"))
	}
}

// slowProxy is a TCP proxy to Redis that, while slow is set, holds each chunk Redis sends for
// delay before passing it on: a Redis that is up and answers, but late. What clients send goes
// through at once, so Redis does execute their commands.
type slowProxy struct {
	ln     net.Listener
	target string
	delay  time.Duration
	slow   atomic.Bool
	done   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
}

// newSlowProxy listens on a free 127.0.0.1 port and proxies to target until the test ends.
func newSlowProxy(t *testing.T, target string, delay time.Duration) *slowProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &slowProxy{ln: ln, target: target, delay: delay, done: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.serve)
	t.Cleanup(p.close)
	return p
}

// URL is a REDIS_URL that goes through the proxy.
func (p *slowProxy) URL() string { return "redis://" + p.ln.Addr().String() + "/0" }

func (p *slowProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.wg.Go(func() { p.handle(c) })
	}
}

// track remembers c for close, or closes it at once when the proxy is closing.
func (p *slowProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		c.Close()
		return false
	default:
		p.conns[c] = struct{}{}
		return true
	}
}

func (p *slowProxy) handle(client net.Conn) {
	if !p.track(client) {
		return
	}
	server, err := net.DialTimeout("tcp", p.target, time.Second)
	if err != nil {
		client.Close()
		return
	}
	if !p.track(server) {
		client.Close()
		return
	}
	// Either direction ending ends both.
	var once sync.Once
	end := func() {
		once.Do(func() {
			client.Close()
			server.Close()
			p.mu.Lock()
			delete(p.conns, client)
			delete(p.conns, server)
			p.mu.Unlock()
		})
	}
	p.wg.Go(func() {
		defer end()
		io.Copy(server, client)
	})
	defer end()
	buf := make([]byte, 32<<10)
	for {
		n, err := server.Read(buf)
		if n > 0 {
			if p.slow.Load() {
				select {
				case <-time.After(p.delay):
				case <-p.done:
					return
				}
			}
			if _, werr := client.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *slowProxy) close() {
	p.mu.Lock()
	close(p.done)
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}

// TestSickRedisSlow: with a Redis that answers seconds late, reads take no longer than the Redis
// timeouts plus the upstream's time: the gateway does not wait on the slow Redis, and answers
// right. When Redis is quick again, caching resumes.
func TestSickRedisSlow(t *testing.T) {
	const (
		upstreamLatency = 300 * time.Millisecond
		proxyDelay      = 3 * time.Second
		// allowance is what a read may take beyond the upstream's latency. A read with a slow
		// Redis makes at most three store calls on its caller's path, each bounded by the Redis
		// store's 100ms per-call Timeout (socket timeouts 50ms): the Lookup of generation and
		// entry (which, failing, sends the read straight upstream), the flight's second Lookup,
		// and the Set, which the flight makes after the upstream answers and before it hands
		// the answer to its waiters, so a slow Set delays the caller too. That is at most
		// 300ms; the rest is slack for -race on a busy machine, and still far below the
		// proxy's 3s delay, which a read that waited on Redis would take.
		allowance = time.Second
	)
	rs := redistest.Server(t)
	proxy := newSlowProxy(t, rs.Addr(), proxyDelay)

	e, err := emulator.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SetFault("get_agent", emulator.Fault{Latency: upstreamLatency}); err != nil {
		t.Fatal(err)
	}
	// slowOnUpstream makes Redis slow the moment the upstream gets a call: after the read's
	// Lookups, before its Set.
	var slowOnUpstream atomic.Bool
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slowOnUpstream.Load() {
			proxy.slow.Store(true)
		}
		e.ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	v := startGateway(t, up.URL, func(c *server.Config) { c.RedisURL = proxy.URL() })
	v.emu = e
	a := testutil.Action(t, "get_agent")

	// timed makes a REST read and checks it was the upstream's, right and quick enough.
	timed := func(what string, r sickRead, wantBody string) answer {
		t.Helper()
		before := v.calls(r.name)
		start := time.Now()
		got := v.rest(ownerA, r.name, r.body)
		el := time.Since(start)
		t.Logf("%s: %v, X-Cache %q", what, el, got.header.Get("X-Cache"))
		if got.status != 200 || (wantBody != "" && got.body != wantBody) {
			t.Errorf("%s: %d %s, want 200 %s", what, got.status, got.body, wantBody)
		}
		if !uncached(got.header.Get("X-Cache")) || v.calls(r.name) != before+1 {
			t.Errorf("%s: X-Cache %q, %d upstream calls; want bypass or miss and 1 call", what, got.header.Get("X-Cache"), v.calls(r.name)-before)
		}
		if el < upstreamLatency || el >= upstreamLatency+allowance {
			t.Errorf("%s took %v, want at least the upstream's %v and less than %v: a slow Redis must not be waited on",
				what, el, upstreamLatency, upstreamLatency+allowance)
		}
		return got
	}

	// Through the proxy, quick: the cache works.
	want := warmRead(t, v, sickSame)

	// Slow: the read that hit a moment ago is now the upstream's, in about its latency.
	proxy.slow.Store(true)
	errorsBefore := v.cacheErrors("get_agent")
	for i := range 3 {
		timed(fmt.Sprintf("slow Redis, the cached read, #%d", i), sickSame, want.body)
	}
	other := sickRead{"get_agent", `{"id":"agent-a@example.com","fields":["job_title"]}`}
	timed("slow Redis, another read", other, "")
	// gRPC alike.
	start := time.Now()
	_, header, err := v.rpc(context.Background(), ownerA, a, req(t, a, sickSame.body))
	el := time.Since(start)
	t.Logf("slow Redis, gRPC read: %v, x-cache %v", el, header.Get("x-cache"))
	if xc := strings.Join(header.Get("x-cache"), ","); err != nil || !uncached(xc) || el >= upstreamLatency+allowance {
		t.Errorf("slow Redis, gRPC read: %v, x-cache %q, in %v; want OK, bypass or miss, under %v", err, xc, el, upstreamLatency+allowance)
	}
	// A write (no injected latency) costs at most the failed generation bump, and lands.
	start = time.Now()
	w := v.rest(ownerA, "update_agent", `{"id":"agent-a@example.com","job_title":"Slow"}`)
	el = time.Since(start)
	t.Logf("slow Redis, write: %v", el)
	if w.status != 200 || el >= allowance {
		t.Errorf("slow Redis, write: %d %s in %v, want 200 under %v", w.status, w.body, el, allowance)
	}
	if got := timed("slow Redis, the read after the write", other, ""); !strings.Contains(got.body, `"job_title":"Slow"`) {
		t.Errorf("the read after the write = %s, want the written job_title", got.body)
	}
	if n := v.cacheErrors("get_agent"); n <= errorsBefore {
		t.Errorf(`gateway_cache_reads_total{action="get_agent",outcome="error"} = %d with a slow Redis, %d before; want it to grow`, n, errorsBefore)
	}

	// Redis turns slow between the read's Lookups and its Set, while the upstream works: the
	// read missed (Redis answered the Lookups), and the slow Set costs at most its timeout.
	proxy.slow.Store(false)
	slowOnUpstream.Store(true)
	errorsBefore = v.cacheErrors("get_agent")
	fresh := sickRead{"get_agent", `{"id":"owner-a@example.com","fields":["job_title"]}`}
	if got := timed("Redis slow from the upstream call on (a slow Set)", fresh, ""); got.header.Get("X-Cache") != "miss" {
		t.Errorf("the read before Redis turned slow: X-Cache %q, want miss (the Lookups answered)", got.header.Get("X-Cache"))
	}
	if n := v.cacheErrors("get_agent"); n <= errorsBefore {
		t.Errorf("the slow Set was not counted as a store error (%d, %d before)", n, errorsBefore)
	}
	slowOnUpstream.Store(false)

	// Quick again: caching resumes, without restarting the gateway.
	proxy.slow.Store(false)
	start = time.Now()
	for reads := 1; ; reads++ {
		got := v.rest(ownerA, sickSame.name, sickSame.body)
		if got.status != 200 || got.body != want.body {
			t.Fatalf("read %d after Redis recovered: %d %s, want 200 %s", reads, got.status, got.body, want.body)
		}
		if got.header.Get("X-Cache") == "hit" {
			t.Logf("the first hit after Redis recovered came after %v, on read %d", time.Since(start), reads)
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("no hit within 10s (%d reads) of Redis recovering; the last read said X-Cache %q", reads, got.header.Get("X-Cache"))
		}
	}
}
