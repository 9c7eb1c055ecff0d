package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/livechat-gateway/gateway/internal/emulator"
	"github.com/livechat-gateway/gateway/internal/server"
	"github.com/livechat-gateway/gateway/internal/testutil/redistest"
	"github.com/livechat-gateway/gateway/internal/webhooks"
)

const (
	hookSecret = "e2e-hook-secret-7f3a"
	botSecret  = "e2e-bot-secret-91c2"
	// eventPayload is what the test fires: nested, with text that JSON escapes.
	eventPayload = `{"chat":{"id":"PJ0MRSHTDG","users":[{"id":"agent-a@example.com","type":"agent"}],"thread":{"events":[{"type":"message","text":"héllo \"world\" <b>&</b> 😀"}]}},"n":12.5}`
)

// fireAt posts an event to the emulator at emuURL and returns its deliveries.
func fireAt(t *testing.T, emuURL, body string) []emulator.Delivery {
	t.Helper()
	resp, err := http.Post(emuURL+"/emulator/events", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Deliveries []emulator.Delivery `json:"deliveries"`
	}
	if resp.StatusCode != 200 {
		t.Fatalf("POST /emulator/events = %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Deliveries
}

// sameJSON reports whether a and b are equal JSON values.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// postDelivery posts a delivery body to a receiver at url.
func postDelivery(t *testing.T, url, body string) int {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestWebhookDeliveredAcrossReplicas (issue 15, acceptance 1 and 2 up to the store): a webhook
// and a bot's webhooks registered through gateway 1; the emulator delivers an event to gateway
// 2's receiver (on a listener of its own, GATEWAY_WEBHOOK_ADDR), which verifies it with the
// secrets gateway 1 learned, and stores it in Redis: read back through either gateway's Store,
// the payload intact, no secret anywhere in Redis. A forged secret is 401 and stores nothing; a
// delivery repeated is stored once.
func TestWebhookDeliveredAcrossReplicas(t *testing.T) {
	r := redistest.Server(t)
	_, up := startEmulator(t)
	shared := func(c *server.Config) {
		patient(r.URL())(c)
		c.CacheKeySecret = "a secret both replicas hold"
	}
	one := startGateway(t, up.URL, shared)
	two := startGateway(t, up.URL, func(c *server.Config) { shared(c); c.WebhookAddr = "127.0.0.1:0" })
	if two.g.WebhookAddr().String() == two.g.HTTPAddr().String() {
		t.Fatal("GATEWAY_WEBHOOK_ADDR did not give the receiver a listener of its own")
	}
	hookURL := "http://" + two.g.WebhookAddr().String() + "/webhooks"

	reg := one.rest(ownerA, "register_webhook", fmt.Sprintf(`{"action":"incoming_chat","secret_key":%q,"url":%q}`, hookSecret, hookURL))
	if reg.status != 200 {
		t.Fatalf("register_webhook through gateway 1 = %d %s", reg.status, reg.body)
	}
	var hook struct {
		WebhookID string `json:"webhook_id"`
	}
	json.Unmarshal([]byte(reg.body), &hook)
	bot := one.rest(ownerA, "create_bot", fmt.Sprintf(`{"name":"Hooked","webhooks":{"url":%q,"secret_key":%q,"actions":[{"name":"incoming_chat"}]}}`, hookURL, botSecret))
	if bot.status != 200 {
		t.Fatalf("create_bot through gateway 1 = %d %s", bot.status, bot.body)
	}
	var botID struct {
		ID string `json:"bot_agent_id"`
	}
	json.Unmarshal([]byte(bot.body), &botID)

	event := `{"license":"A","action":"incoming_chat","payload":` + eventPayload + `}`
	ds := fireAt(t, up.URL, event)
	if len(ds) != 2 || ds[0].Status != 200 || ds[1].Status != 200 {
		t.Fatalf("deliveries = %+v, want two answered 200 by gateway 2", ds)
	}
	for name, g := range map[string]*env{"gateway 2 (the receiver)": two, "gateway 1": one} {
		evs, err := g.g.WebhookStore().Read(context.Background(), "A", "", 10, 0)
		if err != nil || len(evs) != 2 {
			t.Fatalf("%s's store: %d events, %v; want 2", name, len(evs), err)
		}
		// The emulator delivers to the two webhooks at once: either may be stored first.
		got := map[string]webhooks.Event{evs[0].WebhookID: evs[0], evs[1].WebhookID: evs[1]}
		for i, want := range []string{hook.WebhookID, botID.ID} {
			ev := got[want]
			if ev.WebhookID != want || ev.Action != "incoming_chat" || ev.LicenseID != "A" || ev.ReceivedAt.IsZero() ||
				!sameJSON(t, ev.Payload, []byte(eventPayload)) || string(ev.AdditionalData) != "{}" {
				t.Errorf("%s's event %d = %+v (payload %s), want webhook %s with the payload intact", name, i, ev, ev.Payload, want)
			}
		}
		if evs[0].ID >= evs[1].ID && len(evs[0].ID) == len(evs[1].ID) {
			t.Errorf("ids %s, %s not in order", evs[0].ID, evs[1].ID)
		}
	}

	// The same event again: the emulator delivers the same bodies, which are stored once.
	if ds := fireAt(t, up.URL, event); len(ds) != 2 || ds[0].Status != 200 || ds[1].Status != 200 {
		t.Fatalf("repeated deliveries = %+v, want 200s", ds)
	}
	forged := fmt.Sprintf(`{"webhook_id":%q,"secret_key":"forged","action":"incoming_chat","license_id":"A","payload":{"x":1},"additional_data":{}}`, hook.WebhookID)
	if code := postDelivery(t, hookURL, forged); code != 401 {
		t.Errorf("a forged secret_key = %d, want 401", code)
	}
	botAsHook := fmt.Sprintf(`{"webhook_id":%q,"secret_key":%q,"action":"incoming_chat","license_id":"A","payload":{"x":2}}`, hook.WebhookID, botSecret)
	if code := postDelivery(t, hookURL, botAsHook); code != 401 {
		t.Errorf("the bot's secret for the license webhook = %d, want 401", code)
	}
	if evs, _ := two.g.WebhookStore().Read(context.Background(), "A", "", 10, 0); len(evs) != 2 {
		t.Errorf("%d events stored after a replay and two forgeries, want 2", len(evs))
	}
	m := two.metrics()
	for _, want := range []string{
		`gateway_webhook_deliveries_total{result="stored"} 2`,
		`gateway_webhook_deliveries_total{result="duplicate"} 2`,
		`gateway_webhook_deliveries_total{result="unauthorized"} 2`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("gateway 2's /metrics lacks %s", want)
		}
	}
	// Nothing in Redis or in either gateway's log holds a secret.
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer c.Close()
	keys, err := c.Keys(context.Background(), "lcgw:webhooks:*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("webhook keys in Redis: %v, %v", keys, err)
	}
	for _, k := range keys {
		dump, err := c.Dump(context.Background(), k).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{hookSecret, botSecret} {
			if strings.Contains(k, s) || strings.Contains(dump, s) {
				t.Errorf("Redis key %s holds a webhook secret", k)
			}
		}
	}
	for name, g := range map[string]*env{"1": one, "2": two} {
		for _, s := range []string{hookSecret, botSecret} {
			if strings.Contains(g.logs.String(), s) {
				t.Errorf("gateway %s logged a webhook secret", name)
			}
		}
	}
}

// TestWebhookReceiverInProcess: without Redis, the receiver is on the HTTP port and its events in
// process; a webhook registered through the gateway and one configured in WEBHOOK_SECRETS are
// both verified, and a bot's secret rotated by update_bot replaces the one create_bot set.
func TestWebhookReceiverInProcess(t *testing.T) {
	v := newEmulatorEnv(t, func(c *server.Config) { c.WebhookSecrets = "elsewhere=" + hookSecret })
	hookURL := v.httpURL + "/webhooks"
	if r := v.rest(ownerA, "register_webhook", fmt.Sprintf(`{"action":"chat_deactivated","secret_key":%q,"url":%q}`, botSecret, hookURL)); r.status != 200 {
		t.Fatalf("register_webhook = %d %s", r.status, r.body)
	}
	ds := fireAt(t, v.emuURL, `{"license":"A","action":"chat_deactivated","payload":{"chat_id":"C1"}}`)
	if len(ds) != 1 || ds[0].Status != 200 {
		t.Fatalf("deliveries = %+v, want one answered 200", ds)
	}
	configured := fmt.Sprintf(`{"webhook_id":"elsewhere","secret_key":%q,"action":"incoming_chat","license_id":12345,"payload":{"chat_id":"C2"}}`, hookSecret)
	if code := postDelivery(t, hookURL, configured); code != 200 {
		t.Errorf("a delivery of a webhook configured in WEBHOOK_SECRETS = %d, want 200", code)
	}
	store := v.g.WebhookStore()
	if evs, err := store.Read(context.Background(), "A", "", 10, 0); err != nil || len(evs) != 1 || string(evs[0].Payload) != `{"chat_id":"C1"}` {
		t.Errorf("license A's events = %+v, %v", evs, err)
	}
	if evs, err := store.Read(context.Background(), "12345", "", 10, 0); err != nil || len(evs) != 1 || evs[0].WebhookID != "elsewhere" {
		t.Errorf("license 12345's events = %+v, %v", evs, err)
	}
	// A bot's secret rotated with update_bot: deliveries carry the new one, which verifies,
	// and the old one no longer does.
	bot := v.rest(ownerA, "create_bot", fmt.Sprintf(`{"name":"Rotating","webhooks":{"url":%q,"secret_key":"rot-1","actions":[{"name":"incoming_event"}]}}`, hookURL))
	var botID struct {
		ID string `json:"bot_agent_id"`
	}
	if json.Unmarshal([]byte(bot.body), &botID); bot.status != 200 || botID.ID == "" {
		t.Fatalf("create_bot = %d %s", bot.status, bot.body)
	}
	if r := v.rest(ownerA, "update_bot", fmt.Sprintf(`{"id":%q,"webhooks":{"url":%q,"secret_key":"rot-2","actions":[{"name":"incoming_event"}]}}`, botID.ID, hookURL)); r.status != 200 {
		t.Fatalf("update_bot = %d %s", r.status, r.body)
	}
	if ds := fireAt(t, v.emuURL, `{"license":"A","action":"incoming_event","payload":{"chat_id":"C3"}}`); len(ds) != 1 || ds[0].Status != 200 || ds[0].WebhookID != botID.ID {
		t.Errorf("deliveries to the rotated bot = %+v, want one answered 200", ds)
	}
	old := fmt.Sprintf(`{"webhook_id":%q,"secret_key":"rot-1","action":"incoming_event","license_id":"A","payload":{"chat_id":"C4"}}`, botID.ID)
	if code := postDelivery(t, hookURL, old); code != 401 {
		t.Errorf("the bot's secret before update_bot = %d, want 401", code)
	}

	// Through the real listener: a body over GATEWAY_MAX_REQUEST_BYTES is 413, one that is not
	// the format 400; neither is stored.
	huge := fmt.Sprintf(`{"webhook_id":"elsewhere","secret_key":%q,"action":"incoming_chat","license_id":"A","payload":{"x":"%s"}}`, hookSecret, strings.Repeat("x", 1<<20))
	if code := postDelivery(t, hookURL, huge); code != 413 {
		t.Errorf("a delivery over GATEWAY_MAX_REQUEST_BYTES = %d, want 413", code)
	}
	if code := postDelivery(t, hookURL, `{"webhook_id":"elsewhere"`); code != 400 {
		t.Errorf("a truncated delivery = %d, want 400", code)
	}
	if evs, _ := store.Read(context.Background(), "A", "", 10, 0); len(evs) != 2 {
		t.Errorf("license A holds %d events, want 2 (the chat_deactivated and the rotated bot's)", len(evs))
	}

	// GET is not a delivery: the REST surface's 404 (or 405), never the receiver.
	resp, err := http.Get(hookURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 {
		t.Errorf("GET /webhooks = 200")
	}
}

// TestWebhookRedisDown: a gateway whose Redis is gone answers a delivery 503, so that LiveChat
// retries it, and counts it as a store error.
func TestWebhookRedisDown(t *testing.T) {
	r := redistest.Server(t)
	v := newEmulatorEnv(t, func(c *server.Config) {
		c.RedisURL = r.URL()
		c.WebhookSecrets = "wh=" + hookSecret
	})
	body := fmt.Sprintf(`{"webhook_id":"wh","secret_key":%q,"action":"incoming_chat","license_id":"A","payload":{"n":1}}`, hookSecret)
	if code := postDelivery(t, v.httpURL+"/webhooks", body); code != 200 {
		t.Fatalf("with Redis up = %d", code)
	}
	r.Kill()
	if code := postDelivery(t, v.httpURL+"/webhooks", strings.Replace(body, `"n":1`, `"n":2`, 1)); code != 503 {
		t.Errorf("with Redis down = %d, want 503", code)
	}
	if m := v.metrics(); !strings.Contains(m, `gateway_webhook_deliveries_total{result="store_error"} 1`) {
		t.Error("the failed delivery is not counted as a store_error")
	}
}

// TestWebhookListenerTLS: with mTLS on, the receiver on the HTTP port requires a client
// certificate like every path there, while GATEWAY_WEBHOOK_ADDR's listener serves TLS with the
// same certificate and takes LiveChat's deliveries, which come without one.
func TestWebhookListenerTLS(t *testing.T) {
	body := fmt.Sprintf(`{"webhook_id":"wh","secret_key":%q,"action":"incoming_chat","license_id":"A","payload":{"n":1}}`, hookSecret)
	post := func(v *tlsEnv, url string) int {
		t.Helper()
		resp, err := v.httpClient(nil, false).Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	onHTTP := startTLSWith(t, true, func(c *server.Config) { c.WebhookSecrets = "wh=" + hookSecret })
	if code := post(onHTTP, onHTTP.webhookURL); code != http.StatusUnauthorized {
		t.Errorf("a delivery without a client certificate on the mTLS HTTP port = %d, want 401", code)
	}
	own := startTLSWith(t, true, func(c *server.Config) {
		c.WebhookSecrets = "wh=" + hookSecret
		c.WebhookAddr = "127.0.0.1:0"
	})
	if code := post(own, own.webhookURL); code != http.StatusOK {
		t.Errorf("a delivery without a client certificate on GATEWAY_WEBHOOK_ADDR = %d, want 200", code)
	}
}
