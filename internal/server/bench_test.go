package server_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/livechat-gateway/gateway/internal/emulator"
	"github.com/livechat-gateway/gateway/internal/server"
	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/testutil/redistest"
)

// BenchmarkGetAgent measures one get_agent three ways in one process, so that their ratios show
// what the gateway adds: straight to the emulator over HTTP (the baseline), through the gateway
// over gRPC, and through the gateway over REST, both with Cache-Control: no-cache so that every
// call goes upstream (BenchmarkGetAgentCache measures hits). Run with: make bench-micro.
func BenchmarkGetAgent(b *testing.B) {
	e, err := emulator.New()
	if err != nil {
		b.Fatal(err)
	}
	up := httptest.NewServer(e)
	defer up.Close()
	httpURL, conn := benchGateway(b, up.URL, "")

	body := `{"id":"owner-a@example.com"}`
	post := func(b *testing.B, base string) {
		req, _ := http.NewRequest(http.MethodPost, base+"/v3.2/configuration/action/get_agent", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+ownerA)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Cache-Control", "no-cache")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	b.Run("emulator-direct", func(b *testing.B) {
		for b.Loop() {
			post(b, up.URL)
		}
	})
	b.Run("gateway-grpc", func(b *testing.B) {
		a := testutil.Action(b, "get_agent")
		req := a.NewRequest()
		if err := restUnmarshal(body, req); err != nil {
			b.Fatal(err)
		}
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+ownerA, "cache-control", "no-cache")
		for b.Loop() {
			if err := conn.Invoke(ctx, a.FullMethod(), req, a.NewResponse()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gateway-rest", func(b *testing.B) {
		for b.Loop() {
			post(b, httpURL)
		}
	})
}

// BenchmarkGetAgentCache measures get_agent over gRPC through the gateway with each store: a
// cached hit against an uncached read (Cache-Control: no-cache, which goes upstream and refreshes
// the entry). Compare hit/uncached ratios within one run. Run with: make bench-micro.
func BenchmarkGetAgentCache(b *testing.B) {
	for _, store := range []string{"memory", "redis"} {
		b.Run(store, func(b *testing.B) {
			redisURL := ""
			if store == "redis" {
				redisURL = redistest.Server(b).URL()
			}
			e, err := emulator.New()
			if err != nil {
				b.Fatal(err)
			}
			up := httptest.NewServer(e)
			defer up.Close()
			_, conn := benchGateway(b, up.URL, redisURL)

			a := testutil.Action(b, "get_agent")
			req := a.NewRequest()
			if err := restUnmarshal(`{"id":"owner-a@example.com"}`, req); err != nil {
				b.Fatal(err)
			}
			call := func(b *testing.B, md ...string) {
				ctx := metadata.AppendToOutgoingContext(context.Background(), append(md, "authorization", "Bearer "+ownerA)...)
				for b.Loop() {
					if err := conn.Invoke(ctx, a.FullMethod(), req, a.NewResponse()); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.Run("uncached", func(b *testing.B) { call(b, "cache-control", "no-cache") })
			b.Run("hit", func(b *testing.B) { call(b) })
		})
	}
}

// benchGateway runs a gateway in front of upstreamURL, with its cache on redisURL ("" for the
// in-process store), until the benchmark ends, and returns its REST URL and a gRPC connection.
func benchGateway(b *testing.B, upstreamURL, redisURL string) (string, *grpc.ClientConn) {
	b.Helper()
	cfg := server.Defaults()
	cfg.GRPCAddr, cfg.HTTPAddr, cfg.UpstreamURL, cfg.RedisURL = "127.0.0.1:0", "127.0.0.1:0", upstreamURL, redisURL
	g, err := server.New(cfg, discardLogger())
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	httpURL := "http://" + g.HTTPAddr().String()
	waitReady(b, httpURL)
	conn := dialGRPC(b, g.GRPCAddr().String())
	b.Cleanup(func() { conn.Close() })
	return httpURL, conn
}
