package server

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"

	"github.com/livechat-gateway/gateway/internal/action"
	"github.com/livechat-gateway/gateway/internal/rest"
	"github.com/livechat-gateway/gateway/internal/service"
)

// admission bounds the calls in flight across both surfaces (GATEWAY_MAX_IN_FLIGHT), and with
// them the goroutines and memory that a burst can take: a call over the bound is refused at
// once, before any work, as the upstream refuses a throttled call. The bound is on calls, not
// connections: idle connections cost little and are closed by their timeouts. Health checks
// are never refused, so that a busy gateway is not taken for a dead one.
type admission struct {
	max   int64
	n     atomic.Int64
	calls *calls
	shed  *prometheus.CounterVec // surface
	// lifecycle gives the headers of a refused REST call (rest.Options.Lifecycle).
	lifecycle func(*http.Request) (legacy, deprecation string)
}

func newAdmission(limit int, calls *calls, reg prometheus.Registerer) *admission {
	f := promauto.With(reg)
	a := &admission{max: int64(limit), calls: calls,
		shed: f.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_shed_total",
			Help: "Calls refused because GATEWAY_MAX_IN_FLIGHT calls were in flight, by surface (grpc, rest).",
		}, []string{"surface"}),
	}
	for _, s := range []string{surfaceGRPC, surfaceREST} {
		a.shed.WithLabelValues(s) // at 0 from the start, so that an alert's rate works at once
	}
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gateway_in_flight_calls",
		Help: "Calls being served on both surfaces, health checks aside (at most GATEWAY_MAX_IN_FLIGHT).",
	}, func() float64 { return float64(max(a.n.Load(), 0)) })
	return a
}

// errOverloaded is the status of a refused call.
var errOverloaded = service.Shed("too many calls in flight at the gateway; retry later")

// admit takes a slot, or reports false when none is free.
func (a *admission) admit() bool {
	if a.n.Add(1) > a.max {
		a.n.Add(-1)
		return false
	}
	return true
}

func (a *admission) done() { a.n.Add(-1) }

// unary admits the gRPC listener's calls. It runs inside the logging interceptor, so that a
// refusal is logged and counted as a call.
func (a *admission) unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if strings.HasPrefix(info.FullMethod, "/grpc.health.v1.") {
			return handler(ctx, req)
		}
		if !a.admit() {
			a.shed.WithLabelValues(surfaceGRPC).Inc()
			return nil, errOverloaded
		}
		defer a.done()
		return handler(ctx, req)
	}
}

// restByPath finds the action of a REST path, to log a refused call by its RPC.
var restByPath = func() map[string]*action.Action {
	m := map[string]*action.Action{}
	for _, a := range action.All() {
		m[a.Path()] = a
	}
	return m
}()

// rest admits the REST surface's calls before grpc-gateway reads them: a refused call costs
// neither a body read nor an in-process call.
func (a *admission) rest(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.admit() {
			a.shed.WithLabelValues(surfaceREST).Inc()
			rest.SetLifecycle(w, r, a.lifecycle)
			rest.WriteError(r.Context(), w, errOverloaded)
			var method string
			if act, ok := restByPath[r.URL.Path]; ok {
				method = act.FullMethod()
			}
			a.calls.refused(r.Context(), method, errOverloaded, 0)
			return
		}
		defer a.done()
		h.ServeHTTP(w, r)
	})
}
