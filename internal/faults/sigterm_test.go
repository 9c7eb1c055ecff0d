//go:build faults

package faults

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
	"github.com/livechat-gateway/gateway/internal/testutil"
)

// TestSIGTERMUnderLoad: the gateway, with GATEWAY_DRAIN_DELAY=2s, gets SIGTERM while eight
// clients call it over gRPC and REST (half the calls uncached, 100ms upstream). /readyz answers
// 503, and gRPC health NOT_SERVING, before the listeners close, and calls go on being served
// meanwhile; no call fails, but for new connections refused once the listeners have closed; and
// the process exits 0.
func TestSIGTERMUnderLoad(t *testing.T) {
	const drain = 2 * time.Second
	s := startStack(t, []string{"EMULATOR_LATENCY=100ms"}, nil, "GATEWAY_DRAIN_DELAY="+drain.String(), "GATEWAY_SHUTDOWN_TIMEOUT=5s")
	agents := pb.NewAgentServiceClient(s.gw.conn)
	groups := pb.NewGroupServiceClient(s.gw.conn)
	health := healthpb.NewHealthClient(dial(t, s.gw.grpcAddr))
	// The REST clients keep their connections alive. A read is marked idempotent, as a client
	// may: then Go's client sends it again on a new connection when the server closed the kept-alive
	// one it was written to without reading it (the race every HTTP/1.1 server has with a client
	// at shutdown); that new connection is then refused, or served.
	rest := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}

	type call struct {
		begin, end time.Time
		err        string // "" when it succeeded
		refused    bool   // a new connection refused
	}
	var (
		mu    sync.Mutex
		calls []call
	)
	record := func(c call) {
		mu.Lock()
		calls = append(calls, c)
		mu.Unlock()
	}
	const workers = 8
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; !s.gw.p.done(); i++ {
				uncached := i%2 == 0
				ctx, cancel := context.WithTimeout(withToken(context.Background(), ownerA), 10*time.Second)
				if uncached {
					ctx = metadata.AppendToOutgoingContext(ctx, "cache-control", "no-cache")
				}
				c := call{begin: time.Now()}
				if w%2 == 0 {
					var err error
					if uncached {
						_, err = agents.GetAgent(ctx, &pb.GetAgentRequest{Id: agentA})
					} else {
						_, err = groups.GetGroup(ctx, &pb.GetGroupRequest{Id: proto.Uint32(0)})
					}
					if err != nil {
						st := status.Convert(err)
						c.err = "gRPC " + st.Code().String() + ": " + st.Message()
						c.refused = st.Code() == codes.Unavailable && strings.Contains(st.Message(), "connection refused")
					}
				} else {
					hdr := []string{"Idempotency-Key", fmt.Sprintf("%d-%d", w, i)}
					action, body := "get_agent", `{"id":"`+agentA+`"}`
					if uncached {
						action, body, hdr = "list_groups", `{}`, append(hdr, "Cache-Control", "no-cache")
					}
					a, err := post(ctx, rest, s.gw.httpURL, ownerA, action, body, hdr...)
					switch {
					case err != nil:
						c.err = "REST " + err.Error()
						c.refused = strings.Contains(err.Error(), "connection refused")
					case a.status != http.StatusOK:
						c.err = fmt.Sprintf("REST %d %s", a.status, a.body)
					}
				}
				cancel()
				c.end = time.Now()
				record(c)
			}
		})
	}
	defer wg.Wait()
	if !testutil.WaitFor(10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(calls) >= 100 }) {
		t.Fatal("the clients did not make 100 calls in 10s")
	}

	sigterm := time.Now()
	if err := s.gw.p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Poll /readyz and gRPC health until the HTTP listener refuses.
	var notReady, notServing, closed time.Time
	for closed.IsZero() {
		if time.Since(sigterm) > 10*time.Second {
			t.Fatalf("the HTTP listener still accepts 10s after SIGTERM")
		}
		switch code := s.gw.get("/readyz"); {
		case code == 0:
			closed = time.Now()
		case code == http.StatusServiceUnavailable && notReady.IsZero():
			notReady = time.Now()
		}
		if notServing.IsZero() {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			if resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{}); err == nil && resp.Status == healthpb.HealthCheckResponse_NOT_SERVING {
				notServing = time.Now()
			}
			cancel()
		}
	}
	select {
	case <-s.gw.p.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("the gateway did not exit within 10s of closing its listeners:\n%s", tail(s.gw.logs()))
	}
	exited := time.Now()
	wg.Wait()
	if s.gw.p.err != nil {
		t.Errorf("the gateway exited with %v after SIGTERM, want 0:\n%s", s.gw.p.err, tail(s.gw.logs()))
	}

	ms := func(at time.Time) string {
		if at.IsZero() {
			return "never"
		}
		return at.Sub(sigterm).Round(time.Millisecond).String()
	}
	var ok, refusedN, duringDrain int
	failures := newCounter()
	for _, c := range calls {
		switch {
		case c.err == "":
			ok++
			if !notReady.IsZero() && c.begin.After(notReady) && c.end.Before(closed) {
				duringDrain++
			}
		case c.refused:
			refusedN++
		default:
			failures.add("failed", fmt.Sprintf("%s (began %s after SIGTERM, ended %s)", c.err, ms(c.begin), ms(c.end)))
		}
	}
	figure(t, "SIGTERM with GATEWAY_DRAIN_DELAY=2s, times after SIGTERM", "/readyz 503 at %s, gRPC health NOT_SERVING at %s, listeners closed at %s, exited 0 at %s",
		ms(notReady), ms(notServing), ms(closed), ms(exited))
	figure(t, "SIGTERM under load, calls", "%d OK (%d begun and served during the drain), %d new connections refused after the close, %d failed",
		ok, duringDrain, refusedN, failures.total())
	if notReady.IsZero() || !notReady.Before(closed) {
		t.Errorf("/readyz did not answer 503 before the listeners closed (503 at %s, closed at %s)", ms(notReady), ms(closed))
	}
	if notServing.IsZero() || notServing.After(closed) {
		t.Errorf("gRPC health did not report NOT_SERVING before the listeners closed (at %s, closed at %s)", ms(notServing), ms(closed))
	}
	if d := closed.Sub(sigterm); d < drain*9/10 {
		t.Errorf("the listeners closed %v after SIGTERM, want after the drain delay of %v", d, drain)
	}
	if duringDrain == 0 {
		t.Errorf("no call begun after /readyz said 503 was served before the listeners closed: calls must be served during the drain")
	}
	if failures.total() > 0 {
		t.Errorf("%d calls failed across SIGTERM, want none: %v", failures.total(), failures)
	}
}
