package service

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/livechat-gateway/gateway/internal/cache"
)

// cacheMetrics are the read cache's Prometheus series. Their labels are action names, outcomes,
// store operations and breaker states: bounded sets, never a key or a credential.
type cacheMetrics struct {
	outcomes      *prometheus.CounterVec   // action, outcome
	storeErrors   *prometheus.CounterVec   // op, reason
	storeDuration *prometheus.HistogramVec // op
}

// breakerStates are the values of gateway_cache_breaker_state's state label.
var breakerStates = []string{"closed", "half-open", "open"}

// newCacheMetrics registers the cache's series on reg (none when nil); state reads the store
// breaker's state.
func newCacheMetrics(reg prometheus.Registerer, state func() string) *cacheMetrics {
	f := promauto.With(reg)
	for _, s := range breakerStates {
		// One series per state, 1 for the current one: a dashboard shows the state over time
		// and an alert fires on open.
		f.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "gateway_cache_breaker_state",
			Help:        "The cache store's circuit breaker: 1 for its current state (closed, half-open or open), 0 for the others.",
			ConstLabels: prometheus.Labels{"state": s},
		}, func() float64 {
			if state() == s {
				return 1
			}
			return 0
		})
	}
	m := &cacheMetrics{
		outcomes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_cache_reads_total",
			Help: "Cached reads by action and outcome: hit, miss, stale (served for a failing upstream), bypass (no-cache, or the store not trusted), error (the store failed and upstream served).",
		}, []string{"action", "outcome"}),
		storeErrors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_cache_store_errors_total",
			Help: "Calls of the cache's store that failed, or that its breaker skipped while it was failing, by operation (lookup, fill, bump) and reason (failed, skipped).",
		}, []string{"op", "reason"}),
		storeDuration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gateway_cache_store_duration_seconds",
			Help: "Time of the cache store's calls that reached it (not those its breaker skipped), by operation: lookup, fill, bump.",
			// From 100µs (an in-process store, a local Redis) to the store's 100ms bound.
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25},
		}, []string{"op"}),
	}
	// The store's errors exist from the start, at zero, so that an alert on them works at once.
	for _, op := range []string{"lookup", "fill", "bump"} {
		for _, reason := range []string{"failed", "skipped"} {
			m.storeErrors.WithLabelValues(op, reason)
		}
	}
	return m
}

// timed records the duration of a store call of op that began at start and failed with err, if
// it reached the store.
func (m *cacheMetrics) timed(op string, start time.Time, err error) {
	if errors.Is(err, cache.ErrSkipped) {
		return
	}
	m.storeDuration.WithLabelValues(op).Observe(time.Since(start).Seconds())
}
