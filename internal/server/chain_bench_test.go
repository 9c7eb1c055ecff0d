package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/livechat-gateway/gateway/internal/requestid"
	"github.com/livechat-gateway/gateway/internal/testutil"
)

// discardStream is a grpc.ServerTransportStream that drops what is set on it, so that the
// interceptors' grpc.SetHeader calls succeed outside a real call, as they do inside one.
type discardStream struct{ method string }

func (s discardStream) Method() string             { return s.method }
func (discardStream) SetHeader(metadata.MD) error  { return nil }
func (discardStream) SendHeader(metadata.MD) error { return nil }
func (discardStream) SetTrailer(metadata.MD) error { return nil }

// BenchmarkInterceptors measures what the interceptor chain of each surface adds to a call, the
// handler aside: request id, metrics, notes, the log line (JSON, at info, to io.Discard, as
// the gateway's own logger is set up) and recovery. Its allocations per op are the chain's alone,
// without any transport's. Run with: make bench-micro.
func BenchmarkInterceptors(b *testing.B) {
	log := requestid.Logger(slog.New(slog.NewJSONHandler(io.Discard, nil)))
	c := newCalls(log, prometheus.NewRegistry())
	a := testutil.Action(b, "get_agent")
	resp := a.NewResponse()
	handler := func(ctx context.Context, req any) (any, error) { return resp, nil }
	for _, surface := range []string{surfaceGRPC, surfaceREST} {
		b.Run(surface, func(b *testing.B) {
			chain := chainUnary(c.unary(surface)...)
			info := &grpc.UnaryServerInfo{FullMethod: a.FullMethod()}
			md := metadata.Pairs("authorization", "Bearer dal:owner-a", "x-region", "dal")
			if surface == surfaceREST {
				md.Set("x-forwarded-for", "127.0.0.1")
			}
			ctx := metadata.NewIncomingContext(context.Background(), md)
			// The gRPC listener's calls have a TCP peer, which the log line names.
			ctx = peer.NewContext(ctx, &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 41234}})
			ctx = grpc.NewContextWithServerTransportStream(ctx, discardStream{a.FullMethod()})
			req := a.NewRequest()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := chain(ctx, req, info, handler); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
