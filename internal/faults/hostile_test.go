//go:build faults

package faults

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/testutil/redistest"
)

const getAgentPath = "/livechat.configuration.v1.AgentService/GetAgent"

// TestHostileMetadata: gRPC calls with 1 MB of metadata are refused, not served, whether the
// client is grpc-go (which honours the limit the gateway advertises) or a hand-made HTTP/2 client
// that sends it anyway, 40 at once; the gateway's RSS stays bounded, and no call reaches the
// upstream.
func TestHostileMetadata(t *testing.T) {
	const (
		calls     = 40
		rssGrowth = 32 << 20
	)
	s := startStack(t, nil, nil)
	big := strings.Repeat("x", 1<<20)
	rawCall := func(id string, extra ...[2]string) (served bool, how string, err error) {
		msg, err := proto.Marshal(&pb.GetAgentRequest{Id: id})
		if err != nil {
			t.Fatal(err)
		}
		md := append([][2]string{{"authorization", "Bearer " + ownerA}}, extra...)
		return testutil.RawGRPCCall(s.gw.grpcAddr, getAgentPath, md, msg, 10*time.Second)
	}
	// The hand-made client works: a call with small metadata is served.
	if served, how, err := rawCall(agentA, [2]string{"x-small", "y"}); err != nil || !served {
		t.Fatalf("the hand-made HTTP/2 client's plain call: served %v (%s) %v", served, how, err)
	}
	s.emu.reset()

	// grpc-go, one call.
	ctx, cancel := context.WithTimeout(withToken(context.Background(), ownerA, "x-big", big), 10*time.Second)
	_, err := pb.NewAgentServiceClient(s.gw.conn).GetAgent(ctx, &pb.GetAgentRequest{Id: "metadata-grpc-go@example.com"})
	cancel()
	if err == nil {
		t.Errorf("a grpc-go call with 1 MB of metadata was served")
	}
	grpcGo := status.Code(err).String()

	// The hand-made client, 40 calls at once, each on a connection of its own.
	rssBefore, _ := s.gw.rss()
	samples := s.gw.sample()
	outcomes := newCounter()
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			served, how, err := rawCall(fmt.Sprintf("metadata-%d@example.com", i), [2]string{"x-big", big})
			switch {
			case err != nil:
				outcomes.add("error", err.Error())
			case served:
				outcomes.add("served", "")
			default:
				outcomes.add("refused", how)
			}
		})
	}
	wg.Wait()
	peakRSS, _ := samples.stop()
	upstream := s.emu.stats().Calls["get_agent"]

	figure(t, "1 MB of gRPC metadata", "grpc-go client: %s; 40 hand-made HTTP/2 calls at once: %v; %d reached the upstream", grpcGo, outcomes, upstream)
	figure(t, "1 MB of gRPC metadata, gateway RSS", "%s before, %s at peak", mb(rssBefore), mb(peakRSS))
	if n := outcomes.get("refused"); n != calls {
		t.Errorf("%d of %d calls with 1 MB of metadata were refused, want all: %v", n, calls, outcomes)
	}
	if upstream != 0 {
		t.Errorf("calls with 1 MB of metadata made %d upstream calls, want 0", upstream)
	}
	if peakRSS-rssBefore > rssGrowth {
		t.Errorf("40 calls with 1 MB of metadata took the gateway's RSS from %s to %s, want at most %s more", mb(rssBefore), mb(peakRSS), mb(rssGrowth))
	}
	// The gateway still serves.
	ctx, cancel = context.WithTimeout(withToken(context.Background(), ownerA), 10*time.Second)
	defer cancel()
	if _, err := pb.NewAgentServiceClient(s.gw.conn).GetAgent(ctx, &pb.GetAgentRequest{Id: agentA}); err != nil {
		t.Errorf("a plain call after the metadata calls: %v", err)
	}
}

// idleHolder opens and holds hostile connections to a gateway, and closes them when the test
// ends.
type idleHolder struct {
	t     *testing.T
	conns []net.Conn
	stop  chan struct{}
	wg    sync.WaitGroup
}

func newIdleHolder(t *testing.T) *idleHolder {
	h := &idleHolder{t: t, stop: make(chan struct{})}
	t.Cleanup(func() {
		close(h.stop)
		for _, c := range h.conns {
			c.Close()
		}
		h.wg.Wait()
	})
	return h
}

func (h *idleHolder) dial(addr string) net.Conn {
	h.t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		h.t.Fatalf("holding connection %d to %s: %v", len(h.conns)+1, addr, err)
	}
	h.conns = append(h.conns, c)
	return c
}

// plain holds a TCP connection that sends nothing.
func (h *idleHolder) plain(addr string) net.Conn { return h.dial(addr) }

// keptAlive holds a REST connection kept alive after one request, GET /healthz, and answered.
func (h *idleHolder) keptAlive(addr string) net.Conn {
	h.t.Helper()
	c := h.dial(addr)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n"); err != nil {
		h.t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		h.t.Fatalf("a kept-alive connection's request: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	c.SetDeadline(time.Time{})
	return c
}

// slowBody holds a REST request whose body of 100 bytes comes a byte a second.
func (h *idleHolder) slowBody(addr string) net.Conn {
	h.t.Helper()
	c := h.dial(addr)
	head := "POST /v3.2/configuration/action/list_groups HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer " + ownerA +
		"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
	if _, err := io.WriteString(c, head); err != nil {
		h.t.Fatal(err)
	}
	h.wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-tick.C:
				if _, err := io.WriteString(c, " "); err != nil {
					return
				}
			}
		}
	})
	return c
}

// TestIdleConnectionsLowUlimit: the gateway runs under `ulimit -n 256`. 190 connections are
// held: plain idle TCP to the REST port, REST connections kept alive after one request, REST
// requests whose body comes a byte a second, and idle TCP to the gRPC port. A new REST client and
// a new gRPC client are each served within 1s.
func TestIdleConnectionsLowUlimit(t *testing.T) {
	const limit = 256
	emu := startEmulator(t, nil)
	redis := redisServerFor(t)
	gw := startGateway(t, gwConfig{upstream: emu.url, redis: redis, ulimitN: limit})
	limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", gw.pid))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`Max open files\s+256\s+256`).Match(limits) {
		t.Fatalf("the gateway does not run with 256 open files at most:\n%s", limits)
	}
	httpAddr := strings.TrimPrefix(gw.httpURL, "http://")

	fdsBefore := gw.fds()
	h := newIdleHolder(t)
	for range 50 {
		h.plain(httpAddr)
	}
	for range 50 {
		h.keptAlive(httpAddr)
	}
	for range 40 {
		h.slowBody(httpAddr)
	}
	for range 50 {
		h.plain(gw.grpcAddr)
	}
	// The gateway has accepted them all (but for a few: fdsBefore may have counted a probe's
	// connection on its way out).
	if !testutil.WaitFor(5*time.Second, func() bool { return gw.fds() >= fdsBefore+185 }) {
		t.Fatalf("the gateway holds %d fds, %d before the 190 connections: it did not accept them", gw.fds(), fdsBefore)
	}
	held := gw.fds()

	// A new REST client.
	restNew := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	defer restNew.CloseIdleConnections()
	begin := time.Now()
	a, err := post(context.Background(), restNew, gw.httpURL, ownerA, "list_groups", `{}`)
	restTook := time.Since(begin)
	if err != nil || a.status != http.StatusOK {
		t.Errorf("a new REST client with 190 connections held: %d %s %v after %v", a.status, a.body, err, restTook)
	}
	// A new gRPC client, its dial included.
	begin = time.Now()
	conn := dial(t, gw.grpcAddr)
	ctx, cancel := context.WithTimeout(withToken(context.Background(), ownerA), 5*time.Second)
	defer cancel()
	_, err = pb.NewAgentServiceClient(conn).GetAgent(ctx, &pb.GetAgentRequest{Id: agentA})
	grpcTook := time.Since(begin)
	if err != nil {
		t.Errorf("a new gRPC client with 190 connections held: %v after %v", err, grpcTook)
	}
	figure(t, "190 idle connections under ulimit -n 256", "gateway fds %d (%d before); a new REST client served in %v, a new gRPC client in %v",
		held, fdsBefore, restTook.Round(time.Millisecond), grpcTook.Round(time.Millisecond))
	if restTook > time.Second || grpcTook > time.Second {
		t.Errorf("with 190 connections held, a new REST client took %v and a new gRPC client %v, want each within 1s", restTook, grpcTook)
	}
	if strings.Contains(gw.logs(), "too many open files") {
		t.Errorf("the gateway ran out of file descriptors:\n%s", tail(gw.logs()))
	}
}

// TestIdleConnectionsClosed: with short timeouts set (GATEWAY_HTTP_READ_HEADER_TIMEOUT,
// GATEWAY_HTTP_READ_TIMEOUT, GATEWAY_HTTP_IDLE_TIMEOUT, GATEWAY_GRPC_MAX_CONNECTION_IDLE), the
// gateway closes each kind of idle or slow connection by itself, so that they cannot pile up.
func TestIdleConnectionsClosed(t *testing.T) {
	const each = 10
	emu := startEmulator(t, nil)
	gw := startGateway(t, gwConfig{upstream: emu.url, redis: redisServerFor(t), env: []string{
		"GATEWAY_HTTP_READ_HEADER_TIMEOUT=1s", "GATEWAY_HTTP_READ_TIMEOUT=2s", "GATEWAY_HTTP_IDLE_TIMEOUT=1s",
		"GATEWAY_GRPC_MAX_CONNECTION_IDLE=1s",
	}})
	httpAddr := strings.TrimPrefix(gw.httpURL, "http://")
	h := newIdleHolder(t)
	begin := time.Now()
	type closing struct {
		kind string
		at   time.Duration // 0: still open
	}
	var (
		mu     sync.Mutex
		closes []closing
		wg     sync.WaitGroup
	)
	// watch reads c until the gateway closes it, within 10s.
	watch := func(kind string, c net.Conn) {
		wg.Go(func() {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err := io.Copy(io.Discard, c)
			var ne net.Error
			cl := closing{kind: kind, at: time.Since(begin)}
			if errors.As(err, &ne) && ne.Timeout() {
				cl.at = 0
			}
			mu.Lock()
			closes = append(closes, cl)
			mu.Unlock()
		})
	}
	for range each {
		watch("plain REST", h.plain(httpAddr))
		watch("kept-alive REST", h.keptAlive(httpAddr))
		watch("slow-body REST", h.slowBody(httpAddr))
	}
	// Idle gRPC connections: a client sees the gateway's GOAWAY as its connection leaving READY.
	var conns []*grpc.ClientConn
	for range each {
		conns = append(conns, readyConns(t, gw.grpcAddr, 1)...)
	}
	for _, c := range conns {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cl := closing{kind: "idle gRPC"}
			if c.WaitForStateChange(ctx, connectivity.Ready) {
				cl.at = time.Since(begin)
			}
			mu.Lock()
			closes = append(closes, cl)
			mu.Unlock()
		})
	}
	wg.Wait()

	latest := map[string]time.Duration{}
	open := newCounter()
	for _, c := range closes {
		if c.at == 0 {
			open.add(c.kind, "")
			continue
		}
		latest[c.kind] = max(latest[c.kind], c.at)
	}
	figure(t, "idle and slow connections closed by the gateway (timeouts 1s, read 2s)", "the last of %d after: plain REST %v, kept-alive REST %v, slow-body REST %v, idle gRPC %v; still open after 10s: %v",
		each, latest["plain REST"].Round(100*time.Millisecond), latest["kept-alive REST"].Round(100*time.Millisecond),
		latest["slow-body REST"].Round(100*time.Millisecond), latest["idle gRPC"].Round(100*time.Millisecond), open)
	if open.total() > 0 {
		t.Errorf("connections the gateway never closed within 10s: %v", open)
	}
}

// redisServerFor starts a redis-server for the test and returns its REDIS_URL.
func redisServerFor(t *testing.T) string { return redistest.Server(t).URL() }

// nested returns a JSON array nested depth levels deep: [[[...]]].
func nested(depth int) string { return strings.Repeat("[", depth) + strings.Repeat("]", depth) }

// nestedValue returns a Value of lists nested depth levels deep.
func nestedValue(depth int) *structpb.Value {
	v := structpb.NewListValue(&structpb.ListValue{})
	for range depth - 1 {
		v = structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{v}})
	}
	return v
}

// TestDeepNesting: a REST property value nested 5,000 levels deep is refused with a 4xx and the
// upstream's validation body, and over gRPC one nested 6,000 levels deep with INVALID_ARGUMENT;
// neither reaches the upstream, and both are logged as calls.
func TestDeepNesting(t *testing.T) {
	s := startStack(t, nil, nil)
	s.emu.reset()
	ns := "0805e283233042b37f460ed8fbf22160" // dal:owner-a's namespace
	callLines := func() int {
		n := 0
		for line := range strings.Lines(s.gw.logs()) {
			var l callLine
			if isCall(line, &l) {
				n++
			}
		}
		return n
	}
	linesBefore, countedBefore := callLines(), callsCounted(s.gw.metrics())

	body := `{"properties":{"` + ns + `":{"string_property":` + nested(5000) + `}}}`
	a, err := post(context.Background(), restClient, s.gw.httpURL, ownerA, "update_license_properties", body)
	if err != nil {
		t.Fatal(err)
	}
	typ, msg, shapeErr := upstreamError(a.body)
	if a.status < 400 || a.status > 499 || shapeErr != nil || typ != "validation" {
		t.Errorf("REST update_license_properties with a value nested 5,000 deep: %d %.300s, want 4xx with a validation body (%v)", a.status, a.body, shapeErr)
	}

	ctx, cancel := context.WithTimeout(withToken(context.Background(), ownerA), 10*time.Second)
	defer cancel()
	req := &pb.UpdateLicensePropertiesRequest{Properties: map[string]*structpb.Struct{
		ns: {Fields: map[string]*structpb.Value{"string_property": nestedValue(6000)}},
	}}
	_, err = pb.NewPropertyServiceClient(s.gw.conn).UpdateLicenseProperties(ctx, req, grpc.MaxCallSendMsgSize(64<<20))
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("gRPC UpdateLicenseProperties with a value nested 6,000 deep: %v, want INVALID_ARGUMENT", err)
	}
	calls := s.emu.stats().Calls["update_license_properties"]
	figure(t, "deep nesting", "REST 5,000 levels: %d %s (%.80s); gRPC 6,000 levels: %v; %d upstream calls",
		a.status, typ, msg, status.Code(err), calls)
	if calls != 0 {
		t.Errorf("the deeply nested requests made %d upstream calls, want 0", calls)
	}
	// Refused before the handler, they are still calls: logged, and counted.
	logged, counted := callLines()-linesBefore, callsCounted(s.gw.metrics())-countedBefore
	if logged != 2 || counted != 2 {
		t.Errorf("the two refused calls: %d call lines logged and %d counted, want 2 each", logged, counted)
	}
}

// bigConfig writes an emulator config with a license whose agents have job titles of 5 MiB and
// 9 MiB (just past UPSTREAM_MAX_ANSWER_BYTES' default of 8 MiB), and returns its path.
func bigConfig(t *testing.T) string {
	t.Helper()
	agent := func(id string, size int) json.RawMessage {
		b, _ := json.Marshal(map[string]any{"id": id, "name": "Big", "job_title": strings.Repeat("j", size)})
		return b
	}
	c := map[string]any{
		"licenses": []any{map[string]any{
			"id": "BIG", "region": "dal",
			"owner":  map[string]string{"id": "owner-big@example.com", "name": "Owner Big"},
			"agents": []json.RawMessage{agent("big5@example.com", 5<<20), agent("big9@example.com", 9<<20)},
		}},
		"tokens": []any{map[string]any{
			"token": "dal:big", "license": "BIG", "agent": "owner-big@example.com", "client_id": "big", "scopes": []string{"*"},
		}},
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestLargeAnswers: an upstream answer of 5 MiB is served over gRPC (the client's receive limit
// raised) and REST alike; one of 9 MiB, past UPSTREAM_MAX_ANSWER_BYTES, gets the same INTERNAL,
// REST 500 `internal`, over both, not 429, and is not retried.
func TestLargeAnswers(t *testing.T) {
	s := startStack(t, nil, []string{"-config", bigConfig(t)})
	agents := pb.NewAgentServiceClient(s.gw.conn)
	const token = "dal:big"
	getRPC := func(id string) (*pb.GetAgentResponse, error) {
		ctx, cancel := context.WithTimeout(withToken(context.Background(), token), 30*time.Second)
		defer cancel()
		return agents.GetAgent(ctx, &pb.GetAgentRequest{Id: id, Fields: []string{"job_title"}}, grpc.MaxCallRecvMsgSize(64<<20))
	}
	getREST := func(id string) (answer, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return post(ctx, restClient, s.gw.httpURL, token, "get_agent", `{"id":"`+id+`","fields":["job_title"]}`)
	}

	resp, err := getRPC("big5@example.com")
	if err != nil || len(resp.GetAgent().GetJobTitle()) != 5<<20 {
		t.Errorf("gRPC get_agent of a 5 MiB answer: %d bytes of job title, %v", len(resp.GetAgent().GetJobTitle()), err)
	}
	a, err := getREST("big5@example.com")
	var agent struct {
		JobTitle string `json:"job_title"`
	}
	if err != nil || a.status != http.StatusOK || json.Unmarshal(a.body, &agent) != nil || len(agent.JobTitle) != 5<<20 {
		t.Errorf("REST get_agent of a 5 MiB answer: %d, %d bytes of job title, %v; body %.200s", a.status, len(agent.JobTitle), err, a.body)
	}
	figure(t, "5 MiB upstream answer", "gRPC %v, REST %d (%d bytes)", status.Code(err), a.status, len(a.body))

	s.emu.reset()
	_, rpcErr := getRPC("big9@example.com")
	st := status.Convert(rpcErr)
	if st.Code() != codes.Internal {
		t.Errorf("gRPC get_agent of a 9 MiB answer: %v, want INTERNAL", rpcErr)
	}
	if info := errorInfo(rpcErr); info == nil || info.Reason != "internal" {
		t.Errorf("gRPC get_agent of a 9 MiB answer: ErrorInfo %v, want reason internal", info)
	}
	a, err = getREST("big9@example.com")
	typ, msg, shapeErr := upstreamError(a.body)
	if err != nil || a.status != http.StatusInternalServerError || shapeErr != nil || typ != "internal" {
		t.Errorf("REST get_agent of a 9 MiB answer: %d %.300s %v, want 500 internal (%v)", a.status, a.body, err, shapeErr)
	}
	if msg != st.Message() || !strings.Contains(strings.ToLower(msg), "large") {
		t.Errorf("a 9 MiB answer: REST says %q and gRPC %q, want the same message saying the answer is too large", msg, st.Message())
	}
	if a.header.Get("Retry-After") != "" {
		t.Errorf("REST get_agent of a 9 MiB answer has Retry-After %q: it is not retryable", a.header.Get("Retry-After"))
	}
	calls := s.emu.stats().Calls["get_agent"]
	figure(t, "9 MiB upstream answer (UPSTREAM_MAX_ANSWER_BYTES 8 MiB)", "gRPC %v %q, REST %d %s; %d upstream calls for 2 client calls", st.Code(), st.Message(), a.status, typ, calls)
	if calls != 2 {
		t.Errorf("two calls of a 9 MiB answer made %d upstream calls, want 2: a too-large answer is not retried", calls)
	}
}

// TestMalformedCredentials: an empty bearer token, a token without a scheme, another scheme and
// no credential at all are refused, REST 401 authentication and UNAUTHENTICATED, with no upstream
// call.
func TestMalformedCredentials(t *testing.T) {
	s := startStack(t, nil, nil)
	s.emu.reset()
	agents := pb.NewAgentServiceClient(s.gw.conn)
	const basic = "ZGFsOm93bmVyLWE6eA==" // dal:owner-a:x
	refusedBefore := callsCounted(s.gw.metrics(), `grpc_code="Unauthenticated"`)
	for _, c := range []struct{ name, value string }{
		// Go's HTTP client trims the header's trailing space: REST sends "Bearer".
		{"empty bearer", "Bearer "},
		{"no scheme", ownerA},
		{"basic", "Basic " + basic},
		{"none", ""},
	} {
		var hdr []string
		ctx := context.Background()
		if c.value != "" {
			hdr = []string{"Authorization", c.value}
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", c.value)
		}
		a, err := post(context.Background(), restClient, s.gw.httpURL, "", "get_agent", `{"id":"`+agentA+`"}`, hdr...)
		typ, _, shapeErr := upstreamError(a.body)
		if err != nil || a.status != http.StatusUnauthorized || shapeErr != nil || typ != "authentication" {
			t.Errorf("REST with %s credentials: %d %s %v, want 401 authentication (%v)", c.name, a.status, a.body, err, shapeErr)
		}
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = agents.GetAgent(ctx, &pb.GetAgentRequest{Id: agentA})
		cancel()
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("gRPC with %s credentials: %v, want UNAUTHENTICATED", c.name, err)
		}
	}
	calls := s.emu.totalCalls()
	// Each refusal is a call like any other: logged, without the token, and counted.
	refused := callsCounted(s.gw.metrics(), `grpc_code="Unauthenticated"`) - refusedBefore
	logged := 0
	for line := range strings.Lines(s.gw.logs()) {
		var l callLine
		if isCall(line, &l) && l.Code == "Unauthenticated" {
			logged++
		}
	}
	figure(t, "malformed credentials (empty bearer, no scheme, Basic, none) over REST and gRPC", "%d upstream calls for 8 calls; %d logged and %d counted as Unauthenticated",
		calls, logged, refused)
	if calls != 0 {
		t.Errorf("8 calls with malformed credentials made %d upstream calls, want 0", calls)
	}
	if logged != 8 || refused != 8 {
		t.Errorf("8 calls with malformed credentials: %d call lines logged Unauthenticated and %d counted, want 8 each", logged, refused)
	}
	if logs := s.gw.logs(); strings.Contains(logs, ownerA) || strings.Contains(logs, basic) {
		t.Errorf("the gateway logged a credential:\n%s", tail(logs))
	}
}
