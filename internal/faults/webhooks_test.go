//go:build faults

package faults

// Webhooks under faults (issue 15, acceptance 5 and 6): the harness's part for deliveries and
// SubscribeWebhooks streams, and the tests.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/testutil/redistest"
)

// hookSecret is the secret_key of the webhook the tests register.
const hookSecret = "faults-hook-secret-5d1e"

// sharedKeySecret returns a CACHE_KEY_SECRET setting for replicas that must verify each other's
// learned webhook secrets.
func sharedKeySecret() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "CACHE_KEY_SECRET=" + hex.EncodeToString(b)
}

// registerHook registers an incoming_chat webhook of license A with hookSecret through g, so that
// g learns its secret, and returns its id.
func registerHook(t *testing.T, g *gateway, url string) string {
	t.Helper()
	body := fmt.Sprintf(`{"action":"incoming_chat","secret_key":%q,"url":%q}`, hookSecret, url)
	a, err := post(context.Background(), restClient, g.httpURL, ownerA, "register_webhook", body)
	var hook struct {
		WebhookID string `json:"webhook_id"`
	}
	if err != nil || a.status != http.StatusOK || json.Unmarshal(a.body, &hook) != nil || hook.WebhookID == "" {
		t.Fatalf("register_webhook = %d %s %v", a.status, a.body, err)
	}
	return hook.WebhookID
}

// deliveryBody is a delivery of webhook id to license's stream whose payload's key is key, padded
// with pad bytes.
func deliveryBody(id, license, key string, pad int) string {
	return fmt.Sprintf(`{"webhook_id":%q,"secret_key":%q,"action":"incoming_chat","license_id":%q,"payload":{"key":%q,"pad":%q}}`,
		id, hookSecret, license, key, strings.Repeat("x", pad))
}

// deliverClient posts the tests' deliveries, as LiveChat would: a bounded wait for each answer.
var deliverClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}

// deliver posts body to the receiver at url and returns the status, or 0 if there was no answer.
func deliver(url, body string) int {
	resp, err := deliverClient.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// idLess orders event ids ("<ms>-<seq>"; "" first).
func idLess(a, b string) bool {
	var am, as, bm, bs uint64
	fmt.Sscanf(a, "%d-%d", &am, &as)
	fmt.Sscanf(b, "%d-%d", &bm, &bs)
	return am < bm || (am == bm && as < bs)
}

// tally records the events a subscriber receives: each one's payload key, and the ids that did
// not strictly follow the one before.
type tally struct {
	last    string         // the id of the last event
	seen    map[string]int // payload key: times received
	keys    []string       // the payload keys, in the order received
	unorder []string       // ids that did not follow the one before
}

func newTally() tally { return tally{seen: map[string]int{}} }

// add records ev.
func (t *tally) add(ev *pb.WebhookEvent) {
	if !idLess(t.last, ev.GetId()) {
		t.unorder = append(t.unorder, fmt.Sprintf("%s after %s", ev.GetId(), t.last))
	}
	t.last = ev.GetId()
	key := ev.GetPayload().GetFields()["key"].GetStringValue()
	t.seen[key]++
	t.keys = append(t.keys, key)
}

// follower is a SubscribeWebhooks stream whose messages a goroutine receives as fast as they
// come, recording each event's payload key and checking that ids strictly increase.
type follower struct {
	name   string
	cancel context.CancelFunc
	first  *pb.WebhookHeartbeat // the first message, a heartbeat

	mu sync.Mutex
	tally
	end   error // the stream's end, once it has ended
	ended chan struct{}
}

// follow opens a stream on g for license after after, and returns once its first message, a
// heartbeat, has come.
func follow(t *testing.T, g *gateway, name, license, after string) *follower {
	t.Helper()
	ctx, cancel := context.WithCancel(withToken(context.Background(), ownerA))
	t.Cleanup(cancel)
	stream, err := pb.NewWebhookServiceClient(g.conn).SubscribeWebhooks(ctx, &pb.SubscribeWebhooksRequest{LicenseId: license, After: after})
	if err != nil {
		t.Fatalf("%s: SubscribeWebhooks: %v", name, err)
	}
	f := &follower{name: name, cancel: cancel, tally: newTally(), ended: make(chan struct{})}
	firstc := make(chan *pb.SubscribeWebhooksResponse, 1)
	go func() {
		defer close(f.ended)
		for i := 0; ; i++ {
			m, err := stream.Recv()
			if err != nil {
				f.mu.Lock()
				f.end = err
				f.mu.Unlock()
				if i == 0 {
					close(firstc)
				}
				return
			}
			if i == 0 {
				firstc <- m
				continue
			}
			if ev := m.GetEvent(); ev != nil {
				f.mu.Lock()
				f.add(ev)
				f.mu.Unlock()
			}
		}
	}()
	select {
	case m, ok := <-firstc:
		if !ok || m.GetHeartbeat() == nil {
			t.Fatalf("%s: first message = %v, %v; want a heartbeat", name, m, f.err())
		}
		f.first = m.GetHeartbeat()
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: no first message in 20s", name)
	}
	return f
}

// err returns how the stream ended, or nil while it runs.
func (f *follower) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.end
}

// lastID returns the id of the last event received.
func (f *follower) lastID() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

// missing returns the keys of want not received by any of fs.
func missing(want []string, fs ...*follower) []string {
	var out []string
	for _, k := range want {
		found := false
		for _, f := range fs {
			f.mu.Lock()
			found = found || f.seen[k] > 0
			f.mu.Unlock()
		}
		if !found {
			out = append(out, k)
		}
	}
	return out
}

// acks records the deliveries answered 200, by payload key, safely from many goroutines.
type acks struct {
	mu        sync.Mutex
	keys      []string
	retried   []string // acknowledged after a 503
	refused   int      // 503 answers
	unexpects []string // answers that are neither 200 nor 503, nor no answer
}

func (a *acks) n() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.keys)
}

func (a *acks) counts() (acked, retried, refused int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.keys), len(a.retried), a.refused
}

// TestWebhooksRedisRestart (issue 15, acceptance 5): two gateway replicas share a Redis that
// persists every write before acknowledging it (append-only file, fsync always) and
// CACHE_KEY_SECRET. Two clients deliver continuously to both receivers, as LiveChat would,
// retrying each delivery until it is answered 200. Redis is killed (SIGKILL, a crash) and started
// again on the same port once the open streams have met the failing store, then restarted
// (SIGTERM and start). Proves: every delivery acknowledged with 200 reaches a subscriber on
// gateway 1 that stays open across both outages (its stream rides out the failing store), and a
// subscriber of gateway 2 whose stream is cut off during the outage and that resumes at once with
// after on gateway 1, while Redis is still down; in each stream ids strictly increase; deliveries
// refused 503 during the outage and retried after it are delivered; the webhook's secret, learned
// through gateway 1 before the crash, still verifies on both after it; and a subscriber that comes
// without after while Redis is down is refused UNAVAILABLE (it cannot be told where "now" is).
func TestWebhooksRedisRestart(t *testing.T) {
	r := redistest.PersistentServer(t)
	emu := startEmulator(t, nil)
	env := []string{sharedKeySecret(), "WEBHOOK_HEARTBEAT_INTERVAL=100ms"}
	one := startGateway(t, gwConfig{upstream: emu.url, redis: r.URL(), env: env})
	two := startGateway(t, gwConfig{upstream: emu.url, redis: r.URL(), env: env})
	receivers := []string{one.httpURL + "/webhooks", two.httpURL + "/webhooks"}
	hook := registerHook(t, one, receivers[1])

	a := follow(t, one, "a (open throughout, gateway 1)", "A", "")
	b := follow(t, two, "b (cut off in the outage, gateway 2)", "A", "")

	// Two senders, each delivering its own sequence, alternating between the receivers; each
	// delivery is retried until it is answered 200, as LiveChat retries.
	var (
		acked acks
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	for s := range 2 {
		wg.Go(func() {
			for n := 1; ; n++ {
				key := fmt.Sprintf("%d-%d", s, n)
				body := deliveryBody(hook, "A", key, 100)
				refused := false
				for attempt := 0; ; attempt++ {
					select {
					case <-stop:
						return
					default:
					}
					code := deliver(receivers[(s+n+attempt)%2], body)
					acked.mu.Lock()
					switch code {
					case http.StatusOK:
						acked.keys = append(acked.keys, key)
						if refused {
							acked.retried = append(acked.retried, key)
						}
					case http.StatusServiceUnavailable:
						acked.refused++
						refused = true
					case 0: // no answer: retried, as a refusal
					default:
						acked.unexpects = append(acked.unexpects, fmt.Sprintf("%s: %d", key, code))
					}
					acked.mu.Unlock()
					if code == http.StatusOK {
						break
					}
					// A retry's pause, as a sender's back-off; not a wait for anything.
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
			}
		})
	}
	stopSenders := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopSenders()

	// ackedMore waits until n more deliveries than now have been acknowledged.
	ackedMore := func(what string, n int) {
		t.Helper()
		target := acked.n() + n
		if !testutil.WaitFor(20*time.Second, func() bool { return acked.n() >= target }) {
			t.Fatalf("%s: %d deliveries acknowledged, want %d within 20s; gateway 2's log:\n%s", what, acked.n(), target, tail(two.logs()))
		}
	}
	refusedMore := func(what string, n int) {
		t.Helper()
		_, _, before := acked.counts()
		if !testutil.WaitFor(20*time.Second, func() bool { _, _, r := acked.counts(); return r >= before+n }) {
			t.Fatalf("%s: no delivery refused 503 within 20s", what)
		}
	}

	ackedMore("before the outage", 100)

	// A crash: SIGKILL, so the file is all Redis has; deliveries are refused 503.
	r.Kill()
	refusedMore("Redis killed", 4)
	// b is cut off (its client's connection broke) and resumes at once, with after, on the
	// other replica, while Redis is still down: the new stream starts, and waits for the store.
	b.cancel()
	<-b.ended
	bAfter := b.lastID()
	if bAfter == "" {
		t.Fatal("b received no event before the outage")
	}
	b2 := follow(t, one, "b resumed (gateway 1)", "A", bAfter)
	if b2.first.GetAfter() != bAfter {
		t.Errorf("b's resumed stream starts after %q, want after %s", b2.first.GetAfter(), bAfter)
	}
	// A new subscriber without after cannot know where "now" is: UNAVAILABLE, to retry.
	late := startCode(t, one, "A")
	// Redis stays down until both streams open on gateway 1, a and b resumed, have met the
	// failing store (each says so once), and comes back; both read it again.
	logged(t, one, failedLine, 2, "a's and b's resumed streams did not both meet the failing store")
	r.Restart()
	ackedMore("after the crash", 100)
	logged(t, one, backLine, 2, "a's and b's resumed streams did not both read the store again")
	if _, retried, _ := acked.counts(); retried == 0 {
		t.Error("no delivery refused during the outage was acknowledged after it")
	}

	// A clean restart: SIGTERM, then started again.
	r.Restart()
	ackedMore("after the restart", 100)
	stopSenders()

	acked.mu.Lock()
	keys, retried, refused, unexpected := append([]string(nil), acked.keys...), len(acked.retried), acked.refused, acked.unexpects
	acked.mu.Unlock()
	if len(unexpected) > 0 {
		t.Errorf("deliveries answered neither 200 nor 503: %v", unexpected)
	}
	for _, c := range []struct {
		name string
		fs   []*follower
	}{{"a, open throughout", []*follower{a}}, {"b, then b resumed with after", []*follower{b, b2}}} {
		var lost []string
		testutil.WaitFor(20*time.Second, func() bool { lost = missing(keys, c.fs...); return len(lost) == 0 })
		if len(lost) > 0 {
			t.Errorf("%s: %d of %d acknowledged deliveries never received, such as %v", c.name, len(lost), len(keys), lost[:min(5, len(lost))])
		}
	}
	for _, f := range []*follower{a, b, b2} {
		f.mu.Lock()
		if len(f.unorder) > 0 {
			t.Errorf("%s: ids not strictly increasing: %v", f.name, f.unorder[:min(5, len(f.unorder))])
		}
		dups := 0
		for _, n := range f.seen {
			dups += n - 1
		}
		f.mu.Unlock()
		figure(t, "webhooks, Redis crashed and restarted, "+f.name, "%d events, %d delivered twice", len(f.keys), dups)
	}
	for _, f := range []*follower{a, b2} {
		if err := f.err(); err != nil {
			t.Errorf("%s ended: %v; want it open across the outages", f.name, err)
		}
	}
	if late != codes.Unavailable {
		t.Errorf("a subscription without after while Redis was down = %v, want UNAVAILABLE", late)
	}
	storeErrors := metricSum(one.metrics(), "gateway_webhook_deliveries_total", `result="store_error"`) +
		metricSum(two.metrics(), "gateway_webhook_deliveries_total", `result="store_error"`)
	figure(t, "webhooks, Redis crashed and restarted under deliveries", "%d acknowledged, all received; %d answers 503 (%d store errors counted), %d deliveries acknowledged on a retry after one",
		len(keys), refused, storeErrors, retried)
	if storeErrors == 0 {
		t.Error("the gateways counted no store_error: the outage was not felt")
	}
}

// What a stream logs when the store fails under it, and when it answers again.
const (
	failedLine = "webhook subscription: the event store failed; reading again"
	backLine   = "webhook subscription: the event store answers again"
)

// logged waits until g's log holds line at least n times.
func logged(t *testing.T, g *gateway, line string, n int, what string) {
	t.Helper()
	if !testutil.WaitFor(20*time.Second, func() bool { return strings.Count(g.logs(), line) >= n }) {
		t.Fatalf("%s within 20s: %q logged %d times, want %d:\n%s", what, line, strings.Count(g.logs(), line), n, tail(g.logs()))
	}
}

// startCode opens a stream without after on g and returns the code it ends with before its
// first message, or OK if it sends one.
func startCode(t *testing.T, g *gateway, license string) codes.Code {
	t.Helper()
	ctx, cancel := context.WithTimeout(withToken(context.Background(), ownerA), 20*time.Second)
	defer cancel()
	stream, err := pb.NewWebhookServiceClient(g.conn).SubscribeWebhooks(ctx, &pb.SubscribeWebhooksRequest{LicenseId: license})
	if err == nil {
		_, err = stream.Recv()
	}
	return status.Code(err)
}

// freeAddr returns a 127.0.0.1 address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// heap returns the gateway's heap after two garbage collections (the second empties what the
// first left in sync.Pools' victim caches): HeapAlloc, what is live, and HeapInuse, from
// /debug/pprof/heap?gc=1 on its PPROF_ADDR.
func heap(t *testing.T, pprofAddr string) (alloc, inuse int64) {
	t.Helper()
	var page []byte
	for range 2 {
		resp, err := probeClient.Get("http://" + pprofAddr + "/debug/pprof/heap?gc=1&debug=1")
		if err != nil {
			t.Fatalf("heap profile: %v", err)
		}
		page, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("heap profile: %v", err)
		}
	}
	stat := func(name string) int64 {
		m := regexp.MustCompile(`(?m)^# ` + name + ` = (\d+)$`).FindSubmatch(page)
		if m == nil {
			t.Fatalf("the heap profile has no %s", name)
		}
		n, _ := strconv.ParseInt(string(m[1]), 10, 64)
		return n
	}
	return stat("HeapAlloc"), stat("HeapInuse")
}

// slowStream is a SubscribeWebhooks stream that the test reads itself, one message when it
// chooses, on a connection of its own whose flow-control windows are fixed at 64 KiB (which turns
// off their growth by bandwidth estimation), so that what the client takes in ahead of its reads
// is bounded.
type slowStream struct {
	name string
	// recv returns the stream's next message.
	recv func() (*pb.SubscribeWebhooksResponse, error)
	tally
}

// openSlow opens a slow stream on g for license, from now, and reads its first message, a
// heartbeat.
func openSlow(t *testing.T, g *gateway, name, license string) *slowStream {
	t.Helper()
	conn := dial(t, g.grpcAddr, grpc.WithInitialWindowSize(1<<16), grpc.WithInitialConnWindowSize(1<<16))
	// A bound on the whole stream, so that a stall fails the test instead of hanging it.
	ctx, cancel := context.WithTimeout(withToken(context.Background(), ownerA), 90*time.Second)
	t.Cleanup(cancel)
	stream, err := pb.NewWebhookServiceClient(conn).SubscribeWebhooks(ctx, &pb.SubscribeWebhooksRequest{LicenseId: license})
	if err != nil {
		t.Fatalf("%s: SubscribeWebhooks: %v", name, err)
	}
	m, err := stream.Recv()
	if err != nil || m.GetHeartbeat() == nil {
		t.Fatalf("%s: first message = %v, %v; want a heartbeat", name, m, err)
	}
	return &slowStream{name: name, recv: stream.Recv, tally: newTally()}
}

// openSSE opens the REST counterpart on g for license, from now, as server-sent events, and reads
// its first frame, a heartbeat. Its messages are read from the frames, one at a time.
func openSSE(t *testing.T, g *gateway, name, license string) *slowStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.httpURL+"/v3.2/gateway/webhooks/stream?license_id="+license, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+ownerA)
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		t.Fatalf("%s: GET the stream: %v", name, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: GET the stream = %d", name, resp.StatusCode)
	}
	r := bufio.NewReader(resp.Body)
	recv := func() (*pb.SubscribeWebhooksResponse, error) {
		fields := map[string]string{}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return nil, err
			}
			if line = strings.TrimSuffix(line, "\n"); line != "" {
				k, v, _ := strings.Cut(line, ": ")
				fields[k] = v
				continue
			}
			switch fields["event"] {
			case "webhook":
				ev := new(pb.WebhookEvent)
				if err := protojson.Unmarshal([]byte(fields["data"]), ev); err != nil {
					return nil, fmt.Errorf("a webhook frame: %v", err)
				}
				return &pb.SubscribeWebhooksResponse{Message: &pb.SubscribeWebhooksResponse_Event{Event: ev}}, nil
			case "heartbeat":
				return &pb.SubscribeWebhooksResponse{Message: &pb.SubscribeWebhooksResponse_Heartbeat{Heartbeat: &pb.WebhookHeartbeat{}}}, nil
			default:
				return nil, fmt.Errorf("frame %v", fields)
			}
		}
	}
	if m, err := recv(); err != nil || m.GetHeartbeat() == nil {
		t.Fatalf("%s: first frame = %v, %v; want a heartbeat", name, m, err)
	}
	return &slowStream{name: name, recv: recv, tally: newTally()}
}

// next reads the stream's next event, passing heartbeats over, and records it.
func (s *slowStream) next() error {
	for {
		m, err := s.recv()
		if err != nil {
			return err
		}
		if ev := m.GetEvent(); ev != nil {
			s.add(ev)
			return nil
		}
	}
}

// inOrder checks that keys ("<sender>-<n>") hold each of want exactly once, nothing else, and
// each sender's in the order it sent them.
func inOrder(t *testing.T, name string, keys []string, want int) {
	t.Helper()
	seen := map[string]bool{}
	lastN := map[string]int{}
	var dups, disorder []string
	for _, k := range keys {
		if seen[k] {
			dups = append(dups, k)
		}
		seen[k] = true
		sender, n, _ := strings.Cut(k, "-")
		i, _ := strconv.Atoi(n)
		if i <= lastN[sender] {
			disorder = append(disorder, k)
		}
		lastN[sender] = i
	}
	if len(seen) != want || len(dups) > 0 || len(disorder) > 0 {
		t.Errorf("%s: %d distinct events of %d received, want %d each once, in each sender's order; twice: %v; out of order: %v",
			name, len(seen), len(keys), want, dups[:min(5, len(dups))], disorder[:min(5, len(disorder))])
	}
}

// gauge returns the value of the gauge name on a /metrics page, or -1 when it is not there.
func gauge(page, name string) float64 {
	for line := range strings.Lines(page) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// TestWebhooksBurstSlowSubscriber (issue 15, acceptance 6, on Redis).
func TestWebhooksBurstSlowSubscriber(t *testing.T) { testBurst(t, true) }

// TestWebhooksBurstSlowSubscriberInProcess (issue 15, acceptance 6, on the in-process store): as
// TestWebhooksBurstSlowSubscriber, but the gateway's heap is not compared, since the in-process
// store keeps the events in it by design (within WEBHOOK_MEMORY_MAX_BYTES).
func TestWebhooksBurstSlowSubscriberInProcess(t *testing.T) { testBurst(t, false) }

// testBurst (issue 15, acceptance 6): a burst of 10,000 deliveries of 3 KB, from four senders, to
// a gateway with WEBHOOK_SUBSCRIBER_BATCH=50, while two subscribers, one over gRPC and one as
// server-sent events, each read one message a second, and a third reads as fast as it can;
// meanwhile a second gateway with WEBHOOK_STREAM_MAX_LEN=100 takes 1,000 deliveries of another
// license, followed by a subscriber as slow. Proves: the fast subscriber receives all 10,000, each
// once, in each sender's order, with strictly increasing ids; gateway_webhook_subscriber_
// buffered_events never exceeds WEBHOOK_SUBSCRIBER_BATCH per stream, and once the fast one has
// everything it is the slow ones' held batches, above 0 and at most a batch each; with Redis, the
// gateway's live heap (after a GC) with the gRPC slow subscriber thousands of events behind grows
// by less than a quarter of those events' bytes (it would grow by all of them if it buffered
// them); the slow subscribers then catch up with all 10,000, each once and in order, after which
// nothing is held; and the slow subscriber of the short stream, whose unread events were trimmed,
// ends with OUT_OF_RANGE after fewer than 1,000, in order.
func testBurst(t *testing.T, withRedis bool) {
	const (
		burst     = 10_000
		senders   = 4
		pad       = 3000
		batch     = 50
		trimBurst = 1000
		trimBatch = 10
		slowReads = 4 // at least, one a second, while the burst is appended
	)
	emu := startEmulator(t, nil)
	redisURL := ""
	if withRedis {
		redisURL = redistest.Server(t).URL()
	}
	pprofAddr := freeAddr(t)
	shared := sharedKeySecret()
	g := startGateway(t, gwConfig{upstream: emu.url, redis: redisURL, env: []string{shared,
		"WEBHOOK_HEARTBEAT_INTERVAL=1s", "WEBHOOK_SUBSCRIBER_BATCH=" + strconv.Itoa(batch), "PPROF_ADDR=" + pprofAddr}})
	gt := startGateway(t, gwConfig{upstream: emu.url, redis: redisURL, env: []string{shared,
		"WEBHOOK_HEARTBEAT_INTERVAL=1s", "WEBHOOK_SUBSCRIBER_BATCH=" + strconv.Itoa(trimBatch), "WEBHOOK_STREAM_MAX_LEN=100"}})
	// A webhook each, registered through the gateway that receives it: without Redis, a secret
	// learned stays with the replica that learned it.
	hook, hookT := registerHook(t, g, g.httpURL+"/webhooks"), registerHook(t, gt, gt.httpURL+"/webhooks")

	fast := follow(t, g, "fast", "A", "")
	slow := openSlow(t, g, "slow", "A")
	slowSSE := openSSE(t, g, "slow, as server-sent events", "A")
	slows := []*slowStream{slow, slowSSE}
	trimmed := openSlow(t, gt, "slow on the short stream", "T")
	alloc0, inuse0 := heap(t, pprofAddr)

	// The burst, and a sampler of the gauges while it lasts.
	var (
		wg       sync.WaitGroup
		failures = newCounter()
	)
	send := func(url, license, key string, id string) {
		for attempt := 0; ; attempt++ {
			code := deliver(url, deliveryBody(id, license, key, pad))
			if code == http.StatusOK {
				return
			}
			failures.add(strconv.Itoa(code), key)
			if attempt == 10 {
				return
			}
		}
	}
	for s := range senders {
		wg.Go(func() {
			for n := 1; n <= burst/senders; n++ {
				send(g.httpURL+"/webhooks", "A", fmt.Sprintf("%d-%d", s, n), hook)
			}
		})
	}
	wg.Go(func() {
		for n := 1; n <= trimBurst; n++ {
			send(gt.httpURL+"/webhooks", "T", fmt.Sprintf("t-%d", n), hookT)
		}
	})
	burstDone := make(chan struct{})
	go func() { wg.Wait(); close(burstDone) }()
	const name = "gateway_webhook_subscriber_buffered_events"
	var maxG, maxGT float64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			maxG, maxGT = max(maxG, gauge(g.metrics(), name)), max(maxGT, gauge(gt.metrics(), name))
			select {
			case <-burstDone:
				return
			case <-tick.C:
			}
		}
	}()

	// The slow subscribers read one message a second while the burst lasts, and at least
	// slowReads times.
	began := time.Now()
	tick := time.NewTicker(time.Second)
	deadline := time.After(60 * time.Second)
	reads := 0
	var trimmedEnd error
	for ended := burstDone; ended != nil || reads < slowReads; {
		select {
		case <-ended:
			ended = nil
			continue
		case <-deadline:
			t.Fatalf("the burst did not end within 60s (%d slow reads)", reads)
		case <-tick.C:
		}
		for _, sl := range slows {
			if err := sl.next(); err != nil {
				t.Fatalf("%s, read %d: %v", sl.name, reads, err)
			}
		}
		if trimmedEnd == nil {
			// It may be cut off already, if the burst lasts longer than it takes to read what
			// the gateway sent it ahead of the trim, one a second.
			if trimmedEnd = trimmed.next(); status.Code(trimmedEnd) != codes.OutOfRange && trimmedEnd != nil {
				t.Fatalf("the slow subscriber on the short stream, read %d: %v", reads, trimmedEnd)
			}
		}
		reads++
	}
	tick.Stop()
	<-sampled
	figure(t, "webhooks, burst", "%d deliveries of %d bytes from %d senders, and %d to the short stream, while the slow subscribers read one message a second, %d in %v; failed answers: %v",
		burst, pad, senders, trimBurst, reads, time.Since(began).Round(time.Millisecond), failures)
	if failures.total() > 0 {
		t.Fatalf("deliveries answered other than 200: %v", failures)
	}

	// The fast subscriber has everything, in order.
	if !testutil.WaitFor(20*time.Second, func() bool { fast.mu.Lock(); defer fast.mu.Unlock(); return len(fast.keys) >= burst }) {
		fast.mu.Lock()
		t.Fatalf("the fast subscriber received %d of %d events within 20s (ended: %v)", len(fast.keys), burst, fast.end)
	}
	fast.mu.Lock()
	inOrder(t, "the fast subscriber", fast.keys, burst)
	if len(fast.unorder) > 0 {
		t.Errorf("the fast subscriber: ids not strictly increasing: %v", fast.unorder[:min(5, len(fast.unorder))])
	}
	fast.mu.Unlock()

	// The slow subscribers are thousands of events behind, and the gateway holds no more than
	// a batch for each.
	behind := burst - len(slow.keys)
	figure(t, "webhooks, buffered events at most, during the burst", "%v (three streams, batch %d); on the short stream's gateway %v (batch %d)", maxG, batch, maxGT, trimBatch)
	if maxG > 3*batch || maxGT > trimBatch {
		t.Errorf("%s reached %v on the gateway of three streams of batch %d, %v on the one of one stream of batch %d: more than a batch per stream", name, maxG, batch, maxGT, trimBatch)
	}
	if held := gauge(g.metrics(), name); held <= 0 || held > 2*batch {
		t.Errorf("%s = %v with the slow subscribers %d and %d events behind, want their held batches: above 0, at most %d", name, held, behind, burst-len(slowSSE.keys), 2*batch)
	}
	alloc1, inuse1 := heap(t, pprofAddr)
	backlog := int64(behind) * pad
	figure(t, "webhooks, gateway heap after GC, slow subscribers behind", "gRPC %d events (%s) behind, server-sent events %d (the rest in the sockets' buffers): live heap %s -> %s, in use %s -> %s",
		behind, mb(backlog), burst-len(slowSSE.keys), mb(alloc0), mb(alloc1), mb(inuse0), mb(inuse1))
	if withRedis && alloc1-alloc0 > backlog/4 {
		t.Errorf("the gateway's live heap grew by %s with the slow subscriber %d events (%s) behind; want under a quarter of that: the backlog is buffered in memory",
			mb(alloc1-alloc0), behind, mb(backlog))
	}

	// The slow subscribers catch up: everything, once, in order; then nothing is held.
	for _, sl := range slows {
		for len(sl.keys) < burst {
			if err := sl.next(); err != nil {
				t.Fatalf("%s, catching up after %d events: %v", sl.name, len(sl.keys), err)
			}
		}
		inOrder(t, sl.name+", caught up", sl.keys, burst)
		if len(sl.unorder) > 0 {
			t.Errorf("%s: ids not strictly increasing: %v", sl.name, sl.unorder[:min(5, len(sl.unorder))])
		}
	}
	if !testutil.WaitFor(10*time.Second, func() bool { return gauge(g.metrics(), name) == 0 }) {
		t.Errorf("%s = %v once every subscriber has caught up, want 0", name, gauge(g.metrics(), name))
	}

	// The slow subscriber of the short stream: its unread events were trimmed; it is cut off.
	end := trimmedEnd
	for end == nil {
		end = trimmed.next()
	}
	figure(t, "webhooks, slow subscriber past WEBHOOK_STREAM_MAX_LEN", "%d of %d events received, then %v", len(trimmed.keys), trimBurst, status.Code(end))
	if status.Code(end) != codes.OutOfRange || len(trimmed.keys) >= trimBurst {
		t.Errorf("the slow subscriber of the short stream ended with %v after %d of %d events, want OUT_OF_RANGE before the end", end, len(trimmed.keys), trimBurst)
	}
	if len(trimmed.unorder) > 0 {
		t.Errorf("the slow subscriber of the short stream: ids not strictly increasing: %v", trimmed.unorder)
	}
	seen := map[string]bool{}
	for i, k := range trimmed.keys {
		if seen[k] || (i > 0 && !keyLess(trimmed.keys[i-1], k)) {
			t.Errorf("the slow subscriber of the short stream: %s after %s", k, trimmed.keys[max(i-1, 0)])
		}
		seen[k] = true
	}
}

// keyLess orders one sender's payload keys ("<sender>-<n>") by n.
func keyLess(a, b string) bool {
	_, x, _ := strings.Cut(a, "-")
	_, y, _ := strings.Cut(b, "-")
	i, _ := strconv.Atoi(x)
	j, _ := strconv.Atoi(y)
	return i < j
}
