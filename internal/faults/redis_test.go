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

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
	"github.com/livechat-gateway/gateway/internal/testutil"
)

// TestRedisFaultsUnderLoad: eight clients read (over gRPC and REST, a few reads, so mostly
// cached) all along while Redis is frozen (SIGSTOP) and continued, then killed and restarted
// empty. Not one call may fail: the gateway fails open.
func TestRedisFaultsUnderLoad(t *testing.T) {
	s := startStack(t, nil, nil)
	agents := pb.NewAgentServiceClient(s.gw.conn)
	groups := pb.NewGroupServiceClient(s.gw.conn)

	const workers = 8
	var (
		calls    atomic.Int64
		failures = newCounter()
		mu       sync.Mutex
		took     []time.Duration
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(withToken(context.Background(), ownerA), 5*time.Second)
				begin := time.Now()
				var failed string
				switch k := i % 3; {
				case w%2 == 0 && k == 0:
					if _, err := agents.GetAgent(ctx, &pb.GetAgentRequest{Id: agentA}); err != nil {
						failed = "GetAgent: " + status.Convert(err).String()
					}
				case w%2 == 0:
					if _, err := groups.GetGroup(ctx, &pb.GetGroupRequest{Id: proto.Uint32(0)}); err != nil {
						failed = "GetGroup: " + status.Convert(err).String()
					}
				default:
					action, body := "list_groups", `{}`
					if k == 0 {
						action, body = "get_agent", `{"id":"`+agentA+`"}`
					}
					if a, err := post(ctx, restClient, s.gw.httpURL, ownerA, action, body); err != nil || a.status != http.StatusOK {
						failed = fmt.Sprintf("REST %s: %d %s %v", action, a.status, a.body, err)
					}
				}
				cancel()
				d := time.Since(begin)
				mu.Lock()
				took = append(took, d)
				mu.Unlock()
				calls.Add(1)
				if failed != "" {
					failures.add("failed", failed)
				}
			}
		})
	}
	stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopLoad()

	// Each phase runs under load for at least its duration and 300 calls.
	phases := []struct {
		name string
		do   func()
		d    time.Duration
	}{
		{"healthy", func() {}, 500 * time.Millisecond},
		{"SIGSTOP", s.redis.Pause, 1500 * time.Millisecond},
		{"SIGCONT", s.redis.Resume, time.Second},
		{"SIGKILL", s.redis.Kill, 1500 * time.Millisecond},
		{"restarted", s.redis.Restart, time.Second},
	}
	begin := time.Now()
	for _, p := range phases {
		p.do()
		start, target := time.Now(), calls.Load()+300
		if !testutil.WaitFor(20*time.Second, func() bool { return calls.Load() >= target && time.Since(start) >= p.d }) {
			t.Fatalf("%s: the clients made fewer than 300 calls in 20s", p.name)
		}
		t.Logf("%s: %d calls so far, %d failed", p.name, calls.Load(), failures.total())
	}
	stopLoad()

	// The outage was felt: store calls failed, and the breaker skipped some.
	page := s.gw.metrics()
	failed, skipped := metricSum(page, "gateway_cache_store_errors_total", `reason="failed"`), metricSum(page, "gateway_cache_store_errors_total", `reason="skipped"`)
	figure(t, "Redis frozen and killed, store calls", "%d failed, %d skipped by the open breaker", failed, skipped)
	if failed == 0 || skipped == 0 {
		t.Errorf("the gateway counted %d failed and %d skipped store calls: the outage was not felt, or the breaker never opened", failed, skipped)
	}

	mu.Lock()
	p50, p99, worst := percentile(took, 0.5), percentile(took, 0.99), percentile(took, 1)
	mu.Unlock()
	figure(t, "Redis frozen, continued, killed and restarted under load", "%d calls in %v, %d failed; latency p50 %v, p99 %v, max %v",
		calls.Load(), time.Since(begin).Round(time.Millisecond), failures.total(), p50.Round(time.Microsecond), p99.Round(time.Millisecond), worst.Round(time.Millisecond))
	if failures.total() > 0 {
		t.Errorf("%d of %d calls failed while Redis was sick; want none (the gateway fails open): %v", failures.total(), calls.Load(), failures)
	}
}
