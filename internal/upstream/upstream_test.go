package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/livechat-gateway/gateway/internal/emulator"
)

func TestNewDefaults(t *testing.T) {
	c, err := New(Options{})
	if err != nil {
		t.Fatalf("New(Options{}) = %v", err)
	}
	if c.base != DefaultBaseURL || c.timeout != DefaultTimeout || c.maxAttempts != DefaultMaxAttempts || c.baseBackoff != DefaultBaseBackoff {
		t.Errorf("New(Options{}) = base %q timeout %v attempts %d backoff %v, want the defaults", c.base, c.timeout, c.maxAttempts, c.baseBackoff)
	}
	tr, ok := c.hc.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("default transport is %T, want *http.Transport", c.hc.Transport)
	}
	if tr.MaxIdleConnsPerHost < 16 || !tr.ForceAttemptHTTP2 || tr.DialContext == nil || tr.TLSHandshakeTimeout == 0 {
		t.Errorf("default transport is not tuned: %+v", tr)
	}
	if c.log == nil {
		t.Error("no default logger")
	}

	hc := &http.Client{}
	c, err = New(Options{BaseURL: "http://localhost:8080/prefix/", Timeout: time.Second, MaxAttempts: 5, BaseBackoff: time.Millisecond, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	if c.base != "http://localhost:8080/prefix" || c.timeout != time.Second || c.maxAttempts != 5 || c.baseBackoff != time.Millisecond || c.hc != hc {
		t.Errorf("New kept base %q timeout %v attempts %d backoff %v client %p, want the options", c.base, c.timeout, c.maxAttempts, c.baseBackoff, c.hc)
	}
}

func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want []string // in the error
	}{
		{"no scheme", Options{BaseURL: "api.livechatinc.com"}, []string{"BaseURL"}},
		{"ftp", Options{BaseURL: "ftp://api.livechatinc.com"}, []string{"BaseURL"}},
		{"no host", Options{BaseURL: "https://"}, []string{"BaseURL"}},
		{"opaque", Options{BaseURL: "http:api"}, []string{"BaseURL"}},
		{"query", Options{BaseURL: "https://api.livechatinc.com/?a=1"}, []string{"BaseURL"}},
		{"fragment", Options{BaseURL: "https://api.livechatinc.com/#x"}, []string{"BaseURL"}},
		{"unparsable", Options{BaseURL: "http://a b\x7f"}, []string{"BaseURL"}},
		{"negative timeout", Options{Timeout: -time.Second}, []string{"Timeout"}},
		{"negative attempts", Options{MaxAttempts: -1}, []string{"MaxAttempts"}},
		{"negative backoff", Options{BaseBackoff: -1}, []string{"BaseBackoff"}},
		{"all at once", Options{BaseURL: "x", Timeout: -1, MaxAttempts: -1, BaseBackoff: -1}, []string{"BaseURL", "Timeout", "MaxAttempts", "BaseBackoff"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.o)
			if err == nil {
				t.Fatalf("New(%+v) = %v, nil, want an error", tc.o, c)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New(%+v) = %v, want it to name %s", tc.o, err, w)
				}
			}
		})
	}
}

// TestDo covers successful calls against the emulator: the body, the lifecycle headers, the
// region and the one call made.
func TestDo(t *testing.T) {
	e, srv := newEmulator(t)
	c, _ := newClient(t, Options{BaseURL: srv.URL})
	for _, tc := range []struct {
		name string
		req  Request
		want string // in the body
	}{
		{"read", Request{Action: "get_agent", Read: true, Body: []byte(getAgentA), Authorization: authA}, `"owner-a@example.com"`},
		{"write", Request{Action: "create_group", Body: []byte(createGroupA), Authorization: authA}, `"id"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.ResetCalls()
			resp, err := c.Do(t.Context(), &tc.req)
			if err != nil {
				t.Fatalf("Do(%s) = %v", tc.req.Action, err)
			}
			if !strings.Contains(string(resp.Body), tc.want) || !json.Valid(resp.Body) {
				t.Errorf("Do(%s) body = %s, want JSON with %s", tc.req.Action, resp.Body, tc.want)
			}
			want := Response{Body: resp.Body, Deprecation: emulator.DefaultDeprecation, Region: "dal", Attempts: 1}
			if diff := cmp.Diff(want, *resp); diff != "" {
				t.Errorf("Do(%s) response (-want +got):\n%s", tc.req.Action, diff)
			}
			if n := calls(e, tc.req.Action); n != 1 {
				t.Errorf("emulator got %d calls of %s, want 1", n, tc.req.Action)
			}
		})
	}
}

// TestDoConcurrent shares one client among goroutines, for the race detector.
func TestDoConcurrent(t *testing.T) {
	e, srv := newEmulator(t)
	c, _ := newClient(t, Options{BaseURL: srv.URL, MaxPerCredential: 20})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := c.Do(t.Context(), &Request{Action: "get_agent", Read: true, Body: []byte(getAgentA), Authorization: authA})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Do = %v", err)
		}
	}
	if n := calls(e, "get_agent"); n != 20 {
		t.Errorf("emulator got %d calls, want 20", n)
	}
}

// TestDoSendsRequest checks what one attempt puts on the wire: the method, path, body, content
// type, Authorization unchanged, and the region.
func TestDoSendsRequest(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, `{}`) })
	c, _ := newClient(t, Options{BaseURL: f.srv.URL + "/prefix/"})
	for _, tc := range []struct {
		name, auth, region string
		wantRegion         string
	}{
		{"dal token", "Bearer dal:abc", "", "dal"},
		{"fra token", "Bearer fra:abc", "", "fra"},
		{"lowercase scheme, uppercase prefix", "bearer FRA:abc", "", "fra"},
		{"unknown prefix", "Bearer xyz:abc", "", "dal"},
		{"no prefix", "Bearer abc", "", "dal"},
		{"not bearer", "Basic fra:abc", "", "dal"},
		{"no token", "", "", "dal"},
		{"region wins over prefix", "Bearer fra:abc", "dal", "dal"},
		{"region without token", "", "fra", "fra"},
		{"region normalized", "Bearer dal:abc", " FRA ", "fra"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.mu.Lock()
			f.reqs, f.body = nil, nil
			f.mu.Unlock()
			body := `{"id":"x@example.com"}`
			resp, err := c.Do(t.Context(), &Request{Action: "get_agent", Read: true, Body: []byte(body), Authorization: tc.auth, Region: tc.region})
			if err != nil {
				t.Fatalf("Do = %v", err)
			}
			if resp.Region != tc.wantRegion {
				t.Errorf("Do(auth %q, region %q).Region = %q, want %q", tc.auth, tc.region, resp.Region, tc.wantRegion)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.reqs) != 1 {
				t.Fatalf("upstream got %d calls, want 1", len(f.reqs))
			}
			r := f.reqs[0]
			if r.Method != http.MethodPost || r.URL.Path != "/prefix/v3.2/configuration/action/get_agent" {
				t.Errorf("request = %s %s, want POST /prefix/v3.2/configuration/action/get_agent", r.Method, r.URL.Path)
			}
			if got := r.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", got)
			}
			if got, ok := r.Header["Authorization"]; tc.auth == "" && ok || tc.auth != "" && (len(got) != 1 || got[0] != tc.auth) {
				t.Errorf("Authorization = %q, want %q sent unchanged", got, tc.auth)
			}
			if got := r.Header.Get("X-Region"); got != tc.wantRegion {
				t.Errorf("X-Region = %q, want %q", got, tc.wantRegion)
			}
			if string(f.body[0]) != body {
				t.Errorf("body = %s, want %s as is", f.body[0], body)
			}
		})
	}
}

// TestDoRefusesBadRequests checks that requests that cannot be sent are refused before any call,
// with an error that is not ErrUnavailable and does not quote the Authorization.
func TestDoRefusesBadRequests(t *testing.T) {
	e, srv := newEmulator(t)
	c, _ := newClient(t, Options{BaseURL: srv.URL})
	for _, tc := range []struct {
		name string
		req  *Request
	}{
		{"nil", nil},
		{"no action", &Request{Authorization: authA}},
		{"action with a slash", &Request{Action: "get_agent/../x", Authorization: authA}},
		{"action with a query", &Request{Action: "get_agent?x=1", Authorization: authA}},
		{"region with a newline", &Request{Action: "get_agent", Region: "dal\r\nX-Evil: 1", Authorization: authA}},
		{"region with a space", &Request{Action: "get_agent", Region: "d al", Authorization: authA}},
		{"authorization with a newline", &Request{Action: "get_agent", Authorization: authSecret + "\r\nX-Evil: 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.Do(t.Context(), tc.req)
			if err == nil {
				t.Fatalf("Do = %+v, nil, want an error", resp)
			}
			if errors.Is(err, ErrUnavailable) {
				t.Errorf("Do = %v, which is ErrUnavailable; want a plain error", err)
			}
			checkNoSecret(t, "the error", err.Error())
		})
	}
	if n := totalCalls(e); n != 0 {
		t.Errorf("emulator got %d calls, want 0", n)
	}
}

// TestLifecycleHeaders checks that Legacy and Deprecation reach Response and Error. The emulator
// sends only Deprecation, so a fake sends both.
func TestLifecycleHeaders(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Legacy", "2026-01-31")
		w.Header().Set("Deprecation", "2027-06-30")
		if strings.HasSuffix(r.URL.Path, "/get_agent") {
			writeJSON(w, 200, `{"id":"a"}`)
			return
		}
		writeJSON(w, 404, `{"error":{"type":"not_found","message":"Not found"}}`)
	})
	c, _ := newClient(t, Options{BaseURL: f.srv.URL})
	resp, err := c.Do(t.Context(), &Request{Action: "get_agent", Read: true, Body: []byte(`{}`), Authorization: authSecret})
	if err != nil {
		t.Fatalf("Do(get_agent) = %v", err)
	}
	if resp.Legacy != "2026-01-31" || resp.Deprecation != "2027-06-30" {
		t.Errorf("Do(get_agent) Legacy, Deprecation = %q, %q, want 2026-01-31, 2027-06-30", resp.Legacy, resp.Deprecation)
	}
	_, err = c.Do(t.Context(), &Request{Action: "get_bot", Read: true, Body: []byte(`{}`), Authorization: authSecret})
	var ue *Error
	if !errors.As(err, &ue) {
		t.Fatalf("Do(get_bot) = %v, want *Error", err)
	}
	if ue.Legacy != "2026-01-31" || ue.Deprecation != "2027-06-30" {
		t.Errorf("Do(get_bot) error Legacy, Deprecation = %q, %q, want 2026-01-31, 2027-06-30", ue.Legacy, ue.Deprecation)
	}
}

// TestRegions runs the emulator's tokens with and without the right region: a fra token works
// without X-Region because of its prefix, and a wrong explicit region is repaired with one more
// call, for reads and writes alike.
func TestRegions(t *testing.T) {
	e, srv := newEmulator(t)
	c, _ := newClient(t, Options{BaseURL: srv.URL})
	for _, tc := range []struct {
		name       string
		req        Request
		wantRegion string
		wantCalls  int
	}{
		{"fra read by prefix", Request{Action: "get_agent", Read: true, Body: []byte(getAgentF), Authorization: authF}, "fra", 1},
		{"fra write by prefix", Request{Action: "create_group", Body: []byte(createGroupF), Authorization: authF}, "fra", 1},
		{"fra read with fra", Request{Action: "get_agent", Read: true, Body: []byte(getAgentF), Authorization: authF, Region: "fra"}, "fra", 1},
		{"dal read by default", Request{Action: "get_agent", Read: true, Body: []byte(getAgentA), Authorization: authA}, "dal", 1},
		{"fra read sent to dal", Request{Action: "get_agent", Read: true, Body: []byte(getAgentF), Authorization: authF, Region: "dal"}, "fra", 2},
		{"fra write sent to dal", Request{Action: "create_group", Body: []byte(createGroupF), Authorization: authF, Region: "dal"}, "fra", 2},
		{"dal read sent to fra", Request{Action: "get_agent", Read: true, Body: []byte(getAgentA), Authorization: authA, Region: "fra"}, "dal", 2},
		{"dal write sent to fra", Request{Action: "create_group", Body: []byte(createGroupA), Authorization: authA, Region: "fra"}, "dal", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.ResetCalls()
			resp, err := c.Do(t.Context(), &tc.req)
			if err != nil {
				t.Fatalf("Do = %v", err)
			}
			if resp.Region != tc.wantRegion || resp.Attempts != tc.wantCalls {
				t.Errorf("Do region, attempts = %s, %d, want %s, %d", resp.Region, resp.Attempts, tc.wantRegion, tc.wantCalls)
			}
			if n := calls(e, tc.req.Action); n != int64(tc.wantCalls) {
				t.Errorf("emulator got %d calls, want %d", n, tc.wantCalls)
			}
		})
	}
}

// TestMisdirectedOnce checks that a misdirected_request is followed at most once, and only to
// a region that differs.
func TestMisdirectedOnce(t *testing.T) {
	other := map[string]string{"dal": "fra", "fra": "dal"}
	for _, tc := range []struct {
		name        string
		data        func(region string) string // error.data for a call sent to region
		wantRegions []string
	}{
		{"always the other region", func(r string) string { return fmt.Sprintf(`{"region":%q}`, other[r]) }, []string{"dal", "fra"}},
		{"the same region", func(r string) string { return fmt.Sprintf(`{"region":%q}`, r) }, []string{"dal"}},
		{"no data", func(string) string { return `null` }, []string{"dal"}},
		{"no region", func(string) string { return `{}` }, []string{"dal"}},
		{"region not a string", func(string) string { return `{"region":5}` }, []string{"dal"}},
		{"region not a name", func(string) string { return `{"region":"f r a"}` }, []string{"dal"}},
	} {
		for _, read := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/read=%v", tc.name, read), func(t *testing.T) {
				f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
					writeJSON(w, 421, fmt.Sprintf(`{"error":{"type":"misdirected_request","message":"Wrong region","data":%s}}`, tc.data(r.Header.Get("X-Region"))))
				})
				c, _ := newClient(t, Options{BaseURL: f.srv.URL})
				resp, err := c.Do(t.Context(), &Request{Action: "list_groups", Read: read, Body: []byte(`{}`), Authorization: authSecret})
				var ue *Error
				if !errors.As(err, &ue) || ue.Type != "misdirected_request" || ue.Status != 421 {
					t.Fatalf("Do = %+v, %v, want a misdirected_request *Error", resp, err)
				}
				if diff := cmp.Diff(tc.wantRegions, f.regions()); diff != "" {
					t.Errorf("regions called (-want +got):\n%s", diff)
				}
				if want := tc.wantRegions[len(tc.wantRegions)-1]; ue.Region != want {
					t.Errorf("Error.Region = %q, want %q", ue.Region, want)
				}
			})
		}
	}
}

// TestMisdirectedDoesNotUseAttempts checks that the misdirect repair is on top of a read's
// attempts: two 500s, then misdirected, then the right region.
func TestMisdirectedDoesNotUseAttempts(t *testing.T) {
	e, srv := newEmulator(t)
	c, _ := newClient(t, Options{BaseURL: srv.URL})
	if err := e.SetFault("get_agent", emulator.Fault{Error: "internal", Times: 2}); err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(t.Context(), &Request{Action: "get_agent", Read: true, Body: []byte(getAgentF), Authorization: authF, Region: "dal"})
	if err != nil {
		t.Fatalf("Do = %v", err)
	}
	if resp.Attempts != 4 || resp.Region != "fra" || calls(e, "get_agent") != 4 {
		t.Errorf("Do attempts, region = %d, %s with %d calls, want 4, fra with 4", resp.Attempts, resp.Region, calls(e, "get_agent"))
	}
}

// TestMisdirectedThenFailing checks the budget the other way round: misdirected first, then a
// read that fails at the right region still gets its MaxAttempts attempts there.
func TestMisdirectedThenFailing(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Region") != "fra" {
			writeJSON(w, 421, `{"error":{"type":"misdirected_request","message":"Wrong region","data":{"region":"fra"}}}`)
			return
		}
		writeJSON(w, 500, `{"error":{"type":"internal","message":"Internal server error"}}`)
	})
	c, _ := newClient(t, Options{BaseURL: f.srv.URL})
	_, err := c.Do(t.Context(), &Request{Action: "get_agent", Read: true, Body: []byte(`{}`), Authorization: authSecret})
	var ue *Error
	if !errors.As(err, &ue) || ue.Status != 500 || ue.Region != "fra" {
		t.Fatalf("Do = %v, want the *Error 500 from fra", err)
	}
	if diff := cmp.Diff([]string{"dal", "fra", "fra", "fra"}, f.regions()); diff != "" {
		t.Errorf("regions called (-want +got):\n%s", diff)
	}
}

// TestReadRetries checks which failures of a read are retried, against the emulator's faults.
func TestReadRetries(t *testing.T) {
	e, srv := newEmulator(t)
	for _, tc := range []struct {
		name        string
		maxAttempts int
		fault       emulator.Fault
		wantStatus  int // 0: success
		wantCalls   int
	}{
		{"two 500s then success", 0, emulator.Fault{Error: "internal", Times: 2}, 0, 3},
		{"always 500", 0, emulator.Fault{Error: "internal"}, 500, 3},
		{"always 500, 1 attempt", 1, emulator.Fault{Error: "internal"}, 500, 1},
		{"always 500, 5 attempts", 5, emulator.Fault{Error: "internal"}, 500, 5},
		{"409 not retried", 0, emulator.Fault{Error: "transfer_ownership"}, 409, 1},
		{"401 not retried", 0, emulator.Fault{Error: "authentication"}, 401, 1},
		{"403 not retried", 0, emulator.Fault{Error: "authorization"}, 403, 1},
		{"404 not retried", 0, emulator.Fault{Error: "not_found"}, 404, 1},
		{"422 not retried", 0, emulator.Fault{Error: "validation"}, 422, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newClient(t, Options{BaseURL: srv.URL, MaxAttempts: tc.maxAttempts})
			e.ResetCalls()
			e.ClearFaults()
			if err := e.SetFault("get_agent", tc.fault); err != nil {
				t.Fatal(err)
			}
			resp, err := c.Do(t.Context(), &Request{Action: "get_agent", Read: true, Body: []byte(getAgentA), Authorization: authA})
			if tc.wantStatus == 0 {
				if err != nil {
					t.Fatalf("Do = %v, want success", err)
				}
				if resp.Attempts != tc.wantCalls {
					t.Errorf("Do attempts = %d, want %d", resp.Attempts, tc.wantCalls)
				}
			} else {
				var ue *Error
				if !errors.As(err, &ue) || ue.Status != tc.wantStatus || ue.Type != tc.fault.Error {
					t.Fatalf("Do = %+v, %v, want *Error %d %s", resp, err, tc.wantStatus, tc.fault.Error)
				}
			}
			if n := calls(e, "get_agent"); n != int64(tc.wantCalls) {
				t.Errorf("emulator got %d calls, want %d", n, tc.wantCalls)
			}
		})
	}
	e.ClearFaults()
}

// TestReadRetryAfter checks that a throttled read waits the Retry-After (1s from the emulator)
// before its second attempt. Only the lower bound of the wait is checked.
func TestReadRetryAfter(t *testing.T) {
	e, srv := newEmulator(t)
	c, _ := newClient(t, Options{BaseURL: srv.URL})
	if err := e.SetFault("get_agent", emulator.Fault{Error: "too_many_requests", Times: 1}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp, err := c.Do(t.Context(), &Request{Action: "get_agent", Read: true, Body: []byte(getAgentA), Authorization: authA})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("Do = %v", err)
	}
	if resp.Attempts != 2 || calls(e, "get_agent") != 2 {
		t.Errorf("Do attempts = %d with %d calls, want 2", resp.Attempts, calls(e, "get_agent"))
	}
	if elapsed < time.Second {
		t.Errorf("Do took %v, want at least the Retry-After of 1s", elapsed)
	}
}

// TestNoWaitPastDeadline checks that a read does not wait for a retry that would start after
// its deadline, and returns the last answer instead of a bare deadline.
func TestNoWaitPastDeadline(t *testing.T) {
	for _, tc := range []struct {
		name       string
		o          Options
		retryAfter string
		status     int
	}{
		{"Retry-After beyond the deadline", Options{}, "3600", 429},
		{"Retry-After date beyond the deadline", Options{}, time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), 503},
		{"backoff beyond the Timeout", Options{BaseBackoff: time.Hour, Timeout: 5 * time.Second}, "", 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				writeJSON(w, tc.status, `{"error":{"type":"too_many_requests","message":"Too many requests"}}`)
			})
			tc.o.BaseURL = f.srv.URL
			c, _ := newClient(t, tc.o)
			c.jitter = func(d time.Duration) time.Duration { return d } // the longest wait
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			_, err := c.Do(ctx, &Request{Action: "list_groups", Read: true, Body: []byte(`{}`), Authorization: authSecret})
			var ue *Error
			if !errors.As(err, &ue) || ue.Status != tc.status {
				t.Fatalf("Do = %v, want the *Error %d", err, tc.status)
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Do = %v, want no deadline: it should not have waited", err)
			}
			if n := f.hits.Load(); n != 1 {
				t.Errorf("upstream got %d calls, want 1", n)
			}
		})
	}
}

// TestWriteNotResent checks that a write that reached the upstream is never sent again, whatever
// it answered.
func TestWriteNotResent(t *testing.T) {
	e, srv := newEmulator(t)
	c, _ := newClient(t, Options{BaseURL: srv.URL})
	for _, tc := range []struct {
		fault      string
		status     int
		retryAfter time.Duration
	}{
		{"internal", 500, 0},
		{"too_many_requests", 429, time.Second},
		{"transfer_ownership", 409, 0},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			e.ResetCalls()
			if err := e.SetFault("create_group", emulator.Fault{Error: tc.fault}); err != nil {
				t.Fatal(err)
			}
			defer e.ClearFaults()
			_, err := c.Do(t.Context(), &Request{Action: "create_group", Body: []byte(createGroupA), Authorization: authA})
			var ue *Error
			if !errors.As(err, &ue) || ue.Status != tc.status || ue.Type != tc.fault || ue.RetryAfter != tc.retryAfter {
				t.Fatalf("Do = %#v, want *Error %d %s with RetryAfter %v", err, tc.status, tc.fault, tc.retryAfter)
			}
			if n := calls(e, "create_group"); n != 1 {
				t.Errorf("emulator got %d calls, want 1", n)
			}
		})
	}
	t.Run("error rate", func(t *testing.T) {
		e, srv := newEmulator(t, emulator.WithErrorRate(1))
		c, _ := newClient(t, Options{BaseURL: srv.URL})
		_, err := c.Do(t.Context(), &Request{Action: "create_group", Body: []byte(createGroupA), Authorization: authA})
		var ue *Error
		if !errors.As(err, &ue) || ue.Status != 500 {
			t.Fatalf("Do = %v, want *Error 500", err)
		}
		if n := calls(e, "create_group"); n != 1 {
			t.Errorf("emulator got %d calls, want 1", n)
		}
	})
}

// TestConnectionLost checks a connection that the upstream closes without answering: a read is
// retried, a write, which may have been done, is not.
func TestConnectionLost(t *testing.T) {
	for _, tc := range []struct {
		read      bool
		wantCalls int64
	}{{true, 3}, {false, 1}} {
		t.Run(fmt.Sprintf("read=%v", tc.read), func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				conn, _, err := http.NewResponseController(w).Hijack()
				if err != nil {
					t.Errorf("Hijack: %v", err)
					return
				}
				conn.Close()
			})
			c, _ := newClient(t, Options{BaseURL: f.srv.URL})
			_, err := c.Do(t.Context(), &Request{Action: "create_group", Read: tc.read, Body: []byte(`{}`), Authorization: authSecret})
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Do = %v, want ErrUnavailable", err)
			}
			checkNoSecret(t, "the error", err.Error())
			if n := f.hits.Load(); n != tc.wantCalls {
				t.Errorf("upstream got %d calls, want %d", n, tc.wantCalls)
			}
		})
	}
}

// TestConnectionRefused checks an upstream that is down: ErrUnavailable, wrapping the cause,
// after MaxAttempts dials for reads and writes alike, since no write reached it.
func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	for _, read := range []bool{true, false} {
		t.Run(fmt.Sprintf("read=%v", read), func(t *testing.T) {
			d := &countingDialer{}
			c, _ := newClient(t, Options{BaseURL: "http://" + addr, HTTPClient: d.httpClient()})
			_, err := c.Do(t.Context(), &Request{Action: "create_group", Read: read, Body: []byte(`{}`), Authorization: authSecret})
			if !errors.Is(err, ErrUnavailable) || !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("Do = %v, want ErrUnavailable wrapping ECONNREFUSED", err)
			}
			var ue *Error
			if errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Do = %v, want neither *Error nor a deadline", err)
			}
			checkNoSecret(t, "the error", err.Error())
			if n := d.dials.Load(); n != DefaultMaxAttempts {
				t.Errorf("dialed %d times, want %d", n, DefaultMaxAttempts)
			}
		})
	}
	t.Run("default client", func(t *testing.T) {
		c, _ := newClient(t, Options{BaseURL: "http://" + addr})
		_, err := c.Do(t.Context(), &Request{Action: "create_group", Body: []byte(`{}`), Authorization: authSecret})
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Do = %v, want ErrUnavailable", err)
		}
	})
}

// TestDialErrorRetried checks that a call whose connection could not be made is sent again,
// writes included, and reaches the emulator once.
func TestDialErrorRetried(t *testing.T) {
	e, srv := newEmulator(t)
	for _, tc := range []struct {
		name string
		req  Request
	}{
		{"write", Request{Action: "create_group", Body: []byte(createGroupA), Authorization: authA}},
		{"read", Request{Action: "get_agent", Read: true, Body: []byte(getAgentA), Authorization: authA}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.ResetCalls()
			d := &countingDialer{fail: 2}
			c, _ := newClient(t, Options{BaseURL: srv.URL, HTTPClient: d.httpClient()})
			resp, err := c.Do(t.Context(), &tc.req)
			if err != nil {
				t.Fatalf("Do = %v", err)
			}
			if resp.Attempts != 3 || d.dials.Load() != 3 {
				t.Errorf("Do attempts = %d with %d dials, want 3 and 3", resp.Attempts, d.dials.Load())
			}
			if n := calls(e, tc.req.Action); n != 1 {
				t.Errorf("emulator got %d calls, want 1", n)
			}
		})
	}
}

// TestDeadline checks that a deadline ends a slow call with context.DeadlineExceeded, whether it
// is the caller's or the Timeout cap, and that a slow write is not sent again.
func TestDeadline(t *testing.T) {
	const latency = 30 * time.Second // far beyond the deadlines, so only they can end the calls
	e, srv := newEmulator(t)
	for _, tc := range []struct {
		name     string
		timeout  time.Duration // Options.Timeout
		deadline time.Duration // the ctx's, 0 for none
		req      Request
	}{
		{"read, caller deadline", 0, 100 * time.Millisecond, Request{Action: "get_agent", Read: true, Body: []byte(getAgentA), Authorization: authA}},
		{"write, caller deadline", 0, 100 * time.Millisecond, Request{Action: "create_group", Body: []byte(createGroupA), Authorization: authA}},
		{"read, Timeout cap", 100 * time.Millisecond, 0, Request{Action: "get_agent", Read: true, Body: []byte(getAgentA), Authorization: authA}},
		{"write, Timeout cap", 100 * time.Millisecond, 0, Request{Action: "create_group", Body: []byte(createGroupA), Authorization: authA}},
		{"Timeout cap under a longer deadline", 100 * time.Millisecond, time.Minute, Request{Action: "get_agent", Read: true, Body: []byte(getAgentA), Authorization: authA}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.ResetCalls()
			if err := e.SetFault(tc.req.Action, emulator.Fault{Latency: latency}); err != nil {
				t.Fatal(err)
			}
			defer e.ClearFaults()
			c, _ := newClient(t, Options{BaseURL: srv.URL, Timeout: tc.timeout})
			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			start := time.Now()
			_, err := c.Do(ctx, &tc.req)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Do = %v, want context.DeadlineExceeded", err)
			}
			if errors.Is(err, ErrUnavailable) || errors.Is(err, context.Canceled) {
				t.Errorf("Do = %v, want only a deadline", err)
			}
			if elapsed := time.Since(start); elapsed >= latency/3 {
				t.Errorf("Do took %v, want it to end at the deadline, far before the latency %v", elapsed, latency)
			}
			if n := calls(e, tc.req.Action); n != 1 {
				t.Errorf("emulator got %d calls, want 1", n)
			}
		})
	}
}

// TestCanceled checks that a caller's cancellation gives context.Canceled.
func TestCanceled(t *testing.T) {
	e, srv := newEmulator(t)
	c, _ := newClient(t, Options{BaseURL: srv.URL})
	req := &Request{Action: "get_agent", Read: true, Body: []byte(getAgentA), Authorization: authA}

	t.Run("before", func(t *testing.T) {
		e.ResetCalls()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := c.Do(ctx, req)
		if !errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Do = %v, want context.Canceled", err)
		}
		if n := calls(e, "get_agent"); n != 0 {
			t.Errorf("emulator got %d calls, want 0", n)
		}
	})
	t.Run("during", func(t *testing.T) {
		if err := e.SetFault("get_agent", emulator.Fault{Latency: 30 * time.Second}); err != nil {
			t.Fatal(err)
		}
		defer e.ClearFaults()
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err := c.Do(ctx, req)
		if !errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUnavailable) {
			t.Fatalf("Do = %v, want context.Canceled", err)
		}
	})
}

// TestErrorFromEmulator checks an ordinary error answer: its fields, and its message.
func TestErrorFromEmulator(t *testing.T) {
	_, srv := newEmulator(t)
	c, _ := newClient(t, Options{BaseURL: srv.URL})
	_, err := c.Do(t.Context(), &Request{Action: "get_agent", Read: true, Body: []byte(`{"id":"nobody@example.com"}`), Authorization: authA})
	var ue *Error
	if !errors.As(err, &ue) {
		t.Fatalf("Do = %v, want *Error", err)
	}
	if ue.Status != 404 || ue.Type != "not_found" || ue.Message == "" || ue.Deprecation != emulator.DefaultDeprecation || ue.Region != "dal" || ue.Action != "get_agent" {
		t.Errorf("Do = %+v, want get_agent's 404 not_found from dal with a message and Deprecation", ue)
	}
	if errors.Is(err, ErrUnavailable) {
		t.Errorf("Do = %v, which is ErrUnavailable; want only *Error", err)
	}
	if s := err.Error(); !strings.Contains(s, "404") || !strings.Contains(s, "not_found") || !strings.Contains(s, "get_agent") {
		t.Errorf("Error() = %q, want the action, status and type", s)
	}
	checkNoSecret(t, "the error", err.Error())
}

// TestErrorBodies covers answers that are not the upstream's error shape: they are *Error with
// Type "" and the status, logged at warn with the status and without the body.
func TestErrorBodies(t *testing.T) {
	for _, tc := range []struct {
		name        string
		status      int
		contentType string
		body        string
		wantType    string
		wantData    map[string]any
	}{
		{"html", 502, "text/html", "<html>Bad gateway " + authSecret + "</html>", "", nil},
		{"empty", 500, "", "", "", nil},
		{"plain text", 503, "text/plain", "service unavailable", "", nil},
		{"error is a string", 404, "application/json", `{"error":"nope"}`, "", nil},
		{"no type", 400, "application/json", `{"error":{"message":"x"}}`, "", nil},
		{"type not a string", 400, "application/json", `{"error":{"type":5}}`, "", nil},
		{"other object", 400, "application/json", `{"foo":1}`, "", nil},
		{"array", 418, "application/json", `[1,2]`, "", nil},
		{"truncated JSON", 500, "application/json", `{"error":{"type":"internal"`, "", nil},
		{"data not an object", 422, "application/json", `{"error":{"type":"validation","message":"m","data":[1]}}`, "validation", nil},
		{"data kept", 403, "application/json", `{"error":{"type":"limit_reached","message":"m","data":{"limit":60}}}`, "limit_reached", map[string]any{"limit": 60.0}},
		{"redirect", 307, "", "", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.contentType != "" {
					w.Header().Set("Content-Type", tc.contentType)
				}
				if tc.status == 307 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			})
			c, logs := newClient(t, Options{BaseURL: f.srv.URL})
			_, err := c.Do(t.Context(), &Request{Action: "create_group", Body: []byte(`{}`), Authorization: authSecret})
			var ue *Error
			if !errors.As(err, &ue) {
				t.Fatalf("Do = %v, want *Error", err)
			}
			if ue.Status != tc.status || ue.Type != tc.wantType || !cmp.Equal(ue.Data, tc.wantData) {
				t.Errorf("Do = %+v, want status %d, type %q, data %v", ue, tc.status, tc.wantType, tc.wantData)
			}
			checkNoSecret(t, "the error", err.Error())
			log := logs.String()
			if tc.wantType == "" {
				if !strings.Contains(log, "level=WARN") || !strings.Contains(log, fmt.Sprintf("status=%d", tc.status)) {
					t.Errorf("log = %q, want a warning with status=%d", log, tc.status)
				}
				if tc.body != "" && strings.Contains(log, tc.body) {
					t.Errorf("log = %q, want it without the body", log)
				}
			} else if strings.Contains(log, "level=WARN") {
				t.Errorf("log = %q, want no warning for an error body of the upstream's shape", log)
			}
			if n := f.hits.Load(); n != 1 {
				t.Errorf("upstream got %d calls, want 1 (no redirect followed, no retry)", n)
			}
		})
	}
}

// TestTokenNeverLeaks runs calls whose answers echo the token and checks the errors; the logs
// are checked by newClient.
func TestTokenNeverLeaks(t *testing.T) {
	echo := func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		tok := strings.TrimPrefix(auth, "Bearer ")
		body, _ := json.Marshal(map[string]any{"error": map[string]any{
			"type":    "authentication",
			"message": "bad token " + tok + " in " + auth,
			"data":    map[string]any{"token": tok, "nested": map[string]any{"list": []any{auth, 1}}},
		}})
		writeJSON(w, 401, string(body))
	}
	f := newFake(t, echo)
	c, _ := newClient(t, Options{BaseURL: f.srv.URL})
	for _, read := range []bool{true, false} {
		_, err := c.Do(t.Context(), &Request{Action: "get_agent", Read: read, Body: []byte(`{}`), Authorization: authSecret})
		var ue *Error
		if !errors.As(err, &ue) || ue.Type != "authentication" {
			t.Fatalf("Do = %v, want authentication *Error", err)
		}
		checkNoSecret(t, "the error", err.Error())
		checkNoSecret(t, "the error's data", fmt.Sprint(ue.Data))
		if !strings.Contains(ue.Message, "[redacted]") {
			t.Errorf("Message = %q, want the token redacted", ue.Message)
		}
	}

	// Every retry is logged at debug level; newClient checks that the log has no token.
	f = newFake(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 500, `{"error":{"type":"internal","message":"`+r.Header.Get("Authorization")+`"}}`)
	})
	c, _ = newClient(t, Options{BaseURL: f.srv.URL})
	_, err := c.Do(t.Context(), &Request{Action: "get_agent", Read: true, Body: []byte(`{}`), Authorization: authSecret})
	if err == nil {
		t.Fatal("Do = nil, want an error")
	}
	checkNoSecret(t, "the error", err.Error())
	if n := f.hits.Load(); n != 3 {
		t.Errorf("upstream got %d calls, want 3", n)
	}
}

// TestBodyLimit checks that answers are read up to DefaultMaxAnswerBytes.
func TestBodyLimit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  int
		size    int
		wantErr bool
	}{
		{"200 at the limit", 200, DefaultMaxAnswerBytes, false},
		{"200 over the limit", 200, DefaultMaxAnswerBytes + 1, true},
		{"error over the limit", 500, DefaultMaxAnswerBytes + 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				body := `{"error":{"type":"internal","message":"` + strings.Repeat("x", tc.size) // cut to size
				writeJSON(w, tc.status, body[:tc.size])
			})
			c, _ := newClient(t, Options{BaseURL: f.srv.URL})
			resp, err := c.Do(t.Context(), &Request{Action: "create_group", Body: []byte(`{}`), Authorization: authSecret})
			if !tc.wantErr {
				if err != nil || len(resp.Body) != tc.size {
					t.Fatalf("Do = %d bytes, %v, want %d bytes", len(resp.Body), err, tc.size)
				}
				return
			}
			if err == nil {
				t.Fatalf("Do = %d bytes, want an error", len(resp.Body))
			}
			if errors.Is(err, ErrUnavailable) {
				t.Errorf("Do = %v, want not ErrUnavailable: the upstream answered", err)
			}
			if tc.status == 200 && !errors.Is(err, ErrAnswerTooLarge) {
				t.Errorf("Do = %v, want ErrAnswerTooLarge", err)
			}
			var ue *Error
			if tc.status != 200 && (!errors.As(err, &ue) || ue.Type != "" || ue.Status != tc.status) {
				t.Errorf("Do = %v, want *Error %d with no type", err, tc.status)
			}
		})
	}
}

// TestConnectionsReused checks that answers, errors included, are read and closed so that one
// connection serves sequential calls.
func TestConnectionsReused(t *testing.T) {
	e, err := emulator.New()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(e)
	var mu sync.Mutex
	conns := 0
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c, _ := newClient(t, Options{BaseURL: srv.URL})
	for i := range 10 {
		body := getAgentA
		if i%2 == 1 {
			body = `{"id":"nobody@example.com"}` // a 404
		}
		_, err := c.Do(t.Context(), &Request{Action: "get_agent", Read: true, Body: []byte(body), Authorization: authA})
		var ue *Error
		if err != nil && !errors.As(err, &ue) {
			t.Fatalf("Do = %v", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 1 {
		t.Errorf("10 sequential calls opened %d connections, want 1", conns)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"1", time.Second},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-5", 0},
		{"1.5", 0},
		{"soon", 0},
		{"99999999999999999", 24 * time.Hour},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{now.Format(http.TimeFormat), 0},
	} {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	c, err := New(Options{BaseBackoff: 100 * time.Millisecond, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c.jitter = func(d time.Duration) time.Duration { return d }
	for _, tc := range []struct {
		retry int
		want  time.Duration
	}{
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{3, 400 * time.Millisecond},
		{4, 800 * time.Millisecond},
		{5, time.Second}, // capped at the Timeout
		{1000, time.Second},
	} {
		if got := c.backoff(tc.retry); got != tc.want {
			t.Errorf("backoff(%d) = %v, want %v", tc.retry, got, tc.want)
		}
	}
	for range 1000 {
		if d := fullJitter(10 * time.Millisecond); d < 0 || d > 10*time.Millisecond {
			t.Fatalf("fullJitter(10ms) = %v, want within [0, 10ms]", d)
		}
	}
	if d := fullJitter(0); d != 0 {
		t.Errorf("fullJitter(0) = %v, want 0", d)
	}
}

func TestRegionOf(t *testing.T) {
	for _, tc := range []struct{ auth, want string }{
		{"Bearer fra:x", "fra"},
		{"Bearer dal:x", "dal"},
		{"BEARER  fra:x ", "fra"},
		{"Bearer Fra:x", "fra"},
		{"Bearer abc:x", "dal"},
		{"Bearer fra", "dal"},
		{"Bearer ", "dal"},
		{"fra:x", "dal"},
		{"", "dal"},
	} {
		if got := regionOf(tc.auth); got != tc.want {
			t.Errorf("regionOf(%q) = %q, want %q", tc.auth, got, tc.want)
		}
	}
}
