package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	configv1 "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
	"github.com/livechat-gateway/gateway/internal/emulator"
	"github.com/livechat-gateway/gateway/internal/server"
	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/tracing"
)

// traced is a gateway that traces into an in-memory exporter, in front of an in-process emulator.
type traced struct {
	*env
	spans   *tracetest.InMemoryExporter
	baggage atomic.Int64 // upstream requests that carried a Baggage header
}

// newTracedEnv starts an emulator and a gateway with its cache on redisURL ("" for the in-process
// store) that traces with an SDK provider exporting every span, as it ends, to memory.
func newTracedEnv(t *testing.T, redisURL string) *traced {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	e, err := emulator.New()
	if err != nil {
		t.Fatal(err)
	}
	tv := &traced{spans: exp}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Baggage") != "" {
			tv.baggage.Add(1)
		}
		e.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	tv.env = startGateway(t, srv.URL, patient(redisURL), server.WithTracerProvider(tp))
	tv.emu = e
	return tv
}

// waitSpans waits until the exporter holds spans that satisfy each of want (a span may satisfy
// several), and returns all it holds: some spans end after the call has answered (the server's,
// once its answer is sent; the cache fill, after the answer was handed out).
func (v *traced) waitSpans(t *testing.T, want ...func(tracetest.SpanStub) bool) tracetest.SpanStubs {
	t.Helper()
	var got tracetest.SpanStubs
	testutil.Eventually(t, "the spans of the call", func() bool {
		got = v.spans.GetSpans()
		for _, w := range want {
			if !slices.ContainsFunc(got, w) {
				return false
			}
		}
		return true
	})
	return got
}

// named matches the spans named name of kind.
func named(name string, kind trace.SpanKind) func(tracetest.SpanStub) bool {
	return func(s tracetest.SpanStub) bool { return s.Name == name && s.SpanKind == kind }
}

// redisCommand matches Redis's command spans.
func redisCommand(s tracetest.SpanStub) bool {
	return s.SpanKind == trace.SpanKindClient && attr(s, "db.system") == "redis" && s.Name != "redis.dial"
}

// find returns the one span that match matches, failing the test unless there is exactly one.
func find(t *testing.T, spans tracetest.SpanStubs, what string, match func(tracetest.SpanStub) bool) tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	for _, s := range spans {
		if match(s) {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d spans of %s, want 1; the spans:\n%s", len(found), what, describe(spans))
	}
	return found[0]
}

// attr returns the value of a span's attribute key, as text, or "".
func attr(s tracetest.SpanStub, key attribute.Key) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value.String()
		}
	}
	return ""
}

// describe lists spans for a failure message: name, kind, ids and attributes.
func describe(spans tracetest.SpanStubs) string {
	var b strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&b, "  %s (%s) trace %s span %s parent %s %v\n", s.Name, s.SpanKind,
			s.SpanContext.TraceID(), s.SpanContext.SpanID(), s.Parent.SpanID(), s.Attributes)
	}
	return b.String()
}

// checkNoSecrets fails the test if a span's name, attributes or events hold a token or the word
// Bearer: spans leave the gateway for a collector, and credentials must not.
func checkNoSecrets(t *testing.T, spans tracetest.SpanStubs) {
	t.Helper()
	for _, s := range spans {
		text := fmt.Sprint(s.Name, s.Attributes, s.Events, s.Status)
		for _, secret := range []string{ownerA, readonlyA, "Bearer", "authorization"} {
			if strings.Contains(strings.ToLower(text), strings.ToLower(secret)) {
				t.Errorf("span %s holds %q: %s", s.Name, secret, text)
			}
		}
	}
}

// checkChild fails the test unless child is a child of parent, in its trace.
func checkChild(t *testing.T, spans tracetest.SpanStubs, child, parent tracetest.SpanStub) {
	t.Helper()
	if child.SpanContext.TraceID() != parent.SpanContext.TraceID() || child.Parent.SpanID() != parent.SpanContext.SpanID() {
		t.Errorf("span %s is not a child of %s; the spans:\n%s", child.Name, parent.Name, describe(spans))
	}
}

// descends reports whether s is ancestor or a descendant of it, in spans.
func descends(spans tracetest.SpanStubs, s, ancestor tracetest.SpanStub) bool {
	for range len(spans) + 1 { // a bound, in case of a cycle
		if s.SpanContext.TraceID() != ancestor.SpanContext.TraceID() {
			return false
		}
		if s.SpanContext.SpanID() == ancestor.SpanContext.SpanID() {
			return true
		}
		i := slices.IndexFunc(spans, func(p tracetest.SpanStub) bool { return p.SpanContext.SpanID() == s.Parent.SpanID() })
		if i < 0 {
			return false
		}
		s = spans[i]
	}
	return false
}

// traceparentOf splits a traceparent header into its trace and span ids.
func traceparentOf(t *testing.T, tp string) (trace.TraceID, trace.SpanID) {
	t.Helper()
	parts := strings.Split(tp, "-")
	if len(parts) != 4 || parts[0] != "00" {
		t.Fatalf("traceparent %q is not version 00's four parts", tp)
	}
	tid, err1 := trace.TraceIDFromHex(parts[1])
	sid, err2 := trace.SpanIDFromHex(parts[2])
	if err1 != nil || err2 != nil {
		t.Fatalf("traceparent %q: %v %v", tp, err1, err2)
	}
	return tid, sid
}

// lastTraceparent returns the last traceparent the emulator received for action.
func (v *traced) lastTraceparent(t *testing.T, action string) string {
	t.Helper()
	got := v.emu.Traceparents()[action]
	if len(got) == 0 {
		t.Fatalf("the emulator received no traceparent for %s", action)
	}
	return got[len(got)-1]
}

// TestTracingGRPCMiss (issue 12, acceptance 2): a gRPC read that misses the cache makes one trace
// holding the gRPC server span, the cache's spans (and, on Redis, its commands' spans) and the
// upstream HTTP client span, each the child of the span that made it; the emulator received
// traceparent naming that HTTP span in that trace. A second read hits, with no upstream span.
// Health checks (the /readyz probes that started the gateway) are not traced, and no span holds
// the token.
func TestTracingGRPCMiss(t *testing.T) {
	stores(t, func(t *testing.T, redisURL string) {
		v := newTracedEnv(t, redisURL)
		a := testutil.Action(t, "get_agent")
		if _, header, err := v.rpc(context.Background(), ownerA, a, &configv1.GetAgentRequest{Id: "owner-a@example.com"}); err != nil || header.Get("x-cache")[0] != "miss" {
			t.Fatalf("GetAgent = %v, x-cache %v; want a miss", err, header.Get("x-cache"))
		}
		want := []func(tracetest.SpanStub) bool{
			named("livechat.configuration.v1.AgentService/GetAgent", trace.SpanKindServer),
			named("cache.read", trace.SpanKindInternal),
			named("cache.fill", trace.SpanKindInternal),
			named("POST /v3.2/configuration/action/get_agent", trace.SpanKindClient),
		}
		if redisURL != "" {
			want = append(want, redisCommand)
		}
		spans := v.waitSpans(t, want...)

		srv := find(t, spans, "the gRPC server", want[0])
		read := find(t, spans, "the cache read", want[1])
		fill := find(t, spans, "the cache fill", want[2])
		up := find(t, spans, "the upstream attempt", want[3])
		if srv.Parent.IsValid() {
			t.Errorf("the server span has a parent %s, though the call sent no traceparent", srv.Parent.SpanID())
		}
		checkChild(t, spans, read, srv)
		checkChild(t, spans, up, read)
		checkChild(t, spans, fill, read)
		if got := attr(read, tracing.AttrAction); got != "get_agent" {
			t.Errorf("cache.read %s = %q, want get_agent", tracing.AttrAction, got)
		}
		if got := attr(read, tracing.AttrCacheOutcome); got != "miss" {
			t.Errorf("cache.read %s = %q, want miss", tracing.AttrCacheOutcome, got)
		}
		if got := attr(fill, tracing.AttrCacheStored); got != "true" {
			t.Errorf("cache.fill %s = %q, want true", tracing.AttrCacheStored, got)
		}
		if got := attr(up, "http.response.status_code"); got != "200" {
			t.Errorf("the upstream span's status code = %q, want 200", got)
		}
		bad := false
		for _, s := range spans {
			// Every span descends from the server's, in its trace: Redis's commands from the
			// cache's spans. (A new connection's setup, HELLO and CLIENT, is not traced: the near
			// cache's subscription opens one outside any call.)
			if !descends(spans, s, srv) {
				t.Errorf("span %s does not descend from the server span", s.Name)
				bad = true
			}
			if redisCommand(s) && !descends(spans, s, read) && !descends(spans, s, fill) {
				t.Errorf("Redis span %s descends from neither cache.read nor cache.fill", s.Name)
				bad = true
			}
			if strings.Contains(s.Name, "Health") || strings.Contains(s.Name, "readyz") {
				t.Errorf("a health check was traced: %s", s.Name)
			}
			if redisCommand(s) && attr(s, "db.statement") != "" {
				t.Errorf("Redis span %s records its command: %s", s.Name, attr(s, "db.statement"))
			}
		}
		if bad {
			t.Logf("the spans:\n%s", describe(spans))
		}
		checkNoSecrets(t, spans)

		tid, sid := traceparentOf(t, v.lastTraceparent(t, "get_agent"))
		if tid != srv.SpanContext.TraceID() || sid != up.SpanContext.SpanID() {
			t.Errorf("the emulator received trace %s span %s, want the upstream span's: trace %s span %s",
				tid, sid, srv.SpanContext.TraceID(), up.SpanContext.SpanID())
		}

		// A hit: the cache's span says so, and nothing went upstream.
		v.spans.Reset()
		if _, header, err := v.rpc(context.Background(), ownerA, a, &configv1.GetAgentRequest{Id: "owner-a@example.com"}); err != nil || header.Get("x-cache")[0] != "hit" {
			t.Fatalf("second GetAgent = %v, x-cache %v; want a hit", err, header.Get("x-cache"))
		}
		spans = v.waitSpans(t, want[0], want[1])
		if got := attr(find(t, spans, "the cache read", want[1]), tracing.AttrCacheOutcome); got != "hit" {
			t.Errorf("second cache.read %s = %q, want hit", tracing.AttrCacheOutcome, got)
		}
		if slices.ContainsFunc(spans, want[3]) {
			t.Errorf("a hit made an upstream span; the spans:\n%s", describe(spans))
		}
	})
}

// TestTracingRESTContinuesTrace: a REST call whose caller sends traceparent is served in the
// caller's trace, through the in-memory gRPC connection, and the upstream receives traceparent
// of that same trace, but not the caller's baggage. A write (no cache) shows the invalidation's
// span.
func TestTracingRESTContinuesTrace(t *testing.T) {
	v := newTracedEnv(t, "")
	const callerTrace, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	got := v.rest(ownerA, "list_groups", `{}`, "Traceparent", "00-"+callerTrace+"-"+callerSpan+"-01",
		"Baggage", "tenant=internal-only")
	if got.status != 200 {
		t.Fatalf("list_groups = %d %s", got.status, got.body)
	}
	want := []func(tracetest.SpanStub) bool{
		named("POST /v3.2/configuration/action/list_groups", trace.SpanKindServer),
		named("livechat.configuration.v1.GroupService/ListGroups", trace.SpanKindClient),
		named("livechat.configuration.v1.GroupService/ListGroups", trace.SpanKindServer),
		named("cache.read", trace.SpanKindInternal),
		named("POST /v3.2/configuration/action/list_groups", trace.SpanKindClient),
	}
	spans := v.waitSpans(t, want...)
	rest := find(t, spans, "the REST server", want[0])
	if rest.SpanContext.TraceID().String() != callerTrace || rest.Parent.SpanID().String() != callerSpan || !rest.Parent.IsRemote() {
		t.Errorf("the REST span is in trace %s under %s, want the caller's: trace %s under %s",
			rest.SpanContext.TraceID(), rest.Parent.SpanID(), callerTrace, callerSpan)
	}
	inClient := find(t, spans, "the in-memory gRPC client", want[1])
	inServer := find(t, spans, "the in-memory gRPC server", want[2])
	read := find(t, spans, "the cache read", want[3])
	up := find(t, spans, "the upstream attempt", want[4])
	checkChild(t, spans, inClient, rest)
	checkChild(t, spans, inServer, inClient)
	checkChild(t, spans, read, inServer)
	checkChild(t, spans, up, read)
	tid, sid := traceparentOf(t, v.lastTraceparent(t, "list_groups"))
	if tid.String() != callerTrace || sid != up.SpanContext.SpanID() {
		t.Errorf("the emulator received trace %s span %s, want the caller's trace %s and the upstream span %s",
			tid, sid, callerTrace, up.SpanContext.SpanID())
	}
	if n := v.baggage.Load(); n != 0 {
		t.Errorf("%d upstream requests carried the caller's baggage, want none", n)
	}

	// A write: no cache read, and the invalidation of the credential's answers.
	v.spans.Reset()
	// (A write's upstream call runs in the caller's context, baggage included: the one to check.)
	got = v.rest(ownerA, "create_group", `{"name":"Traced","agent_priorities":{"owner-a@example.com":"normal"}}`,
		"Baggage", "tenant=internal-only")
	if got.status != 200 {
		t.Fatalf("create_group = %d %s", got.status, got.body)
	}
	spans = v.waitSpans(t, named("POST /v3.2/configuration/action/create_group", trace.SpanKindClient),
		named("cache.invalidate", trace.SpanKindInternal), named("POST /v3.2/configuration/action/create_group", trace.SpanKindServer),
		// the in-memory server's ends after its client has the answer: waited for, so that it
		// does not land after the next Reset
		named("livechat.configuration.v1.GroupService/CreateGroup", trace.SpanKindServer))
	if slices.ContainsFunc(spans, named("cache.read", trace.SpanKindInternal)) {
		t.Errorf("a write made a cache.read span; the spans:\n%s", describe(spans))
	}
	if n := v.baggage.Load(); n != 0 {
		t.Errorf("%d upstream requests carried the caller's baggage, want none", n)
	}
	checkNoSecrets(t, spans)

	// Any other path is named by its method alone: a client cannot make up span names.
	v.spans.Reset()
	v.restPath("/no/such/path/"+strings.Repeat("x", 20), ownerA, `{}`)
	spans = v.waitSpans(t, named("POST", trace.SpanKindServer))
	if len(spans) != 1 {
		t.Errorf("an unknown path made %d spans, want the REST server's only:\n%s", len(spans), describe(spans))
	}
}

// TestTracingOff: a gateway without a provider, or with the no-op one that tracing.FromEnv gives
// without OTEL_* variables, installs no instrumentation: the caller's traceparent is not passed
// on upstream.
func TestTracingOff(t *testing.T) {
	for name, opts := range map[string][]server.Option{
		"no provider": nil,
		"no-op":       {server.WithTracerProvider(noop.NewTracerProvider())},
	} {
		t.Run(name, func(t *testing.T) {
			e, err := emulator.New()
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(e)
			t.Cleanup(srv.Close)
			v := startGateway(t, srv.URL, nil, opts...)
			got := v.rest(ownerA, "list_groups", `{}`, "Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
			if got.status != 200 {
				t.Fatalf("list_groups = %d %s", got.status, got.body)
			}
			if e.Calls()["list_groups"] != 1 {
				t.Fatalf("the emulator had %d list_groups calls, want 1", e.Calls()["list_groups"])
			}
			if tp := e.Traceparents(); len(tp) != 0 {
				t.Errorf("with tracing off the upstream received traceparent: %v", tp)
			}
		})
	}
}

// TestGzipRequestsBounded: the OTLP gRPC exporter links grpc's gzip codec, which registers itself
// for every gRPC server in the process, so the gateway now accepts gzip-compressed requests (and
// answers such a call compressed). A request that inflates past GATEWAY_MAX_REQUEST_BYTES is
// refused as an uncompressed one is, so compression is no way around the limit; a small one is
// served.
func TestGzipRequestsBounded(t *testing.T) {
	v := newEnv(t)
	a := testutil.Action(t, "get_agent")
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+ownerA)
	big := &configv1.GetAgentRequest{Id: strings.Repeat("x", 2<<20)} // a few KB once compressed
	err := v.conn.Invoke(ctx, a.FullMethod(), big, a.NewResponse(), grpc.UseCompressor(gzip.Name))
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("a gzip request of 2 MiB inflated = %v, want RESOURCE_EXHAUSTED", err)
	}
	if err := v.conn.Invoke(ctx, a.FullMethod(), &configv1.GetAgentRequest{Id: "owner-a@example.com"}, a.NewResponse(),
		grpc.UseCompressor(gzip.Name)); err != nil {
		t.Errorf("a small gzip request = %v, want served", err)
	}
}
