package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/livechat-gateway/gateway/internal/emulator"
	"github.com/livechat-gateway/gateway/internal/testutil"
)

// TestRequestIDs: a call's request id is the caller's (X-Request-Id, x-request-id) when sane, else
// generated; it is returned to the caller, sent upstream, and on the call's log line, over REST
// and gRPC, for refusals too.
func TestRequestIDs(t *testing.T) {
	e, err := emulator.New()
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		sent []string // the X-Request-Id of each upstream request
	)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sent = append(sent, r.Header.Get("X-Request-Id"))
		mu.Unlock()
		e.ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	v := startGateway(t, up.URL, nil)
	v.emu = e
	lastSent := func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(sent) == 0 {
			return ""
		}
		return sent[len(sent)-1]
	}
	logged := func(id string) bool { return strings.Contains(v.logs.String(), `"request_id":"`+id+`"`) }
	generated := regexp.MustCompile(`^[0-9a-f]{32}$`)
	a := testutil.Action(t, "get_agent")
	body := `{"id":"owner-a@example.com"}`

	t.Run("REST, given", func(t *testing.T) {
		got := v.rest(ownerA, a.Name, body, "X-Request-Id", "rest-id-1", "Cache-Control", "no-cache")
		if id := got.header.Get("X-Request-Id"); id != "rest-id-1" {
			t.Errorf("answer's X-Request-Id = %q, want rest-id-1", id)
		}
		if s := lastSent(); s != "rest-id-1" {
			t.Errorf("the upstream got X-Request-Id %q, want rest-id-1", s)
		}
		if !logged("rest-id-1") {
			t.Errorf("no log line with the request id:\n%s", v.logs.String())
		}
	})
	t.Run("REST, generated", func(t *testing.T) {
		got := v.rest(ownerA, a.Name, body, "Cache-Control", "no-cache")
		id := got.header.Get("X-Request-Id")
		if !generated.MatchString(id) || lastSent() != id || !logged(id) {
			t.Errorf("generated id %q: upstream got %q, logged %v", id, lastSent(), logged(id))
		}
	})
	t.Run("REST, not sane", func(t *testing.T) {
		got := v.rest(ownerA, a.Name, body, "X-Request-Id", "two words\"", "Cache-Control", "no-cache")
		if id := got.header.Get("X-Request-Id"); !generated.MatchString(id) {
			t.Errorf("an id with spaces and quotes was kept: %q", id)
		}
	})
	t.Run("REST refusal", func(t *testing.T) {
		got := v.rest(ownerA, a.Name, `{"id":`, "X-Request-Id", "refused-1")
		if got.status != http.StatusUnprocessableEntity || got.header.Get("X-Request-Id") != "refused-1" || !logged("refused-1") {
			t.Errorf("refusal = %d with X-Request-Id %q, logged %v", got.status, got.header.Get("X-Request-Id"), logged("refused-1"))
		}
	})
	t.Run("gRPC", func(t *testing.T) {
		_, header, err := v.rpc(context.Background(), ownerA, a, req(t, a, body), "x-request-id", "grpc-id-1", "cache-control", "no-cache")
		if err != nil {
			t.Fatal(err)
		}
		if ids := header.Get("x-request-id"); len(ids) != 1 || ids[0] != "grpc-id-1" {
			t.Errorf("x-request-id header metadata = %v, want [grpc-id-1]", ids)
		}
		if s := lastSent(); s != "grpc-id-1" || !logged("grpc-id-1") {
			t.Errorf("the upstream got %q, logged %v; want grpc-id-1", s, logged("grpc-id-1"))
		}
	})
}
