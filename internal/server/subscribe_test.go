package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	configv1 "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
	"github.com/livechat-gateway/gateway/internal/emulator"
	"github.com/livechat-gateway/gateway/internal/server"
	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/testutil/redistest"
)

// subWait bounds every wait for a stream's message: heartbeats come every 100ms in these tests.
const subWait = 10 * time.Second

// sub is an open SubscribeWebhooks stream whose messages a goroutine receives into msgs.
type sub struct {
	t      *testing.T
	cancel context.CancelFunc
	msgs   chan *configv1.SubscribeWebhooksResponse
	done   chan error // the stream's end, once
}

// subscribe opens a stream on v's gRPC listener with token.
func subscribe(t *testing.T, v *env, token string, req *configv1.SubscribeWebhooksRequest) *sub {
	t.Helper()
	ctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token))
	t.Cleanup(cancel)
	stream, err := configv1.NewWebhookServiceClient(v.conn).SubscribeWebhooks(ctx, req)
	if err != nil {
		t.Fatalf("SubscribeWebhooks: %v", err)
	}
	s := &sub{t: t, cancel: cancel, msgs: make(chan *configv1.SubscribeWebhooksResponse, 20_000), done: make(chan error, 1)}
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				s.done <- err
				return
			}
			s.msgs <- m
		}
	}()
	return s
}

// next returns the stream's next message, failing the test if it ends or none comes.
func (s *sub) next() *configv1.SubscribeWebhooksResponse {
	s.t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case err := <-s.done:
		s.t.Fatalf("the stream ended: %v", err)
	case <-time.After(subWait):
		s.t.Fatal("no message on the stream")
	}
	return nil
}

// event returns the next event, passing heartbeats over.
func (s *sub) event() *configv1.WebhookEvent {
	s.t.Helper()
	for {
		if ev := s.next().GetEvent(); ev != nil {
			return ev
		}
	}
}

// passes waits for a heartbeat that has passed id, failing on any event before it: the stream
// read id and had nothing to send for it.
func (s *sub) passes(id string) {
	s.t.Helper()
	for {
		m := s.next()
		if ev := m.GetEvent(); ev != nil {
			s.t.Fatalf("event %s (webhook %s) sent; want none up to %s", ev.GetId(), ev.GetWebhookId(), id)
		}
		if !idLess(m.GetHeartbeat().GetAfter(), id) {
			return
		}
	}
}

// end waits for the stream's end and returns its status.
func (s *sub) end() *status.Status {
	s.t.Helper()
	for {
		select {
		case <-s.msgs:
		case err := <-s.done:
			return status.Convert(err)
		case <-time.After(subWait):
			s.t.Fatal("the stream did not end")
		}
	}
}

// idLess orders event ids ("" first).
func idLess(a, b string) bool {
	var am, as, bm, bs uint64
	fmt.Sscanf(a, "%d-%d", &am, &as)
	fmt.Sscanf(b, "%d-%d", &bm, &bs)
	return am < bm || (am == bm && as < bs)
}

// delivery is a delivery body of webhook id with secret and a payload holding n.
func delivery(id, secret string, n int) string {
	return fmt.Sprintf(`{"webhook_id":%q,"secret_key":%q,"action":"incoming_chat","license_id":"A","payload":{"n":%d},"additional_data":{"chat_properties":{"source":{"type":"api"}}}}`, id, secret, n)
}

// lastID is the id of the newest event in license A's stream of v's store.
func lastID(t *testing.T, v *env) string {
	t.Helper()
	id, err := v.g.WebhookStore().Last(context.Background(), "A")
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestSubscribeAcrossReplicas (issue 15, acceptance 1 to 4): a webhook registered through gateway
// 1; the emulator delivers an event to gateway 2's receiver; a subscriber on gateway 1 receives
// it with the payload intact and no secret. A forged delivery and a replayed one reach no
// subscriber; a token that cannot list the webhook receives none of its deliveries. A subscriber
// that disconnects and resumes with after receives exactly the three events it missed, in order.
// After unregister_webhook the flow stops within the list answer's cache TTL.
func TestSubscribeAcrossReplicas(t *testing.T) {
	r := redistest.Server(t)
	_, up := startEmulator(t)
	const ttl = 2 * time.Second
	shared := func(c *server.Config) {
		patient(r.URL())(c)
		c.CacheKeySecret = "a secret both replicas hold"
		c.WebhookHeartbeat = 100 * time.Millisecond
		c.CacheTTL = ttl
	}
	one := startGateway(t, up.URL, shared)
	two := startGateway(t, up.URL, shared)
	hookURL := two.httpURL + "/webhooks"
	reg := one.rest(ownerA, "register_webhook", fmt.Sprintf(`{"action":"incoming_chat","secret_key":%q,"url":%q}`, hookSecret, hookURL))
	var hook struct {
		WebhookID string `json:"webhook_id"`
	}
	if json.Unmarshal([]byte(reg.body), &hook); reg.status != 200 || hook.WebhookID == "" {
		t.Fatalf("register_webhook through gateway 1 = %d %s", reg.status, reg.body)
	}

	a := subscribe(t, one, ownerA, &configv1.SubscribeWebhooksRequest{LicenseId: "A"})
	if hb := a.next().GetHeartbeat(); hb == nil || hb.GetAfter() != "" {
		t.Fatalf("first message = %v, want a heartbeat after nothing (an empty stream)", hb)
	}
	b := subscribe(t, one, ownerB, &configv1.SubscribeWebhooksRequest{LicenseId: "A"})
	b.next()

	// 1: through the emulator to gateway 2, and out of gateway 1.
	event := `{"license":"A","action":"incoming_chat","payload":` + eventPayload + `}`
	if ds := fireAt(t, up.URL, event); len(ds) != 1 || ds[0].Status != 200 {
		t.Fatalf("deliveries = %+v, want one answered 200 by gateway 2", ds)
	}
	ev := a.event()
	payload, _ := protojson.Marshal(ev.GetPayload())
	if ev.GetWebhookId() != hook.WebhookID || ev.GetAction() != "incoming_chat" || ev.GetLicenseId() != "A" ||
		ev.GetId() == "" || ev.GetReceivedAt().AsTime().IsZero() || !sameJSON(t, payload, []byte(eventPayload)) {
		t.Errorf("event = %v, want webhook %s's incoming_chat with the payload intact", ev, hook.WebhookID)
	}
	if text, _ := protojson.Marshal(ev); strings.Contains(string(text), hookSecret) || strings.Contains(string(text), "secret") {
		t.Errorf("the event sent to a subscriber holds its secret: %s", text)
	}

	// 2: a forged secret is 401; the same delivery again is stored once: the next event the
	// subscriber gets is a new one.
	if code := postDelivery(t, hookURL, delivery(hook.WebhookID, "forged", 1)); code != 401 {
		t.Errorf("a forged secret_key = %d, want 401", code)
	}
	if ds := fireAt(t, up.URL, event); len(ds) != 1 || ds[0].Status != 200 {
		t.Fatalf("replayed deliveries = %+v, want 200", ds)
	}
	if code := postDelivery(t, hookURL, delivery(hook.WebhookID, hookSecret, 2)); code != 200 {
		t.Fatalf("a second delivery = %d", code)
	}
	if ev := a.event(); ev.GetPayload().GetFields()["n"].GetNumberValue() != 2 {
		t.Errorf("the event after a forgery and a replay = %v, want the second delivery", ev)
	}
	second := lastID(t, one)

	// 4, first half: license B's owner cannot list license A's webhooks: it is passed over.
	b.passes(second)

	// 3: a subscriber that goes, misses three events, and resumes after the last it had.
	a.cancel()
	var want []string
	for n := 3; n <= 5; n++ {
		if code := postDelivery(t, hookURL, delivery(hook.WebhookID, hookSecret, n)); code != 200 {
			t.Fatalf("delivery %d = %d", n, code)
		}
		want = append(want, lastID(t, two))
	}
	resumed := subscribe(t, one, ownerA, &configv1.SubscribeWebhooksRequest{LicenseId: "A", After: second})
	if hb := resumed.next().GetHeartbeat(); hb.GetAfter() != second {
		t.Errorf("first message of a resumed stream = %v, want a heartbeat after %s", hb, second)
	}
	for i, id := range want {
		ev := resumed.event()
		if ev.GetId() != id || ev.GetPayload().GetFields()["n"].GetNumberValue() != float64(i+3) {
			t.Errorf("resumed event %d = %s %v, want %s with n %d", i, ev.GetId(), ev.GetPayload(), id, i+3)
		}
	}
	resumed.passes(want[2]) // and nothing more

	// 4, second half: unregistered through gateway 1, the webhook's deliveries (which may still
	// come, as retries) stop reaching the subscriber within the list answer's TTL.
	if r := one.rest(ownerA, "unregister_webhook", fmt.Sprintf(`{"webhook_id":%q}`, hook.WebhookID)); r.status != 200 {
		t.Fatalf("unregister_webhook = %d %s", r.status, r.body)
	}
	unregistered := time.Now()
	for n := 6; ; n++ {
		if code := postDelivery(t, hookURL, delivery(hook.WebhookID, hookSecret, n)); code != 200 {
			t.Fatalf("delivery %d = %d", n, code)
		}
		id := lastID(t, two)
		m := resumed.next()
		for m.GetEvent() == nil && idLess(m.GetHeartbeat().GetAfter(), id) {
			m = resumed.next()
		}
		if m.GetEvent() == nil {
			break // passed over: the flow has stopped
		}
		if since := time.Since(unregistered); since > ttl+time.Second {
			t.Fatalf("an unregistered webhook's event sent %v after unregister_webhook; the TTL is %v", since, ttl)
		}
	}
	if since := time.Since(unregistered); since > ttl+time.Second {
		t.Errorf("the flow stopped %v after unregister_webhook; the TTL is %v", since, ttl)
	}
	for name, g := range map[string]*env{"1": one, "2": two} {
		if strings.Contains(g.logs.String(), hookSecret) {
			t.Errorf("gateway %s logged the webhook secret", name)
		}
	}
}

// TestSubscribeRefusals: what a stream refuses before it starts, over gRPC and as server-sent
// events: each field named, a bad token, and the drain.
func TestSubscribeRefusals(t *testing.T) {
	v := newEmulatorEnv(t, func(c *server.Config) { c.WebhookHeartbeat = 100 * time.Millisecond })
	for _, c := range []struct {
		name  string
		token string
		req   *configv1.SubscribeWebhooksRequest
		code  codes.Code
		field string
	}{
		{"no license", ownerA, &configv1.SubscribeWebhooksRequest{}, codes.InvalidArgument, "license_id"},
		{"a license that names no stream", ownerA, &configv1.SubscribeWebhooksRequest{LicenseId: "{A}"}, codes.InvalidArgument, "license_id"},
		{"a bad action", ownerA, &configv1.SubscribeWebhooksRequest{LicenseId: "A", Actions: []string{"incoming_chat", "Bad Action"}}, codes.InvalidArgument, "actions[1]"},
		{"a bad webhook id", ownerA, &configv1.SubscribeWebhooksRequest{LicenseId: "A", WebhookIds: []string{"a b"}}, codes.InvalidArgument, "webhook_ids[0]"},
		{"a bad after", ownerA, &configv1.SubscribeWebhooksRequest{LicenseId: "A", After: "yesterday"}, codes.InvalidArgument, "after"},
		{"an unknown token", "dal:nobody", &configv1.SubscribeWebhooksRequest{LicenseId: "A"}, codes.Unauthenticated, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := subscribe(t, v, c.token, c.req).end()
			if st.Code() != c.code || (c.field != "" && !strings.Contains(fmt.Sprint(st.Details()), `"`+c.field+`"`)) {
				t.Errorf("status = %v %q %v, want %v naming %s", st.Code(), st.Message(), st.Details(), c.code, c.field)
			}
		})
	}
	if n := v.calls("list_registered_webhooks"); n != 1 {
		t.Errorf("%d list_registered_webhooks calls upstream, want 1 (the unknown token's): bad input costs nothing", n)
	}

	// Server-sent events: the same refusals as the REST surface's error bodies.
	for _, c := range []struct {
		name, query, token string
		status             int
		typ                string
	}{
		{"no license", "", ownerA, 422, "validation"},
		{"an unknown parameter", "license_id=A&since=1", ownerA, 422, "validation"},
		{"an unknown token", "license_id=A", "dal:nobody", 401, "authentication"},
	} {
		t.Run("sse/"+c.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", v.httpURL+"/v3.2/gateway/webhooks/stream?"+c.query, nil)
			req.Header.Set("Authorization", "Bearer "+c.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var e struct {
				Error struct{ Type, Message string }
			}
			if json.Unmarshal(body, &e); resp.StatusCode != c.status || e.Error.Type != c.typ {
				t.Errorf("= %d %s, want %d %s", resp.StatusCode, body, c.status, c.typ)
			}
		})
	}

	// A stream open when the gateway shuts down ends with UNAVAILABLE.
	open := subscribe(t, v, ownerA, &configv1.SubscribeWebhooksRequest{LicenseId: "A"})
	open.next()
	v.stop()
	if st := open.end(); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "after") {
		t.Errorf("a stream at shutdown ended with %v %q, want UNAVAILABLE telling to resume with after", st.Code(), st.Message())
	}
}

// TestSubscribeSSE: the REST counterpart: an EventSource-style client gets a heartbeat, then each
// event with its id, and resumes with Last-Event-ID.
func TestSubscribeSSE(t *testing.T) {
	v := newEmulatorEnv(t, func(c *server.Config) { c.WebhookHeartbeat = 100 * time.Millisecond })
	reg := v.rest(ownerA, "register_webhook", fmt.Sprintf(`{"action":"incoming_chat","secret_key":%q,"url":%q}`, hookSecret, v.httpURL+"/webhooks"))
	var hook struct {
		WebhookID string `json:"webhook_id"`
	}
	if json.Unmarshal([]byte(reg.body), &hook); reg.status != 200 {
		t.Fatalf("register_webhook = %d %s", reg.status, reg.body)
	}
	open := func(lastEventID string) (*bufio.Reader, func()) {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", v.httpURL+"/v3.2/gateway/webhooks/stream?license_id=A&actions=incoming_chat,chat_deactivated", nil)
		req.Header.Set("Authorization", "Bearer "+ownerA)
		if lastEventID != "" {
			req.Header.Set("Last-Event-ID", lastEventID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("GET stream = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if resp.Header.Get("X-Request-Id") == "" || resp.Header.Get("Deprecation") == "" {
			t.Errorf("the stream's headers lack X-Request-Id or Deprecation: %v", resp.Header)
		}
		return bufio.NewReader(resp.Body), func() { cancel(); resp.Body.Close() }
	}
	// frame reads the next SSE event: its fields by name.
	frame := func(r *bufio.Reader) map[string]string {
		t.Helper()
		f := map[string]string{}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading the stream: %v (so far %v)", err, f)
			}
			line = strings.TrimSuffix(line, "\n")
			if line == "" {
				return f
			}
			k, val, _ := strings.Cut(line, ": ")
			f[k] = val
		}
	}
	// event skips heartbeats to the next webhook event.
	event := func(r *bufio.Reader) map[string]string {
		t.Helper()
		for {
			if f := frame(r); f["event"] == "webhook" {
				return f
			}
		}
	}
	r, closeIt := open("")
	if f := frame(r); f["event"] != "heartbeat" || f["data"] != "{}" {
		t.Fatalf("first frame = %v, want a heartbeat after nothing", f)
	}
	if code := postDelivery(t, v.httpURL+"/webhooks", delivery(hook.WebhookID, hookSecret, 1)); code != 200 {
		t.Fatalf("delivery = %d", code)
	}
	f := event(r)
	var ev struct {
		ID, WebhookID, Action string
		Payload               map[string]any
		AdditionalData        map[string]any `json:"additional_data"`
		ReceivedAt            string         `json:"received_at"`
	}
	if err := json.Unmarshal([]byte(f["data"]), &ev); err != nil || f["id"] != ev.ID || ev.Payload["n"] != 1.0 || ev.ReceivedAt == "" || ev.AdditionalData["chat_properties"] == nil {
		t.Errorf("webhook frame = %v (%v), want the event with its id", f, err)
	}
	closeIt()
	for n := 2; n <= 3; n++ {
		postDelivery(t, v.httpURL+"/webhooks", delivery(hook.WebhookID, hookSecret, n))
	}
	r, closeIt = open(f["id"])
	defer closeIt()
	for n := 2; n <= 3; n++ {
		var got struct{ Payload map[string]any }
		if json.Unmarshal([]byte(event(r)["data"]), &got); got.Payload["n"] != float64(n) {
			t.Errorf("resumed event = %v, want n %d", got.Payload, n)
		}
	}
	// The first stream, ended, has its call line, as a REST call's: surface and client address.
	testutil.Eventually(t, "the server-sent events stream's call line", func() bool {
		for _, line := range strings.Split(v.logs.String(), "\n") {
			if strings.Contains(line, `"grpc.method":"SubscribeWebhooks"`) && strings.Contains(line, `"surface":"rest"`) &&
				strings.Contains(line, `"peer.address":"127.0.0.1"`) {
				return true
			}
		}
		return false
	})
}

// TestSubscribeRevokedToken (issue 15, item 3): a token that stops listing (revoked: the upstream
// now answers authentication) ends its stream with UNAUTHENTICATED once the cached list answer
// expires, and not before: the cache spares the upstream a call per stream.
func TestSubscribeRevokedToken(t *testing.T) {
	const ttl = time.Second
	v := newEmulatorEnv(t, func(c *server.Config) {
		c.WebhookHeartbeat = 100 * time.Millisecond
		c.CacheTTL = ttl
	})
	s := subscribe(t, v, ownerA, &configv1.SubscribeWebhooksRequest{LicenseId: "A"})
	s.next()
	if err := v.emu.SetFault("list_registered_webhooks", emulator.Fault{Error: "authentication"}); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	st := s.end()
	if st.Code() != codes.Unauthenticated {
		t.Errorf("the stream of a revoked token ended with %v %q, want UNAUTHENTICATED", st.Code(), st.Message())
	}
	if since := time.Since(revoked); since > ttl+time.Second {
		t.Errorf("the stream ended %v after the token was revoked; the TTL is %v", since, ttl)
	}
	if n := v.calls("list_registered_webhooks"); n != 2 {
		t.Errorf("%d list_registered_webhooks calls upstream, want 2: one per answer's life", n)
	}
}

// TestSubscribersDoNotStarveReceiver (issue 15, item 3 and acceptance 6: subscribers are bounded
// by WEBHOOK_MAX_SUBSCRIBERS, not by the Redis pool): more idle subscribers than the webhook Redis
// client's pool (10*GOMAXPROCS) leave the receiver and new subscribers their connections: a
// delivery is answered 200 and reaches every subscriber, and one more subscriber starts. When each
// waiting stream blocked in an XREAD on a pooled connection, that many took every connection:
// the next subscriber was refused UNAVAILABLE and every delivery answered 503.
func TestSubscribersDoNotStarveReceiver(t *testing.T) {
	r := redistest.Server(t)
	v := newEmulatorEnv(t, func(c *server.Config) {
		patient(r.URL())(c)
		// Heartbeats far apart: each idle stream waits for the test's length.
		c.WebhookHeartbeat = time.Minute
	})
	// The stream's authorisation lists the token's webhooks: register one, whose id the
	// deliveries then carry (its secret learned through the gateway).
	reg := v.rest(ownerA, "register_webhook", fmt.Sprintf(`{"action":"incoming_chat","secret_key":%q,"url":%q}`, hookSecret, v.httpURL+"/webhooks"))
	var hook struct {
		WebhookID string `json:"webhook_id"`
	}
	if json.Unmarshal([]byte(reg.body), &hook); reg.status != 200 || hook.WebhookID == "" {
		t.Fatalf("register_webhook = %d %s", reg.status, reg.body)
	}
	n := 10*runtime.GOMAXPROCS(0) + 5
	subs := make([]*sub, n)
	for i := range subs {
		subs[i] = subscribe(t, v, ownerA, &configv1.SubscribeWebhooksRequest{LicenseId: "A"})
		if hb := subs[i].next().GetHeartbeat(); hb == nil {
			t.Fatalf("subscriber %d: the first message is not a heartbeat", i)
		}
	}
	if code := postDelivery(t, v.httpURL+"/webhooks", delivery(hook.WebhookID, hookSecret, 1)); code != 200 {
		t.Fatalf("a delivery with %d idle subscribers = %d, want 200", n, code)
	}
	for i, s := range subs {
		if ev := s.event(); ev.GetPayload().GetFields()["n"].GetNumberValue() != 1 {
			t.Errorf("subscriber %d: event %v, want the delivery", i, ev)
		}
	}
	more := subscribe(t, v, ownerA, &configv1.SubscribeWebhooksRequest{LicenseId: "A"})
	if hb := more.next().GetHeartbeat(); hb == nil {
		t.Error("one more subscriber: the first message is not a heartbeat")
	}
}

// TestSubscribeDrainOnRedis (issue 15, item 3: streams end cleanly on shutdown): with Redis, a
// stream waiting for events, heartbeats a minute apart, ends with UNAVAILABLE telling its
// subscriber to resume with after as soon as the gateway shuts down, and the gateway stops without
// reaching its shutdown timeout. (When the wait was a blocking XREAD, which go-redis does not give
// up when its context ends, shutdown waited for its timeout and then cut the stream off.)
func TestSubscribeDrainOnRedis(t *testing.T) {
	r := redistest.Server(t)
	v := newEmulatorEnv(t, func(c *server.Config) {
		patient(r.URL())(c)
		c.WebhookHeartbeat = time.Minute
		c.ShutdownTimeout = 5 * time.Second
	})
	s := subscribe(t, v, ownerA, &configv1.SubscribeWebhooksRequest{LicenseId: "A"})
	if hb := s.next().GetHeartbeat(); hb == nil {
		t.Fatal("the first message is not a heartbeat")
	}
	v.stop()
	if st := s.end(); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "after") {
		t.Errorf("a stream at shutdown ended with %v %q, want UNAVAILABLE telling to resume with after", st.Code(), st.Message())
	}
	testutil.Recv(t, "the gateway's stop", v.stopped)
	if strings.Contains(v.logs.String(), "still running at the shutdown timeout") {
		t.Error("the gateway's shutdown waited for its timeout: a stream did not end when it drained")
	}
}
