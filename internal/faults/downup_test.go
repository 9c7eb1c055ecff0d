//go:build faults

package faults

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
)

// TestUpstreamDownAndBack: the emulator process is killed. Uncached reads over gRPC and REST
// answer UNAVAILABLE (REST 503 with the upstream's body) quickly, /healthz stays 200 all along,
// and once the emulator is started again on the same port, calls succeed again, the gateway
// untouched.
func TestUpstreamDownAndBack(t *testing.T) {
	s := startStack(t, nil, nil)
	groups := pb.NewGroupServiceClient(s.gw.conn)
	// call makes one uncached read (Cache-Control: no-cache: no stale answer stands in for the
	// upstream either), over gRPC or REST, and returns its gRPC code, or REST status, as text.
	call := func(overREST bool) (string, error) {
		ctx, cancel := context.WithTimeout(withToken(context.Background(), ownerA, "cache-control", "no-cache"), 10*time.Second)
		defer cancel()
		if !overREST {
			_, err := groups.ListGroups(ctx, &pb.ListGroupsRequest{})
			return "grpc " + status.Code(err).String(), nil
		}
		a, err := post(ctx, restClient, s.gw.httpURL, ownerA, "list_groups", `{}`, "Cache-Control", "no-cache")
		if err != nil {
			return "", err
		}
		if a.status != http.StatusOK {
			if _, _, err := upstreamError(a.body); err != nil {
				return "", fmt.Errorf("REST %d %s: %v", a.status, a.body, err)
			}
		}
		return fmt.Sprintf("rest %d", a.status), nil
	}
	for _, rest := range []bool{false, true} {
		if got, err := call(rest); err != nil || (got != "grpc OK" && got != "rest 200") {
			t.Fatalf("with the upstream up: %s %v", got, err)
		}
	}

	// /healthz, polled from now until the end.
	var healthChecks, healthBad atomic.Int64
	stopHealth := make(chan struct{})
	var hw sync.WaitGroup
	hw.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			healthChecks.Add(1)
			if s.gw.get("/healthz") != http.StatusOK {
				healthBad.Add(1)
			}
			select {
			case <-stopHealth:
				return
			case <-tick.C:
			}
		}
	})
	defer func() { close(stopHealth); hw.Wait() }()

	s.emu.kill()
	// 60 calls, from four clients at a time.
	const n, clients = 60, 4
	took := make([]time.Duration, n)
	outcomes := newCounter()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := c; i < n; i += clients {
				begin := time.Now()
				got, err := call(i%2 == 1)
				took[i] = time.Since(begin)
				if err != nil {
					t.Errorf("call %d with the upstream down: %v", i, err)
					continue
				}
				outcomes.add(got, "")
				if got != "grpc "+codes.Unavailable.String() && got != "rest 503" {
					t.Errorf("call %d with the upstream down: %s, want UNAVAILABLE (REST 503)", i, got)
				}
			}
		})
	}
	wg.Wait()
	p99, p50 := percentile(took, 0.99), percentile(took, 0.5)
	figure(t, "upstream down, latency of UNAVAILABLE", "p50 %v, p99 %v over %d calls (%v)", p50.Round(time.Millisecond), p99.Round(time.Millisecond), n, outcomes)
	if p99 > time.Second {
		t.Errorf("with the upstream down, p99 of calls %v, want under 1s", p99)
	}

	s.emu.restart()
	back := time.Now()
	var recovered time.Duration
	for i := 0; ; i++ {
		got, err := call(i%2 == 1)
		if err == nil && (got == "grpc OK" || got == "rest 200") {
			recovered = time.Since(back)
			break
		}
		if time.Since(back) > 10*time.Second {
			t.Fatalf("no call succeeded within 10s of the upstream coming back on %s; the last said %s %v", s.emu.addr, got, err)
		}
	}
	for i := range 20 {
		if got, err := call(i%2 == 1); err != nil || (got != "grpc OK" && got != "rest 200") {
			t.Errorf("call %d after the upstream came back: %s %v", i, got, err)
		}
	}
	figure(t, "upstream back on the same port, first success after", "%v, without restarting the gateway", recovered.Round(time.Millisecond))
	figure(t, "upstream down and back, /healthz", "%d of %d probes not 200", healthBad.Load(), healthChecks.Load())
	if healthBad.Load() > 0 {
		t.Errorf("/healthz answered other than 200 %d times of %d while the upstream was down and back", healthBad.Load(), healthChecks.Load())
	}
}
