package server

import (
	"context"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/livechat-gateway/gateway/internal/action"
	"github.com/livechat-gateway/gateway/internal/metrics"
	"github.com/livechat-gateway/gateway/internal/requestid"
	"github.com/livechat-gateway/gateway/internal/service"
)

// callRecorder logs and counts calls: the gRPC server's, REST included, through logCalls, and
// the REST calls refused before they reached it, through refused.
type callRecorder struct {
	log   *slog.Logger
	calls *metrics.Counter
}

func newCallRecorder(log *slog.Logger, reg *metrics.Registry) *callRecorder {
	return &callRecorder{log: log, calls: reg.Counter("gateway_calls_total", "Calls by gRPC method and code, REST included.", "method", "code")}
}

// record logs one call line with its method, action, code and latency, and counts it. It logs
// nothing of the metadata but the region: the authorization metadata holds the caller's token.
// The error's message is the status's own, which never holds a token either.
func (c *callRecorder) record(ctx context.Context, method string, err error, latency time.Duration, extra ...any) {
	code := status.Code(err)
	attrs := []any{"method", method, "code", code.String(), "latency", latency.String()}
	if a, ok := action.ByMethod(method); ok {
		attrs = append(attrs, "action", a.Name)
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if r := md.Get(service.MDRegion); len(r) > 0 {
			attrs = append(attrs, "region", r[0])
		}
	}
	level := slog.LevelInfo
	if code == codes.Internal || code == codes.Unknown {
		level = slog.LevelError
	}
	c.log.Log(ctx, level, "call", append(attrs, extra...)...)
	c.calls.Inc(method, code.String())
}

// logCalls logs and counts every call of the gRPC server.
func (c *callRecorder) logCalls() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		c.record(ctx, info.FullMethod, err, time.Since(start))
		return resp, err
	}
}

// refused logs and counts a REST call that the REST surface refused before it reached the gRPC
// server (rest.Options.Refused), with the refusal's status message, which quotes no body.
func (c *callRecorder) refused(ctx context.Context, method string, err error, latency time.Duration) {
	if method == "" {
		method = "unknown" // not routed; a label value must come from a bounded set
	}
	msg := err.Error()
	if len(msg) > 300 {
		msg = strings.ToValidUTF8(msg[:300], "") + "…"
	}
	c.record(ctx, method, err, latency, "surface", "rest", "refused", msg)
}

// requestIDs gives each call its request id: the caller's x-request-id metadata when it is a sane
// one (the REST surface sets it from X-Request-Id, or generates it), else a new one. The id is in
// the call's context, so on every log line of the call and on its upstream request, and is
// returned as x-request-id header metadata.
func requestIDs() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		var given string
		if v := md.Get(requestid.Key); len(v) > 0 {
			given = v[0]
		}
		id := requestid.Or(given)
		_ = grpc.SetHeader(ctx, metadata.Pairs(requestid.Key, id)) // fails only outside a gRPC call
		return handler(requestid.With(ctx, id), req)
	}
}

// recoverPanics turns a panic in a handler into INTERNAL, logged with its stack, so that one bad
// call cannot take the gateway down.
func recoverPanics(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				log.ErrorContext(ctx, "panic", "method", info.FullMethod, "panic", p, "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, "internal error")
			}
		}()
		return handler(ctx, req)
	}
}
