// Package server wires the gateway: the gRPC server with the generic service, health and
// reflection, and the HTTP server with the REST surface (grpc-gateway over an in-memory gRPC
// connection to the same server, so that both surfaces take the same path, interceptors
// included), /healthz, /readyz and /openapi.json.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/test/bufconn"

	gateway "github.com/livechat-gateway/gateway"
	configv1 "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
	"github.com/livechat-gateway/gateway/internal/rest"
	"github.com/livechat-gateway/gateway/internal/service"
	"github.com/livechat-gateway/gateway/internal/upstream"
)

// maxMessageBytes caps a gRPC request, as rest.MaxBodyBytes caps a REST body.
const maxMessageBytes = rest.MaxBodyBytes

// Gateway is the running gateway's servers. New opens its listeners; Run serves.
type Gateway struct {
	cfg    Config
	log    *slog.Logger
	grpc   *grpc.Server
	http   *http.Server
	health *health.Server

	grpcLn, httpLn net.Listener
	inproc         *bufconn.Listener // the REST surface's connection to the gRPC server
	conn           *grpc.ClientConn
	ready          atomic.Bool
}

// New builds the gateway of cfg and opens its listeners, so that an address of port 0 is known
// (GRPCAddr, HTTPAddr) before Run.
func New(cfg Config, log *slog.Logger) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		return nil, errors.New("server: no logger")
	}
	up, err := upstream.New(upstream.Options{BaseURL: cfg.UpstreamURL, Timeout: cfg.UpstreamTimeout, Logger: log})
	if err != nil {
		return nil, err
	}
	svc, err := service.New(up, log)
	if err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, log: log, health: health.NewServer(), inproc: bufconn.Listen(1 << 20)}
	g.grpc = grpc.NewServer(
		grpc.MaxRecvMsgSize(maxMessageBytes),
		grpc.ChainUnaryInterceptor(recoverPanics(log), logCalls(log)),
	)
	svc.Register(g.grpc)
	healthpb.RegisterHealthServer(g.grpc, g.health)
	reflection.Register(g.grpc)

	g.conn, err = grpc.NewClient("passthrough:///in-process",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return g.inproc.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(maxMessageBytes+1<<16)),
	)
	if err != nil {
		return nil, err
	}
	mux := runtime.NewServeMux(rest.ServeMuxOptions()...)
	for _, register := range []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		configv1.RegisterAgentServiceHandler,
		configv1.RegisterBotServiceHandler,
		configv1.RegisterGroupServiceHandler,
		configv1.RegisterPropertyServiceHandler,
		configv1.RegisterWebhookServiceHandler,
	} {
		if err := register(context.Background(), mux, g.conn); err != nil {
			return nil, err
		}
	}
	root := http.NewServeMux()
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	root.HandleFunc("GET /readyz", g.readyz)
	root.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(gateway.OpenAPI())
	})
	root.Handle("/", rest.LimitBody(mux))
	g.http = &http.Server{
		Handler:           root,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	if g.grpcLn, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		g.conn.Close()
		return nil, fmt.Errorf("gRPC listener: %w", err)
	}
	if g.httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		g.conn.Close()
		g.grpcLn.Close()
		return nil, fmt.Errorf("HTTP listener: %w", err)
	}
	return g, nil
}

// GRPCAddr returns the address the gRPC server listens on.
func (g *Gateway) GRPCAddr() net.Addr { return g.grpcLn.Addr() }

// HTTPAddr returns the address the HTTP server listens on.
func (g *Gateway) HTTPAddr() net.Addr { return g.httpLn.Addr() }

// Run serves until ctx is done, then shuts down gracefully: it stops accepting, reports not
// ready, lets in-flight calls finish within the shutdown timeout, and returns nil. It returns an
// error if a server fails.
func (g *Gateway) Run(ctx context.Context) error {
	errc := make(chan error, 3)
	go func() { errc <- g.grpc.Serve(g.grpcLn) }()
	go func() { errc <- g.grpc.Serve(g.inproc) }()
	go func() { errc <- g.http.Serve(g.httpLn) }()
	g.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	g.ready.Store(true)
	g.log.Info("gateway serving", "grpc", g.GRPCAddr().String(), "http", g.HTTPAddr().String(), "upstream", g.cfg.UpstreamURL)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		g.log.Error("server failed", "err", runErr)
	}
	g.shutdown()
	return runErr
}

// shutdown stops both servers, giving in-flight calls the shutdown timeout to finish.
func (g *Gateway) shutdown() {
	g.log.Info("shutting down", "timeout", g.cfg.ShutdownTimeout.String())
	g.ready.Store(false)
	g.health.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := g.http.Shutdown(ctx); err != nil {
			g.log.Warn("HTTP shutdown", "err", err)
			g.http.Close()
		}
	})
	wg.Go(func() {
		stopped := make(chan struct{})
		go func() { g.grpc.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-ctx.Done():
			g.log.Warn("gRPC calls still running at the shutdown timeout; stopping them")
			g.grpc.Stop()
		}
	})
	wg.Wait()
	g.conn.Close()
	g.log.Info("stopped")
}

// readyz reports whether the gateway can serve: it is running and a health check through the
// REST surface's in-memory connection reaches the gRPC server, which checks the wiring end to
// end.
func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request) {
	if !g.ready.Load() {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(g.conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}
