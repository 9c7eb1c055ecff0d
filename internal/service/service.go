// Package service serves the 30 RPCs of the gateway's API on one generic path: take the
// credentials from the call's metadata, check the request against the spec's rules, send it
// upstream as the upstream's JSON, and turn the answer or error into the RPC's response or a
// gRPC status.
//
// No RPC has a handler of its own. Register builds the five services' descriptors from
// internal/action's table, so an action is described once, there, and a new action needs no code
// here.
package service

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/livechat-gateway/gateway/internal/action"
	"github.com/livechat-gateway/gateway/internal/requestid"
	"github.com/livechat-gateway/gateway/internal/spec"
	"github.com/livechat-gateway/gateway/internal/upstream"
	"github.com/livechat-gateway/gateway/internal/wire"
)

// Upstream sends one action call to the LiveChat API. *upstream.Client implements it.
type Upstream interface {
	Do(ctx context.Context, r *upstream.Request) (*upstream.Response, error)
}

var _ Upstream = (*upstream.Client)(nil)

// Metadata keys the service reads and writes. gRPC metadata keys are lowercase; the REST side
// maps them to and from the HTTP headers of the same names.
const (
	MDAuthorization = "authorization"
	MDRegion        = "x-region"
	MDLegacy        = "legacy"
	MDDeprecation   = "deprecation"
	// MDSurface is set to "rest" by the REST surface's in-memory client, and asks for MDEmpties.
	MDSurface = "x-gateway-surface"
	// MDEmpties carries, to the REST surface, the places of the empty lists and maps of the
	// upstream's answer (wire.EmptyPaths), which protobuf cannot: the REST surface puts them back.
	MDEmpties = "x-gateway-empties-bin" // binary: keys of the answer may be any text
)

// Service serves the API. Create it with New.
type Service struct {
	up       Upstream
	log      *slog.Logger
	reads    *reads // nil: no cache
	maxDepth int    // how deeply a request's JSON may nest
	checked  *checkedBodies
	writes   func(ctx context.Context, action string, req, resp proto.Message)
}

// Option configures a Service.
type Option func(*Service) error

// WithCache caches the reads as c says.
func WithCache(c Cache) Option {
	return func(s *Service) error {
		r, err := newReads(c, s.log)
		if err != nil {
			return err
		}
		s.reads = r
		return nil
	}
}

// WithMaxJSONDepth refuses requests whose JSON nests objects and arrays deeper than n levels
// (default wire.DefaultMaxDepth).
func WithMaxJSONDepth(n int) Option {
	return func(s *Service) error {
		if n < 1 {
			return fmt.Errorf("service: JSON depth limit %d, want at least 1", n)
		}
		s.maxDepth = n
		return nil
	}
}

// WithWrites calls f after each write the upstream answered with success, with the action's
// name, the request and the answer, before the call returns: for what must know of a write
// before its caller does, such as the webhook secrets that register_webhook sets (a delivery
// may follow the answer at once). f runs in the call and must be quick and not fail it; a write
// whose outcome is unknown, or that failed, is not passed to it.
func WithWrites(f func(ctx context.Context, action string, req, resp proto.Message)) Option {
	return func(s *Service) error {
		s.writes = f
		return nil
	}
}

// New returns a Service that calls up. It refuses a nil upstream and a bad option.
func New(up Upstream, log *slog.Logger, opts ...Option) (*Service, error) {
	if up == nil {
		return nil, errors.New("service: no upstream")
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Service{up: up, log: log, maxDepth: wire.DefaultMaxDepth, checked: newCheckedBodies()}
	for _, opt := range opts {
		if err := opt(s); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Stream is a streaming RPC of the gateway's own, not an upstream action, served beside the
// actions of its service (a gRPC server takes each service once).
type Stream struct {
	// FullMethod is the RPC's name, as in /livechat.configuration.v1.WebhookService/SubscribeWebhooks.
	FullMethod string
	Handler    grpc.StreamHandler
}

// Register registers the five services on r, with every action on the generic path, and streams
// on their services. It panics on a stream of a service that carries no action, or that is not
// server-streaming, as grpc's own registration panics on a bad service.
func (s *Service) Register(r grpc.ServiceRegistrar, streams ...Stream) {
	descs := map[protoreflect.FullName]*grpc.ServiceDesc{}
	var order []protoreflect.FullName
	for _, a := range action.All() {
		svc := a.Method.Parent()
		d := descs[svc.FullName()]
		if d == nil {
			d = &grpc.ServiceDesc{
				ServiceName: string(svc.FullName()),
				// Any value implements the empty interface: the methods below need nothing of
				// the registered value, since they close over s.
				HandlerType: (*any)(nil),
				Metadata:    svc.ParentFile().Path(),
			}
			descs[svc.FullName()] = d
			order = append(order, svc.FullName())
		}
		d.Methods = append(d.Methods, grpc.MethodDesc{MethodName: string(a.Method.Name()), Handler: s.method(a)})
	}
	for _, st := range streams {
		svc, method, _ := strings.Cut(strings.TrimPrefix(st.FullMethod, "/"), "/")
		d := descs[protoreflect.FullName(svc)]
		md, _ := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc + "." + method))
		m, _ := md.(protoreflect.MethodDescriptor)
		if d == nil || m == nil || !m.IsStreamingServer() || m.IsStreamingClient() {
			panic(fmt.Sprintf("service: %s is not a server-streaming RPC of the actions' services", st.FullMethod))
		}
		d.Streams = append(d.Streams, grpc.StreamDesc{StreamName: method, Handler: st.Handler, ServerStreams: true})
	}
	for _, name := range order {
		r.RegisterService(descs[name], s)
	}
}

// method returns the gRPC handler of action a: decode the request, then run Call through the
// server's interceptors.
func (s *Service) method(a *action.Action) grpc.MethodHandler {
	// Made once: the interceptors only read them.
	fullMethod := a.FullMethod()
	return func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
		r := &request{Message: a.NewRequest()}
		req := r.Message
		// r.encoded is known once dec has run: whether the reply may be a cached answer's bytes.
		call := func(ctx context.Context, req any) (any, error) {
			return s.serve(ctx, a, req.(proto.Message), r.encoded)
		}
		if err := s.decode(dec, r); err != nil {
			// The refusal still takes the interceptors' path, so that it is logged and
			// counted like any other call.
			call = func(context.Context, any) (any, error) { return nil, err }
		}
		if interceptor == nil {
			return call(ctx, req)
		}
		return interceptor(ctx, req, &grpc.UnaryServerInfo{Server: srv, FullMethod: fullMethod}, call)
	}
}

// Recv receives the request of a stream into m, as an action's handler decodes its request: a
// message that does not decode, or nests too deeply, is INVALID_ARGUMENT (grpc's own decoding
// error would be INTERNAL).
func (s *Service) Recv(stream grpc.ServerStream, m proto.Message) error {
	return s.decode(stream.RecvMsg, &request{Message: m})
}

// decode receives a request into r with recv (a unary handler's dec, or a stream's RecvMsg) and
// returns the status a request that does not decode is refused with: Codec's error, recorded in
// r, or grpc's own, which grpc has answered already.
func (s *Service) decode(recv func(any) error, r *request) error {
	err := recv(r)
	if err == nil {
		err = r.err
	}
	if err != nil {
		return decodeError(err, s.maxDepth)
	}
	return nil
}

// lifecycles is what an Upstream that keeps the upstream's last lifecycle headers implements
// (*upstream.Client does).
type lifecycles interface {
	Lifecycle(auth, region string) (legacy, deprecation string)
}

// Call serves one call of action a. It is the generic path every RPC takes.
func (s *Service) Call(ctx context.Context, a *action.Action, req proto.Message) (proto.Message, error) {
	resp, err := s.serve(ctx, a, req, false)
	if err != nil {
		return nil, err
	}
	return resp.(proto.Message), nil
}

// serve is Call, except that with encoded a cached answer is served as its bytes (an encoded),
// not decoded, for a transport that sends or decodes them as they are (see Codec and Cloner).
func (s *Service) serve(ctx context.Context, a *action.Action, req proto.Message, encoded bool) (any, error) {
	auth := first(ctx, MDAuthorization)
	resp, answered, err := s.call(ctx, a, req, auth, encoded)
	if err != nil && !answered {
		// A refusal of the gateway's own carries the lifecycle headers the upstream's last
		// answer from the call's region had, as every upstream answer does.
		if l, ok := s.up.(lifecycles); ok {
			legacy, deprecation := l.Lifecycle(auth, first(ctx, MDRegion))
			setLifecycle(ctx, legacy, deprecation)
		}
	}
	return resp, err
}

// call is Call's work. answered reports whether the upstream answered the call, whose answer's
// lifecycle headers are then set.
func (s *Service) call(ctx context.Context, a *action.Action, req proto.Message, auth string, encoded bool) (_ any, answered bool, _ error) {
	if !isBearer(auth) {
		// Refused here, so the call costs nothing upstream. The value is not quoted: it may
		// be a token sent the wrong way.
		return nil, false, GatewayError(errAuthentication, `Authorization metadata must be a bearer token: "bearer <token>" (the scheme is case-insensitive)`)
	}
	region := first(ctx, MDRegion)
	if region != "" && !regionPattern.MatchString(region) {
		return nil, false, InvalidArgument("X-Region", fmt.Sprintf("X-Region %q is not a region name such as dal or fra", region))
	}
	body, err := wire.EncodeRequest(a, req)
	if err != nil {
		return nil, false, InvalidArgument("update_mask", err.Error())
	}
	if !s.checked.passed(a, body) {
		// Before spec.CheckBody, whose decoding recurses. A gRPC request's nesting was bounded
		// when it was decoded (see decodeError); this is the exact limit, for both surfaces.
		if err := wire.CheckDepth(body, s.maxDepth); err != nil {
			return nil, false, InvalidArgument(cmp.Or(err.(*wire.DepthError).Field, "body"), err.Error())
		}
		if err := spec.CheckBody(a.Name, body); err != nil {
			var v *spec.Violation
			if errors.As(err, &v) {
				return nil, false, InvalidArgument(v.Path, v.Error())
			}
			return nil, false, s.internal(ctx, a, err)
		}
		s.checked.add(a, body)
	}
	callerID := requestid.From(ctx)
	fetch := func(ctx context.Context) (*answer, error) {
		if requestid.From(ctx) == "" {
			// A shared call runs in a context of its own: it sends the id of the caller that
			// started it.
			ctx = requestid.With(ctx, callerID)
		}
		resp, err := s.up.Do(ctx, &upstream.Request{
			Action: a.Name, Read: a.Read, Body: body, Authorization: auth, Region: region,
		})
		if err != nil {
			return nil, err
		}
		if a.Read {
			if err := wire.CheckAnswer(a, resp.Body); err != nil {
				return nil, s.badAnswer(ctx, a, resp, err.Error())
			}
		}
		out := a.NewResponse()
		if err := wire.DecodeResponse(a, resp.Body, out, wire.LenientUnmarshalOptions()); err != nil {
			return nil, s.badAnswer(ctx, a, resp, "its fields are not the action's answer's")
		}
		return &answer{resp: out, legacy: resp.Legacy, deprecation: resp.Deprecation, empties: wire.EmptyPaths(resp.Body)}, nil
	}
	var (
		ans    *answer
		xcache string // the cache's outcome, when the cache took part
	)
	if a.Read && s.reads != nil {
		ans, xcache, err = s.reads.read(ctx, a, auth, region, body, encoded, fetch)
	} else {
		ans, err = fetch(ctx)
	}
	if err != nil {
		var ue *upstream.Error
		answered := errors.As(err, &ue)
		if answered {
			setHeader(ctx, xcache, ue.Legacy, ue.Deprecation, "")
		} else {
			setHeader(ctx, xcache, "", "", "")
		}
		unknown := !a.Read && outcomeUnknown(err)
		if unknown && s.reads != nil {
			s.reads.wrote(ctx, auth)
		}
		return nil, answered, s.status(ctx, a, err, unknown)
	}
	if !a.Read && s.reads != nil {
		s.reads.wrote(ctx, auth)
	}
	if !a.Read && s.writes != nil {
		s.writes(ctx, a.Name, req, ans.resp)
	}
	var empties string
	if ans.empties != "" && first(ctx, MDSurface) == "rest" {
		empties = ans.empties
	}
	setHeader(ctx, xcache, ans.legacy, ans.deprecation, empties)
	return ans.reply(), true, nil
}

// Close ends the service's own work: it cancels the shared upstream calls still running (their
// callers have gone, or are given the cancellation) and waits for them and for the cache's
// background work. Call it after the servers have stopped, and before the cache's store closes.
func (s *Service) Close() {
	if s.reads != nil {
		s.reads.close()
	}
}

// setLifecycle sends the upstream's Legacy and Deprecation headers as header metadata.
func setLifecycle(ctx context.Context, legacy, deprecation string) {
	setHeader(ctx, "", legacy, deprecation, "")
}

// setHeader sends a call's header metadata, those of its values that are set: the cache's outcome
// (x-cache), the upstream's Legacy and Deprecation headers, and the answer's empties for the REST
// surface. They go in one grpc.SetHeader, since each one copies the whole header set so far.
func setHeader(ctx context.Context, xcache, legacy, deprecation, empties string) {
	md := make(metadata.MD, 4)
	for _, h := range [...]struct{ key, value string }{
		{MDCache, xcache}, {MDLegacy, legacy}, {MDDeprecation, deprecation}, {MDEmpties, empties},
	} {
		if h.value != "" {
			md[h.key] = []string{h.value}
		}
	}
	if len(md) > 0 {
		// It fails only outside a gRPC call, as in direct calls of Call from tests.
		_ = grpc.SetHeader(ctx, md)
	}
}

// regionPattern is what a region name may look like. Regions other than dal and fra are passed
// on, so that a new data center needs no gateway release; the upstream answers
// misdirected_request for one it does not serve.
var regionPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// isBearer reports whether an Authorization value is a credential: "Bearer <token>", the scheme
// in any case, the token not empty. Anything else is refused without an upstream call.
func isBearer(auth string) bool {
	scheme, token, ok := strings.Cut(strings.TrimSpace(auth), " ")
	return ok && strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(token) != ""
}

// first returns the first value of key in ctx's incoming metadata, or "". It reads the one key,
// where metadata.FromIncomingContext would copy the whole metadata.
func first(ctx context.Context, key string) string {
	if v := metadata.ValueFromIncomingContext(ctx, key); len(v) > 0 {
		return v[0]
	}
	return ""
}
