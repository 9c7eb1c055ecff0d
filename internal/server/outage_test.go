package server_test

// Acceptance: "With Redis stopped (SIGSTOP, and killed), reads cost no Redis timeout after the
// breaker opens (assert on the store-call count, not on time), coalescing holds (N identical
// concurrent misses, 1 upstream call), and caching resumes after Redis returns."
//
// TestRedisOutageBinaries drives the real binaries: cmd/gateway (built here, with -race when the
// tests run with it) in front of cmd/livechat-emulator (built by TestMain), with its cache on a
// redis-server (redistest), each a process of its own, configured as in production, by the
// environment. Everything it asserts it reads where an operator would: /metrics, X-Cache, the
// gateway's log, and the emulator's /emulator/stats.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/livechat-gateway/gateway/internal/action"
	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/testutil/redistest"
)

// The gateway binary, built once per test binary by srGatewayBinary.
var (
	srGatewayOnce sync.Once
	srGatewayPath string
	srGatewayErr  error
)

// srGatewayBinary builds cmd/gateway, once, into the directory where TestMain built the emulator
// (and which it removes at the end), with -race when this test binary has it: the dependencies
// are then in the build cache already, and a data race in the gateway under the outage shows.
func srGatewayBinary(t *testing.T) string {
	t.Helper()
	srGatewayOnce.Do(func() {
		path := filepath.Join(filepath.Dir(emulatorBinary), "gateway")
		args := []string{"build", "-o", path}
		if srRaceEnabled() {
			args = append(args, "-race")
		}
		args = append(args, "github.com/livechat-gateway/gateway/cmd/gateway")
		if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
			srGatewayErr = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
			return
		}
		srGatewayPath = path
	})
	if srGatewayErr != nil {
		t.Fatal(srGatewayErr)
	}
	return srGatewayPath
}

// srRaceEnabled reports whether this test binary was built with -race.
func srRaceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// srTail returns the end of a process's output, for a failure message.
func srTail(s string) string {
	const n = 4000
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// srStartGatewayProcess runs the gateway binary in front of the upstream at upstreamURL with its
// cache on redisURL and both listeners on 127.0.0.1:0, finds the ports in its "gateway serving"
// log line, and waits until /readyz says it is ready. The env it returns has no in-process
// emulator (calls fails); its logs are the process's stderr. When the test ends, the gateway
// gets SIGTERM and must exit 0, having logged no token and, built with -race, no data race.
func srStartGatewayProcess(t *testing.T, upstreamURL, redisURL string) *env {
	t.Helper()
	bin := srGatewayBinary(t)
	secret := make([]byte, 16)
	rand.Read(secret)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"GATEWAY_GRPC_ADDR=127.0.0.1:0",
		"GATEWAY_HTTP_ADDR=127.0.0.1:0",
		"LIVECHAT_API_URL="+upstreamURL,
		"REDIS_URL="+redisURL,
		"CACHE_KEY_SECRET="+hex.EncodeToString(secret),
		"LOG_LEVEL=debug",
		"GATEWAY_SHUTDOWN_TIMEOUT=5s",
		"GATEWAY_DRAIN_DELAY=0s",
		// The outage is of the store that every read asks: the near cache, which answers hits
		// without asking it for up to CACHE_NEAR_LIVENESS, has its own outage test
		// (TestNearCacheReplicas).
		"CACHE_NEAR_MAX_BYTES=0",
	)
	cmd.SysProcAttr = srSysProcAttr()
	logs := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() {
		waitErr = cmd.Wait() // returns once the output is all in logs
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
			if waitErr != nil {
				t.Errorf("the gateway exited with %v after SIGTERM, want 0:\n%s", waitErr, srTail(logs.String()))
			}
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("the gateway did not stop within 15s of SIGTERM:\n%s", srTail(logs.String()))
		}
		checkNoTokens(t, logs.String())
		if strings.Contains(logs.String(), "DATA RACE") {
			t.Errorf("the gateway binary reported a data race:\n%s", logs.String())
		}
	})

	var serving struct{ Msg, GRPC, HTTP string }
	testutil.Eventually(t, "the gateway's \"gateway serving\" line", func() bool {
		select {
		case <-exited:
			t.Fatalf("the gateway exited before serving (%v):\n%s", waitErr, srTail(logs.String()))
		default:
		}
		for line := range strings.Lines(logs.String()) {
			var l struct{ Msg, GRPC, HTTP string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "gateway serving" {
				serving = l
			}
		}
		return serving.HTTP != ""
	})
	v := &env{t: t, emuURL: upstreamURL, httpURL: "http://" + serving.HTTP, logs: logs}
	waitReady(t, v.httpURL)
	v.conn = dialGRPC(t, serving.GRPC)
	t.Cleanup(func() { v.conn.Close() })
	return v
}

// srEmulator calls one of the emulator process's own endpoints and returns its answer.
func srEmulator(t *testing.T, emuURL, method, path, body string) []byte {
	t.Helper()
	r, err := http.NewRequest(method, emuURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json")
	resp, err := sickClient.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s %s: %d %s %v", method, path, body, resp.StatusCode, b, err)
	}
	return b
}

// srEmulatorCalls returns the emulator process's call count of action name.
func srEmulatorCalls(t *testing.T, emuURL, name string) int64 {
	t.Helper()
	var stats struct{ Calls map[string]int64 }
	if err := json.Unmarshal(srEmulator(t, emuURL, http.MethodGet, "/emulator/stats", ""), &stats); err != nil {
		t.Fatalf("/emulator/stats: %v", err)
	}
	return stats.Calls[name]
}

// srStoreCounts are the gateway's store errors, by op and reason, on one /metrics page.
type srStoreCounts struct{ page string }

func (v *env) srStore() srStoreCounts { return srStoreCounts{v.srMetrics()} }

// n returns gateway_cache_store_errors_total for op ("" for all) and reason.
func (c srStoreCounts) n(t *testing.T, op, reason string) int64 {
	labels := []string{"reason", reason}
	if op != "" {
		labels = append(labels, "op", op)
	}
	return srMetric(t, c.page, "gateway_cache_store_errors_total", labels...)
}

// srOutage is one way of taking Redis down and bringing it back.
type srOutage struct {
	name     string
	down, up func()
}

// TestRedisOutageBinaries: the real gateway, emulator and Redis, each a process. Redis is frozen
// (SIGSTOP, then SIGCONT), and then killed (SIGKILL, then restarted empty on the same port), under
// the one gateway, which is never restarted. Each time: once the breaker has opened, reads send
// nothing to Redis; identical concurrent misses make one upstream call; a write made while Redis
// is down is seen by every read after it; and when Redis is back, hits return.
func TestRedisOutageBinaries(t *testing.T) {
	rs := redistest.Server(t)
	emuURL := startEmulatorProcess(t)
	v := srStartGatewayProcess(t, emuURL, rs.URL())
	for _, o := range []srOutage{
		{"SIGSTOP", rs.Pause, rs.Resume},
		{"SIGKILL", rs.Kill, rs.Restart},
	} {
		start := time.Now()
		srRunOutage(t, v, emuURL, o)
		t.Logf("%s: the outage and the recovery took %v", o.name, time.Since(start).Round(time.Millisecond))
	}
}

// srRunOutage takes Redis down and back up as o says, and checks what the gateway does meanwhile.
func srRunOutage(t *testing.T, v *env, emuURL string, o srOutage) {
	agent := sickRead{"get_agent", `{"id":"agent-a@example.com","fields":["job_title"]}`}
	sameMsg := req(t, testutil.Action(t, sickSame.name), sickSame.body)

	// restRead and rpcRead make a read that must succeed, and return its answer and X-Cache. They
	// are safe in goroutines; they record failures with t.Errorf.
	restRead := func(r sickRead) (string, string, bool) {
		got, err := v.tryRest(ownerA, r.name, r.body)
		if err != nil || got.status != 200 {
			t.Errorf("%s: REST %s %s: %v %d %s", o.name, r.name, r.body, err, got.status, got.body)
			return "", "", false
		}
		return got.body, got.header.Get("X-Cache"), true
	}
	actions := map[string]*action.Action{}
	for _, r := range sickReads {
		actions[r.name] = testutil.Action(t, r.name)
	}
	rpcRead := func(r sickRead, msg proto.Message) (proto.Message, string, bool) {
		a := actions[r.name]
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, header, err := v.rpc(ctx, ownerA, a, msg)
		if err != nil {
			t.Errorf("%s: gRPC %s %s: %v", o.name, r.name, r.body, err)
			return nil, "", false
		}
		return resp, strings.Join(header.Get("x-cache"), ","), true
	}
	// warm reads r over REST until the cache answers it, and returns that answer.
	warm := func(r sickRead) string {
		t.Helper()
		for range srWarmReads + 1 {
			body, xc, ok := restRead(r)
			if !ok {
				t.FailNow()
			}
			if xc == "hit" {
				return body
			}
		}
		t.Fatalf("%s: %s %s with a healthy Redis: no hit in %d reads", o.name, r.name, r.body, srWarmReads+1)
		return ""
	}

	// Healthy: both reads are cached; the agent's is the answer before the outage.
	same := warm(sickSame)
	before := warm(agent)
	sameRPC, xc, ok := rpcRead(sickSame, sameMsg)
	if !ok || xc != "hit" {
		t.Fatalf("%s: gRPC %s with a healthy Redis: x-cache %q, want hit", o.name, sickSame.body, xc)
	}

	// Down. Read until the breaker has opened: until a lookup is skipped.
	base := v.srStore()
	opensBefore := srBreakerLogged(v.logs.String(), "open")
	downAt := time.Now()
	o.down()
	var (
		reads int
		took  []string // how long each read took
	)
	for v.srStore().n(t, "lookup", "skipped") == base.n(t, "lookup", "skipped") {
		if reads == srReadsToOpen {
			t.Errorf("%s: %d reads with Redis down, and no lookup skipped: every read still calls Redis, and pays its timeout; want the breaker open after %d failed calls",
				o.name, reads, srBreakerFailures)
			break
		}
		start := time.Now()
		if reads%2 == 0 {
			if body, xc, ok := restRead(sickSame); ok && (xc != "bypass" || body != same) {
				t.Errorf("%s: REST read %d with Redis down: X-Cache %q %s, want bypass %s", o.name, reads, xc, body, same)
			}
		} else if msg, xc, ok := rpcRead(sickSame, sameMsg); ok && (xc != "bypass" || !proto.Equal(msg, sameRPC)) {
			t.Errorf("%s: gRPC read %d with Redis down: x-cache %q %v, want bypass %v", o.name, reads, xc, msg, sameRPC)
		}
		took = append(took, time.Since(start).Round(100*time.Microsecond).String())
		reads++
	}
	toOpen := v.srStore()
	failedToOpen := toOpen.n(t, "", "failed") - base.n(t, "", "failed")
	if failedToOpen > srBreakerFailures {
		t.Errorf("%s: %d store calls reached the down Redis before the breaker opened, want at most %d", o.name, failedToOpen, srBreakerFailures)
	}
	// The breaker's cool-down began when it logged its opening; without that line (an error
	// above), when Redis went down.
	opened := downAt
	for deadline := time.Now().Add(5 * time.Second); reads < srReadsToOpen && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if srBreakerLogged(v.logs.String(), "open") > opensBefore {
			opened = srBreakerChangedAt(t, v.logs.String(), "open")
			break
		}
	}
	if opened == downAt && reads < srReadsToOpen {
		t.Errorf("%s: the gateway did not log its store breaker opening", o.name)
	}
	t.Logf("%s: the breaker opened after %d reads with Redis down, %d store calls of which reached it; the reads took %s",
		o.name, reads, failedToOpen, strings.Join(took, " "))

	// The breaker open: m reads, identical and different, over REST and gRPC, from a few
	// goroutines at once. Not one may reach Redis, but a probe once a cool-down has passed since
	// the breaker opened: every lookup is skipped, and costs no timeout.
	const m, workers = 50, 5
	type srRead struct {
		r    sickRead
		msg  proto.Message
		rest bool
	}
	load := make([]srRead, m)
	for k := range load {
		// k%4: 0 and 2 the repeated read, 1 and 3 the others; 0 and 1 over REST, 2 and 3 gRPC.
		load[k] = srRead{sickSame, sameMsg, k%4 < 2}
		if k%2 == 1 {
			r := sickReads[(k/4)%len(sickReads)]
			load[k].r, load[k].msg = r, req(t, actions[r.name], r.body)
		}
	}
	errorsBefore := srMetric(t, toOpen.page, "gateway_cache_reads_total", "outcome", "error")
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for k := w; k < m; k += workers {
				r, msg := load[k].r, load[k].msg
				if load[k].rest {
					if body, xc, ok := restRead(r); ok && (xc != "bypass" || (r == sickSame && body != same)) {
						t.Errorf("%s: REST %s %s with the breaker open: X-Cache %q %s, want bypass", o.name, r.name, r.body, xc, body)
					}
				} else if resp, xc, ok := rpcRead(r, msg); ok && (xc != "bypass" || (r == sickSame && !proto.Equal(resp, sameRPC))) {
					t.Errorf("%s: gRPC %s %s with the breaker open: x-cache %q %v, want bypass", o.name, r.name, r.body, xc, resp)
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	open := v.srStore()
	failed := open.n(t, "", "failed") - toOpen.n(t, "", "failed")
	lookupsFailed := open.n(t, "lookup", "failed") - toOpen.n(t, "lookup", "failed")
	lookupsSkipped := open.n(t, "lookup", "skipped") - toOpen.n(t, "lookup", "skipped")
	probes := srProbes(opened)
	t.Logf("%s: %d reads with the breaker open in %v: %d lookups skipped, %d store calls reached Redis (%d probes allowed, %v after it opened)",
		o.name, m, el.Round(time.Millisecond), lookupsSkipped, failed, probes, time.Since(opened).Round(time.Millisecond))
	if failed > probes {
		t.Errorf("%s: %d reads with the breaker open made %d store calls that reached the down Redis (%d of them lookups), each paying its timeout; want none, but the %d probes of the %v since the breaker opened",
			o.name, m, failed, lookupsFailed, probes, time.Since(opened).Round(time.Millisecond))
	}
	if lookupsSkipped+lookupsFailed != m || lookupsSkipped < m-probes {
		t.Errorf("%s: %d reads with the breaker open: %d lookups skipped and %d failed; want %d skipped (but the %d probes)",
			o.name, m, lookupsSkipped, lookupsFailed, m, probes)
	}
	if n := srMetric(t, open.page, "gateway_cache_reads_total", "outcome", "error") - errorsBefore; n != m {
		t.Errorf(`%s: %d reads with the breaker open added %d to gateway_cache_reads_total{outcome="error"}, want %d`, o.name, m, n, m)
	}

	// Coalescing with Redis down: n identical concurrent misses, half REST and half gRPC, make one
	// upstream call, which the emulator holds for a second so that all of them, on a busy machine
	// too, reach the gateway while it runs and join it.
	srEmulator(t, emuURL, http.MethodPost, "/emulator/faults", `{"action":"get_agent","latency":"1s","times":0}`)
	srEmulator(t, emuURL, http.MethodPost, "/emulator/reset", "")
	const n = 50
	var (
		gate = make(chan struct{})
		mu   sync.Mutex
		oks  int
	)
	for i := range n {
		wg.Go(func() {
			<-gate
			var good bool
			if i%2 == 0 {
				body, xc, ok := restRead(sickSame)
				good = ok && xc == "bypass" && body == same
				if ok && !good {
					t.Errorf("%s: a coalesced REST read: X-Cache %q %s, want bypass %s", o.name, xc, body, same)
				}
			} else {
				resp, xc, ok := rpcRead(sickSame, sameMsg)
				good = ok && xc == "bypass" && proto.Equal(resp, sameRPC)
				if ok && !good {
					t.Errorf("%s: a coalesced gRPC read: x-cache %q %v, want bypass %v", o.name, xc, resp, sameRPC)
				}
			}
			if good {
				mu.Lock()
				oks++
				mu.Unlock()
			}
		})
	}
	start = time.Now()
	close(gate)
	wg.Wait()
	calls := srEmulatorCalls(t, emuURL, "get_agent")
	srEmulator(t, emuURL, http.MethodDelete, "/emulator/faults", "")
	t.Logf("%s: %d identical concurrent reads with Redis down: %d right, %d upstream calls, in %v", o.name, n, oks, calls, time.Since(start).Round(time.Millisecond))
	if oks != n || calls != 1 {
		t.Errorf("%s: %d identical concurrent reads with Redis down: %d succeeded, with %d upstream calls; want all, with 1", o.name, n, oks, calls)
	}

	// A write with Redis down lands; its bump is owed, and the next read shows it.
	title := "Outage " + o.name
	wrote := fmt.Sprintf(`"job_title":%q`, title)
	bumps := v.srStore().n(t, "bump", "skipped") + v.srStore().n(t, "bump", "failed")
	if w := v.srRest(ownerA, "update_agent", fmt.Sprintf(`{"id":"agent-a@example.com","job_title":%q}`, title)); w.status != 200 {
		t.Fatalf("%s: a write with Redis down: %d %s", o.name, w.status, w.body)
	}
	if c := v.srStore(); c.n(t, "bump", "skipped")+c.n(t, "bump", "failed") == bumps {
		t.Errorf("%s: the write with Redis down did not count its bump as failed or skipped", o.name)
	}
	if body, xc, ok := restRead(agent); ok && (xc != "bypass" || !strings.Contains(body, wrote)) {
		t.Errorf("%s: the read after a write with Redis down: X-Cache %q %s, want bypass with %s", o.name, xc, body, wrote)
	}

	// Back up, the gateway untouched: hits return, and every read shows the write, never the
	// answer cached before it (which, after SIGCONT, Redis still holds under the old generation).
	closesBefore := srBreakerLogged(v.logs.String(), "closed")
	o.up()
	start = time.Now()
	for reads := 1; ; reads++ {
		body, xc, ok := restRead(agent)
		if !ok {
			t.FailNow()
		}
		if !strings.Contains(body, wrote) {
			t.Fatalf("%s: read %d after Redis came back: X-Cache %q %s, want the write (%s); before the outage it was %s", o.name, reads, xc, body, wrote, before)
		}
		if xc == "hit" {
			t.Logf("%s: the first hit after Redis came back came after %v, on read %d", o.name, time.Since(start).Round(time.Millisecond), reads)
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%s: no hit within 10s (%d reads) of Redis coming back; the last read said X-Cache %q", o.name, reads, xc)
		}
		time.Sleep(10 * time.Millisecond)
	}
	testutil.Eventually(t, o.name+": the gateway logged its store breaker closing", func() bool {
		return srBreakerLogged(v.logs.String(), "closed") > closesBefore
	})
	// Caching has resumed: the agent's read and, once cached again under the new generation, the
	// repeated one are hits over REST and gRPC, with no upstream call.
	warm(sickSame)
	srEmulator(t, emuURL, http.MethodPost, "/emulator/reset", "")
	for i := range 5 {
		if body, xc, ok := restRead(agent); ok && (xc != "hit" || !strings.Contains(body, wrote)) {
			t.Errorf("%s: REST read %d after caching resumed: X-Cache %q %s, want a hit with %s", o.name, i, xc, body, wrote)
		}
		if _, xc, ok := rpcRead(sickSame, sameMsg); ok && xc != "hit" {
			t.Errorf("%s: gRPC read %d after caching resumed: x-cache %q, want hit", o.name, i, xc)
		}
	}
	if calls := srEmulatorCalls(t, emuURL, "get_agent"); calls != 0 {
		t.Errorf("%s: 10 reads after caching resumed made %d upstream calls, want 0", o.name, calls)
	}
}
