package server

import (
	"context"
	"log/slog"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/livechat-gateway/gateway/internal/action"
	"github.com/livechat-gateway/gateway/internal/metrics"
	"github.com/livechat-gateway/gateway/internal/service"
)

// logCalls logs and counts every call with its method, action, code and latency. It logs nothing
// of the metadata but the region: the authorization metadata holds the caller's token.
func logCalls(log *slog.Logger, reg *metrics.Registry) grpc.UnaryServerInterceptor {
	calls := reg.Counter("gateway_calls_total", "Calls by gRPC method and code, REST included.", "method", "code")
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		attrs := []any{"method", info.FullMethod, "code", status.Code(err).String(), "latency", time.Since(start).String()}
		if a, ok := action.ByMethod(info.FullMethod); ok {
			attrs = append(attrs, "action", a.Name)
		}
		if md, ok := metadata.FromIncomingContext(ctx); ok {
			if r := md.Get(service.MDRegion); len(r) > 0 {
				attrs = append(attrs, "region", r[0])
			}
		}
		level := slog.LevelInfo
		if status.Code(err) == codes.Internal || status.Code(err) == codes.Unknown {
			level = slog.LevelError
		}
		log.Log(ctx, level, "call", attrs...)
		calls.Inc(info.FullMethod, status.Code(err).String())
		return resp, err
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
