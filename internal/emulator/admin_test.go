package emulator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// stats reads GET /emulator/stats.
func (v *env) stats() map[string]int64 {
	v.t.Helper()
	resp, err := http.Get(v.srv.URL + "/emulator/stats")
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct {
		Calls map[string]int64 `json:"calls"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		v.t.Fatal(err)
	}
	return s.Calls
}

// TestCounters checks the per-action counters over Go and HTTP: every action listed, refused
// calls counted, reset back to 0.
func TestCounters(t *testing.T) {
	v := newEnv(t)
	v.ok(ownerA, "list_groups", `{}`)
	v.ok(ownerA, "list_groups", `{}`)
	v.fails(readonlyA, "create_group", `{"name":"G","agent_priorities":{"owner-a@example.com":"normal"}}`, errAuthorization)
	v.fails(ownerA, "get_agent", `{}`, errValidation)
	v.post("/v3.2/configuration/action/no_such_action", ownerA, `{}`)

	s := v.stats()
	if len(s) != len(Actions()) {
		t.Errorf("stats list %d actions, want %d: %v", len(s), len(Actions()), s)
	}
	want := map[string]int64{"list_groups": 2, "create_group": 1, "get_agent": 1}
	for _, a := range Actions() {
		if s[a] != want[a] {
			t.Errorf("stats[%s] = %d, want %d", a, s[a], want[a])
		}
		if got := v.e.Calls()[a]; got != want[a] {
			t.Errorf("Calls()[%s] = %d, want %d", a, got, want[a])
		}
	}
	if r := v.post("/emulator/reset", "", ``); r.status != http.StatusOK {
		t.Fatalf("POST /emulator/reset = %d %s", r.status, r.body)
	}
	for a, n := range v.stats() {
		if n != 0 {
			t.Errorf("after reset, stats[%s] = %d", a, n)
		}
	}
	v.ok(ownerA, "list_groups", `{}`)
	v.e.ResetCalls()
	if n := v.e.Calls()["list_groups"]; n != 0 {
		t.Errorf("after ResetCalls, list_groups = %d", n)
	}
	if r := v.post("/emulator/nothing", "", ``); r.status != http.StatusNotFound {
		t.Errorf("unknown emulator endpoint = %d", r.status)
	}
}

// TestLatency checks that injected latency delays calls and gives way to a client that stops
// waiting. Only lower bounds are asserted: a slow machine cannot fail them.
func TestLatency(t *testing.T) {
	const d = 50 * time.Millisecond
	v := newEnv(t, WithLatency(d))
	start := time.Now()
	v.ok(ownerA, "list_groups", `{}`)
	if el := time.Since(start); el < d {
		t.Errorf("a call took %v, want at least the latency %v", el, d)
	}
	if err := v.e.SetFault("get_group", Fault{Latency: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, v.srv.URL+path("get_group"), strings.NewReader(`{"id":0}`))
	req.Header.Set("Authorization", "Bearer "+ownerA)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("a call with 30s of latency answered %d", resp.StatusCode)
	}
}

// TestOptionsFromEnv checks the binary's variables, good and bad; every bad one is named.
func TestOptionsFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	opts, err := OptionsFromEnv(env(map[string]string{
		"EMULATOR_LATENCY": "5ms", "EMULATOR_ERROR_RATE": "0.25", "EMULATOR_THROTTLE_RATE": "0", "EMULATOR_DEPRECATION": "2031-02-03",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.latency != 5*time.Millisecond || o.errorRate != 0.25 || o.throttleRate != 0 || o.deprecation != "2031-02-03" {
		t.Errorf("OptionsFromEnv gave %+v", o)
	}
	_, err = OptionsFromEnv(env(map[string]string{
		"EMULATOR_LATENCY": "fast", "EMULATOR_ERROR_RATE": "2", "EMULATOR_THROTTLE_RATE": "-1", "EMULATOR_DEPRECATION": "soon",
	}))
	for _, name := range []string{"EMULATOR_LATENCY", "EMULATOR_ERROR_RATE", "EMULATOR_THROTTLE_RATE", "EMULATOR_DEPRECATION"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("OptionsFromEnv with a bad %s: error %v does not name it", name, err)
		}
	}
	if _, err := New(WithErrorRate(1.5), WithLatency(-time.Second), WithDeprecation("2031-13-45")); err == nil ||
		!strings.Contains(err.Error(), "error rate") || !strings.Contains(err.Error(), "latency") || !strings.Contains(err.Error(), "deprecation") {
		t.Errorf("New with bad options: %v, want each named", err)
	}
}

// TestConfig checks that a config adds licenses and tokens and that mistakes in one are refused
// with a message that says what is wrong.
func TestConfig(t *testing.T) {
	good := `{"licenses":[{"id":"C","region":"fra","owner":{"id":"o@c","name":"O"},
		"groups":[{"id":7,"name":"Seven"}],
		"agents":[{"id":"a@c","name":"A","groups":[{"id":7,"priority":"first"}]}]}],
		"tokens":[{"token":"fra:c","license":"C","agent":"a@c","client_id":"cc","scopes":["groups--all:ro"]}]}`
	c, err := ParseConfig([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	v := newEnv(t, WithConfig(c))
	got := v.call("fra:c", "list_groups", `{"fields":["agent_priorities"]}`, "X-Region", "fra")
	if got.status != http.StatusOK || !strings.Contains(string(got.body), `"a@c":"first"`) {
		t.Errorf("list_groups in the configured license = %d %s", got.status, got.body)
	}
	if r := v.call("fra:c", "list_agents", `{}`, "X-Region", "fra"); r.errorType() != errAuthorization {
		t.Errorf("a token with only groups--all:ro listed agents: %d %s", r.status, r.body)
	}

	for _, tc := range []struct{ config, want string }{
		{`{"licenses":[],"tokens":[],"extra":1}`, "unknown field"},
		{`{"licenses":[{"id":"A","region":"dal","owner":{"id":"o","name":"O"}}]}`, "defined twice"},
		{`{"licenses":[{"id":"C","region":"sfo","owner":{"id":"o","name":"O"}}]}`, "region"},
		{`{"tokens":[{"token":"fra:x","license":"A","agent":"owner-a@example.com","client_id":"c","scopes":["*"]}]}`, "region"},
		{`{"tokens":[{"token":"dal:x","license":"Z","agent":"a","client_id":"c","scopes":["*"]}]}`, "unknown license"},
		{`{"tokens":[{"token":"dal:x","license":"A","agent":"nobody","client_id":"c","scopes":["*"]}]}`, "not in license"},
		{`{"tokens":[{"token":"dal:x","license":"A","agent":"owner-a@example.com","client_id":"c","scopes":["root"]}]}`, "unknown scope"},
		{`{"tokens":[{"token":"dal:owner-a","license":"A","agent":"owner-a@example.com","client_id":"c","scopes":["*"]}]}`, "twice"},
		{`{"licenses":[{"id":"C","region":"dal","owner":{"id":"o","name":"O"},"agents":[{"id":"a"}]}]}`, "name: is required"},
	} {
		c, err := ParseConfig([]byte(tc.config))
		if err == nil {
			_, err = New(WithConfig(c))
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %s: error %v, want one saying %q", tc.config, err, tc.want)
		}
	}
}

// TestConcurrentCalls runs writes and reads from many goroutines (the race detector watches
// the state), then checks that nothing was lost: every agent created exists, and the counters
// add up.
func TestConcurrentCalls(t *testing.T) {
	v := newEnv(t)
	const workers, each = 8, 20
	var wg sync.WaitGroup
	errs := make(chan string, workers*each*4)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("agent-%d-%d@example.com", w, i)
				for _, c := range []struct{ action, body string }{
					{"create_agent", `{"id":"` + id + `","name":"N"}`},
					{"update_agent", `{"id":"` + id + `","job_title":"T"}`},
					{"get_agent", `{"id":"` + id + `","fields":["job_title"]}`},
					{"list_agents", `{}`},
				} {
					if r := v.call(ownerA, c.action, c.body); r.status != http.StatusOK {
						errs <- fmt.Sprintf("%s(%s) = %d %s", c.action, c.body, r.status, r.body)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	list := v.ok(ownerA, "list_agents", `{}`).([]any)
	if want := workers*each + 2; len(list) != want {
		t.Errorf("list_agents has %d agents, want %d", len(list), want)
	}
	calls := v.e.Calls()
	for _, a := range []string{"create_agent", "update_agent", "get_agent"} {
		if calls[a] != workers*each {
			t.Errorf("Calls()[%s] = %d, want %d", a, calls[a], workers*each)
		}
	}
}

// FuzzAction sends arbitrary bodies to every action. Whatever the input, the emulator answers
// 200 or an error body of a documented type, and a refused call leaves the state unchanged.
func FuzzAction(f *testing.F) {
	for i, body := range []string{
		`{}`, `{"id":"owner-a@example.com","fields":["groups"]}`, `{"name":"G","agent_priorities":{"owner-a@example.com":"normal"}}`,
		`{"p":{"type":"int","locations":{"license":{"access":{"agent":{"read":true,"write":true}}}},"range":{"from":1,"to":3}}}`,
		`{"properties":{"test":{"int_property":5}}}`, `{"group_id":0,"properties":{"test":["bool_property"]}}`,
		`{"action":"incoming_event","secret_key":"k","url":"https://x","filters":{"author_type":"agent"}}`,
		`{"name":"B","webhooks":{"url":"http://x","secret_key":"s","actions":[{"name":"incoming_chat"}]}}`,
	} {
		f.Add(uint8(i), []byte(body))
	}
	actions := Actions()
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		// A fresh emulator per input keeps inputs independent and the state small.
		e, err := New(WithSeed(1))
		if err != nil {
			t.Fatal(err)
		}
		a := actions[int(which)%len(actions)]
		before := e.Snapshot()
		req := httptest.NewRequest(http.MethodPost, path(a), strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+ownerA)
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		if w.Code == http.StatusOK {
			if !json.Valid(w.Body.Bytes()) {
				t.Fatalf("%s(%q) = 200 with invalid JSON %q", a, body, w.Body)
			}
			return
		}
		r := result{status: w.Code, body: w.Body.Bytes()}
		if _, ok := errorKinds[r.errorType()]; !ok {
			t.Fatalf("%s(%q) = %d %q, not a documented error", a, body, w.Code, w.Body)
		}
		if r.errorType() == errInternal {
			t.Fatalf("%s(%q) = internal error %q", a, body, w.Body)
		}
		if after := e.Snapshot(); string(before) != string(after) {
			t.Fatalf("%s(%q) was refused (%q) but changed the state", a, body, w.Body)
		}
	})
}

// TestTraceparents: the emulator keeps the latest traceparent headers per action, at most
// traceparentsKept, serves them in /emulator/stats, and forgets them on reset.
func TestTraceparents(t *testing.T) {
	v := newEnv(t)
	v.call(ownerA, "list_groups", `{}`) // no traceparent: nothing kept
	tp := func(i int) string { return fmt.Sprintf("00-%032x-%016x-01", i+1, i+1) }
	for i := range traceparentsKept + 3 {
		v.call(ownerA, "list_groups", `{}`, "Traceparent", tp(i))
	}
	v.call(ownerA, "get_agent", `{}`, "Traceparent", strings.Repeat("x", 1000)) // refused, still kept: cut

	var want []string
	for i := 3; i < traceparentsKept+3; i++ {
		want = append(want, tp(i))
	}
	got := v.e.Traceparents()
	if fmt.Sprint(got["list_groups"]) != fmt.Sprint(want) {
		t.Errorf("Traceparents()[list_groups] = %q, want the latest %d: %q", got["list_groups"], traceparentsKept, want)
	}
	if g := got["get_agent"]; len(g) != 1 || len(g[0]) != maxTraceparentBytes {
		t.Errorf("Traceparents()[get_agent] = %q, want one value cut to %d bytes", g, maxTraceparentBytes)
	}
	if len(got) != 2 {
		t.Errorf("Traceparents() = %v, want list_groups and get_agent only", got)
	}

	resp, err := http.Get(v.srv.URL + "/emulator/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct {
		Traceparents map[string][]string `json:"traceparents"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(s.Traceparents["list_groups"]) != fmt.Sprint(want) {
		t.Errorf("/emulator/stats traceparents[list_groups] = %q, want %q", s.Traceparents["list_groups"], want)
	}
	v.post("/emulator/reset", "", ``)
	if got := v.e.Traceparents(); len(got) != 0 {
		t.Errorf("after reset, Traceparents() = %v", got)
	}
}
