package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	configv1 "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
	tu "github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/testutil/redistest"
)

const theSecret = "s3cr3t-of-wh1"

// registries runs f with an in-process registry and one on a real redis-server.
func registries(t *testing.T, f func(t *testing.T, r *Registry, c redis.UniversalClient)) {
	t.Run("memory", func(t *testing.T) { f(t, NewRegistry([]byte("k"), 3, nil, nil), nil) })
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Server(t)
		c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		t.Cleanup(func() { c.Close() })
		f(t, NewRegistry([]byte("k"), 3, c, nil), c)
	})
}

// TestRegistryPin: a webhook's first verified delivery pins its license; another license is
// refused after, on every replica sharing Redis; past the bound a new webhook passes unpinned.
func TestRegistryPin(t *testing.T) {
	registries(t, func(t *testing.T, r *Registry, c redis.UniversalClient) {
		ctx := context.Background()
		pin := func(r *Registry, id, license string, want bool) {
			t.Helper()
			if ok, err := r.Pin(ctx, id, license); err != nil || ok != want {
				t.Errorf("Pin(%s, %s) = %v, %v; want %v", id, license, ok, err, want)
			}
		}
		pin(r, "wh1", "A", true)
		pin(r, "wh1", "A", true)
		pin(r, "wh1", "B", false)
		pin(r, "wh2", "B", true)
		pin(r, "wh3", "B", true)
		pin(r, "wh4", "A", true) // past the bound of 3: not pinned
		pin(r, "wh4", "B", true)
		if c != nil {
			pin(NewRegistry([]byte("k"), 3, c, nil), "wh1", "B", false)
		}
	})
}

// TestRegistry: a learned secret verifies its webhook's deliveries only; a replaced one no
// longer does; past the bound a new webhook is refused while a known one is still replaced; and
// Redis holds no secret.
func TestRegistry(t *testing.T) {
	registries(t, func(t *testing.T, r *Registry, c redis.UniversalClient) {
		ctx := context.Background()
		if err := r.Learn(ctx, "wh1", theSecret); err != nil {
			t.Fatal(err)
		}
		check := func(id, secret string, want bool) {
			t.Helper()
			if ok, err := r.Verify(ctx, id, secret); err != nil || ok != want {
				t.Errorf("Verify(%s, …) = %v, %v; want %v", id, ok, err, want)
			}
		}
		check("wh1", theSecret, true)
		check("wh1", theSecret+"x", false)
		check("wh1", "", false)
		check("wh2", theSecret, false)
		if err := r.Learn(ctx, "wh1", "rotated"); err != nil {
			t.Fatal(err)
		}
		check("wh1", theSecret, false)
		check("wh1", "rotated", true)
		for _, id := range []string{"wh2", "wh3"} {
			if err := r.Learn(ctx, id, "x"); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.Learn(ctx, "wh4", "x"); !errors.Is(err, ErrRegistryFull) {
			t.Errorf("a fourth webhook past the bound of 3: %v, want ErrRegistryFull", err)
		}
		if err := r.Learn(ctx, "wh3", "y"); err != nil {
			t.Errorf("replacing a known webhook's secret at the bound: %v", err)
		}
		if c != nil {
			// The other replica: the same key, the same Redis, nothing learned itself.
			other := NewRegistry([]byte("k"), 3, c, nil)
			if ok, err := other.Verify(ctx, "wh1", "rotated"); err != nil || !ok {
				t.Errorf("another replica's Verify = %v, %v; want true", ok, err)
			}
			checkNoSecretInRedis(t, c, theSecret, "rotated")
		}
	})
}

// checkNoSecretInRedis fails if any key or string, hash or stream value in Redis holds one of
// the secrets.
func checkNoSecretInRedis(t *testing.T, c redis.UniversalClient, secrets ...string) {
	t.Helper()
	ctx := context.Background()
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var dump bytes.Buffer
	for _, k := range keys {
		dump.WriteString(k + "\n")
		switch c.Type(ctx, k).Val() {
		case "string":
			dump.WriteString(c.Get(ctx, k).Val())
		case "hash":
			for f, v := range c.HGetAll(ctx, k).Val() {
				dump.WriteString(f + v)
			}
		case "stream":
			for _, m := range c.XRange(ctx, k, "-", "+").Val() {
				for f, v := range m.Values {
					dump.WriteString(f)
					s, _ := v.(string)
					dump.WriteString(s)
				}
			}
		}
	}
	for _, s := range secrets {
		if strings.Contains(dump.String(), s) {
			t.Errorf("Redis holds the secret %q", s)
		}
	}
}

// TestRegistryRedisDown: with Redis gone, Verify errs (the receiver answers 503, not 401), and
// the configured secrets still verify.
func TestRegistryRedisDown(t *testing.T) {
	srv := redistest.Server(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	defer c.Close()
	r := NewRegistry([]byte("k"), 0, c, map[string]string{"conf": "c-secret"})
	srv.Kill()
	if _, err := r.Verify(context.Background(), "wh1", theSecret); err == nil {
		t.Error("Verify with Redis down: no error")
	}
	if ok, err := r.Verify(context.Background(), "conf", "c-secret"); !ok || err != nil {
		t.Errorf("a configured secret with Redis down = %v, %v; want true", ok, err)
	}
}

// TestParseSecrets: both forms, and errors that never quote a secret.
func TestParseSecrets(t *testing.T) {
	got, err := ParseSecrets(" a=x , b=y=z")
	if err != nil || len(got) != 2 || got["a"] != "x" || got["b"] != "y=z" {
		t.Errorf("ParseSecrets(inline) = %v, %v", got, err)
	}
	path := filepath.Join(t.TempDir(), "secrets")
	if err := os.WriteFile(path, []byte("# ours\nc=with,comma\n\nd = spaced \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err = ParseSecrets("@" + path)
	if err != nil || len(got) != 2 || got["c"] != "with,comma" || got["d"] != "spaced" {
		t.Errorf("ParseSecrets(file) = %v, %v", got, err)
	}
	for _, bad := range []string{"a=hunter2,nosecret", "=hunter2", "a b=hunter2", "a="} {
		_, err := ParseSecrets(bad)
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseSecrets(%q) = %v; want an error without the secret", bad, err)
		}
	}
}

// TestSecret: the writes that set a webhook secret, and those that do not.
func TestSecret(t *testing.T) {
	hooks := &configv1.BotWebhooks{Url: "http://x", SecretKey: "bot-secret"}
	id, secret, ok := Secret("register_webhook", &configv1.RegisterWebhookRequest{SecretKey: "k"}, &configv1.RegisterWebhookResponse{WebhookId: "wh"})
	if !ok || id != "wh" || secret != "k" {
		t.Errorf("register_webhook: %q %q %v", id, secret, ok)
	}
	id, secret, ok = Secret("create_bot", &configv1.CreateBotRequest{Webhooks: hooks}, &configv1.CreateBotResponse{BotAgentId: "bot"})
	if !ok || id != "bot" || secret != "bot-secret" {
		t.Errorf("create_bot: %q %q %v", id, secret, ok)
	}
	if _, _, ok := Secret("create_bot", &configv1.CreateBotRequest{}, &configv1.CreateBotResponse{BotAgentId: "bot"}); ok {
		t.Error("create_bot without webhooks set a secret")
	}
	id, _, ok = Secret("update_bot", &configv1.UpdateBotRequest{Id: "bot", Webhooks: hooks}, &configv1.UpdateBotResponse{})
	if !ok || id != "bot" {
		t.Errorf("update_bot: %q %v", id, ok)
	}
	if _, _, ok := Secret("get_bot", &configv1.GetBotRequest{}, &configv1.GetBotResponse{}); ok {
		t.Error("get_bot set a secret")
	}
}

// receiverEnv is a receiver on the in-process store with wh1's secret learned.
type receiverEnv struct {
	rc    *Receiver
	store Store
	logs  *tu.SyncBuffer
	reg   *prometheus.Registry
}

func newReceiverEnv(t *testing.T, store Store, registry *Registry) *receiverEnv {
	t.Helper()
	if store == nil {
		store = NewMemoryStore(Options{}, 0)
	}
	if registry == nil {
		registry = NewRegistry([]byte("k"), 0, nil, nil)
		if err := registry.Learn(context.Background(), "wh1", theSecret); err != nil {
			t.Fatal(err)
		}
	}
	logs := &tu.SyncBuffer{}
	reg := prometheus.NewRegistry()
	rc, err := NewReceiver(ReceiverOptions{Registry: registry, Store: store, Metrics: reg,
		Logger:       slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		MaxBodyBytes: 4096, MaxDepth: 8, Timeout: 5 * time.Second, MaxInFlight: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if strings.Contains(logs.String(), theSecret) {
			t.Errorf("the receiver logged the secret:\n%s", logs)
		}
	})
	return &receiverEnv{rc: rc, store: store, logs: logs, reg: reg}
}

func (e *receiverEnv) post(body string) (int, string) {
	w := httptest.NewRecorder()
	e.rc.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(body)))
	return w.Code, w.Body.String()
}

func (e *receiverEnv) count(result string) float64 {
	vec, _ := e.reg.Gather()
	for _, mf := range vec {
		if mf.GetName() != "gateway_webhook_deliveries_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

func deliveryBody(secret string, license any) string {
	b, _ := json.Marshal(map[string]any{
		"webhook_id": "wh1", "secret_key": secret, "action": "incoming_chat", "license_id": license,
		"payload":         map[string]any{"chat": map[string]any{"id": "PJ0MRSHTDG", "users": []any{}}},
		"additional_data": map[string]any{"chat_properties": map[string]any{"source": map[string]any{"client_id": "c1"}}},
	})
	return string(b)
}

// TestReceiver: a verified delivery is stored without its secret and answered 200; the same
// again is 200 and not stored again; a forged secret is 401 and stores nothing; each counted.
func TestReceiver(t *testing.T) {
	e := newReceiverEnv(t, nil, nil)
	code, body := e.post(deliveryBody(theSecret, 12345))
	if code != 200 {
		t.Fatalf("a verified delivery = %d %s", code, body)
	}
	evs, err := e.store.Read(context.Background(), "12345", "", 10, 0)
	if err != nil || len(evs) != 1 {
		t.Fatalf("stored: %+v, %v; want one event", evs, err)
	}
	ev := evs[0]
	if ev.WebhookID != "wh1" || ev.Action != "incoming_chat" || ev.LicenseID != "12345" ||
		string(ev.Payload) != `{"chat":{"id":"PJ0MRSHTDG","users":[]}}` ||
		string(ev.AdditionalData) != `{"chat_properties":{"source":{"client_id":"c1"}}}` || ev.ReceivedAt.IsZero() {
		t.Errorf("stored event = %+v", ev)
	}
	if code, body := e.post(deliveryBody(theSecret, 12345)); code != 200 || !strings.Contains(body, `"duplicate":true`) {
		t.Errorf("the same delivery again = %d %s; want 200, duplicate", code, body)
	}
	if code, body := e.post(deliveryBody("forged", 12345)); code != 401 || !strings.Contains(body, `"authentication"`) {
		t.Errorf("a forged secret = %d %s; want 401 authentication", code, body)
	}
	if code, _ := e.post(strings.Replace(deliveryBody(theSecret, 12345), `"wh1"`, `"wh2"`, 1)); code != 401 {
		t.Errorf("wh1's secret for wh2 = %d, want 401", code)
	}
	if evs, _ := e.store.Read(context.Background(), "12345", "", 10, 0); len(evs) != 1 {
		t.Errorf("%d events stored, want 1: neither the duplicate nor the forgeries", len(evs))
	}
	// The license as a string is the same license: the same delivery, stored once.
	if code, body := e.post(deliveryBody(theSecret, "12345")); code != 200 || !strings.Contains(body, `"duplicate":true`) {
		t.Errorf("the license_id as a string = %d %s, want 200, duplicate", code, body)
	}
	// wh1's deliveries carry license 12345: with its secret, another license's is refused.
	if code, body := e.post(deliveryBody(theSecret, "A")); code != 401 || !strings.Contains(body, "license_id") {
		t.Errorf("wh1's secret for license A = %d %s, want 401 naming license_id", code, body)
	}
	for result, want := range map[string]float64{ResultStored: 1, ResultDuplicate: 2, ResultUnauthorized: 3, ResultMalformed: 0, ResultStoreError: 0, ResultShed: 0} {
		if got := e.count(result); got != want {
			t.Errorf("gateway_webhook_deliveries_total{result=%q} = %v, want %v", result, got, want)
		}
	}
	mfs, _ := e.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "gateway_webhook_deliveries_total" && len(mf.GetMetric()) != 6 {
			t.Errorf("%d result series, want the 6 fixed ones", len(mf.GetMetric()))
		}
	}
}

// TestReceiverMalformed: what is not the general format is 400 naming the field (413 for a
// body over the bound), stores nothing, and never echoes the secret.
func TestReceiverMalformed(t *testing.T) {
	e := newReceiverEnv(t, nil, nil)
	good := map[string]any{}
	json.Unmarshal([]byte(deliveryBody(theSecret, 1)), &good)
	with := func(k string, v any) string {
		m := map[string]any{}
		for k, v := range good {
			m[k] = v
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	for _, c := range []struct {
		body   string
		status int
		want   string
	}{
		{"", 400, "not a JSON object"},
		{"{", 400, "not a JSON object"},
		{"[]", 400, "not a JSON object"},
		{with("webhook_id", nil), 400, "webhook_id: is required"},
		{with("webhook_id", 7), 400, "webhook_id: must be a string"},
		{with("webhook_id", "a b"), 400, "webhook_id: is not"},
		{with("secret_key", nil), 400, "secret_key: is required"},
		{with("action", nil), 400, "action: is required"},
		{with("action", "Incoming Chat"), 400, "action: is not"},
		{with("license_id", nil), 400, "license_id: is required"},
		{with("license_id", 1.5), 400, "license_id: must be"},
		{with("license_id", "{x}"), 400, "license_id: is not"},
		{with("payload", nil), 400, "payload: must be an object"},
		{with("payload", []any{}), 400, "payload: must be an object"},
		{with("additional_data", "x"), 400, "additional_data: must be an object"},
		{with("payload", map[string]any{"a": []any{[]any{[]any{[]any{[]any{[]any{[]any{[]any{}}}}}}}}}), 400, "nests"},
		{with("payload", map[string]any{"big": strings.Repeat("x", 5000)}), 413, "larger than 4096"},
	} {
		code, body := e.post(c.body)
		if code != c.status || !strings.Contains(body, `"validation"`) || !strings.Contains(body, c.want) || strings.Contains(body, theSecret) {
			t.Errorf("POST %.80s = %d %s; want %d validation saying %q", c.body, code, body, c.status, c.want)
		}
	}
	if evs, _ := e.store.Read(context.Background(), "1", "", 10, 0); len(evs) != 0 {
		t.Errorf("%d events stored from malformed deliveries", len(evs))
	}
	if got := e.count(ResultMalformed); got != 17 {
		t.Errorf("malformed count = %v, want 17", got)
	}
}

// TestReceiverRedisDown: with Redis down, a delivery is 503 (LiveChat retries it), counted as a
// store error, whether the secret (learned in Redis) or the append fails.
func TestReceiverRedisDown(t *testing.T) {
	srv := redistest.Server(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	defer c.Close()
	shared := NewRegistry([]byte("k"), 0, c, nil)
	if err := shared.Learn(context.Background(), "wh1", theSecret); err != nil {
		t.Fatal(err)
	}
	configured := NewRegistry([]byte("k"), 0, nil, map[string]string{"wh1": theSecret})
	e1 := newReceiverEnv(t, NewRedisStore(c, Options{}, time.Second), shared)
	e2 := newReceiverEnv(t, NewRedisStore(c, Options{}, time.Second), configured)
	if code, body := e1.post(deliveryBody(theSecret, 1)); code != 200 {
		t.Fatalf("with Redis up = %d %s", code, body)
	}
	srv.Kill()
	for i, e := range []*receiverEnv{e1, e2} {
		if code, body := e.post(deliveryBody(theSecret, 2)); code != 503 {
			t.Errorf("receiver %d with Redis down = %d %s; want 503", i+1, code, body)
		}
		if got := e.count(ResultStoreError); got != 1 {
			t.Errorf("receiver %d: store_error count %v, want 1", i+1, got)
		}
	}
}

// blockingStore blocks every Append until release is closed, to hold deliveries in flight.
type blockingStore struct {
	Store
	entered chan struct{}
	release chan struct{}
}

func (b *blockingStore) Append(ctx context.Context, license string, ev Event) (string, bool, error) {
	b.entered <- struct{}{}
	<-b.release
	return b.Store.Append(ctx, license, ev)
}

// TestReceiverShedsPastMaxInFlight: past MaxInFlight deliveries at once, one is 503 with
// Retry-After at once, and counted as shed.
func TestReceiverShedsPastMaxInFlight(t *testing.T) {
	bs := &blockingStore{Store: NewMemoryStore(Options{}, 0), entered: make(chan struct{}, 4), release: make(chan struct{})}
	e := newReceiverEnv(t, bs, nil)
	done := make(chan int, 4)
	for i := range 4 {
		go func() {
			code, _ := e.post(strings.Replace(deliveryBody(theSecret, 1), "PJ0MRSHTDG", fmt.Sprint(i), 1))
			done <- code
		}()
	}
	for range 4 {
		tu.Recv(t, "a delivery in the store", bs.entered)
	}
	w := httptest.NewRecorder()
	e.rc.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(deliveryBody(theSecret, 9))))
	if w.Code != 503 || w.Header().Get("Retry-After") != "1" {
		t.Errorf("a fifth delivery at once = %d (Retry-After %q); want 503, 1", w.Code, w.Header().Get("Retry-After"))
	}
	close(bs.release)
	for range 4 {
		if code := tu.Recv(t, "a delivery's answer", done); code != 200 {
			t.Errorf("a held delivery = %d, want 200", code)
		}
	}
	if got := e.count(ResultShed); got != 1 {
		t.Errorf("shed count %v, want 1", got)
	}
}
