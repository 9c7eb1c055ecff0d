package load

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestRun checks the counts of a run by count and of a run at a rate, and that answers other
// than 2xx are errors. It asserts nothing about speed.
func TestRun(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if string(b) != `{"id":"x"}` || r.Header.Get("Authorization") != "Bearer t" {
			http.Error(w, "wrong request", http.StatusBadRequest)
			return
		}
		if calls.Add(1)%10 == 0 {
			http.Error(w, "every tenth fails", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	h := http.Header{"Authorization": {"Bearer t"}}
	ctx := context.Background()

	res, err := Run(ctx, Config{URL: srv.URL, Body: []byte(`{"id":"x"}`), Header: h, Concurrency: 4, N: 100})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 90 || res.Errors != 10 || res.FirstError != "status 500" {
		t.Errorf("Run(N=100) = %d answered, %d errors (%q), want 90, 10 (status 500)", res.Requests, res.Errors, res.FirstError)
	}
	if res.P50 <= 0 || res.P99 < res.P50 {
		t.Errorf("Run(N=100): p50 %v, p99 %v", res.P50, res.P99)
	}

	// At 200/s for 300ms a run sends about 60 requests; a slow machine sends fewer, never more.
	res, err = Run(ctx, Config{URL: srv.URL, Body: []byte(`{"id":"x"}`), Header: h, Concurrency: 4, Duration: 300 * time.Millisecond, Rate: 200})
	if err != nil {
		t.Fatal(err)
	}
	if n := res.Requests + res.Errors; n < 1 || n > 61 {
		t.Errorf("Run(rate 200/s, 300ms) sent %d requests, want 1 to 61", n)
	}
}
