// Package tracing sets up the gateway's OpenTelemetry tracing from the standard OTEL_* variables,
// and builds the instrumentation of its gRPC servers, its REST surface and its upstream client,
// so that every part of the gateway traces with the same provider, propagator and rules.
//
// Tracing is off unless an OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT). Off, FromEnv returns the no-op provider, and the gateway
// installs no instrumentation at all: no span, no header is read or written, nothing is
// allocated per call. docs/observability.md lists the spans and their attributes.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc/stats"
)

// DefaultServiceName is the service.name of the gateway's spans unless OTEL_SERVICE_NAME or
// OTEL_RESOURCE_ATTRIBUTES names another.
const DefaultServiceName = "livechat-gateway"

// Attributes of the gateway's own spans. Their values are bounded: an action's name comes from the
// gateway's table of 30 actions, an outcome from a handful of words.
const (
	// AttrAction is the upstream action a span serves, such as "get_agent".
	AttrAction = attribute.Key("livechat.action")
	// AttrCacheOutcome is a cached read's outcome: hit, miss, stale, bypass or error.
	AttrCacheOutcome = attribute.Key("gateway.cache.outcome")
	// AttrCacheStored reports whether a cache fill was stored (false: a write raced it, or the
	// answer was too large).
	AttrCacheStored = attribute.Key("gateway.cache.stored")
)

// The exporter protocols of OTEL_EXPORTER_OTLP_PROTOCOL that the gateway speaks.
const (
	protocolGRPC = "grpc"
	protocolHTTP = "http/protobuf"
)

// settings is what the environment says of tracing.
type settings struct {
	on       bool
	protocol string // protocolGRPC or protocolHTTP, when on
}

// settingsFromEnv applies the gateway's rules to the OTEL_* variables of getenv:
//
//   - off unless OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, so that
//     a gateway started without them sends nothing anywhere;
//   - off when OTEL_SDK_DISABLED is true or OTEL_TRACES_EXPORTER is none, whatever else is set;
//   - OTEL_TRACES_EXPORTER, when set, must be otlp (or none): the gateway links no other exporter;
//   - OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL, picks grpc or
//     http/protobuf; http/protobuf is the specification's default.
//
// A value it cannot honour is an error rather than silently no tracing: whoever set it expects
// spans.
func settingsFromEnv(getenv func(string) string) (settings, error) {
	env := func(name string) string { return strings.TrimSpace(getenv(name)) }
	if strings.EqualFold(env("OTEL_SDK_DISABLED"), "true") {
		return settings{}, nil
	}
	switch exp := strings.ToLower(env("OTEL_TRACES_EXPORTER")); exp {
	case "none":
		return settings{}, nil
	case "", "otlp":
	default:
		return settings{}, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: the gateway exports traces with otlp only (or none)", exp)
	}
	if env("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return settings{}, nil
	}
	name, proto := "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if proto == "" {
		name, proto = "OTEL_EXPORTER_OTLP_PROTOCOL", env("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch proto {
	case "", protocolHTTP:
		return settings{on: true, protocol: protocolHTTP}, nil
	case protocolGRPC:
		return settings{on: true, protocol: protocolGRPC}, nil
	}
	return settings{}, fmt.Errorf("%s=%q: want grpc or http/protobuf", name, proto)
}

// FromEnv returns the gateway's TracerProvider as the OTEL_* variables of getenv (os.Getenv in
// main) say (see settingsFromEnv), and its shutdown, which flushes the spans not yet exported; call
// it once, on exit, with a context that bounds the wait.
//
// Off, the provider is the no-op one and shutdown does nothing. On, spans go through a batch
// processor, whose queue is bounded (OTEL_BSP_MAX_QUEUE_SIZE, 2048 by default: past it spans are
// dropped, never queued without end), to an OTLP exporter. The exporter, the sampler
// (OTEL_TRACES_SAMPLER) and the resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) read their
// variables from the process's environment themselves.
func FromEnv(ctx context.Context, getenv func(string) string) (trace.TracerProvider, func(context.Context) error, error) {
	s, err := settingsFromEnv(getenv)
	if err != nil || !s.on {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, err
	}
	var exp sdktrace.SpanExporter
	if s.protocol == protocolGRPC {
		exp, err = otlptracegrpc.New(ctx)
	} else {
		exp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: the OTLP exporter: %w", err)
	}
	res, err := newResource(ctx)
	if err != nil {
		exp.Shutdown(ctx)
		return nil, nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return tp, tp.Shutdown, nil
}

// newResource describes the gateway: its default service name, the SDK, then what the
// environment says, which wins.
func newResource(ctx context.Context) (*resource.Resource, error) {
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(DefaultServiceName)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("tracing: OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	return res, nil
}

// Enabled reports whether tp records spans: false for nil and the no-op provider, for which the
// gateway installs no instrumentation.
func Enabled(tp trace.TracerProvider) bool {
	switch tp.(type) {
	case nil, noop.TracerProvider:
		return false
	}
	return true
}

// propagator is the context propagation the gateway reads from its callers and carries across its
// in-process REST channel: W3C Trace Context (traceparent, tracestate) and W3C Baggage. It is
// passed to each instrumentation rather than set globally, so that nothing else in the process is
// affected. The upstream gets Trace Context only (see Transport).
func propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// noMeters keeps the instrumentation libraries from recording metrics of their own: the gateway's
// metrics are its /metrics page's.
var noMeters = metricnoop.NewMeterProvider()

// healthMethods is the prefix of the gRPC health service's methods, which load balancers and
// /readyz call every few seconds: traces of them would only be noise.
const healthMethods = "/grpc.health.v1.Health/"

// notHealth is the gRPC instrumentation's filter: true for the calls to trace.
func notHealth(info *stats.RPCTagInfo) bool {
	return !strings.HasPrefix(info.FullMethodName, healthMethods)
}

// GRPCServerHandler returns the stats handler that gives each gRPC call a server span, a child
// of the caller's trace when its metadata carries traceparent. Health checks are not traced.
func GRPCServerHandler(tp trace.TracerProvider) stats.Handler {
	return otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(tp), otelgrpc.WithPropagators(propagator()),
		otelgrpc.WithMeterProvider(noMeters), otelgrpc.WithFilter(notHealth))
}

// GRPCClientHandler returns the stats handler that gives each call of a gRPC client a client span
// and sends its context as traceparent. Health checks are not traced.
func GRPCClientHandler(tp trace.TracerProvider) stats.Handler {
	return otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(tp), otelgrpc.WithPropagators(propagator()),
		otelgrpc.WithMeterProvider(noMeters), otelgrpc.WithFilter(notHealth))
}

// HTTPHandler wraps h so that each request gets a server span, a child of the caller's trace
// when its headers carry traceparent. name names the span from the request; it must give a
// bounded set of names (no ids, no raw paths of unknown routes).
func HTTPHandler(h http.Handler, tp trace.TracerProvider, name func(*http.Request) string) http.Handler {
	return otelhttp.NewHandler(h, "", otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(propagator()),
		otelhttp.WithMeterProvider(noMeters),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return name(r) }))
}

// Transport wraps rt so that each request it sends (each attempt: a retry is a request of its
// own) gets a client span and carries that span's context as traceparent (and tracestate). name
// names the span from the request, from a bounded set. No header is recorded, so neither is
// Authorization.
//
// The caller's baggage is not sent: the upstream is a third party, and baggage is for the
// caller's own services, which may put in it what is not for the upstream to see.
func Transport(rt http.RoundTripper, tp trace.TracerProvider, name func(*http.Request) string) http.RoundTripper {
	return otelhttp.NewTransport(rt, otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(propagation.TraceContext{}),
		otelhttp.WithMeterProvider(noMeters),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return name(r) }))
}
