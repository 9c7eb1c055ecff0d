//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
)

// burstCallers are the four built-in tokens, each with its agent and region.
var burstCallers = []struct{ token, agent, region string }{
	{ownerA, agentA, "dal"},
	{ownerB, agentB, "dal"},
	{"dal:readonly-a", "agent-a@example.com", "dal"},
	{"fra:owner-f", "owner-f@example.com", "fra"},
}

// burstFields are the optional fields of get_agent and list_agents (but work_scheduler, which
// the upstream may refuse): their 256 subsets make distinct reads.
var burstFields = []string{"groups", "email_subscriptions", "notifications", "job_title", "mobile", "max_chats_count", "suspended", "awaiting_approval"}

// burstRead is read i of a burst: get_agent or list_agents, of one of the four callers, with
// one of the 256 subsets of fields; 2,048 distinct reads, so that little is coalesced.
func burstRead(i int) (caller int, get bool, fields []string) {
	subset := (i / 8) % 256
	for b, f := range burstFields {
		if subset&(1<<b) != 0 {
			fields = append(fields, f)
		}
	}
	return (i / 2) % 4, i%2 == 0, fields
}

// TestBurst: against an upstream that takes 200ms a call, 2,000 concurrent gRPC calls over four
// connections and, at the same time, 2,000 concurrent REST calls each on a connection of its own.
// Every call is answered OK or refused with RESOURCE_EXHAUSTED (REST 429) or UNAVAILABLE (REST
// 503); the gateway stays up; its peak RSS stays under 170 MB.
func TestBurst(t *testing.T) {
	const (
		n = 2000
		// The peak is mostly the 2,000 connections' buffers and goroutine stacks, and the
		// garbage collector's slack (GOGC 100) over them: 118 to 152 MB in 14 runs here, as much
		// with the in-flight and upstream limits raised 100-fold, and as much before the REST
		// surface moved to the in-process channel. The cap catches growth with the calls, which
		// would be hundreds of MB, not that spread.
		rssCap = 170 << 20
	)
	s := startStack(t, []string{"EMULATOR_LATENCY=200ms"}, nil)
	conns := readyConns(t, s.gw.grpcAddr, 4)
	rest := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	t.Cleanup(rest.CloseIdleConnections)

	grpcCodes, restStatuses, bad := newCounter(), newCounter(), newCounter()
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		agents := pb.NewAgentServiceClient(conns[i%len(conns)])
		c, get, fields := burstRead(i)
		caller := burstCallers[c]
		wg.Go(func() {
			<-start
			ctx, cancel := context.WithTimeout(withToken(context.Background(), caller.token, "x-region", caller.region), 60*time.Second)
			defer cancel()
			var err error
			if get {
				_, err = agents.GetAgent(ctx, &pb.GetAgentRequest{Id: caller.agent, Fields: fields})
			} else {
				_, err = agents.ListAgents(ctx, &pb.ListAgentsRequest{Fields: fields})
			}
			code := status.Code(err)
			grpcCodes.add(code.String(), "")
			if code != codes.OK && code != codes.ResourceExhausted && code != codes.Unavailable {
				bad.add("gRPC "+code.String(), status.Convert(err).Message())
			}
		})
		wg.Go(func() {
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			action, body := "list_agents", map[string]any{"fields": fields}
			if get {
				action, body = "get_agent", map[string]any{"id": caller.agent, "fields": fields}
			}
			b, _ := json.Marshal(body)
			a, err := post(ctx, rest, s.gw.httpURL, caller.token, action, string(b), "X-Region", caller.region, "Cache-Control", "no-cache")
			if err != nil {
				restStatuses.add("transport error", "")
				bad.add("REST transport error", err.Error())
				return
			}
			restStatuses.add(fmt.Sprint(a.status), "")
			switch a.status {
			case http.StatusOK:
			case http.StatusTooManyRequests, http.StatusServiceUnavailable:
				if _, _, err := upstreamError(a.body); err != nil {
					bad.add(fmt.Sprintf("REST %d body", a.status), fmt.Sprintf("%s: %v", a.body, err))
				}
				if a.status == http.StatusTooManyRequests && a.header.Get("Retry-After") == "" {
					bad.add("REST 429 without Retry-After", string(a.body))
				}
			default:
				bad.add(fmt.Sprintf("REST %d", a.status), string(a.body))
			}
		})
	}
	samples := s.gw.sample()
	fdsBefore := s.gw.fds()
	begin := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(begin)
	peakRSS, peakFDs := samples.stop()

	if s.gw.p.done() {
		t.Fatalf("the gateway exited during the burst (%v):\n%s", s.gw.p.err, tail(s.gw.logs()))
	}
	if code := s.gw.get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz after the burst: %d", code)
	}
	if strings.Contains(s.gw.logs(), "panic") {
		t.Errorf("the gateway logged a panic in the burst:\n%s", tail(s.gw.logs()))
	}
	figure(t, "burst of 2,000 gRPC calls and 2,000 REST connections, 200ms upstream", "done in %v; gRPC %v; REST %v",
		took.Round(time.Millisecond), grpcCodes, restStatuses)
	figure(t, "burst, gateway peak RSS", "%s (%s before)", mb(peakRSS), mb(samples.rssStart))
	figure(t, "burst, gateway peak open fds", "%d (%d before)", peakFDs, fdsBefore)
	if bad.total() > 0 {
		t.Errorf("%d calls neither answered OK nor refused with RESOURCE_EXHAUSTED/UNAVAILABLE (REST 429/503 in the upstream's body): %v", bad.total(), bad)
	}
	if peakRSS >= rssCap {
		t.Errorf("the gateway's RSS peaked at %s in the burst, want under %s", mb(peakRSS), mb(rssCap))
	}
}
