package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/livechat-gateway/gateway/internal/requestid"
	"github.com/livechat-gateway/gateway/internal/testutil"
)

// panicky is a health service whose Check panics.
type panicky struct {
	healthpb.UnimplementedHealthServer
}

func (panicky) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	panic("a bug in a handler")
}

// TestPanicRecovered: a handler's panic answers INTERNAL, is logged with its stack, and its
// call is logged and counted as the INTERNAL it answered; the server goes on serving.
func TestPanicRecovered(t *testing.T) {
	logs := &testutil.SyncBuffer{}
	log := requestid.Logger(slog.New(slog.NewJSONHandler(logs, nil)))
	reg := prometheus.NewRegistry()
	c := newCalls(log, reg)
	s := grpc.NewServer(c.options(surfaceGRPC)...)
	healthpb.RegisterHealthServer(s, panicky{})
	ln := bufconn.Listen(1 << 16)
	go s.Serve(ln)
	defer s.Stop()
	conn, err := grpc.NewClient("passthrough:///panicky",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return ln.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer dal:secret-token", "x-region", "fra")
	for range 2 {
		_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		if status.Code(err) != codes.Internal || status.Convert(err).Message() != "internal error" {
			t.Fatalf("a panicking handler answered %v, want INTERNAL internal error", err)
		}
	}
	var panics, calls int
	for line := range strings.Lines(logs.String()) {
		var l map[string]any
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("a log line is not JSON: %q", line)
		}
		switch l["msg"] {
		case "panic":
			panics++
			if l["level"] != "ERROR" || !strings.Contains(l["stack"].(string), "panicky.Check") || l["method"] != "/grpc.health.v1.Health/Check" {
				t.Errorf("the panic's line lacks its level, method or stack: %s", line)
			}
		case "finished call":
			calls++
			if l["level"] != "ERROR" || l["grpc.code"] != "Internal" || l["region"] != "fra" || l["surface"] != "grpc" || l["request_id"] == nil {
				t.Errorf("the call's line: %s, want level ERROR, code Internal, region fra, surface grpc and a request id", line)
			}
		}
	}
	if panics != 2 || calls != 2 {
		t.Errorf("two panicking calls logged %d panics and %d calls, want 2 each:\n%s", panics, calls, logs.String())
	}
	if strings.Contains(logs.String(), "secret-token") {
		t.Errorf("the log holds the caller's token:\n%s", logs.String())
	}
	if n := testutil.Metric(t, reg, "grpc_server_handled_total", "grpc_method", "Check", "grpc_code", "Internal", "surface", "grpc"); n != 2 {
		t.Errorf("grpc_server_handled_total{grpc_code=Internal} = %v, want 2", n)
	}
}

// TestDurationField: the log line's grpc.time_ms reads as the logging interceptor's own default
// writes it.
func TestDurationField(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 999, time.Microsecond, 1234567, 42 * time.Millisecond,
		time.Second + 7*time.Microsecond, 3 * time.Minute, 1234567890123, 99 * time.Hour} {
		got, want := durationField(d), logging.DurationToTimeMillisFields(d)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("durationField(%v) = %v, want %v", d, got, want)
		}
	}
	for d := time.Duration(0); d < 5*time.Second; d += 7919 * time.Nanosecond {
		if got, want := durationField(d), logging.DurationToTimeMillisFields(d); !reflect.DeepEqual(got, want) {
			t.Fatalf("durationField(%v) = %v, want %v", d, got, want)
		}
	}
}

// TestCallLineFields: a call's log line has the gateway's fields first, then the logging
// interceptor's, each once and in this order, whether the gateway fills some of the
// interceptor's fields itself (an action's) or not (any other RPC).
func TestCallLineFields(t *testing.T) {
	logs := &testutil.SyncBuffer{}
	c := newCalls(requestid.Logger(slog.New(slog.NewJSONHandler(logs, nil))), prometheus.NewRegistry())
	a := testutil.Action(t, "get_agent")
	common := []string{"protocol", "grpc.component", "grpc.service", "grpc.method", "grpc.method_type"}
	for _, tc := range []struct {
		surface, method string
		want            []string
	}{
		{surfaceGRPC, a.FullMethod(), slices.Concat([]string{"surface", "action", "region"}, common, []string{"peer.address"})},
		{surfaceGRPC, "/grpc.health.v1.Health/Check", slices.Concat([]string{"surface", "region"}, common, []string{"peer.address"})},
		{surfaceREST, a.FullMethod(), slices.Concat([]string{"surface", "action", "peer.address", "region"}, common)},
		{surfaceREST, "/grpc.health.v1.Health/Check", slices.Concat([]string{"surface", "peer.address", "region"}, common)},
	} {
		md := metadata.Pairs("authorization", "Bearer dal:owner-a", "x-region", "dal", "x-forwarded-for", "10.0.0.1, 127.0.0.1")
		ctx := metadata.NewIncomingContext(context.Background(), md)
		ctx = peer.NewContext(ctx, &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 41234}})
		ctx = grpc.NewContextWithServerTransportStream(ctx, discardStream{tc.method})
		handler := func(context.Context, any) (any, error) { return a.NewResponse(), nil }
		if _, err := chainUnary(c.unary(tc.surface)...)(ctx, a.NewRequest(), &grpc.UnaryServerInfo{FullMethod: tc.method}, handler); err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(strings.NewReader(logs.Take()))
		var keys []string
		dec.Token() // {
		for dec.More() {
			k, _ := dec.Token()
			var v any
			dec.Decode(&v)
			keys = append(keys, k.(string))
		}
		want := slices.Concat([]string{"time", "level", "msg"}, tc.want, []string{"grpc.start_time", "grpc.code", "grpc.time_ms", "request_id"})
		if !slices.Equal(keys, want) {
			t.Errorf("%s %s: line's fields\n%q\nwant\n%q", tc.surface, tc.method, keys, want)
		}
	}
}
