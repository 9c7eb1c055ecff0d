package upstream

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/livechat-gateway/gateway/internal/action"
)

// DocumentedTypes are the error types the upstream's documentation names. A metric labels an
// error by its type only when it is one of these: an answer's type is the upstream's text, and a
// label value must come from a bounded set.
var DocumentedTypes = []string{
	"authentication", "authorization", "already_exist", "already_exists", "group_not_found",
	"not_found", "validation", "limit_reached", "too_many_requests", "license_expired",
	"transfer_ownership", "misdirected_request", "unsupported_version", "internal",
}

// Outcomes of a call that are not an upstream error type.
const (
	outcomeOK          = "ok"
	outcomeOtherType   = "other_error_type"  // an error body of a type the documentation does not name
	outcomeNoErrorBody = "no_error_body"     // an answer other than 200 without the error shape
	outcomeUnavailable = "unavailable"       // no answer came
	outcomeDeadline    = "deadline_exceeded" // the deadline ended the call
	outcomeCanceled    = "canceled"          // the caller went away
	outcomeShed        = "shed"              // refused by the client's limits, never sent
	outcomeTooLarge    = "answer_too_large"
	outcomeInvalid     = "invalid_request" // refused before sending: bad action, region or header
)

var documented = func() map[string]bool {
	m := make(map[string]bool, len(DocumentedTypes))
	for _, t := range DocumentedTypes {
		m[t] = true
	}
	return m
}()

// metrics are the client's Prometheus series. Their labels are action names (of the gateway's 30,
// else "other") and outcomes from a fixed set: never a token, a region or an upstream text.
type metrics struct {
	calls    *prometheus.CounterVec   // action, outcome
	duration *prometheus.HistogramVec // action, outcome
	retries  *prometheus.CounterVec   // action
	repairs  *prometheus.CounterVec   // action
	shed     *prometheus.CounterVec   // limit
}

func newMetrics(reg prometheus.Registerer, l *limiter) *metrics {
	f := promauto.With(reg) // a nil reg registers nothing: the series still count, for tests
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gateway_upstream_in_flight",
		Help: "Upstream calls in flight, waiting for a connection included (at most UPSTREAM_MAX_CONNS + UPSTREAM_MAX_WAITING).",
	}, func() float64 { n, _ := l.inFlight(""); return float64(n) })
	m := &metrics{
		calls: f.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_upstream_calls_total",
			Help: "Upstream action calls, retries and repairs included in one, by action and outcome: ok, the upstream's error type, or what ended the call (unavailable, deadline_exceeded, canceled, shed, answer_too_large, ...).",
		}, []string{"action", "outcome"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_upstream_call_duration_seconds",
			Help:    "Time of an upstream action call, retries and their waits included, by action and outcome.",
			Buckets: prometheus.DefBuckets,
		}, []string{"action", "outcome"}),
		retries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_upstream_retries_total",
			Help: "Upstream attempts sent again after a transient failure, by action.",
		}, []string{"action"}),
		repairs: f.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_upstream_region_repairs_total",
			Help: "Calls sent again to the region a misdirected_request answer named, by action.",
		}, []string{"action"}),
		shed: f.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_upstream_shed_total",
			Help: "Upstream calls refused without being sent because too many were in flight, by the limit reached: total (UPSTREAM_MAX_CONNS + UPSTREAM_MAX_WAITING) or credential (UPSTREAM_MAX_CONCURRENT_PER_CREDENTIAL).",
		}, []string{"limit"}),
	}
	// The counters of rare events exist from the start, at zero, so that a rate or an alert on
	// them works before the first one.
	for _, a := range action.All() {
		m.retries.WithLabelValues(a.Name)
		m.repairs.WithLabelValues(a.Name)
	}
	m.shed.WithLabelValues("total")
	m.shed.WithLabelValues("credential")
	return m
}

// actionLabel bounds an action name to the gateway's own.
func actionLabel(name string) string {
	if _, ok := action.ByName(name); ok {
		return name
	}
	return "other"
}

// observe counts a call that ended with err after d.
func (m *metrics) observe(act string, err error, d time.Duration) {
	act = actionLabel(act)
	o := outcome(err)
	m.calls.WithLabelValues(act, o).Inc()
	m.duration.WithLabelValues(act, o).Observe(d.Seconds())
	var shed *ShedError
	if errors.As(err, &shed) {
		limit := "total"
		if shed.PerCredential {
			limit = "credential"
		}
		m.shed.WithLabelValues(limit).Inc()
	}
}

// outcome names how a call ended, from a bounded set.
func outcome(err error) string {
	var ue *Error
	switch {
	case err == nil:
		return outcomeOK
	case errors.As(err, &ue):
		switch {
		case ue.Type == "":
			return outcomeNoErrorBody
		case documented[ue.Type]:
			return ue.Type
		}
		return outcomeOtherType
	case errors.Is(err, ErrShed):
		return outcomeShed
	case errors.Is(err, ErrAnswerTooLarge):
		return outcomeTooLarge
	case errors.Is(err, context.DeadlineExceeded):
		return outcomeDeadline
	case errors.Is(err, context.Canceled):
		return outcomeCanceled
	case errors.Is(err, ErrUnavailable):
		return outcomeUnavailable
	}
	return outcomeInvalid
}
