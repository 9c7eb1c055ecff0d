package upstream

import (
	"context"
	"errors"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/livechat-gateway/gateway/internal/testutil"
)

// TestMaybeApplied checks which failed calls are marked ErrMaybeApplied: a write that had a
// connection and got no answer of the upstream's, and nothing else.
func TestMaybeApplied(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close() // nothing listens there now

	for _, tc := range []struct {
		name string
		read bool
		// handler answers the fake's calls; f is the fake, for handlers that close it.
		handler func(t *testing.T, f *fake) http.HandlerFunc
		// baseURL, when set, replaces the fake's URL.
		baseURL  string
		dialFail int64         // dials refused before the first that succeeds
		deadline time.Duration // the caller's, 0 for none
		cancel   bool          // the caller cancels once the fake has the call

		wantIs    []error // errors.Is must hold for each
		wantNotIs []error // and for none of these
		wantMaybe bool
		wantError int // the *Error's status, 0 for no *Error
		wantHits  int64
	}{
		{
			name: "write reset after the body was read",
			handler: func(t *testing.T, _ *fake) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) { testutil.ResetConnection(t, w) }
			},
			wantIs: []error{ErrUnavailable}, wantNotIs: []error{context.DeadlineExceeded},
			wantMaybe: true, wantHits: 1,
		},
		{
			name:     "write refused a dial, then reset",
			dialFail: 1,
			handler: func(t *testing.T, _ *fake) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) { testutil.ResetConnection(t, w) }
			},
			wantIs: []error{ErrUnavailable}, wantMaybe: true, wantHits: 1,
		},
		{
			name: "write whose 200 is cut short",
			handler: func(t *testing.T, _ *fake) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Length", "100")
					w.WriteHeader(200)
					w.Write([]byte(`{"id":`))
					w.(http.Flusher).Flush()
					testutil.ResetConnection(t, w)
				}
			},
			wantIs: []error{ErrUnavailable}, wantMaybe: true, wantHits: 1,
		},
		{
			name:    "write to a port where nothing listens",
			baseURL: "http://" + deadAddr,
			wantIs:  []error{ErrUnavailable, syscall.ECONNREFUSED}, wantMaybe: false, wantHits: 0,
		},
		{
			name: "write whose deadline passes while the upstream holds it",
			handler: func(t *testing.T, _ *fake) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
			},
			deadline: 50 * time.Millisecond,
			wantIs:   []error{context.DeadlineExceeded}, wantNotIs: []error{ErrUnavailable, context.Canceled},
			wantMaybe: true, wantHits: 1,
		},
		{
			name: "write canceled while the upstream holds it",
			handler: func(t *testing.T, _ *fake) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
			},
			cancel: true,
			wantIs: []error{context.Canceled}, wantNotIs: []error{ErrUnavailable, context.DeadlineExceeded},
			wantMaybe: true, wantHits: 1,
		},
		{
			name: "read reset after the body was read",
			read: true,
			handler: func(t *testing.T, _ *fake) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) { testutil.ResetConnection(t, w) }
			},
			wantIs: []error{ErrUnavailable}, wantMaybe: false, wantHits: DefaultMaxAttempts,
		},
		{
			name: "read whose deadline passes while the upstream holds it",
			read: true,
			handler: func(t *testing.T, _ *fake) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
			},
			deadline: 50 * time.Millisecond,
			wantIs:   []error{context.DeadlineExceeded}, wantMaybe: false, wantHits: 1,
		},
		{
			name: "write answered 500 with the upstream's error body",
			handler: func(t *testing.T, _ *fake) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					writeJSON(w, 500, `{"error":{"type":"internal","message":"Internal server error"}}`)
				}
			},
			wantNotIs: []error{ErrUnavailable}, wantMaybe: false, wantError: 500, wantHits: 1,
		},
		{
			name: "write answered 502 without an error body",
			handler: func(t *testing.T, _ *fake) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					w.WriteHeader(502)
					w.Write([]byte("<html>Bad gateway</html>"))
				}
			},
			wantNotIs: []error{ErrUnavailable}, wantMaybe: false, wantError: 502, wantHits: 1,
		},
		{
			// The upstream refused the write (misdirected), and the repair could not connect:
			// no attempt can have applied it. The fake closes its listener before answering and
			// closes the connection after, so that the repair's dials are refused.
			name: "write misdirected, then the repaired region's dial fails",
			handler: func(t *testing.T, f *fake) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					f.srv.Listener.Close()
					w.Header().Set("Connection", "close")
					writeJSON(w, 421, `{"error":{"type":"misdirected_request","message":"Wrong region","data":{"region":"fra"}}}`)
				}
			},
			wantIs: []error{ErrUnavailable, syscall.ECONNREFUSED}, wantMaybe: false, wantHits: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entered := make(chan struct{}, 1)
			var f *fake
			f = newFake(t, func(w http.ResponseWriter, r *http.Request) {
				select {
				case entered <- struct{}{}:
				default:
				}
				if tc.handler == nil {
					t.Errorf("the fake was called")
					return
				}
				tc.handler(t, f)(w, r)
			})
			o := Options{BaseURL: f.srv.URL}
			if tc.baseURL != "" {
				o.BaseURL = tc.baseURL
			}
			if tc.dialFail > 0 {
				o.HTTPClient = (&countingDialer{fail: tc.dialFail}).httpClient()
			}
			c, _ := newClient(t, o)
			ctx := t.Context()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			if tc.cancel {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				defer cancel()
				go func() {
					select {
					case <-entered:
						cancel()
					case <-ctx.Done():
					}
				}()
			}
			resp, err := c.Do(ctx, &Request{Action: "create_group", Read: tc.read, Body: []byte(createGroupA), Authorization: authSecret})
			if err == nil {
				t.Fatalf("Do = %+v, nil, want an error", resp)
			}
			if got := errors.Is(err, ErrMaybeApplied); got != tc.wantMaybe {
				t.Errorf("Do = %v: ErrMaybeApplied %v, want %v", err, got, tc.wantMaybe)
			}
			for _, want := range tc.wantIs {
				if !errors.Is(err, want) {
					t.Errorf("Do = %v, want it to wrap %v", err, want)
				}
			}
			for _, not := range tc.wantNotIs {
				if errors.Is(err, not) {
					t.Errorf("Do = %v, want it not to wrap %v", err, not)
				}
			}
			var ue *Error
			switch {
			case tc.wantError == 0 && errors.As(err, &ue):
				t.Errorf("Do = %v, an *Error; want none", err)
			case tc.wantError != 0 && (!errors.As(err, &ue) || ue.Status != tc.wantError):
				t.Errorf("Do = %v, want an *Error %d", err, tc.wantError)
			}
			checkNoSecret(t, "the error", err.Error())
			if n := f.hits.Load(); n != tc.wantHits {
				t.Errorf("upstream got %d calls, want %d", n, tc.wantHits)
			}
		})
	}
}
