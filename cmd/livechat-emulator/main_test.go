package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for the command: run with RUN_EMULATOR_MAIN=1, it runs
// main, so the tests below start the real command as a separate process without building it.
func TestMain(m *testing.M) {
	if os.Getenv("RUN_EMULATOR_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// process is a running livechat-emulator.
type process struct {
	cmd  *exec.Cmd
	url  string
	logs strings.Builder
}

// start runs the command with args and extra environment variables, and waits until it says
// where it listens.
func start(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(append(os.Environ(), "RUN_EMULATOR_MAIN=1"), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		p.logs.WriteString(lines.Text() + "\n")
		if u, ok := strings.CutPrefix(lines.Text(), "listening on "); ok {
			p.url = u
			go io.Copy(io.Discard, out)
			return p
		}
	}
	t.Fatalf("the emulator exited without listening; it printed:\n%s", p.logs.String())
	return nil
}

func (p *process) post(t *testing.T, action, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.url+"/v3.2/configuration/action/"+action, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer dal:owner-a")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func errorType(t *testing.T, resp *http.Response) string {
	t.Helper()
	var e struct {
		Error struct{ Type string } `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&e)
	return e.Error.Type
}

func (p *process) stats(t *testing.T) map[string]int64 {
	t.Helper()
	resp, err := http.Get(p.url + "/emulator/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct{ Calls map[string]int64 }
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s.Calls
}

// TestBinary runs the command plainly: it prints its tokens, serves the actions, counts calls,
// resets the counters, and exits 0 on SIGTERM.
func TestBinary(t *testing.T) {
	p := start(t, []string{"EMULATOR_DEPRECATION=2029-09-09"})
	for _, tok := range []string{"dal:owner-a", "dal:readonly-a", "dal:owner-b", "fra:owner-f"} {
		if !strings.Contains(p.logs.String(), tok) {
			t.Errorf("start-up output lacks token %s:\n%s", tok, p.logs.String())
		}
	}
	if s := p.stats(t); len(s) != 30 || s["list_groups"] != 0 {
		t.Errorf("stats at start = %v, want 30 actions at 0", s)
	}
	resp := p.post(t, "list_groups", `{}`)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Deprecation") != "2029-09-09" {
		t.Errorf("list_groups = %d, Deprecation %q", resp.StatusCode, resp.Header.Get("Deprecation"))
	}
	if n := p.stats(t)["list_groups"]; n != 1 {
		t.Errorf("stats list_groups = %d after one call", n)
	}
	r, err := http.Post(p.url+"/emulator/reset", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if n := p.stats(t)["list_groups"]; n != 0 {
		t.Errorf("stats list_groups = %d after reset", n)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM the emulator exited with %v, want 0", err)
	}
}

// TestBinaryFaults checks each fault-injection variable in the running command.
func TestBinaryFaults(t *testing.T) {
	t.Run("EMULATOR_ERROR_RATE", func(t *testing.T) {
		p := start(t, []string{"EMULATOR_ERROR_RATE=1"})
		resp := p.post(t, "list_groups", `{}`)
		if typ := errorType(t, resp); resp.StatusCode != 500 || typ != "internal" {
			t.Errorf("with error rate 1: %d %s, want 500 internal", resp.StatusCode, typ)
		}
	})
	t.Run("EMULATOR_THROTTLE_RATE", func(t *testing.T) {
		p := start(t, []string{"EMULATOR_THROTTLE_RATE=1"})
		resp := p.post(t, "list_groups", `{}`)
		if typ := errorType(t, resp); resp.StatusCode != 429 || typ != "too_many_requests" || resp.Header.Get("Retry-After") != "1" {
			t.Errorf("with throttle rate 1: %d %s Retry-After %q, want 429 too_many_requests 1", resp.StatusCode, typ, resp.Header.Get("Retry-After"))
		}
		if n := p.stats(t)["list_groups"]; n != 1 {
			t.Errorf("a throttled call was not counted: %d", n)
		}
	})
	t.Run("EMULATOR_LATENCY", func(t *testing.T) {
		const d = 100 * time.Millisecond
		p := start(t, []string{"EMULATOR_LATENCY=" + d.String()})
		begin := time.Now()
		resp := p.post(t, "list_groups", `{}`)
		if el := time.Since(begin); resp.StatusCode != 200 || el < d {
			t.Errorf("with latency %v: %d after %v", d, resp.StatusCode, el)
		}
	})
	t.Run("config", func(t *testing.T) {
		p := start(t, nil, "-config", "../../internal/emulator/testdata/spec-world.json")
		if !strings.Contains(p.logs.String(), "dal:spec") {
			t.Errorf("the config's token is not printed:\n%s", p.logs.String())
		}
	})
}

// TestBinaryBadEnvironment checks that bad settings stop the command with their names.
func TestBinaryBadEnvironment(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "RUN_EMULATOR_MAIN=1", "EMULATOR_ERROR_RATE=lots", "EMULATOR_LATENCY=-1s")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the emulator started with bad settings:\n%s", out)
	}
	for _, name := range []string{"EMULATOR_ERROR_RATE", "EMULATOR_LATENCY"} {
		if !strings.Contains(string(out), name) {
			t.Errorf("the error does not name %s:\n%s", name, out)
		}
	}
}

// TestBinaryConnections checks that the command feeds the connection counts of GET
// /emulator/stats: the stats request's own connection, at least, is open.
func TestBinaryConnections(t *testing.T) {
	p := start(t, nil)
	resp, err := http.Get(p.url + "/emulator/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct{ Connections struct{ Open, Peak int } }
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	if s.Connections.Open < 1 || s.Connections.Peak < s.Connections.Open {
		t.Errorf("stats connections = %+v, want at least the stats request's own open, and a peak no lower", s.Connections)
	}
}

// runHealthcheck runs `livechat-emulator -addr addr -healthcheck` and returns its output and
// whether it exited 0.
func runHealthcheck(t *testing.T, addr string) (string, bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-addr", addr, "-healthcheck")
	cmd.Env = append(os.Environ(), "RUN_EMULATOR_MAIN=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	if lines := strings.Count(strings.TrimSpace(string(out)), "\n") + 1; lines != 1 {
		t.Errorf("livechat-emulator -healthcheck printed %d lines, want 1:\n%s", lines, out)
	}
	return string(out), err == nil
}

// TestHealthcheck runs `livechat-emulator -healthcheck`, docker-compose.yml's health check of the
// emulator: 0 against a running emulator (also named with an unspecified host, as in the
// container), 1 against nothing listening and against an endpoint that does not answer 200.
func TestHealthcheck(t *testing.T) {
	p := start(t, nil)
	_, port, err := net.SplitHostPort(strings.TrimPrefix(p.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{":" + port, "0.0.0.0:" + port, "127.0.0.1:" + port} {
		if out, ok := runHealthcheck(t, addr); !ok || !strings.Contains(out, "healthy") {
			t.Errorf("-healthcheck -addr %s against a running emulator: exit 0 = %v:\n%s", addr, ok, out)
		}
	}
	// The check reads the stats; it is not an action call, so the counters stay at 0.
	if s := p.stats(t); s["list_groups"] != 0 {
		t.Errorf("stats after health checks = %v", s)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nothing := ln.Addr().String()
	ln.Close()
	if out, ok := runHealthcheck(t, nothing); ok || !strings.Contains(out, "unhealthy") {
		t.Errorf("-healthcheck against nothing listening: exit 0 = %v:\n%s", ok, out)
	}

	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	defer sick.Close()
	if out, ok := runHealthcheck(t, strings.TrimPrefix(sick.URL, "http://")); ok || !strings.Contains(out, "503") {
		t.Errorf("-healthcheck against an endpoint answering 503: exit 0 = %v:\n%s", ok, out)
	}
}
