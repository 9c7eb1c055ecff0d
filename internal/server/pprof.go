package server

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// newPprof returns the profiling server of PPROF_ADDR, on a listener of its own: net/http/pprof's
// handlers are never on the public HTTP port (whose mux is not http.DefaultServeMux).
func newPprof(log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// No write timeout: a CPU profile or trace streams for the seconds it was asked for.
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
}

// PprofAddr returns the address the profiling server listens on, or nil when PPROF_ADDR is unset.
func (g *Gateway) PprofAddr() net.Addr {
	if g.pprofLn == nil {
		return nil
	}
	return g.pprofLn.Addr()
}
