// Command run is make bench: it measures get_agent on the baselines and on the gateway, each
// server in a process of its own and one after another, under the same load and settings, and
// prints one table with each row's ratio to its baseline. docs/performance.md explains the rows
// and holds a run's table.
//
//	go run ./bench/run [-sat 4s] [-fixed 3s] [-rate 1000] [-only substring] [-profile cpu.pprof]
//
// gRPC rows are loaded by ghz (pinned below, through server reflection: it cannot parse the
// protos' proto3 optional fields from files), REST rows by bench/load, both with 50 requests in
// flight (ghz on 2 connections, bench/load on 50 keep-alive connections, as wrk's are).
package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/livechat-gateway/gateway/bench/load"
)

// rows are the table's rows, in its order. A gateway row's env is added to the gateway's
// environment; @redis stands for the URL of a redis-server started for the row. The Redis rows
// set CACHE_NEAR_MAX_BYTES either way, "on" at its default (32 MiB), so that a change of the
// default does not change what a row measures.
var rows = []row{
	{name: "B1 grpc-go, fixed Agent", server: serverB1, grpc: true},
	{name: "B2 grpc-gateway over B1", server: serverB2},
	{name: "B3 emulator, direct", server: serverB3},
	{name: "gateway gRPC hit, in-process store", server: serverGateway, grpc: true},
	{name: "gateway gRPC hit, in-process store, LOG_LEVEL=warn", server: serverGateway, grpc: true, env: "LOG_LEVEL=warn"},
	{name: "gateway gRPC hit, Redis, near cache off", server: serverGateway, grpc: true, env: "REDIS_URL=@redis CACHE_NEAR_MAX_BYTES=0"},
	{name: "gateway gRPC hit, Redis, near cache on", server: serverGateway, grpc: true, env: "REDIS_URL=@redis CACHE_NEAR_MAX_BYTES=33554432"},
	{name: "gateway REST hit, in-process store", server: serverGateway},
	{name: "gateway REST hit, Redis, near cache off", server: serverGateway, env: "REDIS_URL=@redis CACHE_NEAR_MAX_BYTES=0"},
	{name: "gateway REST hit, Redis, near cache on", server: serverGateway, env: "REDIS_URL=@redis CACHE_NEAR_MAX_BYTES=33554432"},
	{name: "gateway gRPC miss, in-process store", server: serverGateway, grpc: true, miss: true},
	{name: "gateway gRPC miss, Redis, near cache on", server: serverGateway, grpc: true, miss: true, env: "REDIS_URL=@redis CACHE_NEAR_MAX_BYTES=33554432"},
	{name: "gateway REST miss, in-process store", server: serverGateway, miss: true},
	{name: "gateway REST miss, Redis, near cache on", server: serverGateway, miss: true, env: "REDIS_URL=@redis CACHE_NEAR_MAX_BYTES=33554432"},
}

// gatewayEnv is every gateway row's environment, besides its addresses and upstream; a row's env
// comes after it and wins. LOG_LEVEL is the default, a log line per call, which is what a
// deployed gateway pays. Every call of make bench is one credential's: at the default
// UPSTREAM_MAX_CONCURRENT_PER_CREDENTIAL (16) most of a miss row's 50 calls in flight would be
// shed, which would measure shedding, not misses. Tracing is off, as by default, even when the
// shell that runs make bench names an OTLP endpoint; a row may turn it on.
var gatewayEnv = []string{
	"CACHE_KEY_SECRET=make-bench-cache-key-secret",
	"GATEWAY_DRAIN_DELAY=0",
	"LOG_LEVEL=info",
	"OTEL_SDK_DISABLED=true",
	"UPSTREAM_MAX_CONCURRENT_PER_CREDENTIAL=64",
}

// ghzVersion is the ghz that loads the gRPC rows, built from the Go module proxy. Its own
// go.mod decides its dependencies, which stay out of the gateway's.
const ghzVersion = "v0.121.0"

// The call every row serves: get_agent of the emulator's owner-a, as owner-a.
const (
	method = "livechat.configuration.v1.AgentService/GetAgent"
	body   = `{"id":"owner-a@example.com"}`
	token  = "Bearer dal:owner-a"
	path   = "/v3.2/configuration/action/get_agent"
)

// warmup is how many calls warm a row up before it is measured.
const warmup = 500

type serverKind int

const (
	serverB1 serverKind = iota
	serverB2
	serverB3
	serverGateway
)

type row struct {
	name   string
	server serverKind
	grpc   bool // loaded over gRPC with ghz, else over REST with bench/load
	// miss sends Cache-Control: no-cache, the gateway's bypass: each call looks its entry up,
	// goes upstream and refreshes the entry, so it pays what a miss pays.
	miss bool
	env  string
}

// result is a row's measures.
type result struct {
	rps             float64       // at saturation
	p50, p99        time.Duration // at the fixed rate
	p99Half         time.Duration // at half the row's saturating rate
	rssKiB          int           // the server's VmHWM
	cpuPerCall      time.Duration // the server's CPU time at saturation, per call answered
	allocsPerCall   float64       // gateway rows: heap allocations at saturation, per call answered
	errors          int           // failed calls, all runs together
	firstError      string
	upstreamPerCall float64 // gateway rows: upstream calls per call answered, all runs together
	coldUpstream    int64   // gateway rows: upstream calls of the warm-up, which starts cold
}

type settings struct {
	sat, fixed time.Duration
	rate       float64
	bin        string // where the binaries are built
}

func main() {
	var s settings
	flag.DurationVar(&s.sat, "sat", 4*time.Second, "length of the run at saturation")
	flag.DurationVar(&s.fixed, "fixed", 3*time.Second, "length of each run at a fixed rate")
	flag.Float64Var(&s.rate, "rate", 1000, "the fixed moderate rate, calls a second")
	only := flag.String("only", "", "run only the rows whose name contains this (and the baselines)")
	profile := flag.String("profile", "", "take a 10s CPU profile of the gateway during a gRPC hit run, in-process store, into this file")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, s, *only, *profile)
	stop()
	stopAll()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, s settings, only, profile string) error {
	began := time.Now()
	machine()
	dir, err := os.MkdirTemp("", "make-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	s.bin = dir
	if err := build(ctx, dir); err != nil {
		return err
	}
	redis, err := exec.LookPath("redis-server")
	if err != nil {
		fmt.Println("no redis-server on PATH: the Redis rows are skipped (apt-get install redis-server)")
	}
	fmt.Printf("settings: c=50 (ghz: 2 connections), saturation %v, fixed rate %.0f/s for %v, half the saturating rate for %v\n\n",
		s.sat, s.rate, s.fixed, s.fixed)

	results := map[string]*result{}
	for _, r := range rows {
		if only != "" && r.server == serverGateway && !strings.Contains(r.name, only) {
			continue
		}
		if strings.Contains(r.env, "@redis") && redis == "" {
			continue
		}
		fmt.Fprintf(os.Stderr, "%s: ", r.name)
		t := time.Now()
		res, err := measure(ctx, s, r, redis)
		if err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		fmt.Fprintf(os.Stderr, "%.0f/s (%.1fs)\n", res.rps, time.Since(t).Seconds())
		results[r.name] = res
	}
	// The machine's load drifts over a run: the baselines are measured again at its end, and
	// each gateway row is compared with the mean of its baseline's two measures.
	var drift []string
	for _, r := range rows[:3] {
		first := results[r.name]
		fmt.Fprintf(os.Stderr, "%s, again: ", r.name)
		last, err := measure(ctx, s, r, redis)
		if err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		fmt.Fprintf(os.Stderr, "%.0f/s\n", last.rps)
		drift = append(drift, fmt.Sprintf("%s %.0f then %.0f/s, CPU %.0f then %.0f µs per call", strings.Fields(r.name)[0],
			first.rps, last.rps, float64(first.cpuPerCall)/1e3, float64(last.cpuPerCall)/1e3))
		results[r.name] = mean(first, last)
	}
	table(results)
	fmt.Printf("\nThe baselines, measured first and last (the table has their means): %s.\n", strings.Join(drift, "; "))
	targets(results)
	if profile != "" {
		if err := takeProfile(ctx, s, profile); err != nil {
			return err
		}
	}
	fmt.Printf("\nload average at the end: %s; make bench took %.0fs\n", loadavg(), time.Since(began).Seconds())
	return nil
}

// machine prints what the table was measured on: the figures mean little without it.
func machine() {
	model := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	fmt.Printf("machine: %d cores (nproc), CPU %s, %s %s/%s\n", runtime.NumCPU(), model, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Printf("load average at the start: %s (a busy machine lowers every row; compare ratios)\n", loadavg())
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// build builds the servers without the race detector, and ghz.
func build(ctx context.Context, dir string) error {
	for _, b := range []struct{ out, pkg string }{
		{"gateway", "./cmd/gateway"},
		{"livechat-emulator", "./cmd/livechat-emulator"},
		{"baseline", "./bench/baseline"},
	} {
		if err := gocmd(ctx, nil, "build", "-o", filepath.Join(dir, b.out), b.pkg); err != nil {
			return err
		}
	}
	return gocmd(ctx, []string{"GOBIN=" + dir}, "install", "github.com/bojand/ghz/cmd/ghz@"+ghzVersion)
}

func gocmd(ctx context.Context, env []string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// measure starts a row's processes, loads it and stops them.
func measure(ctx context.Context, s settings, r row, redis string) (*result, error) {
	defer stopAll()
	var upstream string
	if r.server == serverB3 || r.server == serverGateway {
		addr := freeAddr()
		if _, err := start(s.bin, nil, "livechat-emulator", "-addr", addr); err != nil {
			return nil, err
		}
		upstream = "http://" + addr
		if err := waitHTTP(ctx, upstream+"/emulator/stats"); err != nil {
			return nil, err
		}
	}
	var (
		server  *exec.Cmd
		target  string // host:port of gRPC, or the REST call's URL
		metrics string // the gateway's /metrics
		err     error
	)
	switch r.server {
	case serverB1:
		target = freeAddr()
		server, err = start(s.bin, nil, "baseline", "-grpc", target)
		if err == nil {
			err = waitTCP(ctx, target)
		}
	case serverB2:
		addr := freeAddr()
		target = "http://" + addr + path
		server, err = start(s.bin, nil, "baseline", "-rest", addr)
		if err == nil {
			err = waitTCP(ctx, addr)
		}
	case serverB3:
		server, target = procs[len(procs)-1], upstream+path
	case serverGateway:
		server, target, metrics, err = startGateway(ctx, s, r, upstream, redis, "")
	}
	if err != nil {
		return nil, err
	}

	res := &result{}
	calls := func(rate float64, d time.Duration, n int) (load.Result, error) {
		lr, err := loadRow(ctx, s, r, target, rate, d, n)
		res.errors += lr.Errors
		if res.firstError == "" {
			res.firstError = lr.FirstError
		}
		return lr, err
	}
	// A warm-up: connections, the first fill of a hit row's entry, the servers' first growth.
	// Its 500 identical calls, 50 at a time, start on an empty cache: a hit row's upstream
	// calls during it are those of N identical concurrent reads, which should be one.
	cold := upstreamCalls(ctx, upstream)
	if _, err := calls(0, 0, warmup); err != nil {
		return nil, err
	}
	before := upstreamCalls(ctx, upstream)
	res.coldUpstream = before - cold
	cpu, mallocs := cpuTime(server.Process.Pid), goMallocs(ctx, metrics)
	sat, err := calls(0, s.sat, 0)
	if err != nil {
		return nil, err
	}
	if sat.Requests > 0 {
		res.cpuPerCall = (cpuTime(server.Process.Pid) - cpu) / time.Duration(sat.Requests)
		if metrics != "" {
			res.allocsPerCall = (goMallocs(ctx, metrics) - mallocs) / float64(sat.Requests)
		}
	}
	fixed, err := calls(s.rate, s.fixed, 0)
	if err != nil {
		return nil, err
	}
	half, err := calls(sat.RPS()/2, s.fixed, 0)
	if err != nil {
		return nil, err
	}
	if r.server == serverGateway {
		answered := sat.Requests + fixed.Requests + half.Requests
		res.upstreamPerCall = float64(upstreamCalls(ctx, upstream)-before) / float64(answered)
	}
	res.rps, res.p50, res.p99, res.p99Half = sat.RPS(), fixed.P50, fixed.P99, half.P99
	res.rssKiB = hwm(server.Process.Pid)
	return res, nil
}

// mean is the mean of a baseline's two measures; its peak memory is the larger.
func mean(a, b *result) *result {
	avg := func(x, y time.Duration) time.Duration { return (x + y) / 2 }
	return &result{
		rps: (a.rps + b.rps) / 2, p50: avg(a.p50, b.p50), p99: avg(a.p99, b.p99), p99Half: avg(a.p99Half, b.p99Half),
		rssKiB: max(a.rssKiB, b.rssKiB), cpuPerCall: avg(a.cpuPerCall, b.cpuPerCall),
		errors: a.errors + b.errors, firstError: cmp.Or(a.firstError, b.firstError),
	}
}

// startGateway starts the gateway of row r in front of upstream, with a redis-server when its
// env names @redis, and returns its process, target and /metrics URL. pprof, when set, is
// PPROF_ADDR.
func startGateway(ctx context.Context, s settings, r row, upstream, redis, pprof string) (cmd *exec.Cmd, target, metrics string, err error) {
	grpcAddr, httpAddr := freeAddr(), freeAddr()
	env := append([]string{
		"GATEWAY_GRPC_ADDR=" + grpcAddr,
		"GATEWAY_HTTP_ADDR=" + httpAddr,
		"LIVECHAT_API_URL=" + upstream,
	}, gatewayEnv...)
	if pprof != "" {
		env = append(env, "PPROF_ADDR="+pprof)
	}
	for _, kv := range strings.Fields(r.env) {
		if strings.Contains(kv, "@redis") {
			addr := freeAddr()
			_, port, _ := net.SplitHostPort(addr)
			if _, err := startBin(redis, nil, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"); err != nil {
				return nil, "", "", err
			}
			if err := waitTCP(ctx, addr); err != nil {
				return nil, "", "", err
			}
			kv = strings.ReplaceAll(kv, "@redis", "redis://"+addr)
		}
		env = append(env, kv)
	}
	cmd, err = start(s.bin, env, "gateway")
	if err != nil {
		return nil, "", "", err
	}
	if err := waitHTTP(ctx, "http://"+httpAddr+"/readyz"); err != nil {
		return nil, "", "", err
	}
	metrics = "http://" + httpAddr + "/metrics"
	if r.grpc {
		return cmd, grpcAddr, metrics, nil
	}
	return cmd, "http://" + httpAddr + path, metrics, nil
}

// loadRow makes one run on row r's target: n calls, or calls for d, at rate (0: saturation).
func loadRow(ctx context.Context, s settings, r row, target string, rate float64, d time.Duration, n int) (load.Result, error) {
	if r.grpc {
		return ghz(ctx, s, r, target, rate, d, n)
	}
	h := http.Header{}
	h.Set("Authorization", token)
	h.Set("Content-Type", "application/json")
	if r.miss {
		h.Set("Cache-Control", "no-cache")
	}
	return load.Run(ctx, load.Config{URL: target, Body: []byte(body), Header: h, Concurrency: 50, Duration: d, N: n, Rate: rate})
}

// ghzReport is the part of ghz's JSON report that the table uses.
type ghzReport struct {
	Total          int64          `json:"total"` // ns
	StatusCodeDist map[string]int `json:"statusCodeDistribution"`
	ErrorDist      map[string]int `json:"errorDistribution"`
	LatencyDist    []struct {
		Percentage int   `json:"percentage"`
		Latency    int64 `json:"latency"` // ns
	} `json:"latencyDistribution"`
}

func ghz(ctx context.Context, s settings, r row, target string, rate float64, d time.Duration, n int) (load.Result, error) {
	md := map[string]string{"authorization": token}
	if r.miss {
		md["cache-control"] = "no-cache"
	}
	mdJSON, _ := json.Marshal(md)
	args := []string{"--insecure", "--call", method, "-d", body, "-m", string(mdJSON),
		"-c", "50", "--connections", "2", "-O", "json"}
	if n > 0 {
		args = append(args, "-n", strconv.Itoa(n))
	} else {
		args = append(args, "-z", d.String())
	}
	if rate > 0 {
		args = append(args, "--rps", strconv.Itoa(int(rate)))
	}
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, "ghz"), append(args, target)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return load.Result{}, fmt.Errorf("ghz: %w: %s", err, stderr.String())
	}
	return parseGHZ(&out)
}

// parseGHZ reads ghz's JSON report.
func parseGHZ(r io.Reader) (load.Result, error) {
	var rep ghzReport
	if err := json.NewDecoder(r).Decode(&rep); err != nil {
		return load.Result{}, fmt.Errorf("ghz's report: %w", err)
	}
	res := load.Result{Requests: rep.StatusCodeDist["OK"], Elapsed: time.Duration(rep.Total)}
	for e, n := range rep.ErrorDist {
		// ghz ends a timed run by closing its connections under the calls in flight, whose
		// errors are its own, not the server's.
		if strings.Contains(e, "use of closed network connection") ||
			strings.Contains(e, "the client connection is closing") || strings.Contains(e, "transport is closing") ||
			strings.Contains(e, "code = Canceled") {
			continue
		}
		res.Errors += n
		if res.FirstError == "" {
			res.FirstError = e
		}
	}
	for _, l := range rep.LatencyDist {
		switch l.Percentage {
		case 50:
			res.P50 = time.Duration(l.Latency)
		case 99:
			res.P99 = time.Duration(l.Latency)
		}
	}
	return res, nil
}

// upstreamCalls is how many get_agent calls the emulator at url has answered; 0 without one.
func upstreamCalls(ctx context.Context, url string) int64 {
	if url == "" {
		return 0
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/emulator/stats", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var stats struct {
		Calls map[string]int64 `json:"calls"`
	}
	json.NewDecoder(resp.Body).Decode(&stats)
	return stats.Calls["get_agent"]
}

// goMallocs is the gateway's heap allocations so far (go_memstats_mallocs_total on its
// /metrics at url); 0 when it cannot be read.
func goMallocs(ctx context.Context, url string) float64 {
	if url == "" {
		return 0
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "go_memstats_mallocs_total "); ok {
			n, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return n
		}
	}
	return 0
}

// cpuTime is the CPU time process pid has used, user and system (/proc/<pid>/stat, in the
// kernel's USER_HZ ticks, 100 a second on Linux). It does not depend on how much of the machine
// the load generator takes, which the throughput does: the two share the cores.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command's name, which is in parentheses and may hold spaces; utime
	// and stime are the stat file's 14th and 15th fields.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * (time.Second / 100)
}

// hwm is the peak resident set of process pid, in KiB (VmHWM; VmRSS where there is none).
func hwm(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	kib := map[string]int{}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && (k == "VmHWM" || k == "VmRSS") {
			kib[k], _ = strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	if kib["VmHWM"] > 0 {
		return kib["VmHWM"]
	}
	return kib["VmRSS"]
}

// targets prints issue 13's targets against this run's results, so that each run says which are
// met (docs/performance.md explains the shortfalls). A target whose row was not run says so.
func targets(results map[string]*result) {
	b1, b2, b3 := results[rows[0].name], results[rows[1].name], results[rows[2].name]
	fmt.Println()
	fmt.Println("| target (issue 13) | this run | met |")
	fmt.Println("|---|---|---|")
	line := func(what, measured string, met bool) {
		verdict := "no"
		switch {
		case measured == "not run":
			verdict = "n/a"
		case met:
			verdict = "yes"
		}
		fmt.Printf("| %s | %s | %s |\n", what, measured, verdict)
	}
	ratio := func(what, name string, base *result, target float64) {
		r := results[name]
		if r == nil || base == nil || base.rps == 0 {
			line(what, "not run", false)
			return
		}
		measured := fmt.Sprintf("%.2f", r.rps/base.rps)
		if base.cpuPerCall > 0 {
			// Beside it, the steadier figure on a shared machine (docs/performance.md).
			measured += fmt.Sprintf(" (CPU per call x%.1f)", float64(r.cpuPerCall)/float64(base.cpuPerCall))
		}
		line(what, measured, r.rps/base.rps >= target)
	}
	ratio("gRPC hit, in-process store, throughput vs B1 ≥ 0.90", "gateway gRPC hit, in-process store", b1, 0.90)
	ratio("gRPC hit, Redis (near cache on), vs B1 ≥ 0.85", "gateway gRPC hit, Redis, near cache on", b1, 0.85)
	ratio("REST hit, in-process store, vs B2 ≥ 0.85", "gateway REST hit, in-process store", b2, 0.85)
	ratio("REST hit, Redis (near cache on), vs B2 ≥ 0.80", "gateway REST hit, Redis, near cache on", b2, 0.80)

	var (
		delta, p99        time.Duration
		cold              int64
		rss               int
		misses, hits, gws int
	)
	for _, r := range rows {
		res := results[r.name]
		if res == nil || r.server != serverGateway {
			continue
		}
		gws++
		rss = max(rss, res.rssKiB)
		if r.miss && b3 != nil {
			if misses == 0 || res.p50-b3.p50 > delta {
				delta = res.p50 - b3.p50
			}
			misses++
		} else if !r.miss {
			p99, cold = max(p99, res.p99Half), max(cold, res.coldUpstream)
			hits++
		}
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	if misses > 0 {
		line("miss: p50 minus B3's p50 ≤ 0.2 ms (the worst miss row)", fmt.Sprintf("%+.3f ms", ms(delta)), delta <= 200*time.Microsecond)
	} else {
		line("miss: p50 minus B3's p50 ≤ 0.2 ms", "not run", false)
	}
	if hits > 0 {
		line("p99 of a hit at half its saturating rate ≤ 2 ms (the worst hit row)", fmt.Sprintf("%.3f ms", ms(p99)), p99 <= 2*time.Millisecond)
		line(fmt.Sprintf("upstream calls for N identical concurrent reads: 1 (a hit row's cold warm-up, N=%d)", warmup),
			fmt.Sprintf("at most %d", cold), cold <= 1)
	} else {
		line("p99 of a hit at half its saturating rate ≤ 2 ms", "not run", false)
		line("upstream calls for N identical concurrent reads: 1", "not run", false)
	}
	if gws > 0 {
		line("gateway RSS at saturation, c=50 ≤ 64 MiB (the largest row)", fmt.Sprintf("%.1f MiB", float64(rss)/1024), rss <= 64<<10)
	}
}

// table prints the results as a Markdown table, in the rows' order.
func table(results map[string]*result) {
	base := func(name string) *result {
		if r := results[name]; r != nil && r.rps > 0 {
			return r
		}
		return nil
	}
	b1, b2, b3 := base(rows[0].name), base(rows[1].name), base(rows[2].name)
	fmt.Println()
	fmt.Println("| get_agent | rps at saturation | ratio to its baseline | server CPU µs per call (to its baseline's) | allocs per call | p50 ms | p99 ms | p99 ms at half its rps | p50 minus B3's p50, ms | RSS MiB | upstream calls per call | errors |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|")
	ms := func(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond)) }
	for _, r := range rows {
		res := results[r.name]
		if res == nil {
			continue
		}
		ratio, delta, upstream, allocs := "n/a", "n/a", "n/a", "n/a"
		cpu := fmt.Sprintf("%.0f", float64(res.cpuPerCall)/float64(time.Microsecond))
		ratioTo := func(b *result, name string) {
			ratio = fmt.Sprintf("%.2f of %s", res.rps/b.rps, name)
			if b.cpuPerCall > 0 {
				cpu += fmt.Sprintf(" (x%.1f)", float64(res.cpuPerCall)/float64(b.cpuPerCall))
			}
		}
		switch {
		case r.server == serverB1 || r.server == serverB2:
			ratio = "1 (baseline)"
		case r.server == serverB3:
			delta = "0 (baseline)"
		case r.grpc && b1 != nil:
			ratioTo(b1, "B1")
		case !r.grpc && b2 != nil:
			ratioTo(b2, "B2")
		}
		if r.server == serverGateway {
			upstream = fmt.Sprintf("%.3f (warm-up: %d for %d)", res.upstreamPerCall, res.coldUpstream, warmup)
			allocs = fmt.Sprintf("%.0f", res.allocsPerCall)
			if r.miss && b3 != nil {
				delta = fmt.Sprintf("%+.3f", float64(res.p50-b3.p50)/float64(time.Millisecond))
			}
		}
		errs := strconv.Itoa(res.errors)
		if res.errors > 0 {
			errs += " (" + res.firstError + ")"
		}
		fmt.Printf("| %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %.1f | %s | %s |\n", r.name, res.rps, ratio, cpu, allocs,
			ms(res.p50), ms(res.p99), ms(res.p99Half), delta, float64(res.rssKiB)/1024, upstream, errs)
	}
}

// takeProfile runs the gateway's gRPC hit row (in-process store) with PPROF_ADDR for 12s under
// saturation, takes a 10s CPU profile in its middle into file, and prints its top.
func takeProfile(ctx context.Context, s settings, file string) error {
	defer stopAll()
	r := row{name: "gateway gRPC hit, in-process store", server: serverGateway, grpc: true}
	addr := freeAddr()
	if _, err := start(s.bin, nil, "livechat-emulator", "-addr", addr); err != nil {
		return err
	}
	if err := waitHTTP(ctx, "http://"+addr+"/emulator/stats"); err != nil {
		return err
	}
	pprof := freeAddr()
	_, target, _, err := startGateway(ctx, s, r, "http://"+addr, "", pprof)
	if err != nil {
		return err
	}
	if _, err := ghz(ctx, s, r, target, 0, 0, 500); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { _, err := ghz(ctx, s, r, target, 0, 12*time.Second, 0); errc <- err }()
	// A pause by design, not a synchronisation: the profile should see the load at its steady
	// rate, not ghz opening its connections.
	time.Sleep(time.Second)
	resp, err := http.Get("http://" + pprof + "/debug/pprof/profile?seconds=10")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := <-errc; err != nil {
		return err
	}
	fmt.Printf("\nCPU profile of the gateway, %s, 10s under saturation (%s):\n", r.name, file)
	return gocmdOut(ctx, "tool", "pprof", "-top", "-nodecount=25", filepath.Join(s.bin, "gateway"), file)
}

func gocmdOut(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

// The processes of the row being measured, stopped after it and at exit, whatever happened.
var (
	procsMu sync.Mutex
	procs   []*exec.Cmd
)

func start(bin string, env []string, name string, args ...string) (*exec.Cmd, error) {
	return startBin(filepath.Join(bin, name), env, args...)
}

func startBin(path string, env []string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	// A server's output is kept only to be shown if it fails to start.
	cmd.Stdout, cmd.Stderr = io.Discard, &tail{}
	// Should this process die without stopping its servers, the kernel kills them.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	procsMu.Lock()
	procs = append(procs, cmd)
	procsMu.Unlock()
	return cmd, nil
}

// stopAll kills the processes started so far and waits for them.
func stopAll() {
	procsMu.Lock()
	defer procsMu.Unlock()
	for _, p := range procs {
		p.Process.Kill()
		p.Wait()
	}
	procs = nil
}

// tail keeps the last 4 KiB written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 4096 {
		t.buf = t.buf[len(t.buf)-4096:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serverOutput is what the processes started so far printed last, for an error.
func serverOutput() string {
	procsMu.Lock()
	defer procsMu.Unlock()
	var b strings.Builder
	for _, p := range procs {
		if t, ok := p.Stderr.(*tail); ok && t.String() != "" {
			fmt.Fprintf(&b, "\n%s: %s", filepath.Base(p.Path), t)
		}
	}
	return b.String()
}

func waitTCP(ctx context.Context, addr string) error {
	return wait(ctx, addr, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func waitHTTP(ctx context.Context, url string) error {
	return wait(ctx, url, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func wait(ctx context.Context, what string, ready func() bool) error {
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		if ready() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return errors.Join(fmt.Errorf("%s not ready after 15s", what), errors.New(serverOutput()))
}
