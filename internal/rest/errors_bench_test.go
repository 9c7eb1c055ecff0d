package rest

import (
	"context"
	"net/http/httptest"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/livechat-gateway/gateway/internal/service"
)

// BenchmarkWriteError measures the REST half of error mapping, with allocations: a gRPC status
// with its details written as the upstream's error body, status and headers (the gRPC half is
// internal/service's BenchmarkErrorMapping). Run with make bench-micro.
func BenchmarkWriteError(b *testing.B) {
	info := func(reason string, md map[string]string) *errdetails.ErrorInfo {
		return &errdetails.ErrorInfo{Reason: reason, Domain: service.ErrorDomain, Metadata: md}
	}
	notFound, _ := status.New(codes.NotFound, "Agent not found").
		WithDetails(info("not_found", map[string]string{"action": "get_agent", "http_status": "404"}))
	throttled, _ := status.New(codes.ResourceExhausted, "Too many requests").
		WithDetails(info("too_many_requests", map[string]string{"action": "get_agent", "http_status": "429"}),
			&errdetails.RetryInfo{RetryDelay: durationpb.New(3e9)})
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		err  error
	}{{"not_found", notFound.Err()}, {"too_many_requests", throttled.Err()}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				WriteError(ctx, w, tc.err)
				if w.Code < 400 {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}
