package service

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/livechat-gateway/gateway/internal/emulator"
	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/upstream"
	"github.com/livechat-gateway/gateway/internal/wire"
)

// ocNewGroup is the create_group request of these tests; its name marks the group in answers.
const ocNewGroup = `{"name":"ocCreated","agent_priorities":{"owner-a@example.com":"normal"}}`

// ocProxy is an HTTP upstream in front of an in-process emulator: it serves every call with the
// emulator, except create_group, which it hands to write once it has read its body.
type ocProxy struct {
	emu    *emulator.Emulator
	srv    *httptest.Server
	writes atomic.Int64 // create_group calls received
	// write answers a create_group, whose body has been read; forward sends the write to the
	// emulator (applies it) and returns the emulator's status.
	write func(w http.ResponseWriter, forward func() int)
}

func ocNewProxy(t *testing.T, write func(w http.ResponseWriter, forward func() int)) *ocProxy {
	t.Helper()
	e, err := emulator.New()
	if err != nil {
		t.Fatal(err)
	}
	p := &ocProxy{emu: e, write: write}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if path.Base(r.URL.Path) != "create_group" {
			e.ServeHTTP(w, r)
			return
		}
		p.writes.Add(1)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("the proxy could not read the write's body: %v", err)
			return
		}
		forward := func() int {
			req := r.Clone(r.Context())
			req.Body = io.NopCloser(bytes.NewReader(body))
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			return rec.Code
		}
		p.write(w, forward)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// ocText returns a response's text, for checking what it holds.
func ocText(m proto.Message) string { return fmt.Sprint(m) }

// ocWarm reads list_groups of token twice, and fails the test unless the second read is a hit:
// the entry that a write must retire.
func ocWarm(t *testing.T, r *rig, token string) {
	t.Helper()
	if got := r.must(token, "list_groups", `{}`); got.cache() != cacheMiss {
		t.Fatalf("first list_groups: x-cache %q, want miss", got.cache())
	}
	r.settle()
	if got := r.must(token, "list_groups", `{}`); got.cache() != cacheHit {
		t.Fatalf("second list_groups: x-cache %q, want hit", got.cache())
	}
}

// ocCheckUnknown checks that err is a status of code whose message is msg followed by the note
// (any message, when msg is ""), with ErrorInfo metadata write_outcome=unknown. The message is
// what a REST client reads as the error body's message.
func ocCheckUnknown(t *testing.T, err error, code codes.Code, msg string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Errorf("write = %v, want code %v", err, code)
	}
	if got := ErrorData(st)["write_outcome"]; got != "unknown" {
		t.Errorf("write = %v: write_outcome %q, want unknown (metadata %v)", err, got, ErrorData(st))
	}
	if want := msg + writeOutcomeNote; msg == "" && !strings.HasSuffix(st.Message(), want) || msg != "" && st.Message() != want {
		t.Errorf("write message = %q, want %q", st.Message(), want)
	}
}

// ocCheckDefinite checks that err is a status of code that says nothing of an unknown outcome.
func ocCheckDefinite(t *testing.T, err error, code codes.Code) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Errorf("write = %v, want code %v", err, code)
	}
	if got, ok := ErrorData(st)["write_outcome"]; ok {
		t.Errorf("write = %v: write_outcome %q, want none", err, got)
	}
	if strings.Contains(st.Message(), writeOutcomeNote) {
		t.Errorf("write message = %q, want no note of an unknown outcome", st.Message())
	}
}

// TestWriteOutcomeUnknown is the acceptance test of a write whose answer never came: its
// connection is reset after the upstream read it, whether or not the upstream applied it; or it
// is answered with something that is no answer. Each is sent once, reported with
// write_outcome=unknown, and bumps the generation, so that the next read is not served from
// before it.
func TestWriteOutcomeUnknown(t *testing.T) {
	for _, tc := range []struct {
		name    string
		applied bool
		write   func(t *testing.T, w http.ResponseWriter, forward func() int)
		code    codes.Code
		msg     string
	}{
		{
			name: "reset, not applied",
			write: func(t *testing.T, w http.ResponseWriter, forward func() int) {
				testutil.ResetConnection(t, w)
			},
			code: codes.Unavailable, msg: "upstream unavailable",
		},
		{
			name: "reset, applied", applied: true,
			write: func(t *testing.T, w http.ResponseWriter, forward func() int) {
				if got := forward(); got != http.StatusOK {
					t.Errorf("the emulator answered the forwarded write %d", got)
				}
				testutil.ResetConnection(t, w)
			},
			code: codes.Unavailable, msg: "upstream unavailable",
		},
		{
			name: "a 200 that is not JSON, applied", applied: true,
			write: func(t *testing.T, w http.ResponseWriter, forward func() int) {
				forward()
				w.WriteHeader(http.StatusOK)
				w.Write([]byte("<html>ok</html>"))
			},
			code: codes.Unavailable, msg: "upstream unavailable (it answered without a valid answer)",
		},
		{
			name: "a 502 without an error body, applied", applied: true,
			write: func(t *testing.T, w http.ResponseWriter, forward func() int) {
				forward()
				w.WriteHeader(http.StatusBadGateway)
				w.Write([]byte("<html>Bad gateway</html>"))
			},
			code: codes.Unavailable, msg: "upstream unavailable (HTTP 502)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ocNewProxy(t, func(w http.ResponseWriter, forward func() int) { tc.write(t, w, forward) })
			store := newFaultyStore()
			r := newRig(t, rigOptions{upstreamURL: p.srv.URL, store: store})
			ocWarm(t, r, ownerA)
			bumps := store.count("Bump")

			res := r.call(t.Context(), ownerA, "create_group", ocNewGroup)
			ocCheckUnknown(t, res.err, tc.code, tc.msg)
			if n := p.writes.Load(); n != 1 {
				t.Errorf("the upstream got the write %d times, want once", n)
			}
			if n, want := p.emu.Calls()["create_group"], map[bool]int64{false: 0, true: 1}[tc.applied]; n != want {
				t.Errorf("the emulator got the write %d times, want %d", n, want)
			}
			if n := store.count("Bump"); n != bumps+1 {
				t.Errorf("the write bumped the generation %d times, want once", n-bumps)
			}

			got := r.must(ownerA, "list_groups", `{}`)
			if got.cache() != cacheMiss {
				t.Errorf("list_groups after the write: x-cache %q, want miss", got.cache())
			}
			if n := p.emu.Calls()["list_groups"]; n != 2 {
				t.Errorf("the emulator got %d list_groups, want 2: the read after the write must reach it", n)
			}
			if has := strings.Contains(ocText(got.resp), "ocCreated"); has != tc.applied {
				t.Errorf("list_groups after the write holds the new group: %v, want %v:\n%v", has, tc.applied, got.resp)
			}
		})
	}
}

// TestWriteAnswered5xx checks a write the upstream failed while handling it (500 internal): the
// status keeps its code, INTERNAL, says the outcome is unknown, and the generation is bumped.
// The write is not sent again.
func TestWriteAnswered5xx(t *testing.T) {
	r := newRig(t, rigOptions{})
	ocWarm(t, r, ownerA)
	if err := r.emu.SetFault("create_group", emulator.Fault{Error: "internal", Times: 1}); err != nil {
		t.Fatal(err)
	}
	res := r.call(t.Context(), ownerA, "create_group", ocNewGroup)
	ocCheckUnknown(t, res.err, codes.Internal, "")
	if st := status.Convert(res.err); errorInfo(st).GetReason() != "internal" || ErrorData(st)["http_status"] != "500" {
		t.Errorf("write = %v: ErrorInfo %v, want reason internal, http_status 500", res.err, errorInfo(st))
	}
	if n := r.calls("create_group"); n != 1 {
		t.Errorf("the emulator got the write %d times, want once", n)
	}
	if got := r.must(ownerA, "list_groups", `{}`); got.cache() != cacheMiss {
		t.Errorf("list_groups after the write: x-cache %q, want miss", got.cache())
	}
	if n := r.calls("list_groups"); n != 2 {
		t.Errorf("the emulator got %d list_groups, want 2", n)
	}
}

// TestWriteRefused checks writes the upstream refused with a 4xx: the outcome is known (nothing
// was done), so the status says nothing of it, and the cached reads stay hits.
func TestWriteRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		token string
		fault string // "" for the emulator's own refusal
		code  codes.Code
	}{
		{"validation", ownerA, "validation", codes.InvalidArgument},
		{"authorization", ownerA, "authorization", codes.PermissionDenied},
		{"not_found", ownerA, "not_found", codes.NotFound},
		{"too_many_requests", ownerA, "too_many_requests", codes.ResourceExhausted},
		{"misdirected_request", ownerA, "misdirected_request", codes.FailedPrecondition},
		{"read-only token", readonlyA, "", codes.PermissionDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, rigOptions{})
			ocWarm(t, r, tc.token)
			if tc.fault != "" {
				if err := r.emu.SetFault("create_group", emulator.Fault{Error: tc.fault, Times: 1}); err != nil {
					t.Fatal(err)
				}
			}
			res := r.call(t.Context(), tc.token, "create_group", ocNewGroup)
			ocCheckDefinite(t, res.err, tc.code)
			if n := r.calls("create_group"); n != 1 {
				t.Errorf("the emulator got the write %d times, want once", n)
			}
			if got := r.must(tc.token, "list_groups", `{}`); got.cache() != cacheHit {
				t.Errorf("list_groups after a refused write: x-cache %q, want hit", got.cache())
			}
			if n := r.calls("list_groups"); n != 1 {
				t.Errorf("the emulator got %d list_groups, want 1", n)
			}
		})
	}
}

// TestWriteDeadline checks a write whose deadline passes after it reached the upstream, which
// holds it: DEADLINE_EXCEEDED with write_outcome=unknown, and the generation bumped. The deadline
// is the upstream client's Timeout, or the caller's. The caller's is given to Call directly: over
// gRPC, the client's own timer would race the server's status.
func TestWriteDeadline(t *testing.T) {
	const msg = "deadline exceeded before the upstream answered"
	for _, tc := range []struct {
		name   string
		o      rigOptions
		caller time.Duration // the caller's deadline, 0 for a call over gRPC without one
	}{
		{"upstream timeout", rigOptions{upstreamOpts: func(o *upstream.Options) { o.Timeout = 100 * time.Millisecond }}, 0},
		{"caller deadline", rigOptions{}, 100 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.o)
			ocWarm(t, r, ownerA)
			// Far beyond the deadline: only the deadline ends the write.
			if err := r.emu.SetFault("create_group", emulator.Fault{Latency: time.Minute, Times: 1}); err != nil {
				t.Fatal(err)
			}
			var err error
			if tc.caller == 0 {
				err = r.call(t.Context(), ownerA, "create_group", ocNewGroup).err
			} else {
				ctx, cancel := context.WithTimeout(withToken(ownerA), tc.caller)
				defer cancel()
				a := testutil.Action(t, "create_group")
				_, err = r.svc.Call(ctx, a, mustRequest(t, a, ocNewGroup))
			}
			ocCheckUnknown(t, err, codes.DeadlineExceeded, msg)
			if n := r.calls("create_group"); n != 1 {
				t.Errorf("the emulator got the write %d times, want once", n)
			}
			if got := r.must(ownerA, "list_groups", `{}`); got.cache() != cacheMiss {
				t.Errorf("list_groups after the write: x-cache %q, want miss", got.cache())
			}
		})
	}
}

// ocScripted is an upstream that answers each action with the body set for it, and counts the
// calls.
type ocScripted struct {
	mu    sync.Mutex
	body  map[string]string
	calls map[string]int
}

func (u *ocScripted) Do(_ context.Context, r *upstream.Request) (*upstream.Response, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.calls[r.Action]++
	return &upstream.Response{Body: []byte(u.body[r.Action]), Region: "dal"}, nil
}

func (u *ocScripted) set(action, body string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.body[action] = body
}

func (u *ocScripted) count(action string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls[action]
}

// ocMarker is in every bad answer that has room for it: the log must never hold it.
const ocMarker = "ocMarker"

// ocReads are the ten cached reads: a request, a good answer, and the answers of the wrong
// shape besides those every read refuses (empty, null, not JSON, a string).
var ocReads = []struct {
	name, req, good string
	wrongShape      []string
}{
	{"get_agent", `{"id":"a@example.com"}`, `{"id":"a@example.com","name":"A"}`,
		[]string{`["` + ocMarker + `"]`, `{"name":"` + ocMarker + `"}`, `{"id":null,"name":"` + ocMarker + `"}`}},
	{"list_agents", `{}`, `[{"id":"a@example.com","name":"A"}]`,
		[]string{`{"agents":["` + ocMarker + `"]}`}},
	{"get_bot", `{"bot_agent_id":"b"}`, `{"bot_agent":{"id":"b","name":"B"}}`,
		[]string{`["` + ocMarker + `"]`, `{"id":"b","name":"` + ocMarker + `"}`}},
	{"list_bots", `{}`, `{"bot_agents":[{"id":"b","name":"B"}]}`,
		[]string{`[{"id":"` + ocMarker + `"}]`, `{"bots":["` + ocMarker + `"]}`, `{"bot_agents":null,"x":"` + ocMarker + `"}`}},
	{"get_group", `{"id":1}`, `{"id":1,"name":"G"}`,
		[]string{`[{"id":1,"name":"` + ocMarker + `"}]`, `{"name":"` + ocMarker + `"}`}},
	{"list_groups", `{}`, `[{"id":0,"name":"General"}]`,
		[]string{`{"groups":[{"id":0,"name":"` + ocMarker + `"}]}`}},
	{"list_registered_properties", `{}`, `{"ns":{"p":{"type":"string","description":"d"}}}`,
		[]string{`["` + ocMarker + `"]`}},
	{"list_license_properties", `{}`, `{"ns":{"p":"v"}}`,
		[]string{`["` + ocMarker + `"]`}},
	{"list_group_properties", `{"group_id":1}`, `{"ns":{"p":"v"}}`,
		[]string{`["` + ocMarker + `"]`}},
	{"list_registered_webhooks", `{}`, `[{"webhook_id":"w","url":"https://example.com/hook"}]`,
		[]string{`{"webhooks":["` + ocMarker + `"]}`}},
}

// ocLogRecord returns the first JSON log record with message msg and, unless name is "", action
// name.
func ocLogRecord(logs, msg, name string) map[string]any {
	for line := range strings.Lines(logs) {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		if rec["msg"] == msg && (name == "" || rec["action"] == name) {
			return rec
		}
	}
	return nil
}

// TestBadAnswersNeverCached is the acceptance test of 200s that are no answer: for each cached
// read, an empty body, null, text that is not JSON, or a value of the wrong shape is UNAVAILABLE,
// logged with its size but not its text, and not cached: once the upstream answers well again,
// the next read reaches it, and the one after is a hit.
func TestBadAnswersNeverCached(t *testing.T) {
	const warning = "upstream answered 200 without a valid answer"
	for _, rd := range ocReads {
		bad := append([]string{"", " \n", "null", "not json " + ocMarker, `"a string ` + ocMarker + `"`, "42"}, rd.wrongShape...)
		for i, body := range bad {
			t.Run(fmt.Sprintf("%s/%d", rd.name, i), func(t *testing.T) {
				up := &ocScripted{body: map[string]string{rd.name: body}, calls: map[string]int{}}
				r := newRig(t, rigOptions{up: up})

				res := r.call(t.Context(), ownerA, rd.name, rd.req)
				st := status.Convert(res.err)
				if st.Code() != codes.Unavailable || st.Message() != "upstream unavailable (it answered without a valid answer)" {
					t.Fatalf("%s answered %q: %v, want UNAVAILABLE", rd.name, body, res.err)
				}
				if _, ok := ErrorData(st)["write_outcome"]; ok {
					t.Errorf("a read's status has write_outcome: %v", ErrorData(st))
				}
				logs := r.logs.String()
				rec := ocLogRecord(logs, warning, rd.name)
				if rec == nil {
					t.Errorf("no warning %q for %s in the log:\n%s", warning, rd.name, logs)
				} else if n, _ := rec["body_bytes"].(float64); int(n) != len(body) {
					t.Errorf("the warning's body_bytes = %v, want %d", rec["body_bytes"], len(body))
				}
				if strings.Contains(logs, ocMarker) {
					t.Errorf("the log holds the answer's text:\n%s", logs)
				}
				r.settle()

				up.set(rd.name, rd.good)
				got := r.must(ownerA, rd.name, rd.req)
				if got.cache() != cacheMiss || up.count(rd.name) != 2 {
					t.Errorf("the read after the bad answer: x-cache %q with %d upstream calls, want a miss and 2", got.cache(), up.count(rd.name))
				}
				a := testutil.Action(t, rd.name)
				want := a.NewResponse()
				if err := wire.DecodeResponse(a, []byte(rd.good), want, wire.LenientUnmarshalOptions()); err != nil {
					t.Fatal(err)
				}
				if !proto.Equal(got.resp, want) {
					t.Errorf("the read after the bad answer = %v, want %v", got.resp, want)
				}
				r.settle()
				if got := r.must(ownerA, rd.name, rd.req); got.cache() != cacheHit || up.count(rd.name) != 2 {
					t.Errorf("the read after that: x-cache %q with %d upstream calls, want a hit and 2", got.cache(), up.count(rd.name))
				}
			})
		}
	}
}

// TestUndecodableAnswersNeverCached checks 200s of the right shape at the top level whose values
// cannot be decoded: UNAVAILABLE, never cached, logged with their size. Their text must not be
// logged either, but it is today (see the skip below).
func TestUndecodableAnswersNeverCached(t *testing.T) {
	const warning = "upstream answered 200 without a valid answer"
	for _, tc := range []struct{ name, req, bad, good string }{
		{"get_agent", `{"id":"a@example.com"}`, `{"id":"a@example.com","max_chats_count":"` + ocMarker + `"}`, `{"id":"a@example.com"}`},
		{"list_bots", `{}`, `{"bot_agents":"` + ocMarker + `"}`, `{"bot_agents":[]}`},
		{"list_groups", `{}`, `[{"id":"` + ocMarker + `"}]`, `[]`},
		{"list_license_properties", `{}`, `{"ns":["` + ocMarker + `"]}`, `{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := &ocScripted{body: map[string]string{tc.name: tc.bad}, calls: map[string]int{}}
			r := newRig(t, rigOptions{up: up})
			if err := r.call(t.Context(), ownerA, tc.name, tc.req).err; status.Code(err) != codes.Unavailable {
				t.Fatalf("%s answered %s: %v, want UNAVAILABLE", tc.name, tc.bad, err)
			}
			r.settle()
			up.set(tc.name, tc.good)
			if got := r.must(ownerA, tc.name, tc.req); got.cache() != cacheMiss || up.count(tc.name) != 2 {
				t.Errorf("the read after the bad answer: x-cache %q with %d upstream calls, want a miss and 2", got.cache(), up.count(tc.name))
			}
			logs := r.logs.String()
			rec := ocLogRecord(logs, warning, tc.name)
			if rec == nil {
				t.Fatalf("no warning %q in the log:\n%s", warning, logs)
			}
			if n, _ := rec["body_bytes"].(float64); int(n) != len(tc.bad) {
				t.Errorf("the warning's body_bytes = %v, want %d", rec["body_bytes"], len(tc.bad))
			}
			if strings.Contains(logs, ocMarker) {
				t.Errorf("the log holds the answer's text: %v", rec)
			}
		})
	}
}

// TestEdgeAnswersCached checks that answers at the edge of the shapes are answers: empty lists
// and maps, and group 0, are served and cached.
func TestEdgeAnswersCached(t *testing.T) {
	for _, tc := range []struct{ name, req, body string }{
		{"list_agents", `{}`, `[]`},
		{"list_groups", `{}`, `[]`},
		{"list_registered_webhooks", `{}`, ` [] `},
		{"list_registered_properties", `{}`, `{}`},
		{"list_license_properties", `{}`, `{}`},
		{"list_group_properties", `{"group_id":0}`, `{}`},
		{"list_bots", `{}`, `{"bot_agents":[]}`},
		{"get_group", `{"id":0}`, `{"id":0,"name":"General"}`},
		{"get_agent", `{"id":"a@example.com"}`, `{"id":"a@example.com"}`},
		{"get_bot", `{"bot_agent_id":"b"}`, `{"bot_agent":{}}`},
	} {
		t.Run(tc.name+" "+tc.body, func(t *testing.T) {
			up := &ocScripted{body: map[string]string{tc.name: tc.body}, calls: map[string]int{}}
			r := newRig(t, rigOptions{up: up})
			if got := r.must(ownerA, tc.name, tc.req); got.cache() != cacheMiss {
				t.Errorf("first read: x-cache %q, want miss", got.cache())
			}
			r.settle()
			if got := r.must(ownerA, tc.name, tc.req); got.cache() != cacheHit || up.count(tc.name) != 1 {
				t.Errorf("second read: x-cache %q with %d upstream calls, want a hit and 1", got.cache(), up.count(tc.name))
			}
		})
	}
}

// ocPanicky is an upstream whose calls, while panicking is set, report that they have started,
// wait for release, and panic; otherwise it answers list_groups.
type ocPanicky struct {
	panicking atomic.Bool
	entered   chan struct{}
	release   chan struct{}
	calls     atomic.Int64
}

func (u *ocPanicky) Do(ctx context.Context, r *upstream.Request) (*upstream.Response, error) {
	u.calls.Add(1)
	if u.panicking.Load() {
		u.entered <- struct{}{}
		<-u.release
		panic("ocBoom")
	}
	return &upstream.Response{Body: []byte(`[{"id":0,"name":"General"}]`)}, nil
}

// TestPanicInSharedCall is the acceptance test of a panic in the upstream path of a coalesced
// read: every waiter gets INTERNAL, the panic is logged with its stack, the upstream was called
// once, the process lives, and the next call works. All readers have joined the one call when
// the flight group counts them all waiting.
func TestPanicInSharedCall(t *testing.T) {
	const n = 20
	up := &ocPanicky{entered: make(chan struct{}, 1), release: make(chan struct{})}
	up.panicking.Store(true)
	r := newRig(t, rigOptions{up: up})

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	results := make(chan result, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { results <- r.call(ctx, ownerA, "list_groups", `{}`) })
	}
	select {
	case <-up.entered:
	case <-ctx.Done():
		t.Fatal("the upstream was never called")
	}
	testutil.Eventually(t, fmt.Sprintf("%d readers waiting for the shared call", n), func() bool { return r.svc.reads.flights.Waiting() == n })
	close(up.release)
	wg.Wait()
	close(results)

	for res := range results {
		if st := status.Convert(res.err); st.Code() != codes.Internal || st.Message() != "internal error" {
			t.Errorf("a waiter got %v, want INTERNAL internal error", res.err)
		}
	}
	if got := up.calls.Load(); got != 1 {
		t.Errorf("the upstream was called %d times, want once", got)
	}
	if got := int64(testutil.Metric(t, r.metrics, "gateway_cache_reads_total", "action", "list_groups", "outcome", cacheMiss)); got != n {
		t.Errorf("misses counted = %d, want %d", got, n)
	}
	logs := r.logs.String()
	rec := ocLogRecord(logs, "panic in a shared upstream call", "")
	if rec == nil {
		t.Fatalf("no panic in the log:\n%s", logs)
	}
	if rec["panic"] != "ocBoom" || !strings.Contains(fmt.Sprint(rec["stack"]), "(*ocPanicky).Do") {
		t.Errorf("the panic's log record = %v, want the value and a stack through the upstream", rec)
	}
	if c := strings.Count(logs, `"msg":"panic in a shared upstream call"`); c != 1 {
		t.Errorf("the panic was logged %d times, want once", c)
	}

	up.panicking.Store(false)
	got := r.must(ownerA, "list_groups", `{}`)
	if got.cache() != cacheMiss || !strings.Contains(ocText(got.resp), "General") {
		t.Errorf("the call after the panic: x-cache %q, %v; want a miss with the answer", got.cache(), got.resp)
	}
	r.settle()
	if got := r.must(ownerA, "list_groups", `{}`); got.cache() != cacheHit || up.calls.Load() != 2 {
		t.Errorf("the call after that: x-cache %q with %d upstream calls, want a hit and 2", got.cache(), up.calls.Load())
	}
}
