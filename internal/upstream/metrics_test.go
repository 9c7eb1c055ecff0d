package upstream

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livechat-gateway/gateway/internal/emulator"
	"github.com/livechat-gateway/gateway/internal/testutil"
)

// TestOutcome: every way a call ends has a label value from a bounded set; an upstream's own
// type is one only when the documentation names it.
func TestOutcome(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, "ok"},
		{&Error{Type: "not_found"}, "not_found"},
		{fmt.Errorf("wrapped: %w", &Error{Type: "validation"}), "validation"},
		{&Error{Type: "something the upstream made up"}, "other_error_type"},
		{&Error{Status: 502}, "no_error_body"},
		{&ShedError{Action: "get_agent"}, "shed"},
		{fmt.Errorf("x: %w", ErrAnswerTooLarge), "answer_too_large"},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), "deadline_exceeded"},
		{fmt.Errorf("x: %w", context.Canceled), "canceled"},
		{fmt.Errorf("x: %w: %w", ErrMaybeApplied, ErrUnavailable), "unavailable"},
		{errors.New("upstream: invalid action name"), "invalid_request"},
	} {
		if got := outcome(tc.err); got != tc.want {
			t.Errorf("outcome(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
	if got := actionLabel("get_agent"); got != "get_agent" {
		t.Errorf("actionLabel(get_agent) = %q", got)
	}
	if got := actionLabel("made_up_action"); got != "other" {
		t.Errorf("actionLabel(made_up_action) = %q, want other", got)
	}
}

// TestMetricsCount: a call's retries, its region repair and its outcome are counted, by action.
func TestMetricsCount(t *testing.T) {
	e, srv := newEmulator(t)
	reg := prometheus.NewRegistry()
	c, _ := newClient(t, Options{BaseURL: srv.URL, Metrics: reg})
	if err := e.SetFault("get_agent", emulator.Fault{Error: "internal", Times: 2}); err != nil {
		t.Fatal(err)
	}
	// Two 500s retried, then misdirected (the token is fra's), then answered.
	if _, err := c.Do(t.Context(), &Request{Action: "get_agent", Read: true, Body: []byte(getAgentF), Authorization: authF, Region: "dal"}); err != nil {
		t.Fatalf("Do = %v", err)
	}
	if _, err := c.Do(t.Context(), &Request{Action: "get_agent", Read: true, Body: []byte(`{"id":"nobody@example.com"}`), Authorization: authF}); err == nil {
		t.Fatal("Do of nobody succeeded")
	}
	for _, w := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"gateway_upstream_calls_total", []string{"action", "get_agent", "outcome", "ok"}, 1},
		{"gateway_upstream_calls_total", []string{"action", "get_agent", "outcome", "not_found"}, 1},
		{"gateway_upstream_call_duration_seconds", []string{"action", "get_agent"}, 2},
		{"gateway_upstream_retries_total", []string{"action", "get_agent"}, 2},
		{"gateway_upstream_region_repairs_total", []string{"action", "get_agent"}, 1},
		{"gateway_upstream_in_flight", nil, 0},
	} {
		if got := testutil.Metric(t, reg, w.name, w.labels...); got != w.want {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.want)
		}
	}
}
