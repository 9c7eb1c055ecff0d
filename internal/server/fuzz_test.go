package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livechat-gateway/gateway/internal/action"
	"github.com/livechat-gateway/gateway/internal/emulator"
	"github.com/livechat-gateway/gateway/internal/server"
	"github.com/livechat-gateway/gateway/internal/testutil"
)

// fzMaxRequestBytes is GATEWAY_MAX_REQUEST_BYTES's default: the largest REST body.
const fzMaxRequestBytes = 1 << 20

// fzFreshEvery is how many calls one emulator serves before the fuzzer starts a new one, so that
// what the fuzzed writes create does not pile up.
const fzFreshEvery = 2000

// fzAnswer is one answer of the emulator: its status and error type ("" for none).
type fzAnswer struct {
	status int
	typ    string
}

// fzUpstream is the emulator behind the gateway, replaced now and then by a fresh one, with a
// record of its answers.
type fzUpstream struct {
	emu atomic.Pointer[emulator.Emulator]

	mu      sync.Mutex
	answers []fzAnswer
}

func (u *fzUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rw := &fzRecorder{ResponseWriter: w, status: http.StatusOK}
	u.emu.Load().ServeHTTP(rw, r)
	var body struct {
		Error struct {
			Type string `json:"type"`
		} `json:"error"`
	}
	json.Unmarshal(rw.body.Bytes(), &body)
	u.mu.Lock()
	u.answers = append(u.answers, fzAnswer{rw.status, body.Error.Type})
	u.mu.Unlock()
}

// take returns the answers recorded since the last take.
func (u *fzUpstream) take() []fzAnswer {
	u.mu.Lock()
	defer u.mu.Unlock()
	a := u.answers
	u.answers = nil
	return a
}

// calls returns the current emulator's call count, all actions together.
func (u *fzUpstream) calls() int64 {
	var n int64
	for _, c := range u.emu.Load().Calls() {
		n += c
	}
	return n
}

// fzRecorder keeps a copy of what the emulator answers.
type fzRecorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *fzRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *fzRecorder) Write(b []byte) (int, error) {
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

// fzGateway is a real gateway, with the in-process cache, in front of an fzUpstream.
type fzGateway struct {
	up      *fzUpstream
	url     string
	client  *http.Client
	logs    *testutil.SyncBuffer // the gateway's log
	newEmu  func() *emulator.Emulator
	counter int
}

// fzStart starts a gateway for the fuzz target f; it stops when f ends.
func fzStart(f *testing.F) *fzGateway {
	f.Helper()
	cfg, err := emulator.ParseConfig(testutil.SpecWorld(f))
	if err != nil {
		f.Fatal(err)
	}
	newEmu := func() *emulator.Emulator {
		e, err := emulator.New(emulator.WithConfig(cfg), emulator.WithSeed(1))
		if err != nil {
			f.Fatal(err)
		}
		return e
	}
	up := &fzUpstream{}
	up.emu.Store(newEmu())
	srv := httptest.NewServer(up)
	f.Cleanup(srv.Close)

	c := server.Defaults()
	c.GRPCAddr, c.HTTPAddr, c.UpstreamURL = "127.0.0.1:0", "127.0.0.1:0", srv.URL
	c.ShutdownTimeout = 5 * time.Second
	logs := &testutil.SyncBuffer{}
	g, err := server.New(c, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		f.Fatalf("server.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 30 * time.Second}
	f.Cleanup(func() {
		client.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			f.Errorf("Run: %v", err)
		}
	})
	url := "http://" + g.HTTPAddr().String()
	waitReady(f, url)
	return &fzGateway{up: up, url: url, client: client, logs: logs, newEmu: newEmu}
}

// fzAuth returns the Authorization value of form (ok=false: none), and whether it is a
// credential: Bearer and a token.
func fzAuth(form uint8, token string) (value string, ok, credential bool) {
	switch form % 12 {
	case 0:
		return "Bearer " + testutil.SpecToken, true, true
	case 1:
		return "Bearer " + ownerA, true, true
	case 2:
		return "Bearer " + ownerF, true, true // region fra, from the token
	case 3:
		return "Bearer " + readonlyA, true, true
	case 4:
		return "", false, false
	case 5:
		return "Bearer ", true, false
	case 6:
		return "Bearer    ", true, false
	case 7:
		return testutil.SpecToken, true, false // no scheme
	case 8:
		return "Basic ZGFsOnNwZWM6", true, false
	case 9:
		return "bearer " + testutil.SpecToken, true, true
	case 10:
		return "Bearer dal:no-such-token", true, true
	}
	tok := fzHeaderValue(token)
	return "Bearer " + tok, true, strings.TrimSpace(tok) != ""
}

// fzHeaderValue drops from s what no header value may hold: control characters but tab.
// Bytes from 0x80 (obs-text) stay.
func fzHeaderValue(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 256; i++ {
		if c := s[i]; c >= ' ' && c != 0x7f || c == '\t' {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// fzContentTypes are the Content-Type values a fuzzed request takes.
var fzContentTypes = []string{
	"application/json", "", "application/json; charset=utf-8", "text/plain",
	"application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json; charset=latin1",
	"a/b/c;;;=", "application/grpc", "application/x-protobuf",
}

// fzPath returns the path that sel picks: an action's, or one of no action.
func fzPath(sel uint8) (string, *action.Action) {
	all := action.All()
	switch i := int(sel) % (len(all) + 3); {
	case i < len(all):
		return all[i].Path(), all[i]
	case i == len(all):
		return action.PathPrefix + "no_such_action", nil
	case i == len(all)+1:
		return "/v3.1/configuration/action/get_agent", nil
	default:
		return action.PathPrefix + "get_agent/extra", nil
	}
}

// fzDeep returns a property value nested n arrays deep, in an update_license_properties body.
func fzDeep(n int) []byte {
	return []byte(`{"properties":{"ns":{"p":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}}}`)
}

// FuzzREST sends fuzzed REST calls, bytes in, through the real gateway (server.New: the real
// mux, interceptors, service, cache and upstream client) to an in-process emulator, and checks
// what comes out: never a 500 that the emulator did not answer; an error always in the
// upstream's body shape, a success always JSON; a body the gateway refuses itself (validation)
// and a call without a credential never reach the upstream; and no token in the logs.
func FuzzREST(f *testing.F) {
	g := fzStart(f)

	// The spec's request examples, each on its action's path, as the spec's token sends them.
	files, err := filepath.Glob(filepath.Join("..", "rest", "testdata", "spec", "*.request.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no spec examples: %v", err)
	}
	sel := map[string]uint8{}
	for i, a := range action.All() {
		sel[a.Name] = uint8(i)
	}
	for _, file := range files {
		body, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(sel[strings.TrimSuffix(filepath.Base(file), ".request.json")], body, uint8(0), uint8(0), "", uint8(0))
	}
	getAgent, updateProps := sel["get_agent"], sel["update_license_properties"]
	for _, s := range []struct {
		sel, form, ctype, mode uint8
		body                   string
		token                  string
	}{
		{getAgent, 0, 0, 0, `null`, ""},
		{getAgent, 0, 0, 0, ``, ""},
		{getAgent, 0, 0, 0, `{}`, ""},
		{getAgent, 0, 0, 0, `[]`, ""},
		{getAgent, 0, 0, 0, `"x"`, ""},
		{getAgent, 0, 0, 0, `{"id":"adam@example.com"} {}`, ""},
		{getAgent, 0, 0, 0, `{"id":"adam@example.com","id":"x"}`, ""},
		{getAgent, 0, 0, 0, `{"id":null}`, ""},
		{getAgent, 0, 0, 0, "{\"id\":\"\xff\xfe\"}", ""},
		{getAgent, 0, 0, 0, "{\"\xff\":1}", ""},
		{getAgent, 0, 0, 0, `{"id":"\ud800"}`, ""},
		{getAgent, 0, 0, 0, `{"unknown_field":1}`, ""},
		{sel["list_agents"], 0, 0, 0, `{"filters":{"group_ids":[1e400]}}`, ""},
		{sel["list_agents"], 0, 0, 0, `{"filters":{"group_ids":[99999999999999999999999]}}`, ""},
		{sel["list_agents"], 0, 0, 0, `{"filters":{"group_ids":[-1.5]}}`, ""},
		{sel["get_group"], 0, 0, 0, `{"id":1e308}`, ""},
		{sel["get_group"], 0, 0, 0, `{"id":-9223372036854775809}`, ""},
		{sel["get_group"], 0, 0, 0, `{"id":"1"}`, ""},
		{updateProps, 0, 0, 0, string(fzDeep(63)), ""},
		{updateProps, 0, 0, 0, string(fzDeep(100)), ""},
		{updateProps, 0, 0, 0, string(fzDeep(5000)), ""},
		{updateProps, 0, 0, 0, `{"properties":{"ns":{"p":` + strings.Repeat(`{"a":`, 5000) + `1` + strings.Repeat(`}`, 5000) + `}}}`, ""},
		{updateProps, 0, 0, 0, "{\"\xff\":" + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "}", ""},
		{updateProps, 0, 0, 0, `{"properties":{"ns":{"p":1e999}}}`, ""},
		{updateProps, 0, 0, 0, `{"properties":{"ns":{"p":null}}}`, ""},
		{sel["register_properties"], 0, 0, 0, `{"p":null}`, ""},
		{sel["register_properties"], 0, 0, 0, `[` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `]`, ""},
		{sel["update_agent"], 0, 0, 0, `{"id":"adam@example.com","update_mask":"no.such.field"}`, ""},
		{getAgent, 0, 0, 1, `{"id":"adam@example.com"}`, ""},              // chunked
		{getAgent, 0, 0, 2, `{"id":"adam@example.com"}`, ""},              // padded past the limit
		{getAgent, 0, 0, 3, `{"id":"adam@example.com"}`, ""},              // padded and chunked
		{getAgent, 0, 0, 4, `{"id":"adam@example.com"}`, "fra"},           // X-Region
		{getAgent, 0, 0, 4, `{"id":"adam@example.com"}`, "\xff\xfe"},      // X-Region, not ASCII
		{getAgent, 0, 0, 4, `{"id":"adam@example.com"}`, "dal fra"},       // X-Region, not a name
		{getAgent, 0, 0, 8, `{"id":"adam@example.com"}`, "no-cache"},      // Cache-Control
		{getAgent, 11, 0, 0, `{"id":"adam@example.com"}`, "dal:spec\xff"}, // a token not ASCII
		{getAgent, 11, 0, 0, `{"id":"adam@example.com"}`, " "},
		{getAgent, 4, 0, 0, `{"id":"adam@example.com"}`, ""},
		{getAgent, 4, 0, 0, `{`, ""},        // no credential, and a body that is not JSON
		{getAgent, 5, 0, 0, `{"id":1}`, ""}, // no token, and a body of the wrong type
		{getAgent, 6, 0, 2, `{}`, ""},       // no token, and a body too large
		{getAgent, 5, 0, 0, `{"id":"adam@example.com"}`, ""},
		{getAgent, 7, 0, 0, `{"id":"adam@example.com"}`, ""},
		{getAgent, 8, 0, 0, `{"id":"adam@example.com"}`, ""},
		{getAgent, 0, 3, 0, `{"id":"adam@example.com"}`, ""},
		{getAgent, 0, 4, 0, `id=adam%40example.com`, ""},
		{uint8(len(action.All())), 0, 0, 0, `{}`, ""},
		{uint8(len(action.All()) + 1), 0, 0, 0, `{}`, ""},
	} {
		f.Add(s.sel, []byte(s.body), s.form, s.ctype, s.token, s.mode)
	}

	f.Fuzz(func(t *testing.T, sel uint8, body []byte, form, ctype uint8, token string, mode uint8) {
		if g.counter++; g.counter%fzFreshEvery == 0 {
			g.up.emu.Store(g.newEmu())
		}
		path, a := fzPath(sel)
		auth, hasAuth, credential := fzAuth(form, token)

		sent := body
		if mode&2 != 0 && len(sent) <= fzMaxRequestBytes {
			// JSON's own whitespace: the body is refused for its size alone.
			sent = append(bytes.Clone(sent), bytes.Repeat([]byte(" "), fzMaxRequestBytes+1-len(sent))...)
		}
		var rd io.Reader = bytes.NewReader(sent)
		if mode&1 != 0 {
			rd = io.MultiReader(rd) // no length known: sent chunked
		}
		req, err := http.NewRequest(http.MethodPost, g.url+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		if hasAuth {
			req.Header.Set("Authorization", auth)
		}
		if ct := fzContentTypes[int(ctype)%len(fzContentTypes)]; ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if mode&4 != 0 {
			req.Header.Set("X-Region", fzHeaderValue(token))
		}
		if mode&8 != 0 {
			req.Header.Set("Cache-Control", fzHeaderValue(token))
		}

		g.up.take()
		g.logs.Take()
		defer func() { fzCheckLogs(t, g.logs.Take(), req, body) }()
		before := g.up.calls()
		resp, err := g.client.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		out, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("POST %s: reading the answer: %v", path, err)
		}
		delta := g.up.calls() - before
		answers := g.up.take()
		what := fmt.Sprintf("POST %s (Authorization %q, Content-Type %q, mode %d) %q", path, auth, req.Header.Get("Content-Type"), mode, fzShort(body))
		emulatorSaid := func(status int, typ string) bool {
			for _, ans := range answers {
				if ans.status == status || typ != "" && ans.typ == typ {
					return true
				}
			}
			return false
		}

		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s = %d with Content-Type %q", what, resp.StatusCode, ct)
		}
		if resp.StatusCode == http.StatusOK {
			if !json.Valid(out) {
				t.Fatalf("%s = 200 with a body that is not JSON: %q", what, fzShort(out))
			}
			if !credential {
				t.Fatalf("%s = 200 without a credential", what)
			}
			return
		}
		typ, ok := fzErrorType(out)
		if !ok {
			t.Fatalf("%s = %d %q, not the upstream's error shape", what, resp.StatusCode, fzShort(out))
		}
		if leak := testutil.LeakInRefusal(string(out)); leak != "" && !bytes.Contains(sent, []byte(leak)) &&
			!strings.Contains(path+token, leak) {
			// The words of a refusal are the upstream's style, not a decoder's (issue 11, item 4).
			t.Fatalf("%s = %d %s, which holds %q", what, resp.StatusCode, out, leak)
		}
		if resp.StatusCode == http.StatusInternalServerError && !emulatorSaid(http.StatusInternalServerError, "internal") {
			t.Fatalf("%s = 500 %s, and the emulator answered none (it answered %v)", what, out, answers)
		}
		if fzValidationStatus(resp.StatusCode) && typ == "validation" && !emulatorSaid(0, "validation") && delta != 0 {
			t.Fatalf("%s = %d %s, the gateway's refusal, but the upstream had %d calls", what, resp.StatusCode, out, delta)
		}
		if mode&2 != 0 && (resp.StatusCode != http.StatusRequestEntityTooLarge || typ != "validation" || delta != 0) && a != nil {
			t.Fatalf("%s, %d bytes = %d %s with %d upstream calls; want 413 validation and none", what, len(sent), resp.StatusCode, out, delta)
		}
		if a == nil && (resp.StatusCode != http.StatusNotFound || typ != "not_found" || delta != 0) && mode&2 == 0 {
			t.Fatalf("%s = %d %s with %d upstream calls; want 404 not_found and none", what, resp.StatusCode, out, delta)
		}
		if a != nil && !credential {
			// Refused without an upstream call: as unauthenticated, or for its body, which the
			// gateway may check first.
			refused := resp.StatusCode == http.StatusUnauthorized && typ == "authentication" ||
				fzValidationStatus(resp.StatusCode) && typ == "validation"
			if !refused || delta != 0 {
				t.Fatalf("%s = %d %s with %d upstream calls; want 401 authentication (or a validation error) and none", what, resp.StatusCode, out, delta)
			}
		}
	})
}

// fzCheckLogs fails the test if logs, the gateway's log output of the call req with body,
// holds the word Bearer or the call's token, unless the call sent them elsewhere than in its
// Authorization header, where the gateway may show them (X-Region is logged).
func fzCheckLogs(t *testing.T, logs string, req *http.Request, body []byte) {
	t.Helper()
	auth := req.Header.Get("Authorization")
	secrets := []string{"Bearer"}
	if f := strings.Fields(auth); len(f) > 0 && len(f[len(f)-1]) >= 6 {
		secrets = append(secrets, f[len(f)-1])
	}
	elsewhere := req.URL.Path + "\n" + req.Header.Get("X-Region") + "\n" + req.Header.Get("Cache-Control") + "\n" + string(body)
	for _, s := range secrets {
		if strings.Contains(logs, s) && !strings.Contains(elsewhere, s) {
			t.Errorf("the log of a call with Authorization %q holds %q:\n%s", auth, s, logs)
		}
	}
}

// fzValidationStatus reports whether status is one that a validation error answers with.
func fzValidationStatus(status int) bool {
	return status == http.StatusBadRequest || status == http.StatusRequestEntityTooLarge || status == http.StatusUnprocessableEntity
}

// fzErrorType returns the type of the upstream's error body b, {"error":{"type":string,
// "message":string,"data"?:object}}, and whether b is one.
func fzErrorType(b []byte) (string, bool) {
	var body map[string]json.RawMessage
	if json.Unmarshal(b, &body) != nil || len(body) != 1 || body["error"] == nil {
		return "", false
	}
	var e map[string]json.RawMessage
	if json.Unmarshal(body["error"], &e) != nil {
		return "", false
	}
	var typ, msg string
	if json.Unmarshal(e["type"], &typ) != nil || json.Unmarshal(e["message"], &msg) != nil || typ == "" {
		return "", false
	}
	for k, v := range e {
		switch k {
		case "type", "message":
		case "data":
			var data map[string]any
			if json.Unmarshal(v, &data) != nil {
				return "", false
			}
		default:
			return "", false
		}
	}
	return typ, true
}

// fzShort cuts b for a failure message.
func fzShort(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + fmt.Sprintf("... (%d bytes)", len(b))
	}
	return string(b)
}
