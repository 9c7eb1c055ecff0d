package rest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livechat-gateway/gateway/internal/rest"
	"github.com/livechat-gateway/gateway/internal/testutil"
)

// refusals records what Options.Refused is told.
type refusals struct {
	mu  sync.Mutex
	got []string // "method: error"
}

func (r *refusals) note(_ context.Context, method string, err error, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, method+": "+err.Error())
}

func (r *refusals) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

// TestLimits checks the body's size and depth limits, and that each refusal is reported once,
// with its RPC, and never reaches the server, while calls that reach it are not reported.
func TestLimits(t *testing.T) {
	var refused refusals
	gw, fake := newGatewayWith(t, rest.Options{MaxBodyBytes: 4 << 10, MaxDepth: 8, Refused: refused.note})
	a := testutil.Action(t, "update_license_properties")
	// deep returns a body n+3 levels deep: the body, properties, its namespace, and n under p.
	deep := func(n int) string {
		return `{"properties":{"ns":{"p":` + strings.Repeat(`{"k":`, n) + `1` + strings.Repeat(`}`, n) + `}}}`
	}
	for _, tc := range []struct {
		name, body string
		chunked    bool
		status     int
		message    string
	}{
		{"deep", deep(20), false, 422, "properties: nests objects and arrays deeper than 8 levels"},
		{"1,500 levels of arrays", `{"properties":` + strings.Repeat(`[`, 1500) + strings.Repeat(`]`, 1500) + `}`, false, 422, "properties: nests"},
		{"large", `{"name":"` + strings.Repeat("x", 5<<10) + `"}`, false, 413, "larger than 4096 bytes"},
		{"large, chunked", `{"name":"` + strings.Repeat("x", 5<<10) + `"}`, true, 413, "larger than 4096 bytes"},
		{"malformed", `{"name":`, false, 422, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(refused.list())
			var body io.Reader = strings.NewReader(tc.body)
			if tc.chunked {
				body = io.NopCloser(body) // no length known: sent chunked
			}
			req, _ := http.NewRequest(http.MethodPost, gw.URL+a.Path(), body)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			answer, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.Contains(string(answer), `"type":"validation"`) || !strings.Contains(string(answer), tc.message) {
				t.Errorf("answer %d %s, want %d validation %q", resp.StatusCode, answer, tc.status, tc.message)
			}
			if n := len(fake.calls(a.Name)); n != 0 {
				t.Errorf("the server got %d calls, want none", n)
			}
			got := refused.list()[before:]
			if len(got) != 1 || !strings.HasPrefix(got[0], a.FullMethod()+": HTTP "+fmt.Sprint(tc.status)) {
				t.Errorf("Refused was told %q, want one report of %s with HTTP %d", got, a.FullMethod(), tc.status)
			}
		})
	}

	t.Run("calls that reach the server are not reported", func(t *testing.T) {
		before := len(refused.list())
		if status, body := post(t, gw, a, deep(5)); status != 200 {
			t.Fatalf("a body 8 levels deep: %d %s, want 200", status, body)
		}
		if got := refused.list()[before:]; len(got) != 0 {
			t.Errorf("Refused was told %q of a call the server served", got)
		}
	})
}
