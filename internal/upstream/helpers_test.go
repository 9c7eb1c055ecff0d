package upstream

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/livechat-gateway/gateway/internal/emulator"

	"github.com/livechat-gateway/gateway/internal/testutil"
)

// The emulator's built-in tokens, as Authorization values.
const (
	authA = "Bearer dal:owner-a"
	authF = "Bearer fra:owner-f"
	// authSecret is a token no upstream knows, for the fakes that echo it.
	authSecret = "Bearer dal:sekrit-token-123"
)

// Request bodies the emulator accepts.
const (
	getAgentA    = `{"id":"owner-a@example.com"}`
	getAgentF    = `{"id":"owner-f@example.com"}`
	createGroupA = `{"name":"Support","agent_priorities":{"owner-a@example.com":"normal"}}`
	createGroupF = `{"name":"Support","agent_priorities":{"owner-f@example.com":"normal"}}`
)

// secrets are the strings no log or error may hold.
var secrets = []string{"dal:owner-a", "fra:owner-f", "sekrit-token-123"}

// newEmulator serves a new emulator over real HTTP for one test.
func newEmulator(t *testing.T, opts ...emulator.Option) (*emulator.Emulator, *httptest.Server) {
	t.Helper()
	e, err := emulator.New(opts...)
	if err != nil {
		t.Fatalf("emulator.New: %v", err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return e, srv
}

// newClient returns a client with o, a short backoff unless o sets one, and a logger at debug
// level writing to the returned buffer. When the test ends, it fails the test if the log holds
// any token.
func newClient(t *testing.T, o Options) (*Client, *testutil.SyncBuffer) {
	t.Helper()
	logs := new(testutil.SyncBuffer)
	o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if o.BaseBackoff == 0 {
		o.BaseBackoff = time.Millisecond
	}
	c, err := New(o)
	if err != nil {
		t.Fatalf("New(%+v): %v", o, err)
	}
	t.Cleanup(func() {
		checkNoSecret(t, "the log", logs.String())
		if tr, ok := c.hc.Transport.(*http.Transport); ok {
			tr.CloseIdleConnections()
		}
	})
	return c, logs
}

// checkNoSecret fails the test if s, described by what, holds a token.
func checkNoSecret(t *testing.T, what, s string) {
	t.Helper()
	for _, secret := range secrets {
		if strings.Contains(s, secret) {
			t.Errorf("%s holds %q:\n%s", what, secret, s)
		}
	}
}

// fake is an upstream that a test writes, counting the calls it receives.
type fake struct {
	srv  *httptest.Server
	hits atomic.Int64

	mu   sync.Mutex
	reqs []*http.Request // with their bodies read into bodies
	body [][]byte
}

func newFake(t *testing.T, h http.HandlerFunc) *fake {
	t.Helper()
	f := &fake{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		var b bytes.Buffer
		b.ReadFrom(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, r)
		f.body = append(f.body, b.Bytes())
		f.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// regions returns the X-Region of each call received.
func (f *fake) regions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.reqs {
		out = append(out, r.Header.Get("X-Region"))
	}
	return out
}

// writeJSON answers status with the JSON body.
func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write([]byte(body))
}

// countingDialer dials TCP, refusing the first fail dials as a down upstream would.
type countingDialer struct {
	fail  int64
	dials atomic.Int64
	d     net.Dialer
}

func (c *countingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if n := c.dials.Add(1); n <= c.fail {
		return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
	}
	return c.d.DialContext(ctx, network, addr)
}

// httpClient returns a client that dials with d.
func (c *countingDialer) httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: c.DialContext}}
}

// calls returns the emulator's call count of action.
func calls(e *emulator.Emulator, action string) int64 { return e.Calls()[action] }

// totalCalls returns the emulator's call count of all actions.
func totalCalls(e *emulator.Emulator) int64 {
	var n int64
	for _, c := range e.Calls() {
		n += c
	}
	return n
}
