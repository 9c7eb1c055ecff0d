package service

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/fullstorydev/grpchan/inprocgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

	"github.com/livechat-gateway/gateway/internal/cache"
	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/upstream"
)

// replies records the type of each reply the service answers with, on the server's side.
type replies struct {
	mu    sync.Mutex
	types []string
}

func (r *replies) intercept(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.types = append(r.types, fmt.Sprintf("%T", resp))
	return resp, err
}

func (r *replies) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.types...)
}

// signalledStore is an in-process store that tells of each fill it has stored.
type signalledStore struct {
	*cache.Memory
	filled chan struct{}
}

func (s signalledStore) Fill(ctx context.Context, genKey string, gen int64, key string, val []byte, ttl time.Duration) (bool, error) {
	stored, err := s.Memory.Fill(ctx, genKey, gen, key, val, ttl)
	s.filled <- struct{}{}
	return stored, err
}

// TestEncodedHits: a cached answer is served as its stored bytes where the transport carries
// them (the gRPC listener with Codec, the in-process channel with Cloner), and decoded where it
// does not (any other codec, Call); every caller gets the answer the upstream gave.
func TestEncodedHits(t *testing.T) {
	a := testutil.Action(t, "get_agent")
	body := `{"id":"a@example.com","name":"A","notifications":["new_visitor"],"groups":[{"id":1,"priority":"first"}]}`
	want := a.NewResponse()
	if err := jsonUnmarshal(`{"agent":`+body+`}`, want); err != nil {
		t.Fatal(err)
	}
	req := a.NewRequest()
	if err := jsonUnmarshal(`{"id":"a@example.com"}`, req); err != nil {
		t.Fatal(err)
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), MDAuthorization, "Bearer dal:x")
	// The first call fills the entry after it has answered: the next ones wait for the fill,
	// so that they are the store's hits, not the shared answer of the first.
	filled := make(chan struct{}, 1)
	newSvc := func(t *testing.T) *Service {
		up := &fakeUpstream{resp: &upstream.Response{Body: []byte(body)}}
		svc, _ := cachedService(t, up, signalledStore{cache.NewMemory(0, 0), filled}, nil)
		return svc
	}
	overGRPC := func(t *testing.T, svc *Service, opts ...grpc.ServerOption) grpc.ClientConnInterface {
		lis := bufconn.Listen(1 << 20)
		srv := grpc.NewServer(opts...)
		svc.Register(srv)
		go srv.Serve(lis)
		t.Cleanup(srv.Stop)
		conn, err := grpc.NewClient("passthrough:///service",
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
			grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	for _, c := range []struct {
		name string
		conn func(t *testing.T, r *replies) grpc.ClientConnInterface
		hit  string // the type of a hit's reply
	}{
		{"grpc with Codec", func(t *testing.T, r *replies) grpc.ClientConnInterface {
			svc := newSvc(t)
			return overGRPC(t, svc, grpc.UnaryInterceptor(r.intercept), grpc.ForceServerCodecV2(svc.Codec()))
		}, "service.encoded"},
		{"grpc without Codec", func(t *testing.T, r *replies) grpc.ClientConnInterface {
			return overGRPC(t, newSvc(t), grpc.UnaryInterceptor(r.intercept))
		}, "*configurationv1.GetAgentResponse"},
		{"in-process with Cloner", func(t *testing.T, r *replies) grpc.ClientConnInterface {
			svc := newSvc(t)
			ch := (&inprocgrpc.Channel{}).WithServerUnaryInterceptor(r.intercept).WithCloner(svc.Cloner())
			svc.Register(ch)
			return ch
		}, "service.encoded"},
		{"in-process without Cloner", func(t *testing.T, r *replies) grpc.ClientConnInterface {
			svc := newSvc(t)
			ch := (&inprocgrpc.Channel{}).WithServerUnaryInterceptor(r.intercept)
			svc.Register(ch)
			return ch
		}, "*configurationv1.GetAgentResponse"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &replies{}
			conn := c.conn(t, r)
			for i := range 3 {
				var header metadata.MD
				got := a.NewResponse()
				if err := conn.Invoke(ctx, a.FullMethod(), req, got, grpc.Header(&header)); err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				if !proto.Equal(got, want) {
					t.Errorf("call %d answered %v, want %v", i, got, want)
				}
				if i == 0 {
					select {
					case <-filled:
					case <-time.After(10 * time.Second):
						t.Fatal("the first call's answer was not stored")
					}
				}
				if x := header.Get(MDCache); i > 0 && (len(x) != 1 || x[0] != cacheHit) {
					t.Errorf("call %d: x-cache %q, want a hit", i, x)
				}
			}
			if got := r.get(); len(got) != 3 || got[1] != c.hit || got[2] != c.hit {
				t.Errorf("replies %q, want hits answered as %s", got, c.hit)
			}
		})
	}
	t.Run("Call", func(t *testing.T) {
		svc := newSvc(t)
		in := metadata.NewIncomingContext(context.Background(), metadata.Pairs(MDAuthorization, "Bearer dal:x"))
		for i := range 2 {
			got, err := svc.Call(in, a, req)
			if err != nil || !proto.Equal(got, want) {
				t.Errorf("Call %d = %v, %v; want %v", i, got, err, want)
			}
			if i == 0 {
				<-filled
			}
		}
	})
}
