package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/livechat-gateway/gateway/internal/action"
	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/upstream"
	"github.com/livechat-gateway/gateway/internal/wire"
)

// fakeUpstream answers every call with resp or err, and records the calls. Set resp and err
// between calls only.
type fakeUpstream struct {
	resp  *upstream.Response
	err   error
	mu    sync.Mutex
	calls []*upstream.Request
}

func (f *fakeUpstream) Do(_ context.Context, r *upstream.Request) (*upstream.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, r)
	return f.resp, f.err
}

func (f *fakeUpstream) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func newService(t *testing.T, up *fakeUpstream) (*Service, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	s, err := New(up, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return s, &logs
}

func withToken(token string) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs(MDAuthorization, "Bearer "+token))
}

// TestRegisterServesEveryAction checks that Register puts all 30 RPCs on a server, in their five
// services.
func TestRegisterServesEveryAction(t *testing.T) {
	s, _ := newService(t, &fakeUpstream{})
	srv := grpc.NewServer()
	s.Register(srv)
	n := 0
	for name, info := range srv.GetServiceInfo() {
		for _, m := range info.Methods {
			if _, ok := action.ByMethod("/" + name + "/" + m.Name); !ok {
				t.Errorf("registered %s/%s, which is no action", name, m.Name)
			}
			n++
		}
	}
	if n != len(action.All()) || len(srv.GetServiceInfo()) != 5 {
		t.Errorf("registered %d methods in %d services, want %d in 5", n, len(srv.GetServiceInfo()), len(action.All()))
	}
}

// TestCallSendsTheUpstreamsRequest checks what reaches the upstream: the action, whether it is a
// read, the JSON body, the caller's Authorization and X-Region unchanged.
func TestCallSendsTheUpstreamsRequest(t *testing.T) {
	up := &fakeUpstream{resp: &upstream.Response{Body: []byte(`{"id":"a@x","name":"A","extra":1}`)}}
	s, _ := newService(t, up)
	a := testutil.Action(t, "get_agent")
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs(MDAuthorization, "Bearer fra:t", MDRegion, "fra"))
	req := a.NewRequest()
	if err := jsonUnmarshal(`{"id":"a@x","fields":["groups"]}`, req); err != nil {
		t.Fatal(err)
	}
	resp, err := s.Call(ctx, a, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(up.calls) != 1 {
		t.Fatalf("%d upstream calls", len(up.calls))
	}
	got := up.calls[0]
	if got.Action != "get_agent" || !got.Read || got.Authorization != "Bearer fra:t" || got.Region != "fra" {
		t.Errorf("upstream request = %+v", got)
	}
	testutil.JSONEqual(t, string(got.Body), `{"id":"a@x","fields":["groups"]}`)
	if !strings.Contains(fmt.Sprint(resp), "A") {
		t.Errorf("response = %v, want the upstream's agent, unknown fields dropped", resp)
	}
}

// TestErrorMapping checks each way an upstream call can fail against the status it becomes.
func TestErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		code   codes.Code
		reason string
	}{
		{"authentication", &upstream.Error{Status: 401, Type: "authentication", Message: "m"}, codes.Unauthenticated, "authentication"},
		{"authorization", &upstream.Error{Status: 403, Type: "authorization", Message: "m"}, codes.PermissionDenied, "authorization"},
		{"already_exist", &upstream.Error{Status: 409, Type: "already_exist"}, codes.AlreadyExists, "already_exist"},
		{"already_exists", &upstream.Error{Status: 409, Type: "already_exists"}, codes.AlreadyExists, "already_exists"},
		{"group_not_found", &upstream.Error{Status: 404, Type: "group_not_found"}, codes.NotFound, "group_not_found"},
		{"not_found", &upstream.Error{Status: 404, Type: "not_found"}, codes.NotFound, "not_found"},
		{"validation", &upstream.Error{Status: 422, Type: "validation"}, codes.InvalidArgument, "validation"},
		{"limit_reached", &upstream.Error{Status: 403, Type: "limit_reached"}, codes.ResourceExhausted, "limit_reached"},
		{"too_many_requests", &upstream.Error{Status: 429, Type: "too_many_requests"}, codes.ResourceExhausted, "too_many_requests"},
		{"license_expired", &upstream.Error{Status: 402, Type: "license_expired"}, codes.FailedPrecondition, "license_expired"},
		{"transfer_ownership", &upstream.Error{Status: 409, Type: "transfer_ownership"}, codes.FailedPrecondition, "transfer_ownership"},
		{"misdirected_request", &upstream.Error{Status: 421, Type: "misdirected_request"}, codes.FailedPrecondition, "misdirected_request"},
		{"unsupported_version", &upstream.Error{Status: 400, Type: "unsupported_version"}, codes.Unimplemented, "unsupported_version"},
		{"internal", &upstream.Error{Status: 500, Type: "internal"}, codes.Internal, "internal"},
		{"unknown type", &upstream.Error{Status: 418, Type: "teapot"}, codes.Internal, "teapot"},
		{"5xx without a body", &upstream.Error{Status: 502}, codes.Unavailable, "internal"},
		{"4xx without a body", &upstream.Error{Status: 400}, codes.Internal, "internal"},
		{"unreachable", fmt.Errorf("dial: %w", upstream.ErrUnavailable), codes.Unavailable, "internal"},
		{"deadline", fmt.Errorf("get: %w", context.DeadlineExceeded), codes.DeadlineExceeded, "internal"},
		{"canceled, not by the caller", context.Canceled, codes.Unavailable, "internal"},
		{"anything else", errors.New("secret cause"), codes.Internal, "internal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, logs := newService(t, &fakeUpstream{err: tc.err})
			a := testutil.Action(t, "list_groups")
			_, err := s.Call(withToken("dal:x"), a, a.NewRequest())
			st := status.Convert(err)
			if st.Code() != tc.code || errorInfo(st).GetReason() != tc.reason {
				t.Errorf("Call with upstream error %v = %v (reason %q), want %v reason %q", tc.err, err, errorInfo(st).GetReason(), tc.code, tc.reason)
			}
			if strings.Contains(st.Message(), "secret cause") {
				t.Errorf("an internal cause reached the client: %v", err)
			}
			if tc.name == "anything else" && !strings.Contains(logs.String(), "secret cause") {
				t.Errorf("an internal cause was not logged: %s", logs)
			}
		})
	}
}

// TestRefusalsCostNothing checks that a call without a token or with a request that breaks the
// spec's rules never reaches the upstream.
func TestRefusalsCostNothing(t *testing.T) {
	up := &fakeUpstream{resp: &upstream.Response{}}
	s, _ := newService(t, up)
	a := testutil.Action(t, "list_groups")
	if _, err := s.Call(context.Background(), a, a.NewRequest()); status.Code(err) != codes.Unauthenticated {
		t.Errorf("Call without a token = %v, want UNAUTHENTICATED", err)
	}
	g := testutil.Action(t, "get_agent")
	if _, err := s.Call(withToken("dal:x"), g, g.NewRequest()); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "id") {
		t.Errorf("get_agent without id = %v, want INVALID_ARGUMENT naming id", err)
	}
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs(MDAuthorization, "Bearer dal:x", MDRegion, "dal/../x"))
	if _, err := s.Call(ctx, a, a.NewRequest()); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "X-Region") {
		t.Errorf("Call with a malformed X-Region = %v, want INVALID_ARGUMENT naming it", err)
	}
	if len(up.calls) != 0 {
		t.Errorf("refused calls reached the upstream %d times", len(up.calls))
	}
}

// TestTypeOf checks the upstream type written over REST for statuses the gateway did not get
// from the upstream.
func TestTypeOf(t *testing.T) {
	for code, want := range map[codes.Code]string{
		codes.InvalidArgument: "validation", codes.Unauthenticated: "authentication",
		codes.ResourceExhausted: "limit_reached", codes.NotFound: "not_found",
		codes.DeadlineExceeded: "internal", codes.Unavailable: "internal",
	} {
		if got := TypeOf(status.New(code, "")); got != want {
			t.Errorf("TypeOf(%v) = %q, want %q", code, got, want)
		}
	}
	if got := TypeOf(status.Convert(GatewayError("authentication", "m"))); got != "authentication" {
		t.Errorf("TypeOf of a gateway error = %q", got)
	}
}

func jsonUnmarshal(s string, m proto.Message) error {
	return wire.StrictUnmarshalOptions().Unmarshal([]byte(s), m)
}

// TestAnswersToleratesNewFields checks that fields the upstream adds, inside top-level arrays and
// maps too, are dropped rather than failing the call.
func TestAnswersToleratesNewFields(t *testing.T) {
	for _, tc := range []struct{ action, answer string }{
		{"list_agents", `[{"id":"a@x","name":"A","brand_new":{"x":1}}]`},
		{"list_groups", `[{"id":0,"name":"General","shiny":true}]`},
		{"get_bot", `{"bot_agent":{"id":"b","name":"B","later":[1]},"meta":{}}`},
		{"list_registered_webhooks", `[{"webhook_id":"w","url":"https://x","new_field":"y"}]`},
		{"list_license_properties", `{"ns":{"p":1}}`},
	} {
		s, _ := newService(t, &fakeUpstream{resp: &upstream.Response{Body: []byte(tc.answer)}})
		a := testutil.Action(t, tc.action)
		req := a.NewRequest()
		if tc.action == "get_bot" {
			req = mustRequest(t, a, `{"bot_agent_id":"b"}`)
		}
		if _, err := s.Call(withToken("dal:x"), a, req); err != nil {
			t.Errorf("%s answered %s: %v, want the unknown fields dropped", tc.action, tc.answer, err)
		}
	}
}

func mustRequest(t *testing.T, a *action.Action, body string) proto.Message {
	t.Helper()
	m := a.NewRequest()
	if err := jsonUnmarshal(body, m); err != nil {
		t.Fatal(err)
	}
	return m
}
