package service

import (
	"context"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livechat-gateway/gateway/internal/cache"
	"github.com/livechat-gateway/gateway/internal/emulator"
	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/upstream"
)

// The emulator's built-in tokens.
const (
	ownerA    = "dal:owner-a"
	readonlyA = "dal:readonly-a"
	ownerB    = "dal:owner-b"
)

// rig is a Service with a read cache, served over a real gRPC server (on an in-memory listener,
// so that header metadata such as x-cache is real), in front of a real upstream client. Tests move
// its clock instead of waiting: the cache and, when the store is in process, the store read it.
type rig struct {
	t       *testing.T
	svc     *Service
	conn    *grpc.ClientConn
	clock   *testutil.Clock
	emu     *emulator.Emulator // nil unless the upstream is an in-process emulator
	store   Store
	metrics *prometheus.Registry
	logs    *testutil.SyncBuffer
}

// rigOptions choose a rig's parts. Zero fields take defaults.
type rigOptions struct {
	// upstreamURL is the upstream's base URL; "" serves an emulator with emuOpts.
	upstreamURL string
	emuOpts     []emulator.Option
	// up, when set, is the upstream instead of a client of upstreamURL or the emulator.
	up Upstream
	// store is the cache's store; nil is an in-process store on the rig's clock.
	store Store
	// clock is the rig's clock; nil is a new one.
	clock *testutil.Clock
	// cache adjusts the cache's configuration (TTL 1m, stale-if-error 10m, breaker cool-down
	// 10ms by default).
	cache func(*Cache)
	// upstreamOpts adjusts the upstream client's options (no backoff by default).
	upstreamOpts func(*upstream.Options)
}

// newRig builds and starts a rig; everything stops when the test ends, and the logs are checked
// for tokens.
func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	r := &rig{t: t, clock: o.clock, metrics: prometheus.NewRegistry(), logs: &testutil.SyncBuffer{}}
	if r.clock == nil {
		r.clock = testutil.NewClock()
	}
	log := slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	up := o.up
	if up == nil {
		url := o.upstreamURL
		if url == "" {
			e, err := emulator.New(o.emuOpts...)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(e)
			t.Cleanup(srv.Close)
			r.emu, url = e, srv.URL
		}
		uo := upstream.Options{BaseURL: url, BaseBackoff: time.Nanosecond, Logger: log}
		if o.upstreamOpts != nil {
			o.upstreamOpts(&uo)
		}
		c, err := upstream.New(uo)
		if err != nil {
			t.Fatal(err)
		}
		up = c
	}
	r.store = o.store
	if r.store == nil {
		r.store = cache.NewMemory(0, 0, cache.WithClock(r.clock.Now))
	}
	c := Cache{
		Store: r.store, TTL: time.Minute, StaleIfError: 10 * time.Minute,
		Secret: []byte("0123456789abcdef0123456789abcdef"), Metrics: r.metrics, Now: r.clock.Now,
		Breaker: cache.BreakerOptions{Cooldown: 10 * time.Millisecond},
	}
	if o.cache != nil {
		o.cache(&c)
	}
	svc, err := New(up, log, WithCache(c))
	if err != nil {
		t.Fatal(err)
	}
	r.svc = svc
	r.conn = serve(t, svc)
	t.Cleanup(func() {
		for _, tok := range []string{ownerA, readonlyA, ownerB, "Bearer"} {
			if logs := r.logs.String(); strings.Contains(logs, tok) {
				t.Errorf("the service logged a token (%q):\n%s", tok, logs)
			}
		}
	})
	return r
}

// serve serves svc over a real gRPC server on an in-memory listener, and returns a connection
// to it. The connection, the server and svc are closed when the test ends.
func serve(tb testing.TB, svc *Service) *grpc.ClientConn {
	tb.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	svc.Register(srv)
	go srv.Serve(lis)
	conn, err := grpc.NewClient("passthrough:///service",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		conn.Close()
		srv.Stop()
		svc.Close()
	})
	return conn
}

// result is one call's outcome through the rig.
type result struct {
	resp   proto.Message
	err    error
	header metadata.MD
}

// cache returns the call's x-cache, or "".
func (r result) cache() string {
	if v := r.header.Get(MDCache); len(v) > 0 {
		return v[0]
	}
	return ""
}

// call calls action name over gRPC with token, the request body as JSON, and extra metadata
// pairs.
func (r *rig) call(ctx context.Context, token, name, body string, md ...string) result {
	r.t.Helper()
	a := testutil.Action(r.t, name)
	req := mustRequest(r.t, a, body)
	if token != "" {
		md = append(md, MDAuthorization, "Bearer "+token)
	}
	ctx = metadata.AppendToOutgoingContext(ctx, md...)
	resp := a.NewResponse()
	var header metadata.MD
	err := r.conn.Invoke(ctx, a.FullMethod(), req, resp, grpc.Header(&header))
	return result{resp: resp, err: err, header: header}
}

// must calls as call does and fails the test on an error.
func (r *rig) must(token, name, body string, md ...string) result {
	r.t.Helper()
	res := r.call(context.Background(), token, name, body, md...)
	if res.err != nil {
		r.t.Fatalf("%s %s = %v", name, body, res.err)
	}
	return res
}

// settle waits until no shared call is running or storing its answer, so that what a read
// fills is in the store before the test goes on.
func (r *rig) settle() {
	r.t.Helper()
	testutil.Eventually(r.t, "shared calls ended", func() bool { return r.svc.reads.flights.Running() == 0 })
}

// calls returns the emulator's count of calls of action name.
func (r *rig) calls(name string) int64 {
	r.t.Helper()
	if r.emu == nil {
		r.t.Fatal("calls: the upstream is not an in-process emulator")
	}
	return r.emu.Calls()[name]
}
