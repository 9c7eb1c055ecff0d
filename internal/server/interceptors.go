package server

import (
	"context"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	middleware "github.com/grpc-ecosystem/go-grpc-middleware/v2"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/livechat-gateway/gateway/internal/action"
	"github.com/livechat-gateway/gateway/internal/requestid"
	"github.com/livechat-gateway/gateway/internal/service"
)

// The surfaces a call comes in by: the surface label of the gRPC server series and the surface
// field of a call's log line.
const (
	surfaceGRPC = "grpc"
	surfaceREST = "rest"
)

// calls observes the calls of both gRPC servers, the REST surface's included, through the
// ecosystem's interceptors: the standard grpc_server_* series (go-grpc-middleware's prometheus
// provider, one set per surface), one log line per call (its logging interceptor, to slog), and
// panic recovery. It also logs and counts the REST calls that the REST surface refused before
// they reached a server (refused).
type calls struct {
	log     *slog.Logger
	logger  logging.Logger
	surface map[string]*grpcprom.ServerMetrics
	refusal *prometheus.CounterVec // grpc_service, grpc_method, grpc_code
}

func newCalls(log *slog.Logger, reg prometheus.Registerer) *calls {
	c := &calls{
		log: log,
		logger: logging.LoggerFunc(func(ctx context.Context, level logging.Level, msg string, fields ...any) {
			log.Log(ctx, slog.Level(level), msg, fields...)
		}),
		surface: map[string]*grpcprom.ServerMetrics{},
		refusal: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_rest_refused_total",
			Help: "REST calls that the REST surface answered itself, before they reached the gRPC path (a body too large, malformed or too deep, a call shed for load), by the RPC their path routes to (unknown when none) and the code of the answer.",
		}, []string{"grpc_service", "grpc_method", "grpc_code"}),
	}
	for _, s := range []string{surfaceGRPC, surfaceREST} {
		// One set of the standard series per surface, told apart by a constant label, so that
		// a dashboard made for any gRPC service works on either or on both summed.
		m := grpcprom.NewServerMetrics(
			grpcprom.WithServerCounterOptions(grpcprom.WithConstLabels(prometheus.Labels{"surface": s})),
			grpcprom.WithServerHandlingTimeHistogram(grpcprom.WithHistogramConstLabels(prometheus.Labels{"surface": s})),
		)
		reg.MustRegister(m)
		c.surface[s] = m
	}
	return c
}

// options returns the interceptors of the server of surface, in order: request ids first, so
// that every line logged in the call names its id; then the metrics and the call's log line,
// around panic recovery, so that a panic is counted and logged as the INTERNAL it answers.
// extra run innermost, inside the logging.
func (c *calls) options(surface string, extra ...grpc.UnaryServerInterceptor) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(c.unary(surface, extra...)...),
		grpc.ChainStreamInterceptor(c.stream(surface)...),
	}
}

// stream returns the stream interceptors of surface's server, in the order of unary's.
func (c *calls) stream(surface string) []grpc.StreamServerInterceptor {
	return []grpc.StreamServerInterceptor{
		streamRequestIDs(),
		c.surface[surface].StreamServerInterceptor(),
		logging.StreamServerInterceptor(c.logger, c.logOptions(surface)...),
		recovery.StreamServerInterceptor(recovery.WithRecoveryHandlerContext(c.recovered)),
	}
}

// chainStream runs interceptors in order around a stream handler, as chainUnary does.
func chainStream(interceptors ...grpc.StreamServerInterceptor) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		next := handler
		for i := len(interceptors) - 1; i >= 0; i-- {
			in, inner := interceptors[i], next
			next = func(srv any, ss grpc.ServerStream) error { return in(srv, ss, info, inner) }
		}
		return next(srv, ss)
	}
}

// logOptions configures the call log line of surface's calls.
func (c *calls) logOptions(surface string) []logging.Option {
	return []logging.Option{
		logging.WithLogOnEvents(logging.FinishCall),
		logging.WithLevels(codeLevel),
		logging.WithFieldsFromContextAndCallMeta(func(ctx context.Context, meta interceptors.CallMeta) logging.Fields {
			return callFields(ctx, meta, surface)
		}),
	}
}

// unary returns the unary interceptors of surface's server, in order (see options).
func (c *calls) unary(surface string, extra ...grpc.UnaryServerInterceptor) []grpc.UnaryServerInterceptor {
	return append([]grpc.UnaryServerInterceptor{
		requestIDs(),
		c.surface[surface].UnaryServerInterceptor(),
		withNotes,
		logging.UnaryServerInterceptor(c.logger, c.logOptions(surface)...),
		recovery.UnaryServerInterceptor(recovery.WithRecoveryHandlerContext(c.recovered)),
	}, extra...)
}

// chainUnary runs interceptors in order around a handler, as grpc.ChainUnaryInterceptor does
// for a grpc.Server: for the in-process channel, which takes one.
func chainUnary(interceptors ...grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		next := handler
		for i := len(interceptors) - 1; i >= 0; i-- {
			in, inner := interceptors[i], next
			next = func(ctx context.Context, req any) (any, error) { return in(ctx, req, info, inner) }
		}
		return next(ctx, req)
	}
}

// initialize creates the series of every method of s at zero, so that rates and alerts work
// from the first scrape.
func (c *calls) initialize(surface string, s reflection.ServiceInfoProvider) {
	c.surface[surface].InitializeMetrics(s)
}

// codeLevel logs a call at error level when the gateway failed it, else at info: a client's
// mistake or an upstream refusal is routine for a gateway.
func codeLevel(code codes.Code) logging.Level {
	switch code {
	case codes.Internal, codes.Unknown, codes.DataLoss:
		return logging.LevelError
	}
	return logging.LevelInfo
}

// callFields are the gateway's own fields of a call's log line, next to the interceptor's
// grpc.* fields: the action, the surface, the caller's region and the cache's outcome. None is
// taken from the authorization metadata, which holds the caller's token.
func callFields(ctx context.Context, meta interceptors.CallMeta, surface string) logging.Fields {
	f := logging.Fields{"surface", surface}
	if a, ok := action.ByMethod(meta.FullMethod()); ok {
		f = append(f, "action", a.Name)
	}
	if surface == surfaceREST {
		// The in-process channel's peer is no address; grpc-gateway appends the HTTP client's
		// to x-forwarded-for, last, after any the client sent itself.
		if v := metadata.ValueFromIncomingContext(ctx, "x-forwarded-for"); len(v) > 0 {
			last := v[len(v)-1]
			f = append(f, "peer.address", strings.TrimSpace(last[strings.LastIndexByte(last, ',')+1:]))
		}
	}
	// ValueFromIncomingContext reads one key without copying the whole metadata.
	if r := metadata.ValueFromIncomingContext(ctx, service.MDRegion); len(r) > 0 {
		f = append(f, "region", r[0])
	}
	if n := service.NotesFrom(ctx); n != nil && n.Cache() != "" {
		f = append(f, "cache", n.Cache())
	}
	return f
}

// withNotes gives the call a service.Notes for the service to fill, read by callFields.
func withNotes(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, _ = service.WithNotes(ctx)
	return handler(ctx, req)
}

// recovered logs a handler's panic with its stack and answers INTERNAL, so that one bad call
// cannot take the gateway down. The panic value is the gateway's own, never a request's text.
func (c *calls) recovered(ctx context.Context, p any) error {
	method, _ := grpc.Method(ctx)
	c.log.ErrorContext(ctx, "panic", "method", method, "panic", p, "stack", string(debug.Stack()))
	return status.Error(codes.Internal, "internal error")
}

// refused logs and counts a REST call that the REST surface refused before it reached the gRPC
// server (rest.Options.Refused), in the shape of the logging interceptor's line, with the
// refusal's status message, which quotes no body.
func (c *calls) refused(ctx context.Context, fullMethod string, err error, latency time.Duration) {
	svc, method := "unknown", "unknown" // not routed; a label value must come from a bounded set
	act, routed := action.ByMethod(fullMethod)
	if routed {
		svc, method, _ = strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	}
	code := status.Code(err)
	c.refusal.WithLabelValues(svc, method, code.String()).Inc()
	msg := status.Convert(err).Message()
	if len(msg) > 300 {
		msg = strings.ToValidUTF8(msg[:300], "") + "…"
	}
	attrs := []any{
		"grpc.component", "server", "grpc.service", svc, "grpc.method", method,
		"grpc.code", code.String(), "surface", surfaceREST, "refused", msg,
	}
	attrs = append(attrs, logging.DurationToTimeMillisFields(latency)...)
	if routed {
		attrs = append(attrs, "action", act.Name)
	}
	c.log.Log(ctx, slog.Level(codeLevel(code)), "finished call", attrs...)
}

// streamRequestIDs is requestIDs for streams.
func streamRequestIDs() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx := ss.Context()
		wrapped := middleware.WrapServerStream(ss)
		wrapped.WrappedContext = withRequestID(ctx)
		return handler(srv, wrapped)
	}
}

// requestIDs gives each call its request id: the caller's x-request-id metadata when it is a sane
// one (the REST surface sets it from X-Request-Id, or generates it), else a new one. The id is in
// the call's context, so on every log line of the call and on its upstream request, and is
// returned as x-request-id header metadata.
func requestIDs() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		return handler(withRequestID(ctx), req)
	}
}

// withRequestID returns the call's ctx with its request id, and sets the id's header metadata.
func withRequestID(ctx context.Context) context.Context {
	var given string
	if v := metadata.ValueFromIncomingContext(ctx, requestid.Key); len(v) > 0 {
		given = v[0]
	}
	id := requestid.Or(given)
	_ = grpc.SetHeader(ctx, metadata.Pairs(requestid.Key, id)) // fails only outside a gRPC call
	return requestid.With(ctx, id)
}
