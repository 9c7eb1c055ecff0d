package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestParseGHZ checks that a ghz report's answers, latencies and errors are read, and that the
// errors ghz causes itself at the end of a timed run are not counted as the server's.
func TestParseGHZ(t *testing.T) {
	const report = `{"count": 1010, "total": 2000000000, "rps": 505,
		"statusCodeDistribution": {"OK": 1000, "Unavailable": 7, "ResourceExhausted": 3},
		"errorDistribution": {
			"rpc error: code = Unavailable desc = error reading from server: read tcp: use of closed network connection": 6,
			"rpc error: code = Unavailable desc = transport is closing": 1,
			"rpc error: code = ResourceExhausted desc = too many calls": 3},
		"latencyDistribution": [{"percentage": 10, "latency": 100000}, {"percentage": 50, "latency": 250000},
			{"percentage": 99, "latency": 1500000}],
		"details": [{"latency": 1}]}`
	res, err := parseGHZ(strings.NewReader(report))
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 1000 || res.Errors != 3 || !strings.Contains(res.FirstError, "ResourceExhausted") {
		t.Errorf("parseGHZ: %d answered, %d errors (%q), want 1000, 3 (ResourceExhausted)", res.Requests, res.Errors, res.FirstError)
	}
	if res.P50 != 250*time.Microsecond || res.P99 != 1500*time.Microsecond || res.RPS() != 500 {
		t.Errorf("parseGHZ: p50 %v, p99 %v, rps %v, want 250µs, 1.5ms, 500", res.P50, res.P99, res.RPS())
	}
}

// TestProcFigures checks that the figures read from /proc for a server are read: this process's
// peak memory, and CPU time, which a busy loop makes grow past the kernel's 10ms tick.
func TestProcFigures(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc here:", err)
	}
	pid := os.Getpid()
	if kib := hwm(pid); kib <= 0 {
		t.Errorf("hwm(self) = %d KiB", kib)
	}
	start := cpuTime(pid)
	for deadline := time.Now().Add(5 * time.Second); cpuTime(pid) <= start; {
		if time.Now().After(deadline) {
			t.Fatal("cpuTime(self) did not grow in 5s of a busy loop")
		}
		for i := 0; i < 1_000_000; i++ {
			_ = i * i
		}
	}
}
