package emulator

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// received is one request a test receiver got.
type received struct {
	method, contentType string
	body                map[string]any
	raw                 string
}

// receiver is a webhook receiver for one test: it records what it gets and answers status.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	status atomic.Int64
	mu     sync.Mutex
	got    []received
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{t: t}
	rc.status.Store(http.StatusOK)
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		rc.t.Errorf("receiver: body %q is not a JSON object: %v", raw, err)
	}
	rc.mu.Lock()
	rc.got = append(rc.got, received{r.Method, r.Header.Get("Content-Type"), body, string(raw)})
	rc.mu.Unlock()
	w.WriteHeader(int(rc.status.Load()))
}

func (rc *receiver) received() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// url is the receiver's URL with path p, so that one receiver can tell webhooks apart.
func (rc *receiver) url(p string) string { return rc.srv.URL + p }

// fire posts an event to POST /emulator/events and returns the answer.
func (v *env) fire(body string) result {
	v.t.Helper()
	return v.post("/emulator/events", "", body)
}

// fireOK fires an event and returns its deliveries, failing unless it was accepted.
func (v *env) fireOK(body string) []Delivery {
	v.t.Helper()
	r := v.fire(body)
	if r.status != http.StatusOK {
		v.t.Fatalf("POST /emulator/events %s = %d %s, want 200", body, r.status, r.body)
	}
	var out struct{ Deliveries []Delivery }
	if err := json.Unmarshal(r.body, &out); err != nil {
		v.t.Fatal(err)
	}
	return out.Deliveries
}

// listDeliveries reads GET /emulator/deliveries with the query q.
func (v *env) listDeliveries(q string) (ds []Delivery, total, failed, inFlight int64) {
	v.t.Helper()
	resp, err := http.Get(v.srv.URL + "/emulator/deliveries" + q)
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		v.t.Fatalf("GET /emulator/deliveries%s = %d %s", q, resp.StatusCode, b)
	}
	var out struct {
		Deliveries []Delivery `json:"deliveries"`
		Total      int64      `json:"total"`
		Failed     int64      `json:"failed"`
		InFlight   int64      `json:"in_flight"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		v.t.Fatalf("GET /emulator/deliveries: %v", err)
	}
	return out.Deliveries, out.Total, out.Failed, out.InFlight
}

// TestEventDelivered fires an event at a license: its webhook of that action receives the spec's
// general format, with its secret and the additional data it asked for; the license's webhook of
// another action and another license's webhook of the same action receive nothing; the answer
// and the record hold the delivery and its status, and no secret.
func TestEventDelivered(t *testing.T) {
	v := newEnv(t)
	rc := newReceiver(t)
	withData := v.registerHook(ownerA, fmt.Sprintf(`{"url":%q,"action":"incoming_chat","secret_key":"s3cret-a","additional_data":["chat_properties"]}`, rc.url("/with-data")))
	plain := v.registerHook(ownerA, fmt.Sprintf(`{"url":%q,"action":"incoming_chat","secret_key":"s3cret-plain"}`, rc.url("/plain")))
	v.registerHook(ownerA, fmt.Sprintf(`{"url":%q,"action":"chat_deactivated","secret_key":"other-action"}`, rc.url("/other-action")))
	v.registerHook(ownerB, fmt.Sprintf(`{"url":%q,"action":"incoming_chat","secret_key":"other-license"}`, rc.url("/other-license")))

	ds := v.fireOK(`{"license":"A","action":"incoming_chat","payload":{"chat":{"id":"PJ0MRSHTDG","users":[]}},
		"additional_data":{"chat_properties":{"source":{"type":"facebook"}},"not_asked":1}}`)

	got := rc.received()
	if len(got) != 2 {
		t.Fatalf("receiver got %d requests, want 2: %v", len(got), got)
	}
	payload := map[string]any{"chat": map[string]any{"id": "PJ0MRSHTDG", "users": []any{}}}
	want := []map[string]any{
		{"webhook_id": withData, "secret_key": "s3cret-a", "action": "incoming_chat", "license_id": "A", "payload": payload,
			"additional_data": map[string]any{"chat_properties": map[string]any{"source": map[string]any{"type": "facebook"}}}},
		{"webhook_id": plain, "secret_key": "s3cret-plain", "action": "incoming_chat", "license_id": "A", "payload": payload,
			"additional_data": map[string]any{}},
	}
	for i, r := range got {
		// Deliveries run in parallel: match them by webhook id.
		j := 0
		if r.body["webhook_id"] == plain {
			j = 1
		}
		if r.method != http.MethodPost || r.contentType != "application/json" {
			t.Errorf("request %d: %s with Content-Type %q, want POST application/json", i, r.method, r.contentType)
		}
		if !sameJSON(r.body, want[j]) {
			t.Errorf("request %d = %s,\nwant %v", i, r.raw, want[j])
		}
	}
	if len(ds) != 2 || ds[0].WebhookID != withData || ds[1].WebhookID != plain {
		t.Fatalf("deliveries = %+v, want %s then %s, in registration order", ds, withData, plain)
	}
	for _, d := range ds {
		if d.Status != http.StatusOK || d.Error != "" || d.Type != "license" || d.Action != "incoming_chat" || d.LicenseID != "A" ||
			!strings.HasPrefix(d.URL, rc.srv.URL) || d.Seq == 0 || d.Time.IsZero() {
			t.Errorf("delivery %+v, want 200 to the receiver, numbered and timed", d)
		}
	}
	listed, total, failed, _ := v.listDeliveries("")
	if len(listed) != 2 || total != 2 || failed != 0 {
		t.Errorf("GET /emulator/deliveries: %d listed, total %d, failed %d; want 2, 2, 0", len(listed), total, failed)
	}
	for _, p := range []string{"/emulator/deliveries", "/emulator/stats"} {
		resp, err := http.Get(v.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "s3cret") {
			t.Errorf("GET %s shows a secret key: %s", p, b)
		}
	}
}

// TestEventChatPropertiesFromPayload checks that a webhook asking for chat_properties receives
// the payload's chat.properties when the event gives no additional_data.
func TestEventChatPropertiesFromPayload(t *testing.T) {
	v := newEnv(t)
	rc := newReceiver(t)
	v.registerHook(ownerA, fmt.Sprintf(`{"url":%q,"action":"incoming_chat","secret_key":"k","additional_data":["chat_properties"]}`, rc.url("/")))
	v.fireOK(`{"license":"A","action":"incoming_chat","payload":{"chat":{"id":"C","properties":{"source":{"client_id":"x"}}}}}`)
	got := rc.received()
	want := map[string]any{"chat_properties": map[string]any{"source": map[string]any{"client_id": "x"}}}
	if len(got) != 1 || !sameJSON(got[0].body["additional_data"], want) {
		t.Errorf("receiver got %v, want additional_data %v", got, want)
	}
}

// TestEventFilters checks which events a webhook's filters let through, including what the
// emulator decides when the event does not give the fact a filter needs.
func TestEventFilters(t *testing.T) {
	const (
		agentA = "agent-a@example.com"
		other  = "other@example.com"
	)
	chatWith := func(props string, users ...string) string {
		var us []string
		for _, u := range users {
			us = append(us, fmt.Sprintf(`{"id":%q,"type":"agent"}`, u))
		}
		us = append(us, `{"id":"c1","type":"customer"}`)
		return fmt.Sprintf(`"payload":{"chat":{"id":"C","users":[%s],"properties":{%s}}}`, strings.Join(us, ","), props)
	}
	cases := []struct {
		name, action, filters, event string
		want                         bool
	}{
		{"no filters", "incoming_chat", ``, `"payload":{}`, true},
		{"author_type given, same", "incoming_event", `"author_type":"agent"`, `"payload":{"chat_id":"C"},"author_type":"agent"`, true},
		{"author_type given, other", "incoming_event", `"author_type":"agent"`, `"payload":{"chat_id":"C"},"author_type":"customer"`, false},
		{"author_type in payload.event", "incoming_event", `"author_type":"customer"`, `"payload":{"event":{"author_type":"customer"}}`, true},
		{"author_type unknown", "incoming_event", `"author_type":"agent"`, `"payload":{"chat_id":"C"}`, false},
		{"only_my_chats, source given, mine", "incoming_chat", `"only_my_chats":true`, `"payload":{},"source_client_id":"` + nsA + `"`, true},
		{"only_my_chats, source given, other", "incoming_chat", `"only_my_chats":true`, `"payload":{},"source_client_id":"someone-else"`, false},
		{"only_my_chats, source in chat properties", "incoming_chat", `"only_my_chats":true`, chatWith(`"source":{"client_id":"` + nsA + `"}`), true},
		{"only_my_chats, source in additional_data", "chat_deactivated", `"only_my_chats":true`, `"payload":{"chat_id":"C"},"additional_data":{"chat_properties":{"source":{"client_id":"` + nsA + `"}}}`, true},
		{"only_my_chats, source unknown", "incoming_chat", `"only_my_chats":true`, `"payload":{}`, false},
		{"only_my_chats false", "incoming_chat", `"only_my_chats":false`, `"payload":{}`, true},
		{"agents_any, in chat users", "incoming_chat", `"chat_member_ids":{"agents_any":["` + agentA + `"]}`, chatWith(``, other, agentA), true},
		{"agents_any, not in chat users", "incoming_chat", `"chat_member_ids":{"agents_any":["` + agentA + `"]}`, chatWith(``, other), false},
		{"agents_any, a customer of that id is no agent", "incoming_chat", `"chat_member_ids":{"agents_any":["c1"]}`, chatWith(``), false},
		{"agents_any, chat_agent_ids given", "user_added_to_chat", `"chat_member_ids":{"agents_any":["` + agentA + `"]}`, `"payload":{},"chat_agent_ids":["` + agentA + `"]`, true},
		{"agents_any, agents unknown", "user_added_to_chat", `"chat_member_ids":{"agents_any":["` + agentA + `"]}`, `"payload":{}`, false},
		{"agents_exclude, in chat", "incoming_chat", `"chat_member_ids":{"agents_exclude":["` + agentA + `"]}`, chatWith(``, agentA), false},
		{"agents_exclude, not in chat", "incoming_chat", `"chat_member_ids":{"agents_exclude":["` + agentA + `"]}`, chatWith(``, other), true},
		{"agents_exclude, agents unknown", "user_added_to_chat", `"chat_member_ids":{"agents_exclude":["` + agentA + `"]}`, `"payload":{}`, true},
		{"agents_exclude, chat_agent_ids overrides payload", "incoming_chat", `"chat_member_ids":{"agents_exclude":["` + agentA + `"]}`, chatWith(``, other) + `,"chat_agent_ids":["` + agentA + `"]`, false},
		{"agent_ids, listed", "agent_deleted", `"agent_ids":["` + agentA + `"]`, `"payload":{"agent_id":"` + agentA + `"}`, true},
		{"agent_ids, not listed", "agent_deleted", `"agent_ids":["` + agentA + `"]`, `"payload":{"agent_id":"` + other + `"}`, false},
		{"chat_properties, one of the values", "incoming_chat", `"chat_properties":{"source":{"type":{"values":["facebook","twitter"]}}}`, chatWith(`"source":{"type":"twitter"}`), true},
		{"chat_properties, another value", "incoming_chat", `"chat_properties":{"source":{"type":{"values":["facebook","twitter"]}}}`, chatWith(`"source":{"type":"email"}`), false},
		{"chat_properties, numbers", "incoming_chat", `"chat_properties":{"n":{"m":{"values":[1,2]}}}`, chatWith(`"n":{"m":2}`), true},
		{"chat_properties, absent", "incoming_chat", `"chat_properties":{"source":{"type":{"values":["facebook"]}}}`, chatWith(``), false},
		{"chat_properties, other condition", "incoming_chat", `"chat_properties":{"source":{"type":{"exists":true}}}`, chatWith(`"source":{"type":"facebook"}`), false},
		{"two filters, both hold", "incoming_event", `"author_type":"customer","chat_member_ids":{"agents_exclude":["` + other + `"]}`, `"payload":{},"author_type":"customer","chat_agent_ids":["` + agentA + `"]`, true},
		{"two filters, one fails", "incoming_event", `"author_type":"customer","chat_member_ids":{"agents_exclude":["` + agentA + `"]}`, `"payload":{},"author_type":"customer","chat_agent_ids":["` + agentA + `"]`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := newEnv(t)
			rc := newReceiver(t)
			extra := ""
			if tc.filters != "" {
				extra = `,"filters":{` + tc.filters + `}`
			}
			v.registerHook(ownerA, fmt.Sprintf(`{"url":%q,"action":%q,"secret_key":"k"%s}`, rc.url("/"), tc.action, extra))
			ds := v.fireOK(fmt.Sprintf(`{"license":"A","action":%q,%s}`, tc.action, tc.event))
			if got := len(rc.received()); got != len(ds) {
				t.Errorf("receiver got %d requests, the answer lists %d deliveries", got, len(ds))
			}
			if delivered := len(ds) == 1; delivered != tc.want {
				t.Errorf("delivered = %v (%+v), want %v", delivered, ds, tc.want)
			}
		})
	}
}

// TestEventBotWebhooks checks that a bot's webhooks receive events too, under the bot's id, with
// their filters, and that a bot without a webhook of the action receives nothing.
func TestEventBotWebhooks(t *testing.T) {
	v := newEnv(t)
	rc := newReceiver(t)
	bot := v.ok(ownerA, "create_bot", fmt.Sprintf(`{"name":"B","webhooks":{"url":%q,"secret_key":"bot-secret",
		"actions":[{"name":"incoming_event","filters":{"author_type":"customer"},"additional_data":["chat_properties"]},{"name":"incoming_chat"}]}}`, rc.url("/bot"))).(map[string]any)["bot_agent_id"].(string)
	v.ok(ownerA, "create_bot", fmt.Sprintf(`{"name":"C","webhooks":{"url":%q,"secret_key":"s","actions":[{"name":"chat_deactivated"}]}}`, rc.url("/other-bot")))

	if ds := v.fireOK(`{"license":"A","action":"incoming_event","payload":{"chat_id":"C"},"author_type":"agent"}`); len(ds) != 0 {
		t.Errorf("an agent's event reached the bot's customer-only webhook: %+v", ds)
	}
	ds := v.fireOK(`{"license":"A","action":"incoming_event","payload":{"chat_id":"C"},"author_type":"customer","additional_data":{"chat_properties":{}}}`)
	if len(ds) != 1 || ds[0].WebhookID != bot || ds[0].Type != "bot" || ds[0].Status != http.StatusOK {
		t.Fatalf("deliveries = %+v, want one to bot %s", ds, bot)
	}
	got := rc.received()
	want := map[string]any{"webhook_id": bot, "secret_key": "bot-secret", "action": "incoming_event", "license_id": "A",
		"payload": map[string]any{"chat_id": "C"}, "additional_data": map[string]any{"chat_properties": map[string]any{}}}
	if len(got) != 1 || !sameJSON(got[0].body, want) {
		t.Errorf("receiver got %v, want %v", got, want)
	}
}

// TestEventDeliveryStatus checks that the receiver's answer is recorded: a 401 as 401 and
// failed, a receiver that is gone as a transport error; GET /emulator/stats counts them.
func TestEventDeliveryStatus(t *testing.T) {
	v := newEnv(t)
	rc := newReceiver(t)
	rc.status.Store(http.StatusUnauthorized)
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL + "/hooks"
	gone.Close()
	v.registerHook(ownerA, fmt.Sprintf(`{"url":%q,"action":"customer_created","secret_key":"k"}`, rc.url("/")))
	v.registerHook(ownerA, fmt.Sprintf(`{"url":%q,"action":"customer_created","secret_key":"k"}`, goneURL))

	ds := v.fireOK(`{"license":"A","action":"customer_created","payload":{"customer":{"id":"c1"}}}`)
	if len(ds) != 2 {
		t.Fatalf("deliveries = %+v, want 2", ds)
	}
	if d := ds[0]; d.Status != http.StatusUnauthorized || d.Error != "" || !d.Failed() {
		t.Errorf("delivery to a receiver answering 401 = %+v, want status 401, failed", d)
	}
	if d := ds[1]; d.Status != 0 || d.Error == "" || !d.Failed() || d.URL != goneURL {
		t.Errorf("delivery to a closed server = %+v, want no status and an error", d)
	}
	listed, total, failed, inFlight := v.listDeliveries("")
	if len(listed) != 2 {
		t.Fatalf("GET /emulator/deliveries lists %+v, want 2", listed)
	}
	// Listed in the order they ended, which is either.
	statuses := []int{listed[0].Status, listed[1].Status}
	if !slices.Contains(statuses, http.StatusUnauthorized) || !slices.Contains(statuses, 0) || total != 2 || failed != 2 || inFlight != 0 {
		t.Errorf("GET /emulator/deliveries = %+v, total %d, failed %d, in flight %d", listed, total, failed, inFlight)
	}
	resp, err := http.Get(v.srv.URL + "/emulator/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct {
		Deliveries map[string]int64 `json:"deliveries"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	if want := map[string]int64{"total": 2, "failed": 2, "in_flight": 0}; fmt.Sprint(s.Deliveries) != fmt.Sprint(want) {
		t.Errorf("stats deliveries = %v, want %v", s.Deliveries, want)
	}
}

// TestDeleteAgentFiresAgentDeleted checks that delete_agent delivers agent_deleted to the
// webhooks whose agent_ids name the agent, or that have no filter, after answering; that GET
// /emulator/deliveries?wait= waits for them; and that a refused delete_agent fires nothing.
func TestDeleteAgentFiresAgentDeleted(t *testing.T) {
	v := newEnv(t)
	rc := newReceiver(t)
	named := v.registerHook(ownerA, fmt.Sprintf(`{"url":%q,"action":"agent_deleted","secret_key":"k1","filters":{"agent_ids":["agent-a@example.com"]}}`, rc.url("/named")))
	v.registerHook(ownerA, fmt.Sprintf(`{"url":%q,"action":"agent_deleted","secret_key":"k2","filters":{"agent_ids":["someone@example.com"]}}`, rc.url("/other")))
	all := v.registerHook(ownerA, fmt.Sprintf(`{"url":%q,"action":"agent_deleted","secret_key":"k3"}`, rc.url("/all")))
	v.registerHook(ownerB, fmt.Sprintf(`{"url":%q,"action":"agent_deleted","secret_key":"k4"}`, rc.url("/license-b")))

	v.fails(readonlyA, "delete_agent", `{"id":"agent-a@example.com"}`, errAuthorization)
	v.ok(ownerA, "delete_agent", `{"id":"agent-a@example.com"}`)
	ds, total, _, inFlight := v.listDeliveries("?wait=10s")
	if inFlight != 0 || total != 2 || len(ds) != 2 {
		t.Fatalf("deliveries = %+v, total %d, in flight %d; want 2 ended", ds, total, inFlight)
	}
	ids := map[string]bool{ds[0].WebhookID: true, ds[1].WebhookID: true}
	if !ids[named] || !ids[all] {
		t.Errorf("delivered to %v, want %s and %s", ids, named, all)
	}
	for _, r := range rc.received() {
		if r.body["action"] != "agent_deleted" || !sameJSON(r.body["payload"], map[string]any{"agent_id": "agent-a@example.com"}) ||
			r.body["license_id"] != "A" {
			t.Errorf("receiver got %s", r.raw)
		}
	}
	// The Go API waits the same way.
	v.ok(ownerA, "create_agent", `{"id":"x@example.com","name":"X"}`)
	v.ok(ownerA, "delete_agent", `{"id":"x@example.com"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := v.e.WaitDeliveries(ctx); err != nil {
		t.Fatal(err)
	}
	if got := v.e.Deliveries(); len(got) != 3 || got[2].WebhookID != all {
		t.Errorf("after deleting x: deliveries %+v, want a third one to %s", got, all)
	}
}

// TestEventRefused checks that POST /emulator/events refuses what is not an event the upstream
// could send, with a validation body naming the problem, and delivers nothing.
func TestEventRefused(t *testing.T) {
	v := newEnv(t)
	rc := newReceiver(t)
	v.registerHook(ownerA, fmt.Sprintf(`{"url":%q,"action":"incoming_chat","secret_key":"k"}`, rc.url("/")))
	cases := []struct {
		name, body, msg string
		status          int
	}{
		{"not JSON", `{`, "event", 400},
		{"empty", ``, "event", 400},
		{"an array", `[]`, "event", 400},
		{"unknown field", `{"license":"A","action":"incoming_chat","payload":{},"secret_key":"x"}`, "secret_key", 400},
		{"no license", `{"action":"incoming_chat","payload":{}}`, "license", 400},
		{"unknown license", `{"license":"Z","action":"incoming_chat","payload":{}}`, `unknown license`, 400},
		{"no action", `{"license":"A","payload":{}}`, "action", 400},
		{"unknown action", `{"license":"A","action":"chat_exploded","payload":{}}`, "chat_exploded", 400},
		{"agent_status_changed is not a v3.2 webhook", `{"license":"A","action":"agent_status_changed","payload":{}}`, "agent_status_changed", 400},
		{"no payload", `{"license":"A","action":"incoming_chat"}`, "payload", 400},
		{"null payload", `{"license":"A","action":"incoming_chat","payload":null}`, "payload", 400},
		{"payload an array", `{"license":"A","action":"incoming_chat","payload":[]}`, "payload", 400},
		{"bad author_type", `{"license":"A","action":"incoming_event","payload":{},"author_type":"bot"}`, "author_type", 400},
		{"data after the object", `{"license":"A","action":"incoming_chat","payload":{}} {}`, "after", 400},
		{"too large", `{"license":"A","action":"incoming_chat","payload":{"x":"` + strings.Repeat("x", maxEventBytes) + `"}}`, "larger", 413},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := v.fire(tc.body)
			if r.status != tc.status || r.errorType() != errValidation || !strings.Contains(string(r.body), tc.msg) {
				t.Errorf("= %d %s, want %d validation naming %q", r.status, r.body, tc.status, tc.msg)
			}
		})
	}
	if got := rc.received(); len(got) != 0 {
		t.Errorf("refused events were delivered: %v", got)
	}
	if ds, total, _, _ := v.listDeliveries(""); len(ds) != 0 || total != 0 {
		t.Errorf("refused events were recorded: %+v", ds)
	}
	for _, q := range []string{"?after=x", "?wait=soon", "?wait=-1s"} {
		resp, err := http.Get(v.srv.URL + "/emulator/deliveries" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET /emulator/deliveries%s = %d, want 400", q, resp.StatusCode)
		}
	}
}

// TestDeliveriesResetAndBounded checks that POST /emulator/reset forgets the deliveries but not
// their numbering, that only the latest are kept, and that after= lists those after a number.
func TestDeliveriesResetAndBounded(t *testing.T) {
	v := newEnv(t)
	rc := newReceiver(t)
	v.registerHook(ownerA, fmt.Sprintf(`{"url":%q,"action":"customer_created","secret_key":"k"}`, rc.url("/")))
	const event = `{"license":"A","action":"customer_created","payload":{}}`
	v.fireOK(event)
	if r := v.post("/emulator/reset", "", ``); r.status != http.StatusOK {
		t.Fatalf("POST /emulator/reset = %d %s", r.status, r.body)
	}
	if ds, total, failed, _ := v.listDeliveries(""); len(ds) != 0 || total != 0 || failed != 0 {
		t.Errorf("after reset: %+v, total %d, failed %d; want none", ds, total, failed)
	}

	v.e.deliveries.max = 3
	for range 5 {
		v.fireOK(event)
	}
	ds, total, _, _ := v.listDeliveries("")
	if total != 5 || len(ds) != 3 || ds[0].Seq != 4 || ds[2].Seq != 6 {
		t.Errorf("after 5 more: total %d, kept %+v; want total 5, seqs 4 to 6", total, ds)
	}
	if ds, _, _, _ := v.listDeliveries("?after=5"); len(ds) != 1 || ds[0].Seq != 6 {
		t.Errorf("after=5: %+v, want seq 6 only", ds)
	}
}

// TestDeliveryConcurrencyBounded checks that no more than deliveryConcurrency deliveries are in
// flight at once, and that all are made. The receiver holds each request until that many have
// arrived together, so the test needs no timing.
func TestDeliveryConcurrencyBounded(t *testing.T) {
	v := newEnv(t)
	var cur, peak atomic.Int64
	gate := make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := cur.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		if n == deliveryConcurrency {
			once.Do(func() { close(gate) })
		}
		<-gate
		cur.Add(-1)
	}))
	t.Cleanup(srv.Close)
	const hooks = 3 * deliveryConcurrency
	for i := range hooks {
		v.registerHook(ownerA, fmt.Sprintf(`{"url":"%s/%d","action":"routing_status_set","secret_key":"k"}`, srv.URL, i))
	}
	ds := v.fireOK(`{"license":"A","action":"routing_status_set","payload":{"agent_id":"owner-a@example.com","status":"accepting chats"}}`)
	if len(ds) != hooks {
		t.Errorf("%d deliveries, want %d", len(ds), hooks)
	}
	for _, d := range ds {
		if d.Status != http.StatusOK {
			t.Errorf("delivery %+v", d)
		}
	}
	if p := peak.Load(); p != deliveryConcurrency {
		t.Errorf("peak deliveries in flight = %d, want %d", p, deliveryConcurrency)
	}
}

// roundTripper is an http.RoundTripper from a function.
type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestWithDeliveryClient checks that an embedding program can direct deliveries: here to a
// handler in the same process, whatever host the webhook names.
func TestWithDeliveryClient(t *testing.T) {
	var hosts []string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hosts = append(hosts, r.Host)
		w.WriteHeader(http.StatusAccepted)
	})
	client := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec.Result(), nil
	})}
	v := newEnv(t, WithDeliveryClient(client))
	v.registerHook(ownerA, `{"url":"https://gateway.invalid/webhooks","action":"incoming_chat","secret_key":"k"}`)
	ds, err := v.e.Fire(context.Background(), Event{License: "A", Action: "incoming_chat", Payload: map[string]any{"chat": map[string]any{}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Status != http.StatusAccepted || len(hosts) != 1 || hosts[0] != "gateway.invalid" {
		t.Errorf("deliveries %+v to hosts %v, want one, 202, to gateway.invalid", ds, hosts)
	}
}

// TestFireRefused checks Fire's refusals in Go, including a payload that is not JSON, which must
// leave the emulator usable.
func TestFireRefused(t *testing.T) {
	v := newEnv(t)
	for _, ev := range []Event{
		{License: "Z", Action: "incoming_chat", Payload: map[string]any{}},
		{License: "A", Action: "agent_status_changed", Payload: map[string]any{}},
		{License: "A", Action: "incoming_chat"},
		{License: "A", Action: "incoming_chat", Payload: map[string]any{"c": make(chan int)}},
	} {
		if ds, err := v.e.Fire(context.Background(), ev); err == nil {
			t.Errorf("Fire(%+v) = %+v, want an error", ev, ds)
		}
	}
	v.ok(ownerA, "list_groups", `{}`)
}
