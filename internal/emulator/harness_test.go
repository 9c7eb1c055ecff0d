package emulator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/livechat-gateway/gateway/internal/action"
	"github.com/livechat-gateway/gateway/internal/spec"
)

// The built-in tokens, as tests use them.
const (
	ownerA    = "dal:owner-a"
	readonlyA = "dal:readonly-a"
	ownerB    = "dal:owner-b"
	ownerF    = "fra:owner-f"
	// nsA is dal:owner-a's client id, which is also the spec's example namespace.
	nsA = "0805e283233042b37f460ed8fbf22160"
)

// env is an emulator served over real HTTP for one test.
type env struct {
	t   *testing.T
	e   *Emulator
	srv *httptest.Server
}

func newEnv(t *testing.T, opts ...Option) *env {
	t.Helper()
	e, err := New(append([]Option{WithSeed(1)}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &env{t: t, e: e, srv: srv}
}

// result is an answer of the emulator.
type result struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the answer.
func (r result) json(t *testing.T) any {
	t.Helper()
	var v any
	d := json.NewDecoder(bytes.NewReader(r.body))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("answer %q is not JSON: %v", r.body, err)
	}
	return v
}

// errorType returns the answer's error type, or "" when it is not an error body.
func (r result) errorType() string {
	var e struct {
		Error *apiError `json:"error"`
	}
	if json.Unmarshal(r.body, &e) != nil || e.Error == nil {
		return ""
	}
	return e.Error.Type
}

// call posts body to action with token, and any extra headers as name, value pairs.
func (v *env) call(token, action, body string, headers ...string) result {
	v.t.Helper()
	return v.post(path(action), token, body, headers...)
}

// post posts body to path.
func (v *env) post(path, token, body string, headers ...string) result {
	v.t.Helper()
	req, err := http.NewRequest(http.MethodPost, v.srv.URL+path, strings.NewReader(body))
	if err != nil {
		v.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := v.srv.Client().Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		v.t.Fatal(err)
	}
	return result{resp.StatusCode, resp.Header, b}
}

// ok calls action and fails the test unless it succeeds; it returns the decoded answer.
func (v *env) ok(token, action, body string) any {
	v.t.Helper()
	r := v.call(token, action, body)
	if r.status != http.StatusOK {
		v.t.Fatalf("%s %s = %d %s, want 200", action, body, r.status, r.body)
	}
	return r.json(v.t)
}

// fails calls action and fails the test unless the answer is an error of type typ. It also
// checks that the refused call changed nothing.
func (v *env) fails(token, action, body, typ string) result {
	v.t.Helper()
	before := v.e.Snapshot()
	r := v.call(token, action, body)
	if got := r.errorType(); got != typ {
		v.t.Fatalf("%s %s = %d %s, want error %s", action, body, r.status, r.body, typ)
	}
	if want := errorKinds[typ].status; r.status != want {
		v.t.Errorf("%s %s: status %d, want %d", action, body, r.status, want)
	}
	if after := v.e.Snapshot(); !bytes.Equal(before, after) {
		v.t.Errorf("%s %s was refused but changed the state:\nbefore %s\nafter  %s", action, body, before, after)
	}
	return r
}

// path returns the URL path of an action.
func path(action string) string { return "/v3.2/configuration/action/" + action }

// TestActionsMatchContract checks that the emulator serves exactly the gateway's 30 actions. The
// emulator keeps its own list, from the spec, so that the two are checked against each other.
func TestActionsMatchContract(t *testing.T) {
	var want []string
	for _, a := range action.All() {
		want = append(want, a.Name)
	}
	slices.Sort(want)
	if got := Actions(); !slices.Equal(got, want) {
		t.Errorf("Actions() = %v,\nwant the contract's %v", got, want)
	}
	if got := spec.Actions(); !slices.Equal(got, want) {
		t.Errorf("spec.Actions() = %v, want the contract's %v", got, want)
	}
}
