package main

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/testutil/testpki"
)

// TestMain lets the test binary stand in for the command: run with RUN_GATEWAY_MAIN=1, it runs
// main, so the tests start the real command as a separate process without building it.
func TestMain(m *testing.M) {
	if os.Getenv("RUN_GATEWAY_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// startDev runs `gateway -dev` on free ports with extra environment variables, and returns the
// process, its REST URL and the help it printed (up to devHelpEnd, its last line).
func startDev(t *testing.T, env ...string) (*exec.Cmd, string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-dev")
	cmd.Env = append(append(os.Environ(), "RUN_GATEWAY_MAIN=1",
		"GATEWAY_GRPC_ADDR=127.0.0.1:0", "GATEWAY_HTTP_ADDR=127.0.0.1:0"), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &testutil.SyncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		// The gateway's log lines, one per call, never hold a token.
		for _, tok := range []string{"dal:owner-a", "Bearer"} {
			if strings.Contains(logs.String(), tok) {
				t.Errorf("the gateway logged %q:\n%s", tok, logs.String())
			}
		}
		if !strings.Contains(logs.String(), `"msg":"finished call"`) {
			t.Errorf("the gateway logged no call:\n%s", logs.String())
		}
	})
	var printed strings.Builder
	lines := bufio.NewScanner(out)
	restURL := regexp.MustCompile(`REST on (https?://\S+),`)
	var url string
	for lines.Scan() {
		printed.WriteString(lines.Text() + "\n")
		if m := restURL.FindStringSubmatch(lines.Text()); m != nil {
			url = m[1]
		}
		if lines.Text() == devHelpEnd {
			go io.Copy(io.Discard, out)
			break
		}
	}
	if url == "" {
		t.Fatalf("gateway -dev printed no REST address:\n%s", printed.String())
	}
	// Over TLS, the test's own readiness poll need not check the certificate: the tests that
	// call the gateway do.
	probe := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer probe.CloseIdleConnections()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if resp, err := probe.Get(url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cmd, url, printed.String()
			}
		}
	}
	t.Fatal("gateway -dev did not become ready")
	return nil, "", ""
}

func listGroups(url string) (int, error) {
	req, _ := http.NewRequest(http.MethodPost, url+"/v3.2/configuration/action/list_groups", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer dal:owner-a")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// TestDev runs the README's first command: it prints the tokens and working examples, and
// serves REST offline.
func TestDev(t *testing.T) {
	_, url, printed := startDev(t)
	for _, want := range []string{"dal:owner-a", "dal:readonly-a", "dal:owner-b", "fra:owner-f", "curl", "grpcurl"} {
		if !strings.Contains(printed, want) {
			t.Errorf("gateway -dev did not print %q:\n%s", want, printed)
		}
	}
	if code, err := listGroups(url); err != nil || code != http.StatusOK {
		t.Errorf("list_groups through gateway -dev = %d, %v", code, err)
	}
}

// TestGracefulShutdown sends SIGTERM while slow calls are in flight: they finish with 200, and
// the process exits 0.
func TestGracefulShutdown(t *testing.T) {
	cmd, url, _ := startDev(t, "EMULATOR_LATENCY=1s")
	const inflight = 5
	var wg sync.WaitGroup
	codes := make(chan int, inflight)
	for range inflight {
		wg.Go(func() {
			code, err := listGroups(url)
			if err != nil {
				t.Errorf("an in-flight call failed: %v", err)
			}
			codes <- code
		})
	}
	time.Sleep(300 * time.Millisecond) // the calls are now waiting on the emulator's latency
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != http.StatusOK {
			t.Errorf("an in-flight call ended with %d during shutdown, want 200", code)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM the gateway exited with %v, want 0", err)
	}
}

// TestBadConfig checks that bad settings stop the gateway, each named.
func TestBadConfig(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "RUN_GATEWAY_MAIN=1", "CACHE_TTL=2h", "UPSTREAM_TIMEOUT=soon", "LIVECHAT_API_URL=ftp://x")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the gateway started with bad settings:\n%s", out)
	}
	for _, name := range []string{"CACHE_TTL", "UPSTREAM_TIMEOUT", "LIVECHAT_API_URL"} {
		if !strings.Contains(string(out), name) {
			t.Errorf("the error does not name %s:\n%s", name, out)
		}
	}
}

// runHealthcheck runs `gateway -healthcheck` with GATEWAY_HTTP_ADDR=addr and extra environment
// variables, and returns its output and whether it exited 0.
func runHealthcheck(t *testing.T, addr string, env ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-healthcheck")
	cmd.Env = append(append(os.Environ(), "RUN_GATEWAY_MAIN=1", "GATEWAY_HTTP_ADDR="+addr), env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	if lines := strings.Count(strings.TrimSpace(string(out)), "\n") + 1; lines != 1 {
		t.Errorf("gateway -healthcheck printed %d lines, want 1:\n%s", lines, out)
	}
	return string(out), err == nil
}

// TestHealthcheck runs `gateway -healthcheck`, the Dockerfile's HEALTHCHECK: 0 against a running
// gateway (named with an unspecified host, as in the container), 1 against nothing listening
// and against a /healthz that does not answer 200.
func TestHealthcheck(t *testing.T) {
	_, url, _ := startDev(t)
	if code, err := listGroups(url); err != nil || code != http.StatusOK {
		t.Errorf("list_groups through gateway -dev = %d, %v", code, err)
	}
	_, port, err := net.SplitHostPort(strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{":" + port, "0.0.0.0:" + port, "127.0.0.1:" + port} {
		if out, ok := runHealthcheck(t, addr); !ok || !strings.Contains(out, "healthy") {
			t.Errorf("gateway -healthcheck with GATEWAY_HTTP_ADDR=%s against a running gateway: exit 0 = %v:\n%s", addr, ok, out)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nothing := ln.Addr().String()
	ln.Close()
	if out, ok := runHealthcheck(t, nothing); ok || !strings.Contains(out, "unhealthy") {
		t.Errorf("gateway -healthcheck against nothing listening: exit 0 = %v:\n%s", ok, out)
	}

	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	defer sick.Close()
	if out, ok := runHealthcheck(t, strings.TrimPrefix(sick.URL, "http://")); ok || !strings.Contains(out, "503") {
		t.Errorf("gateway -healthcheck against a /healthz answering 503: exit 0 = %v:\n%s", ok, out)
	}
}

// TestTLSHealthcheck: with TLS and client certificates on, `gateway -healthcheck` given the same
// TLS_* variables calls https://127.0.0.1:port/healthz and reports healthy, without a client
// certificate (the probes need none) and without the CA; without TLS_CERT_FILE it speaks
// plaintext to the TLS listener and reports unhealthy. gateway -dev prints https examples.
func TestTLSHealthcheck(t *testing.T) {
	ca := testpki.NewCA(t, "test CA")
	srv := ca.Server().WriteFiles()
	tlsEnv := []string{"TLS_CERT_FILE=" + srv.CertFile, "TLS_KEY_FILE=" + srv.KeyFile, "TLS_CLIENT_CA_FILE=" + ca.File}
	_, url, printed := startDev(t, tlsEnv...)
	if !strings.HasPrefix(url, "https://") || !strings.Contains(printed, "--cacert") {
		t.Errorf("gateway -dev with TLS printed:\n%s", printed)
	}
	// A call with a client certificate, which also gives startDev's check its call line.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool,
		Certificates: []tls.Certificate{ca.Client("test client").TLS}}}}
	defer client.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPost, url+"/v3.2/configuration/action/list_groups", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer dal:owner-a")
	req.Header.Set("Content-Type", "application/json")
	if resp, err := client.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("list_groups over mTLS: %v, %v", resp, err)
	} else {
		resp.Body.Close()
	}

	_, port, err := net.SplitHostPort(strings.TrimPrefix(url, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	if out, ok := runHealthcheck(t, ":"+port, tlsEnv...); !ok || !strings.Contains(out, "healthy: GET https://127.0.0.1:"+port+"/healthz") {
		t.Errorf("gateway -healthcheck with the TLS variables: exit 0 = %v:\n%s", ok, out)
	}
	if out, ok := runHealthcheck(t, ":"+port); ok || !strings.Contains(out, "unhealthy") {
		t.Errorf("gateway -healthcheck without TLS_CERT_FILE against the TLS listener: exit 0 = %v:\n%s", ok, out)
	}
}

// TestUnknownEnv: variables named like the gateway's (GATEWAY_, CACHE_, UPSTREAM_, TLS_, WEBHOOK_) that it does not
// read are reported at start in one warning, by name and never by value; others are not.
func TestUnknownEnv(t *testing.T) {
	got := unknownEnv([]string{"CACHE_TTL=1m", "CACHE_TTLL=1m", "GATEWAY_HTTP_ADRR=:1", "UPSTREAM_TIMEOUTS=3s",
		"GATEWAY_HTTP_ADRR=:2", "LOG_LEVEL=debug", "PATH=/bin", "EMULATOR_LATENCY=1s", "REDIS_URLS=x", "GATEWAY_DRAIN_DELAY=1s",
		"TLS_CLIENT_CA=ca.pem", "TLS_CERT_FILE=c.pem", "WEBHOOK_SECRET=a=b", "WEBHOOK_SECRETS=a=b"})
	if want := []string{"CACHE_TTLL", "GATEWAY_HTTP_ADRR", "TLS_CLIENT_CA", "UPSTREAM_TIMEOUTS", "WEBHOOK_SECRET"}; !slices.Equal(got, want) {
		t.Errorf("unknownEnv = %q, want %q", got, want)
	}

	// The real command: its gRPC port is taken, so it stops after the start-up checks.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "RUN_GATEWAY_MAIN=1", "GATEWAY_GRPC_ADDR="+taken.Addr().String(), "GATEWAY_HTTP_ADDR=127.0.0.1:0",
		"CACHE_KEY_SECRETT=secret-value-not-to-log", "UPSTREAM_TIMOUT=secret-value-not-to-log")
	out, _ := cmd.CombinedOutput()
	var warnings []string
	for line := range strings.Lines(string(out)) {
		if strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, "does not read") {
			warnings = append(warnings, line)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "CACHE_KEY_SECRETT") || !strings.Contains(warnings[0], "UPSTREAM_TIMOUT") {
		t.Errorf("the gateway did not warn once naming CACHE_KEY_SECRETT and UPSTREAM_TIMOUT:\n%s", out)
	}
	if strings.Contains(string(out), "secret-value-not-to-log") {
		t.Errorf("the gateway logged an unknown variable's value:\n%s", out)
	}
}
