package upstream

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// TestTracedAttempts: with a TracerProvider, each attempt of a call, retries and the repeat of a
// misdirected call included, is a client span named by the action, a child of the caller's span,
// and the request carries traceparent naming that span. No span holds the token, and a path prefix
// of BaseURL does not change the name.
func TestTracedAttempts(t *testing.T) {
	const token = "dal:secret-token-123"
	var (
		mu    sync.Mutex
		seen  []string // traceparent of each request
		calls int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Traceparent"))
		calls++
		n := calls
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch n {
		case 1: // a retryable failure
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":{"type":"internal","message":"try again"}}`)
		case 2: // misdirected: sent once more to the region it names
			w.WriteHeader(http.StatusMisdirectedRequest)
			fmt.Fprint(w, `{"error":{"type":"misdirected_request","message":"wrong region","data":{"region":"fra"}}}`)
		default:
			fmt.Fprint(w, `{"id":"a"}`)
		}
	}))
	t.Cleanup(srv.Close)

	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	c, err := New(Options{BaseURL: srv.URL + "/prefix", TracerProvider: tp, BaseBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, parent := tp.Tracer("test").Start(context.Background(), "caller")
	resp, err := c.Do(ctx, &Request{Action: "get_agent", Read: true, Body: []byte(`{}`), Authorization: "Bearer " + token})
	parent.End()
	if err != nil || resp.Attempts != 3 {
		t.Fatalf("Do = %+v, %v; want an answer after 3 attempts", resp, err)
	}

	var attempts tracetest.SpanStubs
	for _, s := range exp.GetSpans() {
		if s.SpanKind == trace.SpanKindClient {
			attempts = append(attempts, s)
		}
		if text := fmt.Sprint(s.Name, s.Attributes, s.Events); strings.Contains(text, "secret-token") || strings.Contains(text, "Bearer") {
			t.Errorf("span %s holds the credential: %s", s.Name, text)
		}
	}
	if len(attempts) != 3 {
		t.Fatalf("%d client spans, want one per attempt, 3", len(attempts))
	}
	mu.Lock()
	defer mu.Unlock()
	for i, s := range attempts {
		if s.Name != "POST /v3.2/configuration/action/get_agent" {
			t.Errorf("attempt %d's span is named %q", i+1, s.Name)
		}
		if s.Parent.SpanID() != parent.SpanContext().SpanID() || s.SpanContext.TraceID() != parent.SpanContext().TraceID() {
			t.Errorf("attempt %d's span is not a child of the caller's", i+1)
		}
		want := fmt.Sprintf("00-%s-%s-01", s.SpanContext.TraceID(), s.SpanContext.SpanID())
		if seen[i] != want {
			t.Errorf("attempt %d sent traceparent %q, want its span's %q", i+1, seen[i], want)
		}
	}
}

// TestUntraced: without a TracerProvider the default client's transport is net/http's own, and
// no traceparent is sent, even when the caller's context has a span.
func TestUntraced(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Traceparent")
		fmt.Fprint(w, `{}`)
	}))
	t.Cleanup(srv.Close)
	c, err := New(Options{BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.hc.Transport.(*http.Transport); !ok {
		t.Errorf("the untraced transport is %T, want *http.Transport", c.hc.Transport)
	}
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	ctx, span := tp.Tracer("test").Start(context.Background(), "caller")
	defer span.End()
	if _, err := c.Do(ctx, &Request{Action: "list_groups", Read: true, Body: []byte(`{}`), Authorization: "Bearer dal:x"}); err != nil {
		t.Fatal(err)
	}
	if tp := <-got; tp != "" {
		t.Errorf("an untraced client sent traceparent %q", tp)
	}
}
