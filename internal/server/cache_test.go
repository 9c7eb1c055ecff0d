package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/livechat-gateway/gateway/internal/emulator"
	"github.com/livechat-gateway/gateway/internal/server"
	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/testutil/redistest"
)

// patient makes a gateway's Redis settings patient: the tests of what the cache does must not
// fail because a machine busy with other tests under -race answers more slowly than the
// production timeouts of tens of milliseconds allow (a healthy Redis that times out is bypassed,
// which would split coalesced reads and turn hits into misses). The sick-Redis tests keep the
// defaults: their subject is those timeouts.
func patient(redisURL string) func(*server.Config) {
	return func(c *server.Config) {
		c.RedisURL = redisURL
		if redisURL == "" {
			return
		}
		sep := "?"
		if strings.Contains(redisURL, "?") {
			sep = "&"
		}
		c.RedisURL += sep + "dial_timeout=2s&read_timeout=2s&write_timeout=2s&pool_timeout=2s"
		c.CacheStoreTimeout = 5 * time.Second
	}
}

// newPatientEnv is newCachedEnv with patient Redis settings.
func newPatientEnv(t *testing.T, redisURL string, opts ...emulator.Option) *env {
	t.Helper()
	return newEmulatorEnv(t, patient(redisURL), opts...)
}

// stores runs f once with the in-process store and once with a real Redis, which the test
// starts; the same expectations hold for both.
func stores(t *testing.T, f func(t *testing.T, redisURL string)) {
	t.Run("memory", func(t *testing.T) { f(t, "") })
	t.Run("redis", func(t *testing.T) { f(t, redistest.Server(t).URL()) })
}

// storesAndCluster is stores plus a 3-node Redis Cluster, which takes seconds to form, so only
// a few tests use it.
func storesAndCluster(t *testing.T, f func(t *testing.T, redisURL string)) {
	stores(t, f)
	t.Run("cluster", func(t *testing.T) { f(t, redistest.Cluster(t).URL()) })
}

// TestRepeatedReads: 20 identical reads make one upstream call; X-Cache says miss, then hit.
func TestRepeatedReads(t *testing.T) {
	storesAndCluster(t, func(t *testing.T, redisURL string) {
		v := newPatientEnv(t, redisURL)
		body := `{"id":"owner-a@example.com","fields":["groups"]}`
		for i := range 20 {
			got := v.rest(ownerA, "get_agent", body)
			want := "hit"
			if i == 0 {
				want = "miss"
			}
			if got.status != http.StatusOK || got.header.Get("X-Cache") != want {
				t.Fatalf("read %d = %d, X-Cache %q; want 200 and %s", i, got.status, got.header.Get("X-Cache"), want)
			}
			if got.header.Get("Deprecation") == "" {
				t.Errorf("read %d (%s) lost the Deprecation header", i, want)
			}
		}
		if n := v.calls("get_agent"); n != 1 {
			t.Errorf("20 identical reads made %d upstream calls, want 1", n)
		}
		// Over gRPC, the same entry, reported in header metadata.
		a := testutil.Action(t, "get_agent")
		_, header, err := v.rpc(context.Background(), ownerA, a, req(t, a, body))
		if err != nil || strings.Join(header.Get("x-cache"), ",") != "hit" {
			t.Errorf("gRPC read: x-cache %v, %v; want hit", header.Get("x-cache"), err)
		}
		// no-cache skips the entry and refreshes it.
		if got := v.rest(ownerA, "get_agent", body, "Cache-Control", "no-cache"); got.header.Get("X-Cache") != "bypass" {
			t.Errorf("Cache-Control: no-cache gave X-Cache %q, want bypass", got.header.Get("X-Cache"))
		}
		if n := v.calls("get_agent"); n != 2 {
			t.Errorf("no-cache made %d upstream calls in all, want 2", n)
		}
		// Errors are not cached.
		for range 2 {
			v.rest(ownerA, "get_agent", `{"id":"nobody@example.com"}`)
		}
		if n := v.calls("get_agent"); n != 4 {
			t.Errorf("two failing reads made %d upstream calls, want 2 more (errors are not cached)", n-2)
		}
		metrics := v.metrics()
		for _, want := range []string{
			`gateway_cache_reads_total{action="get_agent",outcome="hit"} 20`,
			`gateway_cache_reads_total{action="get_agent",outcome="miss"} 3`,
			`gateway_cache_reads_total{action="get_agent",outcome="bypass"} 1`,
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics lacks %s:\n%s", want, metrics)
			}
		}
	})
}

// TestCredentialsNeverShare: the same request with another credential is the upstream's to
// answer, for that credential.
func TestCredentialsNeverShare(t *testing.T) {
	limited, err := emulator.ParseConfig([]byte(`{"tokens": [{"token": "dal:groups-only-a", "license": "A",
		"agent": "agent-a@example.com", "client_id": "c-limited", "scopes": ["groups--all:ro"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	stores(t, func(t *testing.T, redisURL string) {
		v := newPatientEnv(t, redisURL, emulator.WithConfig(limited))
		body := `{"id":"owner-a@example.com"}`
		if got := v.rest(ownerA, "get_agent", body); got.status != 200 {
			t.Fatalf("owner-a: %d %s", got.status, got.body)
		}
		for _, tc := range []struct {
			token, wantType string
			wantStatus      int
		}{
			{readonlyA, "", 200},                        // same license, own answer
			{ownerB, "not_found", 404},                  // another license
			{"dal:groups-only-a", "authorization", 403}, // a scope short
		} {
			before := v.calls("get_agent")
			got := v.rest(tc.token, "get_agent", body)
			if got.status != tc.wantStatus || !strings.Contains(got.body, tc.wantType) {
				t.Errorf("%s: %d %s, want %d %s", tc.token, got.status, got.body, tc.wantStatus, tc.wantType)
			}
			if got.header.Get("X-Cache") == "hit" || v.calls("get_agent") != before+1 {
				t.Errorf("%s was answered from another credential's entry (X-Cache %q)", tc.token, got.header.Get("X-Cache"))
			}
		}
		if redisURL != "" {
			checkNoTokensInRedis(t, redisURL)
		}
	})
}

// checkNoTokensInRedis scans every key and value for token text.
func checkNoTokensInRedis(t *testing.T, redisURL string) {
	t.Helper()
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	defer c.Close()
	ctx := context.Background()
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("KEYS: %v (%d keys)", err, len(keys))
	}
	for _, k := range keys {
		val, _ := c.Get(ctx, k).Result()
		for _, tok := range []string{ownerA, readonlyA, ownerB, "groups-only", "owner-a", "Bearer"} {
			if strings.Contains(k, tok) || strings.Contains(val, "Bearer") || strings.Contains(val, ownerA) {
				t.Errorf("Redis key %q (or its value) holds token text %q", k, tok)
			}
		}
	}
}

// TestWritesInvalidate: after a write through the gateway, the same credential's next read
// shows it, for writes that change their own resource and writes that change others'.
func TestWritesInvalidate(t *testing.T) {
	storesAndCluster(t, func(t *testing.T, redisURL string) {
		v := newPatientEnv(t, redisURL)
		steps := []struct {
			name             string
			read, readBody   string
			write, writeBody string
			before, after    string // substrings of the read's answer
		}{
			{"update_agent → get_agent", "get_agent", `{"id":"agent-a@example.com","fields":["job_title"]}`,
				"update_agent", `{"id":"agent-a@example.com","job_title":"Chief"}`, `"job_title":""`, `"job_title":"Chief"`},
			{"create_group → list_groups", "list_groups", `{}`,
				"create_group", `{"name":"Cached","agent_priorities":{"agent-a@example.com":"normal"}}`, `"General"`, `"Cached"`},
			{"update_group → get_agent groups", "get_agent", `{"id":"owner-a@example.com","fields":["groups"]}`,
				"update_group", `{"id":1,"agent_priorities":{"owner-a@example.com":"first"}}`, `"priority":"normal"`, `"priority":"first"`},
			{"create_bot → list_bots", "list_bots", `{"all":true}`,
				"create_bot", `{"name":"Cachebot"}`, `{`, `"Cachebot"`},
			{"create_agent → get_group agent_priorities", "get_group", `{"id":0,"fields":["agent_priorities"]}`,
				"create_agent", `{"id":"late@example.com","name":"Late"}`, `"agent_priorities"`, `"late@example.com"`},
			{"register_properties → list_registered_properties", "list_registered_properties", `{}`,
				"register_properties", `{"cached_p":{"type":"int","locations":{"license":{"access":{"agent":{"read":true,"write":true}}}}}}`, `{`, `"cached_p"`},
			{"update_license_properties → list_license_properties", "list_license_properties", `{}`,
				"update_license_properties", `{"properties":{"test":{"int_property":7}}}`, `{`, `"int_property":7`},
			{"update_group_properties → list_group_properties", "list_group_properties", `{"group_id":0}`,
				"update_group_properties", `{"group_id":0,"properties":{"test":{"string_property":"x"}}}`, `{`, `"string_property":"x"`},
			{"register_webhook → list_registered_webhooks", "list_registered_webhooks", `{}`,
				"register_webhook", `{"action":"incoming_chat","secret_key":"k","url":"https://cached.example.com/h"}`, `[`, `cached.example.com`},
			{"delete_group → get_agent groups", "get_agent", `{"id":"owner-a@example.com","fields":["groups"]}`,
				"delete_group", `{"id":1}`, `"id":1`, `"groups"`},
		}
		for _, s := range steps {
			first := v.rest(ownerA, s.read, s.readBody)
			if again := v.rest(ownerA, s.read, s.readBody); again.header.Get("X-Cache") != "hit" || !strings.Contains(first.body, s.before) {
				t.Fatalf("%s: before the write: %s (X-Cache %q), want a cached answer with %s", s.name, first.body, again.header.Get("X-Cache"), s.before)
			}
			if w := v.rest(ownerA, s.write, s.writeBody); w.status != 200 {
				t.Fatalf("%s: the write failed: %d %s", s.name, w.status, w.body)
			}
			after := v.rest(ownerA, s.read, s.readBody)
			if !strings.Contains(after.body, s.after) || (s.name == "delete_group → get_agent groups" && strings.Contains(after.body, `"id":1`)) {
				t.Errorf("%s: after the write the read is %s (X-Cache %q), want it to show the write (%s)", s.name, after.body, after.header.Get("X-Cache"), s.after)
			}
		}
	})
}

// TestRacingReadLeavesNoStaleEntry: a read that the upstream answers before a write lands, but
// that reaches the gateway after it, must not leave its stale answer in the cache.
func TestRacingReadLeavesNoStaleEntry(t *testing.T) {
	stores(t, func(t *testing.T, redisURL string) {
		e, up := startEmulator(t)
		// A proxy that holds get_agent's answers for a while after the emulator gave them: the
		// answer is of the state before the write, and arrives after it.
		var hold atomic.Bool
		target, _ := url.Parse(up.URL)
		proxy := httputil.NewSingleHostReverseProxy(target)
		proxy.ModifyResponse = func(r *http.Response) error {
			if hold.Load() && strings.HasSuffix(r.Request.URL.Path, "/get_agent") {
				time.Sleep(400 * time.Millisecond)
			}
			return nil
		}
		ps := httptest.NewServer(proxy)
		t.Cleanup(ps.Close)
		v := startGateway(t, ps.URL, patient(redisURL))
		v.emu = e

		body := `{"id":"agent-a@example.com","fields":["job_title"]}`
		hold.Store(true)
		done := make(chan answer, 1)
		go func() { done <- v.rest(ownerA, "get_agent", body) }()
		time.Sleep(100 * time.Millisecond) // the emulator has answered; the proxy holds it
		if w := v.rest(ownerA, "update_agent", `{"id":"agent-a@example.com","job_title":"New"}`); w.status != 200 {
			t.Fatalf("write: %d %s", w.status, w.body)
		}
		stale := <-done
		hold.Store(false)
		if !strings.Contains(stale.body, `"job_title":""`) {
			t.Fatalf("the racing read = %s; the test meant it to be answered before the write", stale.body)
		}
		if got := v.rest(ownerA, "get_agent", body); !strings.Contains(got.body, `"job_title":"New"`) {
			t.Errorf("after the race the read = %s (X-Cache %q), want the written job_title", got.body, got.header.Get("X-Cache"))
		}
	})
}

// TestCoalescing: 200 identical concurrent cold reads make one upstream call, and a waiter whose
// deadline is shorter than the upstream's latency ends with DEADLINE_EXCEEDED at its deadline
// while the others succeed.
func TestCoalescing(t *testing.T) {
	stores(t, func(t *testing.T, redisURL string) {
		v := newPatientEnv(t, redisURL)
		if err := v.emu.SetFault("get_agent", emulator.Fault{Latency: 3 * time.Second}); err != nil {
			t.Fatal(err)
		}
		a := testutil.Action(t, "get_agent")
		const n = 200
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				_, _, err := v.rpc(context.Background(), ownerA, a, req(t, a, `{"id":"owner-a@example.com"}`))
				errs <- err
			})
		}
		// One impatient caller among them. Its deadline leaves its lookup (which may take half
		// of it) ample time on a machine busy with 200 readers under -race: a lookup that ran
		// out of time would be answered by a call of its own, since a reader that does not
		// know its credential's generation must not join a call that may predate a write.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		_, _, err := v.rpc(ctx, ownerA, a, req(t, a, `{"id":"owner-a@example.com"}`))
		// The bound is generous: the point is that it does not wait for the upstream's 3s.
		if el := time.Since(start); status.Code(err) != codes.DeadlineExceeded || el > 2500*time.Millisecond {
			t.Errorf("the impatient caller = %v after %v, want DEADLINE_EXCEEDED at its 1s deadline, before the 3s upstream", err, el)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("a coalesced read failed: %v", err)
			}
		}
		if got := v.calls("get_agent"); got != 1 {
			t.Errorf("%d concurrent cold reads made %d upstream calls, want 1", n+1, got)
		}
	})
}

// TestReplicasShareTheCache: two gateways on one Redis with one CACHE_KEY_SECRET share entries,
// and a write through one invalidates what the other serves at once. Without the near cache,
// every read asks Redis for the generation; TestNearCacheReplicas tests the near cache's
// guarantee.
func TestReplicasShareTheCache(t *testing.T) {
	r := redistest.Server(t)
	e, up := startEmulator(t)
	shared := func(c *server.Config) {
		patient(r.URL())(c)
		c.CacheKeySecret = "a secret both replicas hold"
		c.CacheNearMaxBytes = 0
	}
	one, two := startGateway(t, up.URL, shared), startGateway(t, up.URL, shared)
	body := `{"id":"agent-a@example.com","fields":["job_title"]}`
	if got := one.rest(ownerA, "get_agent", body); got.header.Get("X-Cache") != "miss" {
		t.Fatalf("first read on replica one: X-Cache %q", got.header.Get("X-Cache"))
	}
	// Replica one answers before it stores the answer: wait until the entry is in Redis.
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer c.Close()
	testutil.Eventually(t, "replica one stored its entry", func() bool {
		keys, err := c.Keys(context.Background(), "lcgw:*:e:*").Result()
		return err == nil && len(keys) > 0
	})
	if got := two.rest(ownerA, "get_agent", body); got.header.Get("X-Cache") != "hit" {
		t.Errorf("the same read on replica two: X-Cache %q, want hit", got.header.Get("X-Cache"))
	}
	if w := two.rest(ownerA, "update_agent", `{"id":"agent-a@example.com","job_title":"Shared"}`); w.status != 200 {
		t.Fatalf("write on replica two: %d %s", w.status, w.body)
	}
	if got := one.rest(ownerA, "get_agent", body); !strings.Contains(got.body, `"job_title":"Shared"`) {
		t.Errorf("replica one after a write through replica two = %s (X-Cache %q), want the write", got.body, got.header.Get("X-Cache"))
	}
	if n := e.Calls()["get_agent"]; n != 2 {
		t.Errorf("%d upstream reads, want 2 (one before and one after the write)", n)
	}
}

// TestSharedCallOutlivesItsFirstCaller: the caller that started a coalesced upstream call gives
// up; the call goes on for the callers that joined it, and is still made only once.
func TestSharedCallOutlivesItsFirstCaller(t *testing.T) {
	v := newEnv(t)
	if err := v.emu.SetFault("get_group", emulator.Fault{Latency: time.Second}); err != nil {
		t.Fatal(err)
	}
	a := testutil.Action(t, "get_group")
	first := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, _, err := v.rpc(ctx, ownerA, a, req(t, a, `{"id":0}`))
		first <- err
	}()
	testutil.Eventually(t, "the first caller's call reached the upstream", func() bool { return v.calls("get_group") == 1 })
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if _, _, err := v.rpc(context.Background(), ownerA, a, req(t, a, `{"id":0}`)); err != nil {
				t.Errorf("a caller that joined the shared call = %v, want OK after the first gave up", err)
			}
		})
	}
	if err := <-first; status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("the first caller = %v, want DEADLINE_EXCEEDED", err)
	}
	wg.Wait()
	if n := v.calls("get_group"); n != 1 {
		t.Errorf("%d upstream calls, want 1", n)
	}
}
