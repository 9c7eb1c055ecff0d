package server

import (
	"context"
	"log/slog"
	"runtime/debug"
	"strconv"
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
		log:     log,
		logger:  slogLogger(log),
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

// slogLogger adapts log to the logging interceptor. It makes the record itself, as slog's
// documentation shows for wrappers, rather than through slog.Logger.Log, which also looks up its
// caller (runtime.Callers) for a source that the gateway's handler does not print and that would
// name this adapter anyway.
func slogLogger(log *slog.Logger) logging.Logger {
	h := log.Handler()
	return logging.LoggerFunc(func(ctx context.Context, level logging.Level, msg string, fields ...any) {
		l := slog.Level(level)
		if !h.Enabled(ctx, l) {
			return
		}
		r := slog.NewRecord(time.Now(), l, msg, 0)
		r.Add(fields...)
		_ = h.Handle(ctx, r)
	})
}

// durationField is the grpc.time_ms field of a call's log line, written as the logging
// interceptor's default (logging.DurationToTimeMillisFields) writes it, a float32 of milliseconds
// to the microsecond as fmt's %v prints it, without fmt's cost.
func durationField(d time.Duration) logging.Fields {
	ms := float32(d.Nanoseconds()/1000) / 1000
	return logging.Fields{"grpc.time_ms", strconv.FormatFloat(float64(ms), 'g', -1, 32)}
}

// logOptions configures the call log line of surface's calls.
func (c *calls) logOptions(surface string) []logging.Option {
	return []logging.Option{
		logging.WithLogOnEvents(logging.FinishCall),
		logging.WithLevels(codeLevel),
		logging.WithDurationField(durationField),
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

// callFields are the gateway's own fields of a call's log line, first on it, before the
// interceptor's grpc.* fields: the surface, the action, the caller's region and the cache's
// outcome. None is taken from the authorization metadata, which holds the caller's token.
//
// The interceptor asks for them twice: when the call starts, for the fields it puts in the call's
// context (which the gateway's logging does not read), and for the line, after the call. Only the
// line's are made: the line is the same, and the interceptor deduplicates its fields through a
// map, which stays small with fewer fields. Either way the slice is made with room for the
// fields the interceptor appends to it, so that it does not grow.
//
// An action's fields end with the interceptor's own common fields, with the values it gives them
// (logFields): the interceptor keeps the first field of a key, so the line is the same, but it no
// longer appends them, which boxes each key again (an allocation each).
func callFields(ctx context.Context, meta interceptors.CallMeta, surface string) logging.Fields {
	lf, ok := logFields[[2]string{meta.Service, meta.Method}]
	if ok && meta.Typ != interceptors.Unary {
		lf, ok = actionFields{}, false // not an action: every action is unary
	}
	if logging.ExtractFields(ctx) == nil {
		// The call's start: the interceptor has put no fields in its context yet.
		return append(make(logging.Fields, 0, 16), lf.common...)
	}
	f := make(logging.Fields, 0, 32)
	f = append(f, "surface", surfaceValue(surface))
	if ok {
		f = append(f, "action", lf.action)
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
		f = append(f, "cache", cacheValue(n.Cache()))
	}
	return append(f, lf.common...)
}

// actionFields are the fields of an action's log lines that do not change from call to call, as
// a line's values: boxed once here rather than on every line (boxing a string allocates).
type actionFields struct {
	action any            // the action's name
	common logging.Fields // the logging interceptor's common fields of a unary server call
}

// logFields are the actions' actionFields by their RPC's service and method.
var logFields = func() map[[2]string]actionFields {
	m := map[[2]string]actionFields{}
	for _, a := range action.All() {
		svc, method := string(a.Method.Parent().FullName()), string(a.Method.Name())
		m[[2]string{svc, method}] = actionFields{action: a.Name, common: logging.Fields{
			logging.SystemTag[0], logging.SystemTag[1],
			logging.ComponentFieldKey, logging.KindServerFieldValue,
			logging.ServiceFieldKey, svc,
			logging.MethodFieldKey, method,
			logging.MethodTypeFieldKey, string(interceptors.Unary),
		}}
	}
	return m
}()

// surfaceValue and cacheValue return their few values as constants, which a log line's `any`
// holds without allocating.
func surfaceValue(s string) any {
	switch s {
	case surfaceGRPC:
		return surfaceGRPC
	case surfaceREST:
		return surfaceREST
	}
	return s
}

func cacheValue(outcome string) any {
	switch outcome {
	case "hit":
		return "hit"
	case "miss":
		return "miss"
	case "stale":
		return "stale"
	case "bypass":
		return "bypass"
	}
	return outcome
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
	attrs = append(attrs, durationField(latency)...)
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
