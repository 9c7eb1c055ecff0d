package emulator

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// TestConnsCounts feeds Conns by hand: new connections count open and raise the peak, closed and
// hijacked ones no longer count, idle and active ones change nothing, and ResetPeak brings the
// peak down to what is open.
func TestConnsCounts(t *testing.T) {
	var c Conns
	want := func(open, peak int) {
		t.Helper()
		if got := c.Stats(); got != (ConnStats{Open: open, Peak: peak}) {
			t.Errorf("Stats() = %+v, want open %d, peak %d", got, open, peak)
		}
	}
	want(0, 0)
	for range 3 {
		c.ConnState(nil, http.StateNew)
	}
	c.ConnState(nil, http.StateActive)
	c.ConnState(nil, http.StateIdle)
	want(3, 3)
	c.ConnState(nil, http.StateClosed)
	c.ConnState(nil, http.StateHijacked)
	want(1, 3)
	c.ResetPeak()
	want(1, 1)
	c.ConnState(nil, http.StateNew)
	want(2, 2)

	// Concurrent opens and closes end where they began, with a peak within what was opened.
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			c.ConnState(nil, http.StateNew)
			c.ConnState(nil, http.StateClosed)
		})
	}
	wg.Wait()
	if got := c.Stats(); got.Open != 2 || got.Peak < 3 || got.Peak > 52 {
		t.Errorf("after 50 concurrent opens and closes: %+v, want open 2 and a peak from 3 to 52", got)
	}
}

// TestConnsServed serves the emulator with its ConnState hook and reads GET /emulator/stats:
// the connections that a client holds open show, the stats request's own included, and POST
// /emulator/reset brings the peak down to the open ones.
func TestConnsServed(t *testing.T) {
	e, err := New()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(e)
	srv.Config.ConnState = e.ConnState
	srv.Start()
	t.Cleanup(srv.Close)

	// Three idle connections of a client that sent nothing.
	for range 3 {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
	}
	get := func(method, path string) ConnStats {
		t.Helper()
		// A connection of its own, closed with the answer.
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var s struct {
			Connections ConnStats `json:"connections"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
			t.Fatal(err)
		}
		return s.Connections
	}
	// The server counts a connection when it accepts it, which may be after the client's dial
	// returned, and uncounts the previous stats request's after that request has its answer:
	// poll until the three and the stats request's own are what is counted.
	var s ConnStats
	for range 1000 {
		if s = get(http.MethodGet, "/emulator/stats"); s.Open == 4 {
			break
		}
	}
	if s.Open != 4 || s.Peak < 4 {
		t.Errorf("with 3 idle connections, stats say %+v, want open 4 (the stats request's own included), peak at least 4", s)
	}
	if got := e.Connections(); got.Open < 3 {
		t.Errorf("Connections() = %+v, want at least the 3 idle ones open", got)
	}
	if s := get(http.MethodPost, "/emulator/reset"); s.Peak != s.Open {
		t.Errorf("after POST /emulator/reset: %+v, want the peak equal to the open ones", s)
	}
}
