package rest_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
	"github.com/livechat-gateway/gateway/internal/action"
	"github.com/livechat-gateway/gateway/internal/rest"
)

// fakeServer is the small in-test implementation that the REST tests serve the generated gateway
// over. One generic gRPC handler answers every RPC of the five services with the response set for
// its action (an empty one by default) and records the requests it gets.
type fakeServer struct {
	mu        sync.Mutex
	requests  map[string][]proto.Message
	responses map[string]proto.Message
}

func (f *fakeServer) handle(_ any, stream grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(stream)
	a, ok := action.ByMethod(method)
	if !ok {
		return status.Errorf(codes.Unimplemented, "no action is carried by %s", method)
	}
	req := a.NewRequest()
	if err := stream.RecvMsg(req); err != nil {
		return err
	}
	f.mu.Lock()
	f.requests[a.Name] = append(f.requests[a.Name], req)
	resp := f.responses[a.Name]
	f.mu.Unlock()
	if resp == nil {
		resp = a.NewResponse()
	}
	return stream.SendMsg(resp)
}

// respond makes the server answer action with resp.
func (f *fakeServer) respond(action string, resp proto.Message) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.responses[action] = resp
}

// calls returns the requests the server got for action.
func (f *fakeServer) calls(action string) []proto.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[action]
}

// last returns the last request the server got for action.
func (f *fakeServer) last(t *testing.T, action string) proto.Message {
	t.Helper()
	calls := f.calls(action)
	if len(calls) == 0 {
		t.Fatalf("the server got no %s request", action)
	}
	return calls[len(calls)-1]
}

// registerFuncs are the generated registrations of the five services' REST handlers.
var registerFuncs = []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
	configv1.RegisterAgentServiceHandler,
	configv1.RegisterBotServiceHandler,
	configv1.RegisterGroupServiceHandler,
	configv1.RegisterPropertyServiceHandler,
	configv1.RegisterWebhookServiceHandler,
}

// newGateway serves the generated gateway mux, with the REST options, over a fakeServer reached
// through an in-memory gRPC connection.
func newGateway(t *testing.T) (*httptest.Server, *fakeServer) {
	t.Helper()
	return newGatewayWith(t, rest.Options{})
}

// newGatewayWith is newGateway with the options o.
func newGatewayWith(t *testing.T, o rest.Options) (*httptest.Server, *fakeServer) {
	t.Helper()
	fake := &fakeServer{requests: map[string][]proto.Message{}, responses: map[string]proto.Message{}}
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(grpc.UnknownServiceHandler(fake.handle))
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)

	conn, err := grpc.NewClient("passthrough:///fake",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(rest.ClientInterceptor()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })

	mux := runtime.NewServeMux(rest.ServeMuxOptions(o)...)
	for _, register := range registerFuncs {
		if err := register(context.Background(), mux, conn); err != nil {
			t.Fatal(err)
		}
	}
	gw := httptest.NewServer(rest.Handler(mux, o))
	t.Cleanup(gw.Close)
	return gw, fake
}

// post sends body to the action's path on the gateway and returns the status and answer.
func post(t *testing.T, gw *httptest.Server, a *action.Action, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(gw.URL+a.Path(), "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
