// Package server wires the gateway: the gRPC server with the generic service, health and
// reflection, and the HTTP server with the REST surface (grpc-gateway over an in-process channel
// to the same service, so that both surfaces take the same path, interceptors included),
// /healthz, /readyz, /metrics, /openapi.json (OpenAPI 3.1) and /swagger.json (Swagger 2.0).
package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fullstorydev/grpchan"
	"github.com/fullstorydev/grpchan/inprocgrpc"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	gateway "github.com/livechat-gateway/gateway"
	configv1 "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
	"github.com/livechat-gateway/gateway/internal/action"
	"github.com/livechat-gateway/gateway/internal/cache"
	"github.com/livechat-gateway/gateway/internal/requestid"
	"github.com/livechat-gateway/gateway/internal/rest"
	"github.com/livechat-gateway/gateway/internal/service"
	"github.com/livechat-gateway/gateway/internal/tlsreload"
	"github.com/livechat-gateway/gateway/internal/tracing"
	"github.com/livechat-gateway/gateway/internal/upstream"
	"github.com/livechat-gateway/gateway/internal/webhooks"
)

// Fixed bounds of the gRPC listener, which need no setting of their own.
const (
	// grpcHandshakeTimeout bounds a new connection's TLS and HTTP/2 handshakes, so that a
	// connection that never sends its preface does not hold a descriptor for long.
	grpcHandshakeTimeout = 10 * time.Second
	// grpcPingInterval and grpcPingTimeout find dead clients on idle connections.
	grpcPingInterval = 2 * time.Minute
	grpcPingTimeout  = 20 * time.Second
	// grpcStreamWorkers is how many goroutines serve the gRPC listener's calls. A call that
	// finds them all busy runs on a new goroutine, as without workers, whose stack grows twice or
	// so on the way down a call (runtime.newstack was 11% of a hit's CPU at 50 calls in flight
	// with one worker per core); an idle worker costs a small stack, which the GC shrinks while
	// it waits. It covers the few dozen calls in flight of a busy replica: with 64, newstack left
	// the profile of 50 calls in flight; with 128 or more, idle workers' stacks were shrunk and
	// grew again.
	grpcStreamWorkers = 64
)

// Gateway is the running gateway's servers. New opens its listeners; Run serves.
type Gateway struct {
	cfg    Config
	log    *slog.Logger
	grpc   *grpc.Server // the gRPC listener's
	http   *http.Server
	health *health.Server

	grpcLn, httpLn net.Listener
	pprof          *http.Server // PPROF_ADDR's, or nil
	pprofLn        net.Listener
	// conn is the REST surface's connection to the service: an in-process channel with the
	// same services and interceptors as grpc, without the limits meant for remote clients.
	conn    grpc.ClientConnInterface
	ready   atomic.Bool
	svc     *service.Service
	store   service.Store
	metrics *prometheus.Registry

	hooks *hooks
	// webhook and webhookLn serve POST /webhooks alone when GATEWAY_WEBHOOK_ADDR is set, else
	// nil: then the HTTP listener serves it.
	webhook   *http.Server
	webhookLn net.Listener
}

// newRegistry returns the registry that /metrics serves, with the Go runtime's and the process's
// collectors; each part of the gateway registers its own series on it.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// registerNear serves the near cache's counts on /metrics.
func registerNear(reg prometheus.Registerer, n *cache.Near) {
	for _, r := range []struct {
		result string
		count  func(cache.NearStats) int64
	}{
		{"hit", func(s cache.NearStats) int64 { return s.Hits }},
		{"miss", func(s cache.NearStats) int64 { return s.Misses }},
		{"bypass", func(s cache.NearStats) int64 { return s.Bypassed }},
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "gateway_cache_near_lookups_total",
			Help:        "Cache lookups by the near cache's result: hit (answered in process), miss (sent to Redis while the near cache was trusted), bypass (sent to Redis because its invalidation channel was down).",
			ConstLabels: prometheus.Labels{"result": r.result},
		}, func() float64 { return float64(r.count(n.Stats())) }))
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gateway_cache_near_trusted",
		Help: "1 while the near cache is served (its invalidation channel is subscribed and alive), else 0.",
	}, func() float64 {
		if n.Stats().Trusted {
			return 1
		}
		return 0
	}))
}

// In-process store bounds: the gateway's memory is the limit, and answers are small.
const (
	memoryMaxEntries = 100_000
	memoryMaxBytes   = 256 << 20
)

// Option is an option of New that is not configuration from the environment.
type Option func(*options)

type options struct {
	tp trace.TracerProvider
}

// WithTracerProvider traces the gateway with tp: a server span for each gRPC call and each REST
// request (continuing the caller's trace when it sends traceparent), spans of the cache and of
// Redis's commands, and a client span for each upstream attempt, which sends traceparent
// upstream. Without it, or with the no-op provider (tracing.FromEnv's when the OTEL_* variables
// do not turn tracing on), no instrumentation is installed at all. docs/observability.md lists
// the spans.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tp = tp }
}

// newStore returns the cache's store: Redis when REDIS_URL is set, with opts (its TLS), else the
// in-process one.
func newStore(cfg Config, log *slog.Logger, tp trace.TracerProvider, opts cache.RedisOptions) (service.Store, error) {
	if cfg.RedisURL == "" {
		return cache.NewMemory(memoryMaxEntries, memoryMaxBytes), nil
	}
	opts.Timeout = cfg.CacheStoreTimeout
	opts.TracerProvider = tp
	r, err := cache.NewRedis(cfg.RedisURL, opts)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	if cfg.CacheNearMaxBytes == 0 {
		log.Info("cache on Redis")
		return r, nil
	}
	log.Info("cache on Redis, with a near cache", "max_bytes", cfg.CacheNearMaxBytes)
	return cache.NewNear(r, cache.NearOptions{MaxBytes: int64(cfg.CacheNearMaxBytes), Liveness: cfg.CacheNearLiveness}), nil
}

// New builds the gateway of cfg and opens its listeners, so that an address of port 0 is known
// (GRPCAddr, HTTPAddr) before Run.
func New(cfg Config, log *slog.Logger, opts ...Option) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		return nil, errors.New("server: no logger")
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	tp := o.tp
	if !tracing.Enabled(tp) {
		tp = nil // nothing to instrument with: every part leaves its instrumentation out
	}
	log = requestid.Logger(log) // every line logged in a call names its request id
	var certs *tlsreload.Reloader
	if cfg.TLS() {
		var err error
		certs, err = tlsreload.New(tlsreload.Options{
			CertFile: cfg.TLSCertFile, KeyFile: cfg.TLSKeyFile, CAFile: cfg.TLSClientCAFile,
			CertName: "TLS_CERT_FILE", KeyName: "TLS_KEY_FILE", CAName: "TLS_CLIENT_CA_FILE", Logger: log,
		})
		if err != nil {
			return nil, err
		}
	}
	reg := newRegistry()
	up, err := upstream.New(upstream.Options{
		Metrics: reg,
		BaseURL: cfg.UpstreamURL, Timeout: cfg.UpstreamTimeout, Logger: log,
		MaxConns:         cfg.UpstreamMaxConns,
		MaxInFlight:      cfg.UpstreamMaxConns + cfg.UpstreamMaxWaiting,
		MaxPerCredential: cfg.UpstreamMaxPerCredential,
		MaxAnswerBytes:   cfg.UpstreamMaxAnswerBytes,
		TracerProvider:   tp,
	})
	if err != nil {
		return nil, err
	}
	// Read once for the cache's and the webhooks' Redis clients: one reloader of the client
	// certificate, not one per client.
	redisOpts, err := redisTLS(cfg, log)
	if err != nil {
		return nil, err
	}
	store, err := newStore(cfg, log, tp, redisOpts)
	if err != nil {
		return nil, err
	}
	if near, ok := store.(*cache.Near); ok {
		registerNear(reg, near)
	}
	secret := []byte(cfg.CacheKeySecret)
	shared := len(secret) > 0
	if len(secret) == 0 {
		secret = make([]byte, 32)
		rand.Read(secret)
		log.Info("CACHE_KEY_SECRET is unset: cache keys are this process's own, so replicas share no entries")
	}
	hk, err := newHooks(cfg, log, tp, secret, shared, reg, redisOpts)
	if err != nil {
		store.Close()
		return nil, err
	}
	svc, err := service.New(up, log, service.WithCache(service.Cache{
		Store: store, TTL: cfg.CacheTTL, StaleIfError: cfg.CacheStaleIfError, Secret: secret,
		UpstreamTimeout: cfg.UpstreamTimeout, Metrics: reg, TracerProvider: tp,
		// Redis's calls are bounded by it; the in-process store's take microseconds.
		StoreTimeout: cfg.CacheStoreTimeout,
	}), service.WithMaxJSONDepth(cfg.MaxJSONDepth), service.WithWrites(hk.learn))
	if err != nil {
		hk.close()
		store.Close()
		return nil, err
	}
	g := &Gateway{cfg: cfg, log: log, health: health.NewServer(), svc: svc, store: store, metrics: reg, hooks: hk}
	built := false
	defer func() {
		if !built {
			g.release()
		}
	}()
	if err := hk.subscribe(cfg, svc, reg); err != nil {
		return nil, err
	}
	calls := newCalls(log, reg)
	adm := newAdmission(cfg.MaxInFlight, calls, reg)
	codec := grpc.ForceServerCodecV2(svc.Codec())
	// Tracing, when on: server spans on the gRPC listener (the in-process channel's are below).
	var traced []grpc.ServerOption
	if tp != nil {
		traced = append(traced, grpc.StatsHandler(tracing.GRPCServerHandler(tp)))
	}
	// The admission runs inside the logging and metrics, so that a refused call is logged and
	// counted as a call.
	listenerOpts := append(append(calls.options(surfaceGRPC, adm.unary()), traced...), codec,
		grpc.MaxRecvMsgSize(cfg.MaxRequestBytes),
		grpc.MaxHeaderListSize(uint32(cfg.GRPCMaxHeaderBytes)),
		grpc.MaxConcurrentStreams(uint32(cfg.GRPCMaxStreams)),
		grpc.ConnectionTimeout(grpcHandshakeTimeout),
		// Calls run on long-lived goroutines instead of a new one each, whose stack grows again
		// on every call: a seventh of a hit's CPU in its profile (grpcStreamWorkers says how many).
		grpc.NumStreamWorkers(grpcStreamWorkers),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: cfg.GRPCKeepaliveMinTime, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: cfg.GRPCMaxConnectionIdle, Time: grpcPingInterval, Timeout: grpcPingTimeout,
		}),
	)
	if certs != nil {
		// gRPC clients can all present a certificate, and no probe needs this listener (the
		// probes are HTTP): with a client CA, one is required.
		listenerOpts = append(listenerOpts, grpc.Creds(credentials.NewTLS(certs.ServerConfig([]string{"h2"}, tls.RequireAndVerifyClientCert))))
	}
	g.grpc = grpc.NewServer(listenerOpts...)
	// The REST surface reaches the same service through an in-process channel, with the same
	// interceptors: a call is handed over as the message grpc-gateway decoded (copied, not
	// encoded), with no HTTP/2 framing; the service's cloner decodes a cached answer straight
	// into grpc-gateway's message. The HTTP server bounds those calls (connections,
	// headers, bodies), so no limit of the gRPC listener's applies here.
	inproc := (&inprocgrpc.Channel{}).WithServerUnaryInterceptor(chainUnary(calls.unary(surfaceREST)...)).
		WithServerStreamInterceptor(chainStream(calls.stream(surfaceREST)...)).WithCloner(svc.Cloner())
	if tp != nil {
		// The channel gives the service a context without the caller's values: the trace
		// crosses as metadata, from a client span to a server span, as over a connection.
		inproc.WithClientStatsHandler(tracing.GRPCClientHandler(tp)).WithServerStatsHandler(tracing.GRPCServerHandler(tp))
	}
	svc.Register(g.grpc, hk.subs.Stream())
	svc.Register(inproc, hk.subs.Stream())
	healthpb.RegisterHealthServer(g.grpc, g.health)
	healthpb.RegisterHealthServer(inproc, g.health)
	if err := registerReflection(g.grpc); err != nil {
		return nil, err
	}
	calls.initialize(surfaceGRPC, g.grpc)
	calls.initialize(surfaceREST, inproc)
	g.conn = grpchan.InterceptClientConn(inproc, rest.ClientInterceptor(), nil)
	restOpts := rest.Options{MaxBodyBytes: cfg.MaxRequestBytes, MaxDepth: cfg.MaxJSONDepth, Refused: calls.refused,
		Lifecycle: func(r *http.Request) (string, string) {
			return up.Lifecycle(r.Header.Get("Authorization"), r.Header.Get("X-Region"))
		},
	}
	adm.lifecycle = restOpts.Lifecycle
	mux := runtime.NewServeMux(rest.ServeMuxOptions(restOpts)...)
	for _, err := range []error{
		configv1.RegisterAgentServiceHandlerClient(context.Background(), mux, configv1.NewAgentServiceClient(g.conn)),
		configv1.RegisterBotServiceHandlerClient(context.Background(), mux, configv1.NewBotServiceClient(g.conn)),
		configv1.RegisterGroupServiceHandlerClient(context.Background(), mux, configv1.NewGroupServiceClient(g.conn)),
		configv1.RegisterPropertyServiceHandlerClient(context.Background(), mux, configv1.NewPropertyServiceClient(g.conn)),
		configv1.RegisterWebhookServiceHandlerClient(context.Background(), mux, configv1.NewWebhookServiceClient(g.conn)),
	} {
		if err != nil {
			return nil, err
		}
	}
	root := http.NewServeMux()
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	root.HandleFunc("GET /readyz", g.readyz)
	root.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// A scrape is cheap but not free: a few at once are plenty for any number of scrapers.
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
	root.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(gateway.OpenAPI())
	})
	root.HandleFunc("GET /swagger.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(gateway.Swagger())
	})
	var restHandler http.Handler = adm.rest(rest.Handler(mux, restOpts))
	if tp != nil {
		// Outermost, so that a refused request has its span too. Only the REST surface: the
		// probes and /metrics, called every few seconds, would only be noise.
		restHandler = tracing.HTTPHandler(restHandler, tp, restSpanName)
	}
	root.Handle("/", restHandler)
	// Not through restHandler: a stream is no call in flight for GATEWAY_MAX_IN_FLIGHT (the
	// subscriptions have their own bound), and has no body to bound.
	var sse http.Handler = webhooks.NewSSE(configv1.NewWebhookServiceClient(g.conn), mux, cfg.HTTPWriteTimeout)
	if tp != nil {
		sse = tracing.HTTPHandler(sse, tp, restSpanName)
	}
	root.Handle("GET "+webhooks.SSEPath, sse)
	if cfg.WebhookAddr == "" {
		root.Handle("POST /webhooks", hk.receiver)
	}
	var handler http.Handler = root
	var httpTLS *tls.Config
	if certs != nil {
		// Probes (kubelet, a container's health check) cannot present a certificate: the
		// handshake asks for one but lets a client without one in, and clientCerts refuses
		// all but the probes of those (see docs/tls.md). A certificate that is presented must
		// verify, or the handshake fails.
		httpTLS = certs.ServerConfig([]string{"h2", "http/1.1"}, tls.VerifyClientCertIfGiven)
		if cfg.TLSClientCAFile != "" {
			handler = clientCerts(root, calls)
		}
	}
	g.http = &http.Server{
		Handler:           handler,
		TLSConfig:         httpTLS,
		ReadHeaderTimeout: cfg.HTTPReadHeaderTimeout,
		ReadTimeout:       cfg.HTTPReadTimeout,
		WriteTimeout:      cfg.HTTPWriteTimeout,
		IdleTimeout:       cfg.HTTPIdleTimeout,
		MaxHeaderBytes:    cfg.HTTPMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	if g.grpcLn, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		return nil, fmt.Errorf("gRPC listener: %w", err)
	}
	if g.httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("HTTP listener: %w", err)
	}
	if cfg.WebhookAddr != "" {
		// LiveChat presents no client certificate: this listener has TLS when the others do,
		// but never asks for one. A delivery's secret_key is what authenticates it.
		var whTLS *tls.Config
		if certs != nil {
			whTLS = certs.ServerConfig([]string{"h2", "http/1.1"}, tls.NoClientCert)
		}
		mux := http.NewServeMux()
		mux.Handle("POST /webhooks", hk.receiver)
		g.webhook = &http.Server{
			Handler: mux, TLSConfig: whTLS,
			ReadHeaderTimeout: cfg.HTTPReadHeaderTimeout, ReadTimeout: cfg.HTTPReadTimeout,
			WriteTimeout: cfg.HTTPWriteTimeout, IdleTimeout: cfg.HTTPIdleTimeout,
			MaxHeaderBytes: cfg.HTTPMaxHeaderBytes,
			ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		if g.webhookLn, err = net.Listen("tcp", cfg.WebhookAddr); err != nil {
			return nil, fmt.Errorf("GATEWAY_WEBHOOK_ADDR listener: %w", err)
		}
	}
	if cfg.PprofAddr != "" {
		if g.pprofLn, err = net.Listen("tcp", cfg.PprofAddr); err != nil {
			return nil, fmt.Errorf("PPROF_ADDR listener: %w", err)
		}
		g.pprof = newPprof(log)
	}
	built = true
	return g, nil
}

// restSpanName names a REST request's span "POST /v3.2/configuration/action/<action>" for the
// actions' paths, and by its method alone for any other path, so that a client cannot make up
// span names.
func restSpanName(r *http.Request) string {
	method := r.Method
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
	default:
		method = "HTTP" // any token is a method: the name must stay one of a few
	}
	if name, ok := strings.CutPrefix(r.URL.Path, action.PathPrefix); ok {
		if a, ok := action.ByName(name); ok {
			return method + " " + a.Path()
		}
	}
	return method
}

// release frees what New acquired, for a gateway that New could not finish.
func (g *Gateway) release() {
	if g.grpcLn != nil {
		g.grpcLn.Close()
	}
	if g.httpLn != nil {
		g.httpLn.Close()
	}
	if g.pprofLn != nil {
		g.pprofLn.Close()
	}
	if g.webhookLn != nil {
		g.webhookLn.Close()
	}
	g.svc.Close()
	g.hooks.close()
	g.store.Close()
}

// GRPCAddr returns the address the gRPC server listens on.
func (g *Gateway) GRPCAddr() net.Addr { return g.grpcLn.Addr() }

// HTTPAddr returns the address the HTTP server listens on.
func (g *Gateway) HTTPAddr() net.Addr { return g.httpLn.Addr() }

// WebhookAddr returns the address POST /webhooks is served on: GATEWAY_WEBHOOK_ADDR's listener,
// or the HTTP one.
func (g *Gateway) WebhookAddr() net.Addr {
	if g.webhookLn != nil {
		return g.webhookLn.Addr()
	}
	return g.HTTPAddr()
}

// WebhookStore returns the store of the webhook events this gateway receives.
func (g *Gateway) WebhookStore() webhooks.Store { return g.hooks.store }

// WebhookReceiver returns the handler of POST /webhooks, for a program that hands deliveries
// to it in process (gateway -dev's emulator), past the listeners and their TLS.
func (g *Gateway) WebhookReceiver() http.Handler { return g.hooks.receiver }

// Conn returns a connection to the gateway's services through the REST surface's in-process
// channel: its calls take the same path as any other (interceptors, cache, the learning of
// webhook secrets), and are logged and counted as the REST surface's. It serves before Run.
func (g *Gateway) Conn() grpc.ClientConnInterface { return g.conn }

// Run serves until ctx is done, then shuts down gracefully: it stops accepting, reports not
// ready, lets in-flight calls finish within the shutdown timeout, and returns nil. It returns an
// error if a server fails.
func (g *Gateway) Run(ctx context.Context) error {
	errc := make(chan error, 5)
	go func() { errc <- g.grpc.Serve(g.grpcLn) }()
	go func() {
		if g.http.TLSConfig != nil {
			errc <- g.http.ServeTLS(g.httpLn, "", "") // the certificate is the TLSConfig's
			return
		}
		errc <- g.http.Serve(g.httpLn)
	}()
	if g.webhook != nil {
		go func() {
			if g.webhook.TLSConfig != nil {
				errc <- g.webhook.ServeTLS(g.webhookLn, "", "")
				return
			}
			errc <- g.webhook.Serve(g.webhookLn)
		}()
		g.log.Info("webhook receiver on GATEWAY_WEBHOOK_ADDR", "addr", g.WebhookAddr().String())
	}
	if g.pprof != nil {
		go func() { errc <- g.pprof.Serve(g.pprofLn) }()
		g.log.Info("profiling on PPROF_ADDR", "addr", g.PprofAddr().String())
	}
	g.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	g.ready.Store(true)
	g.log.Info("gateway serving", "grpc", g.GRPCAddr().String(), "http", g.HTTPAddr().String(), "upstream", g.cfg.UpstreamURL,
		"tls", g.cfg.TLS(), "client_certs", g.cfg.TLSClientCAFile != "")

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		g.log.Error("server failed", "err", runErr)
	}
	g.shutdown()
	return runErr
}

// shutdown drains the gateway and stops its servers. For the drain delay it reports not ready
// (/readyz and gRPC health) while it still serves, so that load balancers stop sending it new
// calls before its listeners close; then in-flight calls have the shutdown timeout to finish.
func (g *Gateway) shutdown() {
	g.ready.Store(false)
	g.health.Shutdown()
	if g.cfg.DrainDelay > 0 {
		g.log.Info("draining: reporting not ready before the listeners close", "delay", g.cfg.DrainDelay.String())
		// A wait by design, not a synchronisation: the time load balancers need to notice.
		<-time.After(g.cfg.DrainDelay)
	}
	g.log.Info("shutting down", "timeout", g.cfg.ShutdownTimeout.String())
	// Webhook streams never end by themselves: end them now, with UNAVAILABLE, so that their
	// subscribers resume on another replica while the servers wait for the other calls.
	g.hooks.subs.Drain()
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		// REST calls run in the HTTP server's handlers, through the in-process channel: they
		// have ended when it has shut down, or are cancelled with their connections.
		if err := g.http.Shutdown(ctx); err != nil {
			g.log.Warn("HTTP shutdown", "err", err)
			g.http.Close()
		}
	})
	wg.Go(func() { g.stopGRPC(ctx, g.grpc) })
	if g.webhook != nil {
		wg.Go(func() {
			if err := g.webhook.Shutdown(ctx); err != nil {
				g.log.Warn("webhook listener shutdown", "err", err)
				g.webhook.Close()
			}
		})
	}
	wg.Wait()
	if g.pprof != nil {
		g.pprof.Close() // profiles may run for many seconds: no call of a client's to finish
	}
	// The servers have stopped, so no call waits on a shared upstream call any more: cancel
	// those still running and wait for them (and their cache fills) before the store closes.
	g.svc.Close()
	g.hooks.close()
	g.store.Close()
	g.log.Info("stopped")
}

// stopGRPC stops s gracefully, or at once when ctx ends first.
func (g *Gateway) stopGRPC(ctx context.Context, s *grpc.Server) {
	stopped := make(chan struct{})
	go func() { s.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
		g.log.Warn("gRPC calls still running at the shutdown timeout; stopping them")
		s.Stop()
	}
}

// readyz reports whether the gateway can serve: it is running and a health check through the
// REST surface's in-process channel reaches the service, which checks the wiring end to end.
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
