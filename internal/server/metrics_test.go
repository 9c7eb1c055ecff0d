package server_test

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	configv1 "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
	"github.com/livechat-gateway/gateway/internal/action"
	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/testutil/redistest"
)

// mtSeries is one series of a /metrics page: its family name, labels and value (a histogram's
// sample count).
type mtSeries struct {
	name   string
	labels map[string]string
	value  float64
}

// mtScrape parses the gateway's /metrics page.
func mtScrape(t *testing.T, v *env) []mtSeries {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(v.metrics()))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	var all []mtSeries
	for name, f := range families {
		for _, m := range f.GetMetric() {
			s := mtSeries{name: name, labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.Counter != nil:
				s.value = m.GetCounter().GetValue()
			case m.Gauge != nil:
				s.value = m.GetGauge().GetValue()
			case m.Histogram != nil:
				s.value = float64(m.GetHistogram().GetSampleCount())
			}
			all = append(all, s)
		}
	}
	return all
}

// mtValue sums the series named name whose labels include every pair of labels.
func mtValue(all []mtSeries, name string, labels ...string) (sum float64, found bool) {
series:
	for _, s := range all {
		if s.name != name {
			continue
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if s.labels[labels[i]] != labels[i+1] {
				continue series
			}
		}
		sum, found = sum+s.value, true
	}
	return sum, found
}

// TestMetrics: after gRPC and REST traffic, cache hits and misses, upstream errors and refusals,
// /metrics has the standard gRPC server series for both surfaces, the upstream's and the cache's
// series with the expected labels, the runtime's and the process's, and no label value that
// holds a token or comes from an unbounded set.
func TestMetrics(t *testing.T) {
	v := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	getAgent := testutil.Action(t, "get_agent")

	// gRPC: a miss, then a hit; an upstream not_found; an upstream authentication error.
	for range 2 {
		if _, _, err := v.rpc(ctx, ownerA, getAgent, &configv1.GetAgentRequest{Id: "owner-a@example.com"}); err != nil {
			t.Fatalf("GetAgent: %v", err)
		}
	}
	if _, _, err := v.rpc(ctx, ownerA, getAgent, &configv1.GetAgentRequest{Id: "nobody@example.com"}); status.Code(err) != codes.NotFound {
		t.Fatalf("GetAgent of nobody: %v, want NOT_FOUND", err)
	}
	if _, _, err := v.rpc(ctx, "dal:no-such-token-4f2a", getAgent, &configv1.GetAgentRequest{Id: "owner-a@example.com"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("GetAgent with an unknown token: %v, want UNAUTHENTICATED", err)
	}
	// An unknown method never reaches the interceptors, so it cannot add a series.
	if err := v.conn.Invoke(ctx, "/livechat.configuration.v1.AgentService/NoSuch4f2a", getAgent.NewRequest(), getAgent.NewResponse()); status.Code(err) != codes.Unimplemented {
		t.Fatalf("an unknown method: %v, want UNIMPLEMENTED", err)
	}
	// REST: a hit of the same read in another region's key space is a miss; a refused body.
	if a := v.rest(ownerA, "get_agent", `{"id":"owner-a@example.com"}`, "X-Region", "dal"); a.status != 200 {
		t.Fatalf("REST get_agent: %d %s", a.status, a.body)
	}
	if a := v.rest(ownerA, "list_groups", `{`); a.status < 400 {
		t.Fatalf("REST list_groups with a broken body: %d %s", a.status, a.body)
	}
	if a := v.restPath("/v3.2/configuration/action/no_such_4f2a", ownerA, `{}`); a.status != 404 {
		t.Fatalf("REST of an unknown action: %d %s", a.status, a.body)
	}
	// A write: an upstream call of another action.
	if a := v.rest(ownerA, "create_group", `{"name":"Metrics","agent_priorities":{"owner-a@example.com":"normal"}}`); a.status != 200 {
		t.Fatalf("REST create_group: %d %s", a.status, a.body)
	}

	all := mtScrape(t, v)
	svc, method := "livechat.configuration.v1.AgentService", "GetAgent"
	want := []struct {
		name   string
		labels []string
		min    float64
	}{
		{"grpc_server_handled_total", []string{"grpc_service", svc, "grpc_method", method, "grpc_code", "OK", "surface", "grpc"}, 2},
		{"grpc_server_handled_total", []string{"grpc_service", svc, "grpc_method", method, "grpc_code", "NotFound", "surface", "grpc"}, 1},
		{"grpc_server_handled_total", []string{"grpc_service", svc, "grpc_method", method, "grpc_code", "Unauthenticated", "surface", "grpc"}, 1},
		{"grpc_server_handled_total", []string{"grpc_service", svc, "grpc_method", method, "grpc_code", "OK", "surface", "rest"}, 1},
		{"grpc_server_started_total", []string{"grpc_service", svc, "grpc_method", method, "surface", "rest"}, 1},
		{"grpc_server_handling_seconds", []string{"grpc_service", svc, "grpc_method", method, "surface", "grpc"}, 4},
		{"gateway_rest_refused_total", []string{"grpc_service", "livechat.configuration.v1.GroupService", "grpc_method", "ListGroups", "grpc_code", "InvalidArgument"}, 1},
		{"gateway_upstream_calls_total", []string{"action", "get_agent", "outcome", "ok"}, 2},
		{"gateway_upstream_calls_total", []string{"action", "get_agent", "outcome", "not_found"}, 1},
		{"gateway_upstream_calls_total", []string{"action", "get_agent", "outcome", "authentication"}, 1},
		{"gateway_upstream_calls_total", []string{"action", "create_group", "outcome", "ok"}, 1},
		{"gateway_upstream_call_duration_seconds", []string{"action", "get_agent", "outcome", "ok"}, 2},
		{"gateway_cache_reads_total", []string{"action", "get_agent", "outcome", "hit"}, 1},
		{"gateway_cache_reads_total", []string{"action", "get_agent", "outcome", "miss"}, 2},
		{"gateway_cache_store_duration_seconds", []string{"op", "lookup"}, 1},
		{"gateway_cache_store_duration_seconds", []string{"op", "fill"}, 1},
		{"gateway_cache_store_duration_seconds", []string{"op", "bump"}, 1},
		{"gateway_cache_breaker_state", []string{"state", "closed"}, 1},
		{"gateway_shed_total", []string{"surface", "rest"}, 0},
		{"gateway_in_flight_calls", nil, 0},
		{"gateway_upstream_in_flight", nil, 0},
		{"go_goroutines", nil, 1},
		{"process_resident_memory_bytes", nil, 1},
	}
	for _, w := range want {
		got, found := mtValue(all, w.name, w.labels...)
		if !found || got < w.min {
			t.Errorf("%s%v = %v (found %v), want at least %v", w.name, w.labels, got, found, w.min)
		}
	}
	for _, zero := range []string{"gateway_upstream_retries_total", "gateway_upstream_region_repairs_total"} {
		if got, _ := mtValue(all, zero); got != 0 {
			t.Errorf("%s = %v with a healthy emulator, want 0", zero, got)
		}
	}
	if got, _ := mtValue(all, "gateway_cache_breaker_state", "state", "open"); got != 0 {
		t.Errorf(`gateway_cache_breaker_state{state="open"} = %v, want 0`, got)
	}

	mtCheckBounded(t, all)
}

// mtCheckBounded fails when a label value holds a token or the test's own made-up names, or
// does not come from the bounded set its label name allows.
func mtCheckBounded(t *testing.T, all []mtSeries) {
	t.Helper()
	actions := map[string]bool{"other": true}
	methods, services := map[string]bool{"unknown": true}, map[string]bool{"unknown": true}
	for _, a := range action.All() {
		actions[a.Name] = true
		svc, m, _ := strings.Cut(strings.TrimPrefix(a.FullMethod(), "/"), "/")
		services[svc], methods[m] = true, true
	}
	// The other services and methods the gateway serves: health, reflection and the webhooks' stream.
	for _, svc := range []string{"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"} {
		services[svc] = true
	}
	for _, m := range []string{"Check", "Watch", "List", "ServerReflectionInfo", "SubscribeWebhooks"} {
		methods[m] = true
	}
	codeNames := map[string]bool{}
	for c := range codes.Code(17) {
		codeNames[c.String()] = true
	}
	sets := map[string]map[string]bool{
		"action": actions, "grpc_service": services, "grpc_method": methods, "grpc_code": codeNames,
		"surface":   {"grpc": true, "rest": true},
		"state":     {"closed": true, "half-open": true, "open": true},
		"op":        {"lookup": true, "fill": true, "bump": true},
		"reason":    {"failed": true, "skipped": true},
		"limit":     {"total": true, "credential": true},
		"grpc_type": {"unary": true, "client_stream": true, "server_stream": true, "bidi_stream": true},
	}
	// Labels of the Go and process collectors and of histograms: short tokens of known shape.
	other := regexp.MustCompile(`^[A-Za-z0-9_.+\-]{0,40}$`)
	outcomeName := regexp.MustCompile(`^[a-z_]{2,24}$`)
	for _, s := range all {
		for name, value := range s.labels {
			for _, secret := range []string{ownerA, "owner-a", "no-such-token", "4f2a", "Bearer", "dal:"} {
				if strings.Contains(value, secret) {
					t.Errorf("%s{%s=%q} holds %q", s.name, name, value, secret)
				}
			}
			switch set, ok := sets[name]; {
			case name == "outcome":
				// The cache's and the upstream's outcomes: both bounded in their packages.
				if !outcomeName.MatchString(value) {
					t.Errorf("%s{outcome=%q}: not an outcome name", s.name, value)
				}
			case ok && !set[value]:
				t.Errorf("%s{%s=%q}: not one of the label's values", s.name, name, value)
			case !ok && !other.MatchString(value):
				t.Errorf("%s{%s=%q}: an unexpected label value", s.name, name, value)
			}
		}
	}
}

// TestCallLog: each call logs one line with its method, action, code, latency, surface, region,
// cache outcome and request id, and never the caller's token.
func TestCallLog(t *testing.T) {
	v := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	getAgent := testutil.Action(t, "get_agent")
	for range 2 {
		if _, _, err := v.rpc(ctx, ownerA, getAgent, &configv1.GetAgentRequest{Id: "owner-a@example.com"}, "x-region", "dal"); err != nil {
			t.Fatalf("GetAgent: %v", err)
		}
	}
	if a := v.rest(ownerA, "get_agent", `{"id":"owner-a@example.com"}`, "X-Region", "dal"); a.status != 200 {
		t.Fatalf("REST get_agent: %d %s", a.status, a.body)
	}
	type line struct {
		Msg, Level, Action, Surface, Region, Cache string
		Service                                    string `json:"grpc.service"`
		Method                                     string `json:"grpc.method"`
		Code                                       string `json:"grpc.code"`
		TimeMS                                     string `json:"grpc.time_ms"`
		RequestID                                  string `json:"request_id"`
		Peer                                       string `json:"peer.address"`
	}
	var got []line
	for text := range strings.Lines(v.logs.String()) {
		var l line
		if json.Unmarshal([]byte(text), &l) == nil && l.Msg == "finished call" && l.Action == "get_agent" {
			got = append(got, l)
		}
	}
	want := []struct{ surface, cache string }{{"grpc", "miss"}, {"grpc", "hit"}, {"rest", "hit"}}
	if len(got) != len(want) {
		t.Fatalf("3 calls logged %d call lines:\n%s", len(got), v.logs.String())
	}
	for i, l := range got {
		if l.Surface != want[i].surface || l.Cache != want[i].cache || l.Region != "dal" || l.Code != "OK" || l.Level != "INFO" ||
			l.Service != "livechat.configuration.v1.AgentService" || l.Method != "GetAgent" || l.TimeMS == "" || len(l.RequestID) != 32 ||
			!strings.HasPrefix(l.Peer, "127.0.0.1") {
			t.Errorf("call %d logged %+v, want surface %s, cache %s, region dal, code OK, its method, latency, request id and the client's address", i, l, want[i].surface, want[i].cache)
		}
	}
}

// TestObservabilityDocs: docs/observability.md names every series of the gateway's own (gateway_*)
// and of the gRPC server (grpc_server_*) that /metrics serves, and names no such series that it
// does not serve, so that the page cannot drift from the code. The gateway runs on Redis, with
// the near cache, so that every series exists.
func TestObservabilityDocs(t *testing.T) {
	v := newCachedEnv(t, redistest.Server(t).URL())
	if a := v.rest(ownerA, "get_agent", `{"id":"owner-a@example.com"}`); a.status != 200 {
		t.Fatalf("get_agent: %d %s", a.status, a.body)
	}
	if a := v.rest(ownerA, "get_agent", `{`); a.status < 400 {
		t.Fatalf("get_agent with a broken body: %d %s", a.status, a.body)
	}
	doc, err := os.ReadFile("../../docs/observability.md")
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, s := range mtScrape(t, v) {
		if strings.HasPrefix(s.name, "gateway_") || strings.HasPrefix(s.name, "grpc_server_") {
			served[s.name] = true
		}
	}
	named := map[string]bool{}
	for _, m := range regexp.MustCompile("`((?:gateway|grpc_server)_[a-z_]+)`").FindAllStringSubmatch(string(doc), -1) {
		named[m[1]] = true
	}
	for name := range served {
		if !named[name] {
			t.Errorf("/metrics serves %s, which docs/observability.md does not name", name)
		}
	}
	for name := range named {
		if !served[name] {
			t.Errorf("docs/observability.md names %s, which /metrics does not serve", name)
		}
	}
}
