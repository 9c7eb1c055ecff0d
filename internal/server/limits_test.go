package server_test

// In-process tests of issue 10's findings: one test per finding, each asserting on the behaviour
// a client sees. The fault suite (internal/faults) proves the same against the real binaries.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	configv1 "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
	"github.com/livechat-gateway/gateway/internal/emulator"
	"github.com/livechat-gateway/gateway/internal/server"
	"github.com/livechat-gateway/gateway/internal/service"
	"github.com/livechat-gateway/gateway/internal/testutil"
)

// ltWait bounds every wait of these tests for something that should happen within a fraction
// of it: generous for a loaded machine, short enough to fail fast.
const ltWait = 5 * time.Second

// TestLimitsMetadata: a gRPC call whose metadata is over GATEWAY_GRPC_MAX_HEADER_BYTES (16 KiB
// by default) is refused without reaching the upstream; one well under it is served. A grpc-go
// client refuses to send what the server's HTTP/2 settings forbid, so the server's own check is
// proved with a client that ignores them.
func TestLimitsMetadata(t *testing.T) {
	v := newEnv(t)
	a := testutil.Action(t, "get_agent")
	check := func(t *testing.T, call func(size int) (served bool)) {
		t.Helper()
		before := v.calls("get_agent")
		if call(64 << 10) {
			t.Errorf("a call with 64 KiB of metadata was served, want it refused")
		}
		if n := v.calls("get_agent") - before; n != 0 {
			t.Errorf("a call with 64 KiB of metadata reached the upstream %d times, want 0", n)
		}
		before = v.calls("get_agent")
		if !call(8 << 10) {
			t.Errorf("a call with 8 KiB of metadata was refused, want it served")
		}
		if n := v.calls("get_agent") - before; n != 1 {
			t.Errorf("a call with 8 KiB of metadata reached the upstream %d times, want 1", n)
		}
	}

	t.Run("grpc-go client", func(t *testing.T) {
		check(t, func(size int) bool {
			ctx, cancel := context.WithTimeout(context.Background(), ltWait)
			defer cancel()
			// no-cache: each call asks the upstream, so that a served call always reaches it.
			_, _, err := v.rpc(ctx, ownerA, a, req(t, a, `{"id":"owner-a@example.com"}`),
				"cache-control", "no-cache", "x-lt-big", strings.Repeat("m", size))
			if err != nil {
				t.Logf("%d bytes of metadata: %v", size, err)
			}
			return err == nil
		})
	})

	t.Run("client ignoring the server's settings", func(t *testing.T) {
		check(t, func(size int) bool {
			return ltRawHTTP2Call(t, v.g.GRPCAddr().String(), a.FullMethod(), &configv1.GetAgentRequest{Id: "owner-a@example.com"},
				"authorization", "Bearer "+ownerA, "cache-control", "no-cache", "x-lt-big", strings.Repeat("m", size))
		})
	})
}

// ltRawHTTP2Call makes one gRPC call of method with req and the metadata pairs md over a raw
// HTTP/2 connection to addr, which ignores every setting the server sends, and reports whether
// the server answered it.
func ltRawHTTP2Call(t *testing.T, addr, method string, req proto.Message, md ...string) (served bool) {
	t.Helper()
	msg, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var fields [][2]string
	for i := 0; i+1 < len(md); i += 2 {
		fields = append(fields, [2]string{md[i], md[i+1]})
	}
	served, how, err := testutil.RawGRPCCall(addr, method, fields, msg, ltWait)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bytes of metadata in all: served %v (%s)", len(md), served, how)
	return served
}

// TestLimitsIdleAndSlowConnections: with small HTTP timeouts, the REST listener closes a
// keep-alive connection left idle, one that sends its body slower than the read timeout, and
// one that sends nothing.
func TestLimitsIdleAndSlowConnections(t *testing.T) {
	const timeout = 300 * time.Millisecond
	v := newEmulatorEnv(t, func(c *server.Config) {
		c.HTTPIdleTimeout = timeout
		c.HTTPReadTimeout = timeout
		c.HTTPReadHeaderTimeout = timeout
	})
	addr := strings.TrimPrefix(v.httpURL, "http://")

	t.Run("idle keep-alive", func(t *testing.T) {
		conn := ltDial(t, addr)
		conn.SetDeadline(time.Now().Add(ltWait))
		if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(conn)
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("/healthz = %d (close %v), want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
		}
		ltClosed(t, "an idle keep-alive connection", conn, r)
	})

	t.Run("slow body", func(t *testing.T) {
		conn := ltDial(t, addr)
		conn.SetDeadline(time.Now().Add(ltWait))
		head := "POST /v3.2/configuration/action/get_agent HTTP/1.1\r\nHost: gateway\r\n" +
			"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
		if _, err := io.WriteString(conn, head); err != nil {
			t.Fatal(err)
		}
		// The body, one byte every 100ms: 100s for the whole of it. The ticker paces the
		// client's slowness, which is the input under test; nothing waits on it.
		stop := make(chan struct{})
		writerDone := make(chan struct{})
		go func() {
			defer close(writerDone)
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := conn.Write([]byte{' '}); err != nil {
						return
					}
				}
			}
		}()
		ltClosed(t, "a connection sending its body one byte at a time", conn, conn)
		close(stop)
		<-writerDone
	})

	t.Run("silent", func(t *testing.T) {
		conn := ltDial(t, addr)
		conn.SetDeadline(time.Now().Add(ltWait))
		ltClosed(t, "a connection that sends nothing", conn, conn)
	})
}

// ltDial opens a raw TCP connection to addr, closed when the test ends.
func ltDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, ltWait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// ltClosed reads r, conn's incoming side, until it ends, and fails the test unless the server
// closed the connection (EOF or a reset) before conn's read deadline. Whatever the server sends
// first, such as an error answer, is read and dropped.
func ltClosed(t *testing.T, what string, conn net.Conn, r io.Reader) {
	t.Helper()
	_, err := io.Copy(io.Discard, r) // nil at EOF
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("%s: still open after %v, want the server to close it", what, ltWait)
	} else if err != nil && !ltIsReset(err) {
		t.Errorf("%s: read failed with %v, want EOF or a reset", what, err)
	}
}

// ltIsReset reports whether err is the connection being reset or closed under a read.
func ltIsReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// ltUpstream is an upstream that holds every call until released, and records the most
// connections it had open at once.
type ltUpstream struct {
	srv     *httptest.Server
	arrived chan string // the body of each call, as it arrives
	calls   atomic.Int64

	release     chan struct{}
	releaseOnce sync.Once

	conns emulator.Conns // the connections it has open
}

// ltNewUpstream starts an ltUpstream; it answers each call, once released, with a get_agent
// answer for the id of the call's body.
func ltNewUpstream(t *testing.T) *ltUpstream {
	t.Helper()
	u := &ltUpstream{arrived: make(chan string, 100), release: make(chan struct{})}
	u.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		u.arrived <- string(body)
		select {
		case <-u.release:
		case <-r.Context().Done():
			return
		}
		var in struct {
			ID string `json:"id"`
		}
		json.Unmarshal(body, &in)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":%q,"name":"Agent"}`, in.ID)
	}))
	u.srv.Config.ConnState = u.conns.ConnState
	u.srv.Start()
	t.Cleanup(u.srv.Close)
	return u
}

// releaseAll lets every call, held or to come, be answered.
func (u *ltUpstream) releaseAll() { u.releaseOnce.Do(func() { close(u.release) }) }

func (u *ltUpstream) mostOpen() int { return u.conns.Stats().Peak }

// ltCheckShed fails the test unless err is a shed call: RESOURCE_EXHAUSTED, with ErrorInfo
// reason too_many_requests and RetryInfo 1s.
func ltCheckShed(t *testing.T, what string, err error) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted || errorInfo(st).GetReason() != "too_many_requests" || service.RetryDelay(st) != time.Second {
		t.Errorf("%s = %v (ErrorInfo %v, retry %v), want RESOURCE_EXHAUSTED too_many_requests with RetryInfo 1s",
			what, err, errorInfo(st), service.RetryDelay(st))
	}
}

// ltGetAgent calls get_agent of id with token over v's gRPC connection.
func ltGetAgent(v *env, token, id string) error {
	a := testutil.Action(v.t, "get_agent")
	ctx, cancel := context.WithTimeout(context.Background(), 3*ltWait)
	defer cancel()
	_, _, err := v.rpc(ctx, token, a, &configv1.GetAgentRequest{Id: id})
	return err
}

// TestLimitsUpstreamShedding: with the upstream hanging, the gateway admits at most
// UPSTREAM_MAX_CONNS + UPSTREAM_MAX_WAITING calls, opens at most UPSTREAM_MAX_CONNS
// connections, and sheds the rest at once with too_many_requests, over gRPC and REST; one
// credential cannot take more than UPSTREAM_MAX_CONCURRENT_PER_CREDENTIAL.
func TestLimitsUpstreamShedding(t *testing.T) {
	t.Run("all calls", func(t *testing.T) {
		up := ltNewUpstream(t)
		v := startGateway(t, up.srv.URL, func(c *server.Config) {
			c.UpstreamMaxConns, c.UpstreamMaxWaiting, c.UpstreamMaxPerCredential = 2, 2, 4
		})
		t.Cleanup(up.releaseAll) // before the gateway stops, should the test end early

		const n, admitted = 10, 4
		results := make(chan error, n)
		for i := range n {
			// Distinct ids: identical reads would share one upstream call.
			go func() { results <- ltGetAgent(v, ownerA, fmt.Sprintf("lt-%d@example.com", i)) }()
		}
		// The shed calls answer while the admitted ones are still held upstream.
		for i := range n - admitted {
			ltCheckShed(t, "a call past the limit", testutil.Recv(t, fmt.Sprintf("shed call %d of %d", i+1, n-admitted), results))
		}
		for i := range 2 {
			testutil.Recv(t, fmt.Sprintf("upstream call %d of 2", i+1), up.arrived)
		}

		got := v.rest(ownerA, "get_agent", `{"id":"lt-rest@example.com"}`)
		var body struct {
			Error struct {
				Type    string `json:"type"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(got.body), &body); err != nil || got.status != http.StatusTooManyRequests ||
			got.header.Get("Retry-After") != "1" || body.Error.Type != "too_many_requests" || body.Error.Message == "" {
			t.Errorf("REST past the limit = %d Retry-After %q %s, want 429 with Retry-After: 1 and a too_many_requests body",
				got.status, got.header.Get("Retry-After"), got.body)
		}

		up.releaseAll()
		for i := range admitted {
			if err := testutil.Recv(t, fmt.Sprintf("admitted call %d of %d", i+1, admitted), results); err != nil {
				t.Errorf("an admitted call = %v, want it served once the upstream answered", err)
			}
		}
		if got := up.calls.Load(); got != admitted {
			t.Errorf("the upstream got %d calls, want %d (the admitted ones)", got, admitted)
		}
		if got := up.mostOpen(); got > 2 {
			t.Errorf("the upstream had %d connections open at once, want at most UPSTREAM_MAX_CONNS=2", got)
		}
	})

	t.Run("per credential", func(t *testing.T) {
		up := ltNewUpstream(t)
		v := startGateway(t, up.srv.URL, func(c *server.Config) {
			c.UpstreamMaxConns, c.UpstreamMaxPerCredential = 4, 1
		})
		t.Cleanup(up.releaseAll)

		first := make(chan error, 1)
		go func() { first <- ltGetAgent(v, ownerA, "lt-a1@example.com") }()
		testutil.Recv(t, "the first call of owner-a upstream", up.arrived)

		ltCheckShed(t, "a second concurrent call of owner-a", ltGetAgent(v, ownerA, "lt-a2@example.com"))

		other := make(chan error, 1)
		go func() { other <- ltGetAgent(v, ownerB, "lt-b1@example.com") }()
		testutil.Recv(t, "owner-b's call upstream while owner-a's is in flight", up.arrived)

		up.releaseAll()
		for what, ch := range map[string]chan error{"owner-a's first call": first, "owner-b's call": other} {
			if err := testutil.Recv(t, what, ch); err != nil {
				t.Errorf("%s = %v, want it served", what, err)
			}
		}
		if got := up.calls.Load(); got != 2 {
			t.Errorf("the upstream got %d calls, want 2", got)
		}
	})
}

// ltDeepJSON returns a JSON object n levels deep.
func ltDeepJSON(n int) string {
	return strings.Repeat(`{"k":`, n) + `1` + strings.Repeat(`}`, n)
}

// ltDeepProperties returns an update_license_properties request whose JSON is n levels deep:
// the body, properties, the namespace ns, and n-3 levels of property p's value.
func ltDeepProperties(n int) *configv1.UpdateLicensePropertiesRequest {
	s := &structpb.Struct{Fields: map[string]*structpb.Value{"k": structpb.NewNumberValue(1)}}
	for range n - 4 {
		s = &structpb.Struct{Fields: map[string]*structpb.Value{"k": structpb.NewStructValue(s)}}
	}
	return &configv1.UpdateLicensePropertiesRequest{Properties: map[string]*structpb.Struct{
		"ns": {Fields: map[string]*structpb.Value{"p": structpb.NewStructValue(s)}},
	}}
}

// TestLimitsDeepNesting: a request nested deeper than GATEWAY_MAX_JSON_DEPTH (64) is refused as
// validation without an upstream call, however deep, over REST and gRPC; one within it is served.
func TestLimitsDeepNesting(t *testing.T) {
	v := newEnv(t)
	a := testutil.Action(t, "update_license_properties")

	t.Run("REST 5000 levels", func(t *testing.T) {
		before := v.calls(a.Name)
		got := v.rest(ownerA, a.Name, `{"properties":{"ns":{"p":`+ltDeepJSON(5000)+`}}}`)
		if got.status != http.StatusUnprocessableEntity || !strings.Contains(got.body, `"type":"validation"`) || !strings.Contains(got.body, "properties") {
			t.Errorf("REST 5000 levels = %d %.300s, want 422 validation naming properties", got.status, got.body)
		}
		if n := v.calls(a.Name) - before; n != 0 {
			t.Errorf("REST 5000 levels reached the upstream %d times", n)
		}
	})

	for _, tc := range []struct {
		levels int
		served bool
		field  string // named by the refusal, if not ""
	}{
		{6000, false, ""}, // past the decoder's recursion bound: refused before the exact check
		{70, false, "properties"},
		{60, true, ""},
	} {
		t.Run(fmt.Sprintf("gRPC %d levels", tc.levels), func(t *testing.T) {
			// Checked here, so that the test says what it sends.
			if d := ltJSONDepth(t, ltDeepProperties(tc.levels)); d != tc.levels {
				t.Fatalf("the request is %d levels deep, want %d", d, tc.levels)
			}
			before := v.calls(a.Name)
			ctx, cancel := context.WithTimeout(context.Background(), ltWait)
			defer cancel()
			_, _, err := v.rpc(ctx, ownerA, a, ltDeepProperties(tc.levels))
			st := status.Convert(err)
			calls := v.calls(a.Name) - before
			if tc.served {
				if st.Code() == codes.InvalidArgument || st.Code() == codes.Internal || calls != 1 {
					t.Errorf("gRPC %d levels = %v, %d upstream calls; want it sent upstream once", tc.levels, err, calls)
				}
				return
			}
			if st.Code() != codes.InvalidArgument || errorInfo(st).GetReason() != "validation" || !strings.Contains(st.Message(), tc.field) {
				t.Errorf("gRPC %d levels = %v, want INVALID_ARGUMENT validation (naming %q)", tc.levels, err, tc.field)
			}
			if calls != 0 {
				t.Errorf("gRPC %d levels reached the upstream %d times", tc.levels, calls)
			}
		})
	}
}

// ltJSONDepth returns the nesting depth of m's JSON (objects and arrays).
func ltJSONDepth(t *testing.T, m *configv1.UpdateLicensePropertiesRequest) int {
	t.Helper()
	// Walked by hand: the JSON encoders refuse (or recurse through) the deepest ones.
	var depth func(v *structpb.Value) int
	depth = func(v *structpb.Value) int {
		if s := v.GetStructValue(); s != nil {
			d := 0
			for _, f := range s.GetFields() {
				d = max(d, depth(f))
			}
			return d + 1
		}
		return 0
	}
	d := 0
	for _, s := range m.GetProperties() {
		d = max(d, depth(structpb.NewStructValue(s)))
	}
	return d + 2 // the body and properties
}

// ltRawCodec sends and receives a gRPC message's bytes as they are: a []byte, or a *[]byte to
// receive into.
type ltRawCodec struct{}

func (ltRawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}

func (ltRawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func (ltRawCodec) Name() string { return "proto" }

// ltCallLines counts the gateway's call log lines of method with code, and with surface when
// it is not "".
func ltCallLines(t *testing.T, logs, method, code, surface string) int {
	t.Helper()
	svc, m, _ := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	n := 0
	for line := range strings.Lines(logs) {
		var l map[string]any
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("a log line is not JSON: %q", line)
		}
		if l["msg"] == "finished call" && l["grpc.service"] == svc && l["grpc.method"] == m && l["grpc.code"] == code && (surface == "" || l["surface"] == surface) {
			n++
		}
	}
	return n
}

// ltCounted returns the calls of method with code counted on /metrics: those the gRPC servers
// handled (grpc_server_handled_total, both surfaces) and those the REST surface refused itself.
func ltCounted(v *env, method, code string) int64 {
	svc, m, _ := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	page := v.metrics()
	var n int64
	for _, name := range []string{"grpc_server_handled_total", "gateway_rest_refused_total"} {
		n += srMetric(v.t, page, name, "grpc_service", svc, "grpc_method", m, "grpc_code", code)
	}
	return n
}

// TestLimitsRefusalsAreVisible: calls refused before the service's handler (an undecodable or
// oversized gRPC message, a malformed REST body) are logged and counted like any other call.
func TestLimitsRefusalsAreVisible(t *testing.T) {
	v := newEnv(t)
	a := testutil.Action(t, "get_agent")
	method := a.FullMethod()

	check := func(t *testing.T, what, code, surface string, call func() error, wantErr func(error) bool) {
		t.Helper()
		lines, counted := ltCallLines(t, v.logs.String(), method, code, surface), ltCounted(v, method, code)
		if err := call(); !wantErr(err) {
			t.Errorf("%s = %v", what, err)
		}
		// The server may log and count the call a moment after the client has its answer.
		testutil.WaitFor(5*time.Second, func() bool {
			return ltCallLines(t, v.logs.String(), method, code, surface)-lines == 1 && ltCounted(v, method, code)-counted == 1
		})
		if n := ltCallLines(t, v.logs.String(), method, code, surface) - lines; n != 1 {
			t.Errorf("%s: %d call log lines with code %s, want 1", what, n, code)
		}
		if n := ltCounted(v, method, code) - counted; n != 1 {
			t.Errorf("%s: the calls counted with code %q went up by %d, want 1", what, code, n)
		}
	}
	rpcCtx := func() (context.Context, context.CancelFunc) {
		ctx, cancel := context.WithTimeout(context.Background(), ltWait)
		return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+ownerA), cancel
	}

	t.Run("undecodable gRPC message", func(t *testing.T) {
		check(t, "garbage bytes as a get_agent request", "InvalidArgument", "", func() error {
			ctx, cancel := rpcCtx()
			defer cancel()
			var out []byte
			garbage := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
			return v.conn.Invoke(ctx, method, garbage, &out, grpc.ForceCodecV2(ltRawCodec{}))
		}, func(err error) bool { return status.Code(err) == codes.InvalidArgument })
	})

	t.Run("2 MiB gRPC message", func(t *testing.T) {
		check(t, "a 2 MiB get_agent request", "ResourceExhausted", "", func() error {
			ctx, cancel := rpcCtx()
			defer cancel()
			return v.conn.Invoke(ctx, method, &configv1.GetAgentRequest{Id: strings.Repeat("x", 2<<20)}, a.NewResponse())
		}, func(err error) bool { return status.Code(err) == codes.ResourceExhausted })
	})

	t.Run("malformed REST body", func(t *testing.T) {
		check(t, "REST get_agent with a malformed body", "InvalidArgument", "rest", func() error {
			got := v.rest(ownerA, "get_agent", `{"id":`)
			if got.status != http.StatusUnprocessableEntity || !strings.Contains(got.body, `"type":"validation"`) {
				return fmt.Errorf("%d %s, want 422 validation", got.status, got.body)
			}
			return nil
		}, func(err error) bool { return err == nil })
	})

	if n := v.calls("get_agent"); n != 0 {
		t.Errorf("the refused calls reached the upstream %d times", n)
	}
}

// ltBigAgents is a list_agents answer of about 6 MB.
var ltBigAgents = func() []byte {
	agent := `{"id":"a1@x.com","name":"` + strings.Repeat("n", 1000) + `"}`
	return []byte("[" + strings.TrimSuffix(strings.Repeat(agent+",", ltBigAgentsCount), ",") + "]")
}()

// ltBigAgentsCount is how many agents ltBigAgents lists.
const ltBigAgentsCount = 6 << 20 / 1030

// TestLimitsLargeAnswers: an upstream answer under UPSTREAM_MAX_ANSWER_BYTES is served over
// gRPC and REST alike; past it, both answer the same INTERNAL error, which is not retried.
func TestLimitsLargeAnswers(t *testing.T) {
	var upstreamCalls atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if !strings.HasSuffix(r.URL.Path, "/list_agents") {
			http.Error(w, `{"error":{"type":"not_found","message":"not here"}}`, http.StatusNotFound)
			return
		}
		upstreamCalls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(ltBigAgents)
	}))
	t.Cleanup(up.Close)
	a := testutil.Action(t, "list_agents")

	// Each call has a token of its own, so that none is answered from the cache.
	token := 0
	grpcCall := func(v *env) (*configv1.ListAgentsResponse, error) {
		token++
		ctx, cancel := context.WithTimeout(context.Background(), 3*ltWait)
		defer cancel()
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", fmt.Sprintf("Bearer dal:lt-%d", token))
		resp := &configv1.ListAgentsResponse{}
		err := v.conn.Invoke(ctx, a.FullMethod(), &configv1.ListAgentsRequest{}, resp, grpc.MaxCallRecvMsgSize(64<<20))
		return resp, err
	}
	restCall := func(v *env) answer {
		token++
		return v.rest(fmt.Sprintf("dal:lt-%d", token), a.Name, `{}`)
	}
	oneCall := func(t *testing.T, what string, f func()) {
		t.Helper()
		before := upstreamCalls.Load()
		f()
		if n := upstreamCalls.Load() - before; n != 1 {
			t.Errorf("%s: the upstream got %d calls, want 1", what, n)
		}
	}

	t.Run("6 MB served", func(t *testing.T) {
		v := startGateway(t, up.URL, nil)
		oneCall(t, "gRPC", func() {
			resp, err := grpcCall(v)
			if err != nil || len(resp.GetAgents()) != ltBigAgentsCount {
				t.Errorf("gRPC list_agents of 6 MB = %d agents, %v; want %d agents", len(resp.GetAgents()), err, ltBigAgentsCount)
			}
		})
		oneCall(t, "REST", func() {
			got := restCall(v)
			var agents []json.RawMessage
			if err := json.Unmarshal([]byte(got.body), &agents); got.status != http.StatusOK || err != nil || len(agents) != ltBigAgentsCount {
				t.Errorf("REST list_agents of 6 MB = %d, %d agents (%v) %.300s; want 200 with %d agents",
					got.status, len(agents), err, got.body, ltBigAgentsCount)
			}
		})
	})

	t.Run("past UPSTREAM_MAX_ANSWER_BYTES", func(t *testing.T) {
		v := startGateway(t, up.URL, func(c *server.Config) { c.UpstreamMaxAnswerBytes = 1 << 20 })
		var grpcMsg string
		oneCall(t, "gRPC", func() {
			_, err := grpcCall(v)
			st := status.Convert(err)
			grpcMsg = st.Message()
			if st.Code() != codes.Internal || grpcMsg == "" {
				t.Errorf("gRPC list_agents past the limit = %v, want INTERNAL", err)
			}
		})
		oneCall(t, "REST", func() {
			got := restCall(v)
			var body struct {
				Error struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(got.body), &body); err != nil || got.status != http.StatusInternalServerError ||
				body.Error.Type != "internal" || got.header.Get("Retry-After") != "" {
				t.Errorf("REST list_agents past the limit = %d %.300s, want 500 internal without Retry-After", got.status, got.body)
			}
			if body.Error.Message != grpcMsg {
				t.Errorf("REST says %q, gRPC %q: want the same message", body.Error.Message, grpcMsg)
			}
		})
	})
}

// TestLimitsMalformedCredentials: only "Bearer <token>" is a credential; anything else is
// refused as authentication over REST and gRPC, without an upstream call.
func TestLimitsMalformedCredentials(t *testing.T) {
	v := newEnv(t)
	a := testutil.Action(t, "list_groups")
	for _, tc := range []struct{ name, value string }{
		{"empty bearer", "Bearer "},
		{"bearer of spaces", "Bearer    "},
		{"no scheme", ownerA},
		{"basic", "Basic dXNlcjpwYXNz"},
		{"no header", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var header, md []string
			if tc.value != "" {
				header, md = []string{"Authorization", tc.value}, []string{"authorization", tc.value}
			}
			before := v.calls(a.Name)
			got := v.rest("", a.Name, `{}`, header...)
			if got.status != http.StatusUnauthorized || !strings.Contains(got.body, `"type":"authentication"`) {
				t.Errorf("REST with Authorization %q = %d %s, want 401 authentication", tc.value, got.status, got.body)
			}
			ctx, cancel := context.WithTimeout(context.Background(), ltWait)
			defer cancel()
			if _, _, err := v.rpc(ctx, "", a, a.NewRequest(), md...); status.Code(err) != codes.Unauthenticated {
				t.Errorf("gRPC with authorization %q = %v, want UNAUTHENTICATED", tc.value, err)
			}
			if n := v.calls(a.Name) - before; n != 0 {
				t.Errorf("Authorization %q reached the upstream %d times, want 0", tc.value, n)
			}
		})
	}
}

// TestLimitsDrain: once told to stop, the gateway reports not ready (/readyz 503, gRPC health
// NOT_SERVING) for GATEWAY_DRAIN_DELAY while it still serves calls, then stops.
func TestLimitsDrain(t *testing.T) {
	const delay = time.Second
	lg := newEmulatorEnv(t, func(c *server.Config) { c.DrainDelay = delay })

	ctx, cancel := context.WithTimeout(context.Background(), 3*ltWait)
	defer cancel()
	groups := testutil.Action(t, "list_groups")
	if _, _, err := lg.rpc(ctx, ownerA, groups, groups.NewRequest()); err != nil {
		t.Fatalf("a call before the drain = %v", err) // and the connection is open
	}
	health := healthpb.NewHealthClient(lg.conn)

	stopped := time.Now()
	lg.stop()
	testutil.Eventually(t, "/readyz answering 503 while draining", func() bool {
		resp, err := http.Get(lg.httpURL + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	// Polled too: /readyz may say 503 a moment before the health server is told.
	testutil.Eventually(t, "gRPC health answering NOT_SERVING while draining", func() bool {
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		return err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING
	})
	a := testutil.Action(t, "get_agent")
	before := lg.calls(a.Name)
	if _, _, err := lg.rpc(ctx, ownerA, a, req(t, a, `{"id":"owner-a@example.com"}`)); err != nil {
		t.Errorf("a call on an open connection while draining = %v, want it served", err)
	}
	if n := lg.calls(a.Name) - before; n != 1 {
		t.Errorf("the call while draining reached the upstream %d times, want 1", n)
	}

	testutil.Recv(t, "Run's return after the drain", lg.stopped)
	if took := time.Since(stopped); took < delay {
		t.Errorf("Run returned %v after its context ended, want at least the drain delay %v", took, delay)
	}
	if lg.runErr != nil {
		t.Errorf("Run: %v", lg.runErr)
	}
}
