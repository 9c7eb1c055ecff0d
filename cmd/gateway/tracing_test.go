package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// collector is an OTLP/HTTP trace receiver that keeps the names of the spans it receives and the
// service.name of their resources.
type collector struct {
	mu       sync.Mutex
	spans    []string
	services []string
	bad      []string
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	c.mu.Lock()
	defer c.mu.Unlock()
	var req coltracepb.ExportTraceServiceRequest
	if r.URL.Path != "/v1/traces" || err != nil || proto.Unmarshal(b, &req) != nil {
		c.bad = append(c.bad, r.Method+" "+r.URL.Path)
		http.Error(w, "not an OTLP trace export", http.StatusBadRequest)
		return
	}
	for _, rs := range req.GetResourceSpans() {
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				c.services = append(c.services, kv.GetValue().GetStringValue())
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				c.spans = append(c.spans, s.GetName())
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Write(out)
}

// TestDevTracing runs `gateway -dev` with an OTLP endpoint: a call's spans reach the collector by
// the time the process has exited after SIGTERM (the batch's delay is longer than the test), so
// the exit flushed them; they name the service livechat-gateway.
func TestDevTracing(t *testing.T) {
	col := &collector{}
	srv := httptest.NewServer(col)
	t.Cleanup(srv.Close)
	cmd, url, _ := startDev(t, "OTEL_EXPORTER_OTLP_ENDPOINT="+srv.URL, "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_BSP_SCHEDULE_DELAY=600000") // 10 minutes: only the flush on exit can send them
	if code, err := listGroups(url); err != nil || code != http.StatusOK {
		t.Fatalf("list_groups through gateway -dev = %d, %v", code, err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGTERM the gateway exited with %v, want 0", err)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.bad) > 0 {
		t.Errorf("the collector received requests that are not OTLP trace exports: %v", col.bad)
	}
	got := strings.Join(col.spans, "\n")
	for _, want := range []string{
		"POST /v3.2/configuration/action/list_groups", // REST's server span and the upstream attempt's
		"livechat.configuration.v1.GroupService/ListGroups",
		"cache.read",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the collector received no span %q; it has:\n%s", want, got)
		}
	}
	for _, s := range col.services {
		if s != "livechat-gateway" {
			t.Errorf("service.name = %q, want livechat-gateway", s)
		}
	}
}

// TestTracingBadEnv: an OTEL_* value the gateway cannot honour stops it, named, rather than
// leaving it without the traces that were asked for.
func TestTracingBadEnv(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "RUN_GATEWAY_MAIN=1", "GATEWAY_GRPC_ADDR=127.0.0.1:0", "GATEWAY_HTTP_ADDR=127.0.0.1:0",
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL=http/json")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "OTEL_EXPORTER_OTLP_PROTOCOL") {
		t.Errorf("with OTEL_EXPORTER_OTLP_PROTOCOL=http/json the gateway = %v, want an error naming it:\n%s", err, out)
	}
}
