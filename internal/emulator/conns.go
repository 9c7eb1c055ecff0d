package emulator

import (
	"net"
	"net/http"
	"sync"
)

// Conns counts the connections of the HTTP server that serves an emulator: how many are open
// now, and the most that were open at once. It is fed by http.Server's ConnState hook
// (Emulator.ConnState), so that a test can see how many connections a client of the emulator,
// such as the gateway, holds to it. It is safe for concurrent use.
type Conns struct {
	mu         sync.Mutex
	open, peak int
}

// ConnStats is what Conns counted: GET /emulator/stats's "connections".
type ConnStats struct {
	// Open is the number of connections open now, the one of the stats request included.
	Open int `json:"open"`
	// Peak is the most connections that were open at once since the start or ResetPeak.
	Peak int `json:"peak"`
}

// ConnState counts a connection open when it is new and closed when it is closed or hijacked;
// it has the signature of http.Server.ConnState.
func (c *Conns) ConnState(_ net.Conn, s http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch s {
	case http.StateNew:
		c.open++
		c.peak = max(c.peak, c.open)
	case http.StateClosed, http.StateHijacked:
		c.open--
	}
}

// Stats returns the connections open now and the peak.
func (c *Conns) Stats() ConnStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ConnStats{Open: c.open, Peak: c.peak}
}

// ResetPeak sets the peak to the connections open now.
func (c *Conns) ResetPeak() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.peak = c.open
}

// ConnState feeds the emulator's connection counts, reported by GET /emulator/stats as
// "connections": set it as the http.Server's ConnState hook. Without it, the counts stay 0.
func (e *Emulator) ConnState(conn net.Conn, s http.ConnState) { e.conns.ConnState(conn, s) }

// Connections returns the connection counts that ConnState fed.
func (e *Emulator) Connections() ConnStats { return e.conns.Stats() }
