package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/livechat-gateway/gateway/internal/action"
	"github.com/livechat-gateway/gateway/internal/emulator"
	"github.com/livechat-gateway/gateway/internal/rest"
	"github.com/livechat-gateway/gateway/internal/service"
	"github.com/livechat-gateway/gateway/internal/testutil"
)

// specWorld returns the emulator option that loads testutil.SpecWorld.
func specWorld(t *testing.T) emulator.Option {
	t.Helper()
	cfg, err := emulator.ParseConfig(testutil.SpecWorld(t))
	if err != nil {
		t.Fatal(err)
	}
	return emulator.WithConfig(cfg)
}

// TestSpecExamplesREST sends every request example of the spec, as it stands, through the
// gateway's REST surface, and checks each answer is a 200 with the upstream's JSON.
func TestSpecExamplesREST(t *testing.T) {
	v := newEnv(t, specWorld(t))
	runExamplesREST(t, v)
	checkOneCallEach(t, v)
}

// TestSpecExamplesRESTSeparateEmulator does the same with the emulator as a separate process.
func TestSpecExamplesRESTSeparateEmulator(t *testing.T) {
	url := startEmulatorProcess(t, "-config", "../emulator/testdata/spec-world.json")
	runExamplesREST(t, startGateway(t, url, nil))
}

// checkOneCallEach checks that each example reached the upstream exactly once.
func checkOneCallEach(t *testing.T, v *env) {
	t.Helper()
	for _, name := range testutil.SpecExampleOrder {
		if n := v.calls(name); n != 1 {
			t.Errorf("%s reached the upstream %d times, want 1", name, n)
		}
	}
}

func runExamplesREST(t *testing.T, v *env) {
	t.Helper()
	for _, name := range testutil.SpecExampleOrder {
		body, _ := testutil.SpecExample(t, name, "request")
		got := v.rest(testutil.SpecToken, name, string(body))
		if got.status != http.StatusOK || !json.Valid([]byte(got.body)) {
			t.Errorf("REST %s(%s) = %d %s, want 200 and JSON", name, body, got.status, got.body)
		}
		if got.header.Get("Deprecation") == "" {
			t.Errorf("REST %s: no Deprecation header", name)
		}
		if strings.Contains(got.body, "null") {
			t.Errorf("REST %s answered a null: %s", name, got.body)
		}
	}
}

// TestSpecExamplesGRPC sends every request example through gRPC: the example is read into the
// RPC's request message as the REST surface reads it, then sent over a real gRPC connection.
func TestSpecExamplesGRPC(t *testing.T) {
	v := newEnv(t, specWorld(t))
	runExamplesGRPC(t, v)
	checkOneCallEach(t, v)
}

// TestSpecExamplesGRPCSeparateEmulator does the same with the emulator as a separate process.
func TestSpecExamplesGRPCSeparateEmulator(t *testing.T) {
	url := startEmulatorProcess(t, "-config", "../emulator/testdata/spec-world.json")
	runExamplesGRPC(t, startGateway(t, url, nil))
}

func runExamplesGRPC(t *testing.T, v *env) {
	t.Helper()
	m := rest.NewMarshaler()
	for _, name := range testutil.SpecExampleOrder {
		a := testutil.Action(t, name)
		body, _ := testutil.SpecExample(t, name, "request")
		if a.Body != "" {
			// The body is one field of the request (register_properties' property map).
			body = []byte(`{"` + string(a.Body) + `":` + string(body) + `}`)
		}
		req := a.NewRequest()
		if err := m.Unmarshal(body, req); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_, header, err := v.rpc(context.Background(), testutil.SpecToken, a, req)
		if err != nil {
			t.Errorf("gRPC %s(%s) = %v, want OK", name, body, err)
			continue
		}
		if len(header.Get("deprecation")) == 0 {
			t.Errorf("gRPC %s: no deprecation header metadata", name)
		}
	}
}

// startEmulatorProcess runs cmd/livechat-emulator with args on a free port and returns its URL.
func startEmulatorProcess(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(emulatorBinary, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if u, ok := strings.CutPrefix(lines.Text(), "listening on "); ok {
			go func() {
				for lines.Scan() {
				}
			}()
			return u
		}
	}
	t.Fatal("the emulator exited without listening")
	return ""
}

// TestEveryErrorType forces each documented error type upstream and checks what a gRPC client
// gets (the mapped code and an ErrorInfo whose reason is the type) and what a REST client gets
// (the upstream's body and the status the upstream itself answers with).
func TestEveryErrorType(t *testing.T) {
	v := newEnv(t)
	a := testutil.Action(t, "get_agent")
	for _, typ := range emulator.ErrorTypes() {
		t.Run(typ, func(t *testing.T) {
			want := service.CodeOf(typ)
			// Reads are retried on too_many_requests and internal, and misdirected_request once:
			// force the type for every attempt.
			force := func() {
				if err := v.emu.SetFault("get_agent", emulator.Fault{Error: typ, Times: 3}); err != nil {
					t.Fatal(err)
				}
			}
			force()
			_, header, err := v.rpc(context.Background(), ownerA, a, req(t, a, `{"id":"owner-a@example.com"}`))
			st := status.Convert(err)
			if st.Code() != want {
				t.Errorf("gRPC code = %v (%v), want %v", st.Code(), err, want)
			}
			info := errorInfo(st)
			if info.GetReason() != typ || info.GetDomain() != service.ErrorDomain {
				t.Errorf("gRPC ErrorInfo = %v, want reason %s", info, typ)
			}
			if typ == "too_many_requests" && service.RetryDelay(st) != time.Second {
				t.Errorf("too_many_requests RetryInfo = %v, want 1s", service.RetryDelay(st))
			}
			if typ == "misdirected_request" && info.GetMetadata()["region"] != "dal" {
				t.Errorf("misdirected_request metadata = %v, want region dal", info.GetMetadata())
			}
			if len(header.Get("deprecation")) == 0 {
				t.Errorf("an error answer lost the deprecation header metadata")
			}
			v.emu.ClearFaults()

			force()
			got := v.rest(ownerA, "get_agent", `{"id":"owner-a@example.com"}`)
			var body struct {
				Error struct {
					Type    string            `json:"type"`
					Message string            `json:"message"`
					Data    map[string]string `json:"data"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(got.body), &body); err != nil || body.Error.Type != typ || body.Error.Message == "" {
				t.Errorf("REST body = %s, want the upstream's error body of type %s", got.body, typ)
			}
			force()
			if wantStatus := v.direct(ownerA, "get_agent", `{"id":"owner-a@example.com"}`).status; got.status != wantStatus {
				t.Errorf("REST status = %d, want the upstream's %d", got.status, wantStatus)
			}
			if got.header.Get("Deprecation") == "" {
				t.Errorf("REST error lost the Deprecation header")
			}
			if typ == "too_many_requests" && got.header.Get("Retry-After") != "1" {
				t.Errorf("REST Retry-After = %q, want 1", got.header.Get("Retry-After"))
			}
			v.emu.ClearFaults()
		})
	}
}

func errorInfo(st *status.Status) *errdetails.ErrorInfo {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

// req reads a request of a from JSON as the REST surface does.
func req(t *testing.T, a *action.Action, body string) proto.Message {
	t.Helper()
	m := a.NewRequest()
	if err := rest.NewMarshaler().Unmarshal([]byte(body), m); err != nil {
		t.Fatalf("%s request %s: %v", a.Name, body, err)
	}
	return m
}

// TestInvalidRequestsCostNothing sends requests that break the spec's rules, over REST and gRPC,
// and checks each is refused as validation (INVALID_ARGUMENT naming the field) or
// authentication, without any upstream call.
func TestInvalidRequestsCostNothing(t *testing.T) {
	v := newEnv(t)
	long := strings.Repeat("x", 181)
	cases := []struct {
		name, action, body, field string
		restOnly                  bool // not expressible in a typed gRPC message
	}{
		{"bad role", "create_agent", `{"id":"a@x","name":"A","role":"king"}`, "role", false},
		{"max_chats_count 101", "create_agent", `{"id":"a@x","name":"A","max_chats_count":101}`, "max_chats_count", false},
		{"bot max_chats_count 501", "create_bot", `{"name":"B","max_chats_count":501}`, "max_chats_count", false},
		{"group name of 181", "create_group", `{"name":"` + long + `","agent_priorities":{"owner-a@example.com":"normal"}}`, "name", false},
		{"no normal priority", "create_group", `{"name":"G","agent_priorities":{"owner-a@example.com":"last"}}`, "agent_priorities", false},
		{"bad HH:MM", "update_agent", `{"id":"owner-a@example.com","work_scheduler":{"monday":{"start":"8:30","end":"12:00"}}}`, "work_scheduler.monday.start", false},
		{"bad day", "update_agent", `{"id":"owner-a@example.com","work_scheduler":{"someday":{"start":"08:30","end":"12:00"}}}`, "work_scheduler.someday", false},
		{"missing required field", "get_agent", `{}`, "id", false},
		{"missing required group id", "get_group", `{}`, "id", false},
		{"bad notification", "update_agent", `{"id":"owner-a@example.com","notifications":["ring"]}`, "notifications[0]", false},
		{"bad webhook action", "register_webhook", `{"action":"nothing","secret_key":"k","url":"https://x"}`, "action", false},
		{"filter of another action", "register_webhook", `{"action":"incoming_chat","secret_key":"k","url":"https://x","filters":{"author_type":"agent"}}`, "filters.author_type", false},
		// A required map must have a key: proto3 cannot tell an empty map from one not given.
		{"no property to register", "register_properties", `{}`, "at least 1 key", false},
		{"no property values", "update_license_properties", `{"properties":{}}`, "properties", false},
		{"no property names", "delete_group_properties", `{"group_id":0,"properties":{}}`, "properties", false},
		{"wrong JSON type", "get_agent", `{"id":5}`, "", true},
		{"unknown field", "get_agent", `{"id":"a","nickname":"b"}`, "", true},
		{"truncated JSON", "get_agent", `{"id":"a"`, "", true},
		{"two JSON values", "get_agent", `{"id":"a"}{}`, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := v.emu.Calls()[tc.action]
			got := v.rest(ownerA, tc.action, tc.body)
			if got.status != http.StatusUnprocessableEntity || !strings.Contains(got.body, `"type":"validation"`) ||
				!strings.Contains(got.body, tc.field) {
				t.Errorf("REST %s(%s) = %d %s, want 422 validation naming %q", tc.action, tc.body, got.status, got.body, tc.field)
			}
			if !tc.restOnly {
				a := testutil.Action(t, tc.action)
				_, _, err := v.rpc(context.Background(), ownerA, a, req(t, a, tc.body))
				st := status.Convert(err)
				if st.Code() != codes.InvalidArgument || errorInfo(st).GetReason() != "validation" || !strings.Contains(st.Message(), tc.field) {
					t.Errorf("gRPC %s(%s) = %v, want INVALID_ARGUMENT naming %q", tc.action, tc.body, err, tc.field)
				}
			}
			if after := v.emu.Calls()[tc.action]; after != before {
				t.Errorf("%s reached the upstream %d times", tc.name, after-before)
			}
		})
	}
	t.Run("no token", func(t *testing.T) {
		got := v.rest("", "list_groups", `{}`)
		if got.status != http.StatusUnauthorized || !strings.Contains(got.body, `"type":"authentication"`) {
			t.Errorf("REST without a token = %d %s, want 401 authentication", got.status, got.body)
		}
		a := testutil.Action(t, "list_groups")
		_, _, err := v.rpc(context.Background(), "", a, a.NewRequest())
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("gRPC without a token = %v, want UNAUTHENTICATED", err)
		}
		if n := v.emu.Calls()["list_groups"]; n != 0 {
			t.Errorf("calls without a token reached the upstream %d times", n)
		}
	})
	t.Run("body over 1 MiB", func(t *testing.T) {
		got := v.rest(ownerA, "get_agent", `{"id":"`+strings.Repeat("x", rest.DefaultMaxBodyBytes)+`"}`)
		if got.status != http.StatusRequestEntityTooLarge || !strings.Contains(got.body, "larger than") {
			t.Errorf("a huge body = %d %.200s, want 413 with a clear message", got.status, got.body)
		}
		a := testutil.Action(t, "get_agent")
		_, _, err := v.rpc(context.Background(), ownerA, a, req(t, a, `{"id":"`+strings.Repeat("x", rest.DefaultMaxBodyBytes)+`"}`))
		if status.Code(err) != codes.ResourceExhausted {
			t.Errorf("a huge gRPC message = %v, want RESOURCE_EXHAUSTED", err)
		}
	})
	t.Run("method override is off", func(t *testing.T) {
		r, _ := http.NewRequest(http.MethodPost, v.httpURL+"/v3.2/configuration/action/list_groups", strings.NewReader("{}"))
		r.Header.Set("X-HTTP-Method-Override", "GET")
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Authorization", "Bearer "+ownerA)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("POST with X-HTTP-Method-Override = %d, want it served as the POST it is", resp.StatusCode)
		}
	})
}

// TestRegions covers region routing: a fra token needs no header, a wrong X-Region is repaired
// by the one retry, and a second misdirected answer is FAILED_PRECONDITION.
func TestRegions(t *testing.T) {
	v := newEnv(t)
	if got := v.rest(ownerF, "list_groups", `{}`); got.status != http.StatusOK {
		t.Errorf("a fra token without X-Region = %d %s", got.status, got.body)
	}
	if n := v.calls("list_groups"); n != 1 {
		t.Errorf("a fra token took %d upstream calls, want 1", n)
	}
	v.emu.ResetCalls()
	if got := v.rest(ownerA, "list_groups", `{}`, "X-Region", "fra"); got.status != http.StatusOK {
		t.Errorf("a dal token with X-Region fra = %d %s, want the retry to repair it", got.status, got.body)
	}
	if n := v.calls("list_groups"); n != 2 {
		t.Errorf("a wrong X-Region took %d upstream calls, want 2", n)
	}
	v.emu.ResetCalls()
	a := testutil.Action(t, "list_groups")
	if _, _, err := v.rpc(context.Background(), ownerA, a, a.NewRequest(), "x-region", "fra"); err != nil {
		t.Errorf("gRPC with a wrong x-region = %v", err)
	}
	v.emu.ResetCalls()
	if err := v.emu.SetFault("list_groups", emulator.Fault{Error: "misdirected_request", Times: 5}); err != nil {
		t.Fatal(err)
	}
	// Sent to fra, the first answer names dal, the token's region; the retry to dal is
	// misdirected again, and that is the end of it.
	// no-cache: the same read is cached from above, and this one must reach the upstream.
	_, _, err := v.rpc(context.Background(), ownerA, a, a.NewRequest(), "x-region", "fra", "cache-control", "no-cache")
	if status.Code(err) != codes.FailedPrecondition || errorInfo(status.Convert(err)).GetReason() != "misdirected_request" {
		t.Errorf("twice misdirected = %v, want FAILED_PRECONDITION misdirected_request", err)
	}
	if n := v.calls("list_groups"); n != 2 {
		t.Errorf("twice misdirected took %d upstream calls, want 2", n)
	}
}

// TestRetries checks that reads ride out a sick upstream and writes are never sent twice.
func TestRetries(t *testing.T) {
	v := newEnv(t, emulator.WithErrorRate(0.3))
	const reads = 100
	ok := 0
	for range reads {
		// no-cache, or the cache would answer all but the first.
		if got := v.rest(ownerA, "list_groups", `{}`, "Cache-Control", "no-cache"); got.status == http.StatusOK {
			ok++
		}
	}
	// With 3 attempts a read fails with probability 0.3³ = 2.7%; without retries, 30%. 90 of 100
	// tells them apart with a chance of a false failure near 1 in 10,000.
	t.Logf("%d of %d reads succeeded against 30%% upstream errors in %d upstream calls", ok, reads, v.calls("list_groups"))
	if ok < 90 {
		t.Errorf("%d of %d reads succeeded, want at least 90 with retries", ok, reads)
	}
	const writes = 30
	for i := range writes {
		v.rest(ownerA, "create_agent", fmt.Sprintf(`{"id":"w%d@example.com","name":"W"}`, i))
	}
	if n := v.calls("create_agent"); n != writes {
		t.Errorf("%d writes made %d upstream calls, want exactly %d", writes, n, writes)
	}
}

// TestDeadline checks that a caller's deadline shorter than the upstream's latency ends the
// call with DEADLINE_EXCEEDED near the deadline.
func TestDeadline(t *testing.T) {
	v := newEnv(t)
	if err := v.emu.SetFault("get_agent", emulator.Fault{Latency: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	a := testutil.Action(t, "get_agent")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := v.rpc(ctx, ownerA, a, req(t, a, `{"id":"owner-a@example.com"}`))
	el := time.Since(start)
	if status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("a call past its deadline = %v, want DEADLINE_EXCEEDED", err)
	}
	// A generous bound: the point is that the call does not wait for the upstream's 5s.
	if el > 3*time.Second {
		t.Errorf("the call ended after %v, long past its 200ms deadline", el)
	}
	v.emu.ClearFaults()
}

// TestLifecycleHeaders checks the upstream's Deprecation header reaches both kinds of client,
// as itself over REST and as header metadata over gRPC.
func TestLifecycleHeaders(t *testing.T) {
	v := newEnv(t, emulator.WithDeprecation("2031-01-01"))
	got := v.rest(ownerA, "list_groups", `{}`)
	if got.header.Get("Deprecation") != "2031-01-01" {
		t.Errorf("REST headers = %v, want Deprecation: 2031-01-01 as a plain header", got.header)
	}
	for k := range got.header {
		if strings.HasPrefix(k, "Grpc-") {
			t.Errorf("REST answer has the gRPC header %s: %v", k, got.header)
		}
	}
	a := testutil.Action(t, "list_groups")
	_, header, err := v.rpc(context.Background(), ownerA, a, a.NewRequest())
	if err != nil || !slices.Equal(header.Get("deprecation"), []string{"2031-01-01"}) {
		t.Errorf("gRPC header metadata = %v (%v), want deprecation 2031-01-01", header, err)
	}
}

// TestLegacyHeader checks the other lifecycle header the same way.
func TestLegacyHeader(t *testing.T) {
	v := newEnv(t, emulator.WithLegacy("2030-05-06"))
	if got := v.rest(ownerA, "list_groups", `{}`); got.header.Get("Legacy") != "2030-05-06" {
		t.Errorf("REST headers = %v, want Legacy: 2030-05-06", got.header)
	}
	a := testutil.Action(t, "list_groups")
	_, header, err := v.rpc(context.Background(), ownerA, a, a.NewRequest())
	if err != nil || !slices.Equal(header.Get("legacy"), []string{"2030-05-06"}) {
		t.Errorf("gRPC header metadata = %v (%v), want legacy 2030-05-06", header, err)
	}
}

// TestEndpoints checks /healthz, /readyz, /openapi.json and unknown paths.
func TestEndpoints(t *testing.T) {
	v := newEnv(t)
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/openapi.json": 200, "/swagger.json": 200} {
		resp, err := http.Get(v.httpURL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
	if got := v.restPath("/v3.2/configuration/action/no_such_action", ownerA, `{}`); got.status != 404 || !strings.Contains(got.body, `"type":"not_found"`) {
		t.Errorf("an unknown action = %d %s, want 404 not_found", got.status, got.body)
	}
	resp, err := http.Get(v.httpURL + "/v3.2/configuration/action/list_groups")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed && resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET of an action = %d, want 405 or 404", resp.StatusCode)
	}
}
