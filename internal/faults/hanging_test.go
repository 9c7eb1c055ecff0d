//go:build faults

package faults

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	pb "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
	"github.com/livechat-gateway/gateway/internal/testutil"
)

// readyConns opens n gRPC connections to addr and waits until each is connected, so that no
// call's deadline pays for a dial.
func readyConns(t *testing.T, addr string, n int, opts ...grpc.DialOption) []*grpc.ClientConn {
	t.Helper()
	conns := make([]*grpc.ClientConn, n)
	for i := range conns {
		conns[i] = dial(t, addr, opts...)
		conns[i].Connect()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range conns {
		for s := c.GetState(); s != connectivity.Ready; s = c.GetState() {
			if !c.WaitForStateChange(ctx, s) {
				t.Fatalf("a gRPC connection to %s is %v after 10s, not ready", addr, s)
			}
		}
	}
	return conns
}

// TestHangingUpstream: get_agent hangs upstream for 30s. 200 concurrent gRPC calls, each with a
// 1s deadline and a distinct agent id (nothing is coalesced), over four connections: each ends
// DEADLINE_EXCEEDED within 10% of its deadline, for the caller and in the gateway's own log, or
// is refused at once with RESOURCE_EXHAUSTED because UPSTREAM_MAX_CONNS + UPSTREAM_MAX_WAITING
// calls are already in flight; and the gateway never holds more than UPSTREAM_MAX_CONNS
// connections to the upstream.
func TestHangingUpstream(t *testing.T) {
	const (
		maxConns   = 8
		maxWaiting = 64
		calls      = 200
		deadline   = time.Second
		slack      = deadline / 10
	)
	s := startStack(t, nil, nil,
		fmt.Sprintf("UPSTREAM_MAX_CONNS=%d", maxConns),
		fmt.Sprintf("UPSTREAM_MAX_WAITING=%d", maxWaiting),
		// One credential makes all the calls: its own cap must not be the one that refuses.
		"UPSTREAM_MAX_CONCURRENT_PER_CREDENTIAL=1000",
	)
	s.emu.fault(`{"action":"get_agent","latency":"30s"}`)
	s.emu.reset() // the peak is now the open connections: the test's own one to the emulator
	base := s.emu.stats().Connections.Open

	conns := readyConns(t, s.gw.grpcAddr, 4)
	type result struct {
		code codes.Code
		took time.Duration
		info string
	}
	results := make([]result, calls)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range calls {
		client := pb.NewAgentServiceClient(conns[i%len(conns)])
		wg.Go(func() {
			<-start
			begin := time.Now()
			ctx, cancel := context.WithTimeout(withToken(context.Background(), ownerA), deadline)
			defer cancel()
			_, err := client.GetAgent(ctx, &pb.GetAgentRequest{Id: fmt.Sprintf("hanging-%d@example.com", i)})
			results[i] = result{code: status.Code(err), took: time.Since(begin)}
			if info := errorInfo(err); info != nil {
				results[i].info = info.Reason
			}
		})
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	close(start)

	// While the calls are in flight, watch the gateway's connections to the emulator, as the
	// emulator counts them and as the gateway's own socket table has them. Until the deadline
	// nothing ends, so both must be within the limit; after it, the emulator learns that a
	// cancelled call's connection closed a moment after the gateway may have dialled the next
	// one (for a call begun a millisecond later), so only the gateway's own count is exact.
	_, port, _ := strings.Cut(s.emu.addr, ":")
	began := time.Now()
	maxOpen, maxSockets, peak := 0, 0, 0
	for polling := true; polling; {
		select {
		case <-allDone:
			polling = false
		default:
		}
		maxSockets = max(maxSockets, s.gw.sockets(port))
		if time.Since(began) < deadline*9/10 {
			st := s.emu.stats().Connections
			maxOpen, peak = max(maxOpen, st.Open-base), max(peak, st.Peak-base)
		}
	}
	peakAfter := s.emu.stats().Connections.Peak - base

	byCode := newCounter()
	var late, slowRefusals []string
	var maxExceeded, maxRefused time.Duration
	for i, r := range results {
		byCode.add(r.code.String(), "")
		switch r.code {
		case codes.DeadlineExceeded:
			maxExceeded = max(maxExceeded, r.took)
			if r.took > deadline+slack {
				late = append(late, fmt.Sprintf("call %d after %v", i, r.took))
			}
		case codes.ResourceExhausted:
			maxRefused = max(maxRefused, r.took)
			if r.info != "too_many_requests" {
				t.Errorf("call %d: RESOURCE_EXHAUSTED with ErrorInfo reason %q, want too_many_requests", i, r.info)
			}
			if r.took > deadline/2 {
				slowRefusals = append(slowRefusals, fmt.Sprintf("call %d after %v", i, r.took))
			}
		default:
			t.Errorf("call %d: %v after %v, want DEADLINE_EXCEEDED or RESOURCE_EXHAUSTED", i, r.code, r.took)
		}
	}
	// The gateway's own account: each call that the deadline ended, it ended in time. It logs
	// such a call DeadlineExceeded, or Canceled when the caller's RST_STREAM, sent as its own
	// deadline passed, came before the gateway's deadline (a few microseconds later) did. The
	// caller may have its status a moment before the gateway logs the call: wait for the lines.
	var gwMax time.Duration
	gwEnded, want := 0, byCode.get(codes.DeadlineExceeded.String())
	testutil.WaitFor(5*time.Second, func() bool {
		gwMax, gwEnded = 0, 0
		for line := range strings.Lines(s.gw.logs()) {
			var l callLine
			if !isCall(line, &l) || l.Method != "GetAgent" || (l.Code != "DeadlineExceeded" && l.Code != "Canceled") {
				continue
			}
			if ms, err := strconv.ParseFloat(l.TimeMS, 64); err == nil {
				d := time.Duration(ms * float64(time.Millisecond))
				gwEnded++
				gwMax = max(gwMax, d)
			}
		}
		return gwEnded >= want
	})
	if gwEnded != want {
		t.Errorf("the gateway logged %d GetAgent calls ended DeadlineExceeded or Canceled, want %d, one per call ended by its deadline", gwEnded, want)
	}

	figure(t, "hanging upstream, 200 calls with a 1s deadline", "%v; slowest DEADLINE_EXCEEDED %v (gateway side %v), slowest RESOURCE_EXHAUSTED %v",
		byCode, maxExceeded.Round(time.Millisecond), gwMax.Round(time.Millisecond), maxRefused.Round(time.Millisecond))
	figure(t, "hanging upstream, peak connections to the upstream", "%d in the gateway's socket table; before the deadline, %d sampled and %d at peak by the emulator's count (%d at peak by it over the whole run, closes lagging); UPSTREAM_MAX_CONNS=%d",
		maxSockets, maxOpen, peak, peakAfter, maxConns)
	if len(late) > 0 {
		t.Errorf("%d calls ended DEADLINE_EXCEEDED later than %v after they began: %v", len(late), deadline+slack, late)
	}
	if gwMax > deadline+slack {
		t.Errorf("the gateway logged a call ended by its deadline after %v, want at most %v", gwMax, deadline+slack)
	}
	if len(slowRefusals) > 0 {
		t.Errorf("%d calls were refused RESOURCE_EXHAUSTED only after %v: queued, not shed at once: %v", len(slowRefusals), deadline/2, slowRefusals)
	}
	if n := byCode.get(codes.ResourceExhausted.String()); n < calls-(maxConns+maxWaiting) {
		t.Errorf("%d calls refused RESOURCE_EXHAUSTED, want at least %d: past UPSTREAM_MAX_CONNS+UPSTREAM_MAX_WAITING=%d in flight, calls must be shed",
			n, calls-(maxConns+maxWaiting), maxConns+maxWaiting)
	}
	if peak > maxConns || maxOpen > maxConns || maxSockets > maxConns {
		t.Errorf("the gateway held up to %d connections to the upstream by its socket table, and by the emulator's count %d (%d sampled) while the calls were in flight; want at most UPSTREAM_MAX_CONNS=%d",
			maxSockets, peak, maxOpen, maxConns)
	}
	if maxSockets == 0 {
		t.Errorf("no connection from the gateway to the emulator's port %s was seen: the socket count is broken", port)
	}
}
