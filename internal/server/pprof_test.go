package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/livechat-gateway/gateway/internal/server"
)

// TestPprof: with PPROF_ADDR set, net/http/pprof answers on its own listener, and the public
// HTTP port does not serve it; unset, there is no such listener; a bad address is refused by name.
func TestPprof(t *testing.T) {
	v := newEmulatorEnv(t, func(c *server.Config) { c.PprofAddr = "127.0.0.1:0" })
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if v.g.PprofAddr() == nil {
		t.Fatal("PprofAddr() = nil with PPROF_ADDR set")
	}
	if code, body := get("http://" + v.g.PprofAddr().String() + "/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("GET /debug/pprof/ on PPROF_ADDR = %d:\n%s", code, body)
	}
	if code, _ := get("http://" + v.g.PprofAddr().String() + "/debug/pprof/goroutine?debug=1"); code != http.StatusOK {
		t.Errorf("GET /debug/pprof/goroutine on PPROF_ADDR = %d, want 200", code)
	}
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine"} {
		if code, _ := get(v.httpURL + path); code != http.StatusNotFound {
			t.Errorf("GET %s on the public HTTP port = %d, want 404", path, code)
		}
	}

	if off := newEnv(t); off.g.PprofAddr() != nil {
		t.Errorf("PprofAddr() = %v with PPROF_ADDR unset, want nil", off.g.PprofAddr())
	}
	if _, err := server.ConfigFromEnv(func(k string) string { return map[string]string{"PPROF_ADDR": "6060"}[k] }); err == nil || !strings.Contains(err.Error(), "PPROF_ADDR") {
		t.Errorf("PPROF_ADDR=6060: %v, want it refused by name", err)
	}
}
