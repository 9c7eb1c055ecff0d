//go:build faults

package faults

// The harness: the binaries, built once by TestMain; the emulator and gateway processes; gRPC
// and REST calls; the emulator's own endpoints; and what /proc says of the gateway.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/testutil/redistest"
)

// The emulator's built-in tokens (internal/emulator/builtin.json).
const (
	ownerA = "dal:owner-a"
	ownerB = "dal:owner-b"
	agentA = "owner-a@example.com" // dal:owner-a's agent
	agentB = "owner-b@example.com" // dal:owner-b's agent
)

// The binaries, built by TestMain into a directory it removes at the end.
var gatewayBin, emulatorBin string

// TestMain builds cmd/gateway and cmd/livechat-emulator once, without -race: the memory and
// descriptor figures must be those of the binary that runs in production.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gateway-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	gatewayBin, emulatorBin = filepath.Join(dir, "gateway"), filepath.Join(dir, "livechat-emulator")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, b := range []struct{ out, pkg string }{
		{gatewayBin, "github.com/livechat-gateway/gateway/cmd/gateway"},
		{emulatorBin, "github.com/livechat-gateway/gateway/cmd/livechat-emulator"},
	} {
		wg.Go(func() {
			if out, err := exec.Command("go", "build", "-o", b.out, b.pkg).CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
			}
		})
	}
	wg.Wait()
	code := 1
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// figure logs one figure of the run in the form docs/reliability.md copies.
func figure(t *testing.T, name string, format string, args ...any) {
	t.Helper()
	t.Logf("FIGURE %s: %s", name, fmt.Sprintf(format, args...))
}

// tail returns the end of a process's output, for a failure message.
func tail(s string) string {
	const n = 3000
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// proc is a child process whose output is collected.
type proc struct {
	cmd    *exec.Cmd
	out    *testutil.SyncBuffer
	exited chan struct{} // closed once cmd.Wait has returned
	err    error         // cmd.Wait's error, set before exited is closed
}

// startProc starts cmd with its output in a buffer. The kernel kills it if the test binary dies
// without running its cleanups.
func startProc(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{cmd: cmd, out: &testutil.SyncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p
}

// done reports whether the process has exited.
func (p *proc) done() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// stop sends sig and waits up to grace for the exit, then kills the process. It reports whether
// the process exited within grace.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) bool {
	p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
		return true
	case <-time.After(grace):
		p.cmd.Process.Kill()
		<-p.exited
		return false
	}
}

// emulator is a cmd/livechat-emulator process, which can be killed and started again on the
// same port.
type emulator struct {
	t    *testing.T
	args []string
	env  []string
	addr string // host:port, the same after a restart
	url  string
	p    *proc
	// client calls the emulator's own endpoints and its actions directly, on one kept-alive
	// connection: that connection is the one the emulator's connection counts hold besides the
	// gateway's, once the first call has opened it.
	client *http.Client
}

// startEmulator runs the emulator with args and extra environment variables on a free port, and
// kills it when the test ends.
func startEmulator(t *testing.T, env []string, args ...string) *emulator {
	t.Helper()
	e := &emulator{t: t, args: args, env: env}
	t.Cleanup(e.kill)
	if err := e.start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	return e
}

// start runs the emulator on addr and waits until it says where it listens.
func (e *emulator) start(addr string) error {
	cmd := exec.Command(emulatorBin, append([]string{"-addr", addr}, e.args...)...)
	cmd.Env = append(os.Environ(), e.env...)
	p := startProc(e.t, cmd)
	e.p = p
	var url string
	ok := testutil.WaitFor(10*time.Second, func() bool {
		for line := range strings.Lines(p.out.String()) {
			if u, found := strings.CutPrefix(strings.TrimSpace(line), "listening on "); found {
				url = u
			}
		}
		return url != "" || p.done()
	})
	if !ok || url == "" {
		p.stop(syscall.SIGKILL, 0)
		return fmt.Errorf("the emulator did not listen on %s: %v\n%s", addr, p.err, tail(p.out.String()))
	}
	e.url, e.addr = url, strings.TrimPrefix(url, "http://")
	if e.client != nil {
		e.client.CloseIdleConnections()
	}
	e.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1}}
	return nil
}

// kill ends the emulator with SIGKILL, as a crash would, and waits for its exit.
func (e *emulator) kill() {
	if e.p != nil && !e.p.done() {
		e.p.stop(syscall.SIGKILL, 0)
	}
}

// restart starts the emulator again on the port it had, once the port is free again (the
// killed process's socket may linger for a moment).
func (e *emulator) restart() {
	e.t.Helper()
	e.kill()
	var err error
	free := func() bool {
		ln, lerr := net.Listen("tcp", e.addr)
		if lerr != nil {
			return false
		}
		ln.Close()
		return true
	}
	for range 3 { // another process may take the port between the check and the start
		if !testutil.WaitFor(10*time.Second, free) {
			e.t.Fatalf("the emulator's port %s did not come free", e.addr)
		}
		if err = e.start(e.addr); err == nil {
			return
		}
	}
	e.t.Fatalf("restarting the emulator on %s: %v", e.addr, err)
}

// admin calls one of the emulator's own endpoints and returns its answer, which must be 200.
func (e *emulator) admin(method, path, body string) []byte {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("emulator %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		e.t.Fatalf("emulator %s %s %s: %d %s %v", method, path, body, resp.StatusCode, b, err)
	}
	return b
}

// emuStats is GET /emulator/stats.
type emuStats struct {
	Calls       map[string]int64 `json:"calls"`
	Connections struct {
		Open int `json:"open"`
		Peak int `json:"peak"`
	} `json:"connections"`
}

func (e *emulator) stats() emuStats {
	e.t.Helper()
	var s emuStats
	if err := json.Unmarshal(e.admin(http.MethodGet, "/emulator/stats", ""), &s); err != nil {
		e.t.Fatalf("/emulator/stats: %v", err)
	}
	return s
}

// totalCalls returns the emulator's count of action calls, all actions together.
func (e *emulator) totalCalls() int64 {
	e.t.Helper()
	var n int64
	for _, c := range e.stats().Calls {
		n += c
	}
	return n
}

// reset sets the emulator's call counters to 0 and its connection peak to the open ones.
func (e *emulator) reset() { e.admin(http.MethodPost, "/emulator/reset", "") }

// fault sets a fault, as POST /emulator/faults takes it.
func (e *emulator) fault(body string) { e.admin(http.MethodPost, "/emulator/faults", body) }

// direct calls an action of the emulator itself, not through the gateway, and returns the status
// and body.
func (e *emulator) direct(token, action, body string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, e.url+"/v3.2/configuration/action/"+action, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// gateway is a cmd/gateway process.
type gateway struct {
	t        *testing.T
	p        *proc
	pid      int
	grpcAddr string
	httpURL  string
	// conn is a gRPC connection for the test's calls.
	conn *grpc.ClientConn
}

// gwConfig is how a test starts the gateway.
type gwConfig struct {
	upstream string   // LIVECHAT_API_URL
	redis    string   // REDIS_URL; "" for the in-process store
	env      []string // more variables, which win over the defaults
	// ulimitN, when above 0, starts the gateway under `ulimit -n ulimitN` (soft and hard).
	ulimitN int
}

// startGateway runs the gateway binary as c says, with both listeners on 127.0.0.1:0, no drain
// delay and a 5s shutdown timeout unless c.env says otherwise. It finds the ports in the
// "gateway serving" log line and waits until /readyz says ready. When the test ends, the gateway
// gets SIGTERM and must exit 0 within 15s.
func startGateway(t *testing.T, c gwConfig) *gateway {
	t.Helper()
	secret := make([]byte, 16)
	rand.Read(secret)
	env := append(os.Environ(),
		"GATEWAY_GRPC_ADDR=127.0.0.1:0",
		"GATEWAY_HTTP_ADDR=127.0.0.1:0",
		"LIVECHAT_API_URL="+c.upstream,
		"REDIS_URL="+c.redis,
		"CACHE_KEY_SECRET="+hex.EncodeToString(secret),
		"GATEWAY_DRAIN_DELAY=0",
		"GATEWAY_SHUTDOWN_TIMEOUT=5s",
		"LOG_LEVEL=info",
	)
	cmd := exec.Command(gatewayBin)
	if c.ulimitN > 0 {
		// exec keeps the pid: the process that sh started is the gateway.
		cmd = exec.Command("sh", "-c", `ulimit -n `+strconv.Itoa(c.ulimitN)+` && exec "$0"`, gatewayBin)
	}
	cmd.Env = append(env, c.env...)
	g := &gateway{t: t, p: startProc(t, cmd)}
	g.pid = cmd.Process.Pid
	t.Cleanup(func() {
		if g.p.done() {
			return // the test stopped it, and checked how
		}
		if !g.p.stop(syscall.SIGTERM, 15*time.Second) {
			t.Errorf("the gateway did not stop within 15s of SIGTERM:\n%s", tail(g.p.out.String()))
		} else if g.p.err != nil {
			t.Errorf("the gateway exited with %v after SIGTERM, want 0:\n%s", g.p.err, tail(g.p.out.String()))
		}
	})

	var serving struct{ Msg, GRPC, HTTP string }
	ok := testutil.WaitFor(10*time.Second, func() bool {
		for line := range strings.Lines(g.p.out.String()) {
			var l struct{ Msg, GRPC, HTTP string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "gateway serving" {
				serving = l
			}
		}
		return serving.HTTP != "" || g.p.done()
	})
	if !ok || serving.HTTP == "" {
		t.Fatalf("the gateway did not serve (%v):\n%s", g.p.err, tail(g.p.out.String()))
	}
	g.grpcAddr, g.httpURL = serving.GRPC, "http://"+serving.HTTP
	if !testutil.WaitFor(10*time.Second, func() bool { return g.get("/readyz") == http.StatusOK }) {
		t.Fatalf("the gateway did not become ready:\n%s", tail(g.p.out.String()))
	}
	g.conn = dial(t, g.grpcAddr)
	return g
}

// logs returns what the gateway wrote so far.
func (g *gateway) logs() string { return g.p.out.String() }

// probeClient makes the test's probes of /healthz and /readyz, each on a connection of its own.
var probeClient = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// get returns the status of GET path on the gateway's HTTP port, or 0 if it did not answer.
func (g *gateway) get(path string) int {
	resp, err := probeClient.Get(g.httpURL + path)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// metrics returns the gateway's /metrics page.
func (g *gateway) metrics() string {
	g.t.Helper()
	resp, err := probeClient.Get(g.httpURL + "/metrics")
	if err != nil {
		g.t.Fatalf("/metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		g.t.Fatalf("/metrics: %v", err)
	}
	return string(b)
}

// metricSum adds up the samples of the metric name on a /metrics page whose labels hold each of
// labels (such as `code="OK"`).
func metricSum(page, name string, labels ...string) int64 {
	var sum int64
	for line := range strings.Lines(page) {
		rest, ok := strings.CutPrefix(line, name+"{")
		if !ok {
			continue
		}
		lbl, value, ok := strings.Cut(rest, "} ")
		if !ok || !allIn(lbl, labels) {
			continue
		}
		n, _ := strconv.ParseFloat(strings.TrimSpace(value), 64)
		sum += int64(n)
	}
	return sum
}

// callsCounted sums the calls counted on /metrics page whose labels include every one of
// labels: those the gRPC servers handled (grpc_server_handled_total, both surfaces, health
// checks aside) and those the REST surface refused itself (gateway_rest_refused_total).
func callsCounted(page string, labels ...string) int64 {
	api := append([]string{`grpc_service="livechat.`}, labels...)
	return metricSum(page, "grpc_server_handled_total", api...) + metricSum(page, "gateway_rest_refused_total", labels...)
}

// callLine is the part of the gateway's call log line ("finished call") that tests read.
type callLine struct {
	Msg     string
	Service string `json:"grpc.service"`
	Method  string `json:"grpc.method"`
	Code    string `json:"grpc.code"`
	TimeMS  string `json:"grpc.time_ms"`
}

// isCall reports whether line is a call log line, and decodes it into l.
func isCall(line string, l *callLine) bool {
	return json.Unmarshal([]byte(line), l) == nil && l.Msg == "finished call"
}

func allIn(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// rss returns the gateway's resident memory now (VmRSS) and at its peak (VmHWM), in bytes.
func (g *gateway) rss() (now, peak int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", g.pid))
	if err != nil {
		return 0, 0
	}
	kB := func(key string) int64 {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, key+":"); ok {
				n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				return n << 10
			}
		}
		return 0
	}
	return kB("VmRSS"), kB("VmHWM")
}

// fds returns how many file descriptors the gateway has open.
func (g *gateway) fds() int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", g.pid))
	if err != nil {
		return 0
	}
	return len(ents)
}

// sockets returns how many of the gateway's file descriptors are TCP connections to port, from
// its own side: /proc/<pid>/fd names their inodes, /proc/<pid>/net/tcp{,6} their remote ports.
// A connection the gateway has closed is gone from it at once, where the peer may see it a moment
// later.
func (g *gateway) sockets(port string) int {
	inodes := map[string]bool{}
	dir := fmt.Sprintf("/proc/%d/fd", g.pid)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil {
			if ino, ok := strings.CutPrefix(l, "socket:["); ok {
				inodes[strings.TrimSuffix(ino, "]")] = true
			}
		}
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return 0
	}
	hexPort := fmt.Sprintf(":%04X", p)
	n := 0
	for _, table := range []string{"tcp", "tcp6"} {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", g.pid, table))
		for line := range strings.Lines(string(b)) {
			// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
			f := strings.Fields(line)
			if len(f) > 9 && strings.HasSuffix(f[2], hexPort) && f[3] == "01" && inodes[f[9]] {
				n++
			}
		}
	}
	return n
}

// sampler samples the gateway's RSS and descriptors until stop, which returns the peaks: the
// RSS peak is the kernel's own (VmHWM) when higher than any sample.
type sampler struct {
	stopc    chan struct{}
	done     chan struct{}
	peakRSS  int64
	peakFDs  int
	rssStart int64
}

func (g *gateway) sample() *sampler {
	s := &sampler{stopc: make(chan struct{}), done: make(chan struct{})}
	s.rssStart, _ = g.rss()
	go func() {
		defer close(s.done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			rss, hwm := g.rss()
			s.peakRSS = max(s.peakRSS, rss, hwm)
			s.peakFDs = max(s.peakFDs, g.fds())
			select {
			case <-s.stopc:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *sampler) stop() (peakRSS int64, peakFDs int) {
	close(s.stopc)
	<-s.done
	return s.peakRSS, s.peakFDs
}

// mb formats bytes as MB.
func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }

// dial opens a gRPC connection to addr, closed when the test ends.
func dial(t *testing.T, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// withToken returns ctx carrying the token as the call's authorization metadata, and more
// metadata pairs.
func withToken(ctx context.Context, token string, kv ...string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, append([]string{"authorization", "Bearer " + token}, kv...)...)
}

// errorInfo returns the ErrorInfo of a gRPC error, or nil.
func errorInfo(err error) *errdetails.ErrorInfo {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

// outcomeUnknown reports whether a failed gRPC write says it may have been applied: ErrorInfo
// write_outcome=unknown, or the caller's own deadline ended it.
func outcomeUnknown(err error) bool {
	if status.Code(err) == codes.DeadlineExceeded {
		return true
	}
	info := errorInfo(err)
	return info != nil && info.Metadata["write_outcome"] == "unknown"
}

// restClient makes the tests' REST calls; each test that needs connections of its own makes its
// own client.
var restClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// answer is a REST answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// post sends a REST call of action with token ("" for no Authorization header) and more header
// pairs ("Authorization" among them replaces the bearer one).
func post(ctx context.Context, client *http.Client, base, token, action, body string, hdr ...string) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v3.2/configuration/action/"+action, strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: b}, err
}

// upstreamError parses b as the upstream's error body, {"error":{"type":..,"message":..}} and
// nothing else at the top, with a non-empty type and a message, and returns the type and message.
func upstreamError(b []byte) (typ, msg string, err error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return "", "", fmt.Errorf("not a JSON object: %v", err)
	}
	if len(top) != 1 || top["error"] == nil {
		return "", "", fmt.Errorf("want exactly the key \"error\" at the top, got %d keys", len(top))
	}
	var e struct {
		Type    *string `json:"type"`
		Message *string `json:"message"`
	}
	if err := json.Unmarshal(top["error"], &e); err != nil {
		return "", "", fmt.Errorf("error is not an object of type and message: %v", err)
	}
	if e.Type == nil || *e.Type == "" || e.Message == nil {
		return "", "", errors.New("error lacks a type or a message")
	}
	return *e.Type, *e.Message, nil
}

// percentile returns the q-th quantile (0 to 1) of ds, by nearest rank.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// counter counts outcomes by name, safely from many goroutines, and keeps a few examples of each.
type counter struct {
	mu       sync.Mutex
	n        map[string]int
	examples map[string][]string
}

func newCounter() *counter { return &counter{n: map[string]int{}, examples: map[string][]string{}} }

func (c *counter) add(name string, example string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[name]++
	if len(c.examples[name]) < 3 && example != "" {
		c.examples[name] = append(c.examples[name], example)
	}
}

func (c *counter) get(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[name]
}

func (c *counter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.n {
		n += v
	}
	return n
}

// String lists the counts, sorted by name, with examples of each.
func (c *counter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b bytes.Buffer
	for _, k := range slices.Sorted(maps.Keys(c.n)) {
		fmt.Fprintf(&b, "%s=%d ", k, c.n[k])
		for _, ex := range c.examples[k] {
			fmt.Fprintf(&b, "[%s] ", ex)
		}
	}
	if b.Len() == 0 {
		return "none"
	}
	return strings.TrimSpace(b.String())
}

// stack is one gateway in front of one emulator, with its cache on one redis-server.
type stack struct {
	emu   *emulator
	redis *redistest.Instance
	gw    *gateway
}

// startStack starts a redis-server, the emulator with emuEnv and emuArgs, and the gateway in
// front of them with gwEnv.
func startStack(t *testing.T, emuEnv, emuArgs []string, gwEnv ...string) *stack {
	t.Helper()
	s := &stack{redis: redistest.Server(t), emu: startEmulator(t, emuEnv, emuArgs...)}
	s.gw = startGateway(t, gwConfig{upstream: s.emu.url, redis: s.redis.URL(), env: gwEnv})
	return s
}
