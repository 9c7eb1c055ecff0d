package emulator

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/livechat-gateway/gateway/internal/spec"
)

// TestEveryErrorType produces each of the spec's 13 error types through the path a client would
// hit, and checks the body, the status and the headers that go with it. transfer_ownership has no
// such path in the documented actions; TestForcedErrors covers it with the others.
func TestEveryErrorType(t *testing.T) {
	expired, err := ParseConfig([]byte(`{
		"licenses": [{"id": "X", "region": "dal", "expired": true, "owner": {"id": "owner-x@example.com", "name": "X"}}],
		"tokens": [{"token": "dal:owner-x", "license": "X", "agent": "owner-x@example.com", "client_id": "cx", "scopes": ["*"]}]
	}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		typ  string
		opts []Option
		call func(v *env) result
	}{
		{errAuthentication, nil, func(v *env) result { return v.call("", "list_groups", `{}`) }},
		{errAuthentication, nil, func(v *env) result { return v.call("dal:nobody", "list_groups", `{}`) }},
		{errAuthorization, nil, func(v *env) result {
			return v.call(readonlyA, "create_group", `{"name":"G","agent_priorities":{"owner-a@example.com":"normal"}}`)
		}},
		{errAlreadyExist, nil, func(v *env) result {
			return v.call(ownerA, "create_agent", `{"id":"agent-a@example.com","name":"Again"}`)
		}},
		{errGroupNotFound, nil, func(v *env) result { return v.call(ownerA, "get_group", `{"id":999}`) }},
		{errInternal, []Option{WithErrorRate(1)}, func(v *env) result { return v.call(ownerA, "list_groups", `{}`) }},
		{errLicenseExpired, []Option{WithConfig(expired)}, func(v *env) result { return v.call("dal:owner-x", "list_groups", `{}`) }},
		{errLimitReached, nil, func(v *env) result {
			body := `{"action":"incoming_chat","secret_key":"k","url":"https://example.com/hook"}`
			for range spec.WebhooksPerAction {
				v.ok(ownerA, "register_webhook", body)
			}
			return v.call(ownerA, "register_webhook", body)
		}},
		{errMisdirectedRequest, nil, func(v *env) result { return v.call(ownerF, "list_groups", `{}`) }},
		{errMisdirectedRequest, nil, func(v *env) result { return v.call(ownerA, "list_groups", `{}`, "X-Region", "fra") }},
		{errNotFound, nil, func(v *env) result { return v.call(ownerA, "get_agent", `{"id":"nobody@example.com"}`) }},
		{errTooManyRequests, []Option{WithThrottleRate(1)}, func(v *env) result { return v.call(ownerA, "list_groups", `{}`) }},
		{errUnsupportedVersion, nil, func(v *env) result {
			return v.post("/v3.1/configuration/action/list_groups", ownerA, `{}`)
		}},
		{errValidation, nil, func(v *env) result { return v.call(ownerA, "get_agent", `{"id":5}`) }},
	}
	for _, tc := range tests {
		t.Run(tc.typ, func(t *testing.T) {
			v := newEnv(t, tc.opts...)
			r := tc.call(v)
			if got := r.errorType(); got != tc.typ {
				t.Fatalf("got %d %s, want error %s", r.status, r.body, tc.typ)
			}
			if want := errorKinds[tc.typ].status; r.status != want {
				t.Errorf("status = %d, want %d", r.status, want)
			}
			body := r.json(t).(map[string]any)["error"].(map[string]any)
			if msg, _ := body["message"].(string); msg == "" {
				t.Errorf("error %s has no message: %s", tc.typ, r.body)
			}
			switch tc.typ {
			case errMisdirectedRequest:
				if region := body["data"].(map[string]any)["region"]; region != "fra" && region != "dal" {
					t.Errorf("misdirected_request data.region = %v, want the token's region", region)
				}
			case errTooManyRequests:
				if got := r.header.Get("Retry-After"); got != "1" {
					t.Errorf("Retry-After = %q, want 1", got)
				}
			}
			if r.header.Get("Deprecation") != DefaultDeprecation {
				t.Errorf("Deprecation = %q, want %q", r.header.Get("Deprecation"), DefaultDeprecation)
			}
		})
	}
	var covered []string
	for _, tc := range tests {
		covered = append(covered, tc.typ)
	}
	for _, typ := range ErrorTypes() {
		if typ != errTransferOwnership && !slices.Contains(covered, typ) {
			t.Errorf("error type %s has no test here", typ)
		}
	}
}

// TestMisdirectedRegionIsTheTokens checks the spec's recipe: retrying with the region that
// misdirected_request names succeeds.
func TestMisdirectedRegionIsTheTokens(t *testing.T) {
	v := newEnv(t)
	r := v.call(ownerF, "list_groups", `{}`)
	region := r.json(t).(map[string]any)["error"].(map[string]any)["data"].(map[string]any)["region"].(string)
	if r := v.call(ownerF, "list_groups", `{}`, "X-Region", region); r.status != http.StatusOK {
		t.Errorf("list_groups with X-Region %s = %d %s, want 200", region, r.status, r.body)
	}
	// dal needs no header, and the header's case does not matter.
	if r := v.call(ownerA, "list_groups", `{}`, "X-Region", "DAL"); r.status != http.StatusOK {
		t.Errorf("list_groups with X-Region DAL = %d %s, want 200", r.status, r.body)
	}
}

// TestForcedErrors forces every documented error type on one action, over Go and over HTTP, and
// checks that a fault with Times stops after that many calls.
func TestForcedErrors(t *testing.T) {
	v := newEnv(t)
	for _, typ := range ErrorTypes() {
		if err := v.e.SetFault("get_agent", Fault{Error: typ, Times: 1}); err != nil {
			t.Fatal(err)
		}
		r := v.call(ownerA, "get_agent", `{"id":"owner-a@example.com"}`)
		if r.errorType() != typ || r.status != errorKinds[typ].status {
			t.Errorf("forced %s: got %d %s", typ, r.status, r.body)
		}
		if typ == errMisdirectedRequest && !strings.Contains(string(r.body), `"region":"dal"`) {
			t.Errorf("forced misdirected_request = %s, want data.region dal, the token's", r.body)
		}
		if r := v.call(ownerA, "get_agent", `{"id":"owner-a@example.com"}`); r.status != http.StatusOK {
			t.Errorf("after a forced %s with times 1: got %d %s, want 200", typ, r.status, r.body)
		}
	}

	// The same over HTTP, until cleared.
	if r := v.post("/emulator/faults", "", `{"action":"list_groups","error":"transfer_ownership"}`); r.status != http.StatusOK {
		t.Fatalf("POST /emulator/faults = %d %s", r.status, r.body)
	}
	for range 2 {
		if r := v.call(ownerA, "list_groups", `{}`); r.errorType() != errTransferOwnership {
			t.Errorf("list_groups with a forced fault = %d %s", r.status, r.body)
		}
	}
	if r := v.call(ownerA, "get_agent", `{"id":"owner-a@example.com"}`); r.status != http.StatusOK {
		t.Errorf("a fault on list_groups changed get_agent: %d %s", r.status, r.body)
	}
	req, _ := http.NewRequest(http.MethodDelete, v.srv.URL+"/emulator/faults", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE /emulator/faults: %v %v", resp, err)
	}
	if r := v.call(ownerA, "list_groups", `{}`); r.status != http.StatusOK {
		t.Errorf("list_groups after DELETE /emulator/faults = %d %s", r.status, r.body)
	}

	for _, bad := range []string{
		`{"action":"no_such_action","error":"internal"}`,
		`{"action":"get_agent","error":"no_such_type"}`,
		`{"action":"get_agent","latency":"soon"}`,
		`{"action":"get_agent","unknown":1}`,
	} {
		if r := v.post("/emulator/faults", "", bad); r.status != http.StatusBadRequest {
			t.Errorf("POST /emulator/faults %s = %d %s, want 400", bad, r.status, r.body)
		}
	}
}

// TestRequestChecks covers the checks every call passes before its action: method, path, body
// size and syntax, Content-Type.
func TestRequestChecks(t *testing.T) {
	v := newEnv(t)
	get, _ := http.NewRequest(http.MethodGet, v.srv.URL+path("list_groups"), nil)
	resp, err := http.DefaultClient.Do(get)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET = %d, Allow %q; want 405 and POST", resp.StatusCode, resp.Header.Get("Allow"))
	}
	if r := v.post("/v3.2/configuration/action/no_such_action", ownerA, `{}`); r.status != http.StatusNotFound || r.errorType() != errNotFound {
		t.Errorf("unknown action = %d %s, want 404 not_found", r.status, r.body)
	}
	huge := `{"id":"` + strings.Repeat("x", maxBodyBytes) + `"}`
	if r := v.call(ownerA, "get_agent", huge); r.status != http.StatusRequestEntityTooLarge || r.errorType() != errValidation {
		t.Errorf("a %d-byte body = %d %.200s, want 413 validation", len(huge), r.status, r.body)
	}
	for _, body := range []string{`{`, `{} {}`, `null null`, `[]`, `"x"`, `{"id":"a","id2":1}`} {
		v.fails(ownerA, "get_agent", body, errValidation)
	}
	for _, body := range []string{``, `null`, " null\n"} {
		if r := v.call(ownerA, "list_groups", body); r.status != http.StatusOK {
			t.Errorf("the body %q = %d %s, want it taken as {}", body, r.status, r.body)
		}
	}
	if r := v.call(ownerA, "list_groups", `{}`, "Content-Type", "text/plain"); r.errorType() != errValidation {
		t.Errorf("Content-Type text/plain = %d %s, want validation", r.status, r.body)
	}
	if r := v.call(ownerA, "list_groups", `{}`, "Content-Type", "application/json; charset=utf-8"); r.status != http.StatusOK {
		t.Errorf("Content-Type with charset = %d %s, want 200", r.status, r.body)
	}
}

// TestLegacyHeader checks that WithLegacy replaces Deprecation with Legacy: an answer carries one
// of the two.
func TestLegacyHeader(t *testing.T) {
	v := newEnv(t, WithLegacy("2029-03-04"))
	r := v.call(ownerA, "list_groups", `{}`)
	if r.header.Get("Legacy") != "2029-03-04" || r.header.Get("Deprecation") != "" {
		t.Errorf("headers = %v, want Legacy: 2029-03-04 and no Deprecation", r.header)
	}
	if _, err := New(WithLegacy("soon")); err == nil {
		t.Error("WithLegacy(soon) was accepted")
	}
}

// TestDeprecationHeader checks that every answer, success or error, carries the configured date.
func TestDeprecationHeader(t *testing.T) {
	v := newEnv(t, WithDeprecation("2030-01-02"))
	for _, r := range []result{
		v.call(ownerA, "list_groups", `{}`),
		v.call("", "list_groups", `{}`),
		v.call(ownerA, "get_agent", `{}`),
	} {
		if got := r.header.Get("Deprecation"); got != "2030-01-02" {
			t.Errorf("Deprecation = %q on %d %s, want 2030-01-02", got, r.status, r.body)
		}
	}
}
