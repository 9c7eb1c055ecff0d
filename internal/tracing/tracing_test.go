package tracing

import (
	"context"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace/noop"
)

// envOf returns a getenv of vars.
func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// TestSettingsFromEnv checks the rules that turn tracing on and pick the exporter's protocol.
func TestSettingsFromEnv(t *testing.T) {
	const endpoint = "http://collector:4318"
	for _, tc := range []struct {
		name    string
		vars    map[string]string
		want    settings
		wantErr string
	}{
		{name: "nothing set", vars: nil, want: settings{}},
		{name: "only a service name", vars: map[string]string{"OTEL_SERVICE_NAME": "gw"}, want: settings{}},
		{name: "otlp without an endpoint", vars: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, want: settings{}},
		{name: "endpoint", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint},
			want: settings{on: true, protocol: protocolHTTP}},
		{name: "traces endpoint", vars: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint + "/v1/traces"},
			want: settings{on: true, protocol: protocolHTTP}},
		{name: "grpc", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			want: settings{on: true, protocol: protocolGRPC}},
		{name: "traces protocol wins", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
			"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"},
			want: settings{on: true, protocol: protocolHTTP}},
		{name: "explicit otlp", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_TRACES_EXPORTER": "otlp"},
			want: settings{on: true, protocol: protocolHTTP}},
		{name: "exporter none", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_TRACES_EXPORTER": "none"},
			want: settings{}},
		{name: "SDK disabled", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_SDK_DISABLED": "TRUE"},
			want: settings{}},
		{name: "SDK not disabled", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_SDK_DISABLED": "false"},
			want: settings{on: true, protocol: protocolHTTP}},
		{name: "disabled wins over a bad exporter", vars: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "zipkin"},
			want: settings{}},
		{name: "unsupported exporter", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_TRACES_EXPORTER": "console"},
			wantErr: "OTEL_TRACES_EXPORTER"},
		{name: "unsupported protocol", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
			wantErr: "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{name: "unsupported traces protocol", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "udp"},
			wantErr: "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := settingsFromEnv(envOf(tc.vars))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("settingsFromEnv = %+v, %v; want an error naming %s", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("settingsFromEnv = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// TestOffByDefault: with no OTEL_* variable, FromEnv returns the no-op provider, which Enabled
// reports as off, and a shutdown that does nothing.
func TestOffByDefault(t *testing.T) {
	tp, shutdown, err := FromEnv(context.Background(), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tp.(noop.TracerProvider); !ok {
		t.Errorf("FromEnv without OTEL_* = %T, want the no-op provider", tp)
	}
	if Enabled(tp) || Enabled(nil) {
		t.Error("Enabled of the no-op provider or nil = true")
	}
	if err := shutdown(context.Background()); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	_, span := tp.Tracer("t").Start(context.Background(), "s")
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Error("the provider of tracing off records spans")
	}
}

// TestOnWithEndpoint: with an endpoint, FromEnv returns an SDK provider with the OTLP exporter
// (for either protocol), and its shutdown returns, having nothing to flush, although no collector
// listens. An unsupported value is an error, not tracing off.
func TestOnWithEndpoint(t *testing.T) {
	for _, proto := range []string{"grpc", "http/protobuf"} {
		t.Run(proto, func(t *testing.T) {
			tp, shutdown, err := FromEnv(context.Background(), envOf(map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": proto,
			}))
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := tp.(*sdktrace.TracerProvider); !ok || !Enabled(tp) {
				t.Errorf("FromEnv with an endpoint = %T, want an enabled SDK provider", tp)
			}
			if err := shutdown(context.Background()); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		})
	}
	if _, _, err := FromEnv(context.Background(), envOf(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_EXPORTER": "jaeger",
	})); err == nil {
		t.Error("FromEnv with OTEL_TRACES_EXPORTER=jaeger: no error")
	}
}

// TestResource: the service is livechat-gateway unless OTEL_SERVICE_NAME or
// OTEL_RESOURCE_ATTRIBUTES says otherwise.
func TestResource(t *testing.T) {
	name := func() string {
		t.Helper()
		res, err := newResource(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		v, _ := res.Set().Value(semconv.ServiceNameKey)
		return v.AsString()
	}
	t.Setenv("OTEL_SERVICE_NAME", "")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "")
	if got := name(); got != DefaultServiceName {
		t.Errorf("service.name = %q, want %q", got, DefaultServiceName)
	}
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs,deployment.environment=test")
	if got := name(); got != "from-attrs" {
		t.Errorf("with OTEL_RESOURCE_ATTRIBUTES, service.name = %q", got)
	}
	t.Setenv("OTEL_SERVICE_NAME", "gw-eu")
	if got := name(); got != "gw-eu" {
		t.Errorf("with OTEL_SERVICE_NAME, service.name = %q", got)
	}
}
