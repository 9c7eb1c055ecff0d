// Package redistest starts real redis-server processes for tests: a single node (Server), a
// three-master Redis Cluster (Cluster) and a master watched by a Sentinel (Sentinel), on free
// 127.0.0.1 ports, in the test's temporary directory, stopped when the test ends.
//
// A test that needs Redis skips with a clear message when redis-server is not installed, except
// under CI (CI=true), where a missing Redis is a failure: CI must never pass by skipping.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// readyTimeout bounds every wait for a server to answer, so that a broken install fails the
// test in seconds instead of hanging it until the go test timeout.
const readyTimeout = 10 * time.Second

// startAttempts is how often a start is tried on a fresh port: a port found free can be taken
// by another process before redis-server binds it.
const startAttempts = 5

// Instance is one redis-server process. Its methods may be called from the test's goroutine
// only.
type Instance struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	// first and extra are the arguments before and after the common ones: a Sentinel's config
	// file and --sentinel, the cluster settings.
	first, extra []string
	// persistent makes the server keep its data in an append-only file in dir, written and
	// fsynced before each write is acknowledged (PersistentServer).
	persistent bool

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd has exited
	paused bool          // cmd was sent SIGSTOP and not SIGCONT since
}

// Server starts a redis-server on a free 127.0.0.1 port, without persistence, and stops it when
// the test ends.
func Server(t testing.TB) *Instance {
	t.Helper()
	bin := lookPath(t, "redis-server")
	in := &Instance{t: t, bin: bin, dir: t.TempDir()}
	t.Cleanup(in.Stop)
	in.startOnFreePort()
	return in
}

// PersistentServer starts a redis-server as Server does, but with persistence: an append-only file
// in its directory, fsynced before every write is acknowledged (--appendonly yes --appendfsync
// always), and no RDB snapshots. Restart, after Stop (SIGTERM) or Kill (SIGKILL, as a crash),
// brings it back with every write it acknowledged, as a production Redis configured for
// durability comes back.
func PersistentServer(t testing.TB) *Instance {
	t.Helper()
	bin := lookPath(t, "redis-server")
	in := &Instance{t: t, bin: bin, dir: t.TempDir(), persistent: true}
	t.Cleanup(in.Stop)
	in.startOnFreePort()
	return in
}

// Addr returns the server's host:port.
func (in *Instance) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(in.port)) }

// URL returns a REDIS_URL for the server, database 0.
func (in *Instance) URL() string { return "redis://" + in.Addr() + "/0" }

// Kill ends the server with SIGKILL, as a crash would, and waits until it has exited.
func (in *Instance) Kill() { in.signal(syscall.SIGKILL, 0) }

// Stop shuts the server down (SIGTERM, then SIGKILL after 5s) and waits until it has exited.
// Stopping a stopped server does nothing.
func (in *Instance) Stop() { in.signal(syscall.SIGTERM, 5*time.Second) }

// Pause freezes the server with SIGSTOP, as a hung host or a process stalled on its disk would
// freeze it: it keeps its port and its connections, and the kernel still accepts new ones, but
// nothing is answered, so clients time out instead of being refused. On Linux, Pause returns once
// the process is stopped; elsewhere, once the signal is sent. Resume lets the server go on, with
// its data. Stop, Kill and Restart work on a paused server too, and so does the test's cleanup.
func (in *Instance) Pause() {
	in.t.Helper()
	in.mu.Lock()
	cmd := in.cmd
	if cmd != nil {
		in.paused = true
	}
	in.mu.Unlock()
	if cmd == nil {
		in.t.Fatalf("redistest: Pause: the server on port %d is not running", in.port)
	}
	if err := cmd.Process.Signal(sigStop); err != nil {
		in.t.Fatalf("redistest: Pause: %v", err)
	}
	// The signal is queued at once but acted on when the kernel next looks at the process; wait
	// for that, so that the caller's next command meets a server that is really stopped.
	deadline := time.Now().Add(readyTimeout)
	for !stopped(cmd.Process.Pid) {
		if time.Now().After(deadline) {
			in.t.Fatalf("redistest: Pause: redis-server on port %d not stopped after %v", in.port, readyTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// Resume continues a server that Pause froze (SIGCONT) and returns once it answers PING again.
// Resuming a server that is not paused does nothing.
func (in *Instance) Resume() {
	in.t.Helper()
	in.mu.Lock()
	cmd, paused := in.cmd, in.paused
	in.paused = false
	in.mu.Unlock()
	if cmd == nil || !paused {
		return
	}
	if err := cmd.Process.Signal(sigCont); err != nil {
		in.t.Fatalf("redistest: Resume: %v", err)
	}
	deadline := time.Now().Add(readyTimeout)
	for {
		reply, err := Do(in.Addr(), "PING")
		if err == nil && reply == "PONG" {
			return
		}
		if time.Now().After(deadline) {
			in.t.Fatalf("redistest: Resume: redis-server on port %d not answering after %v: %q, %v", in.port, readyTimeout, reply, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Restart starts the server again on the same port with the same directory, stopping it first
// (SIGTERM) if it runs; after Kill it starts a crashed server again. A Server persists nothing,
// so it comes back empty, like a cache that lost its memory; a PersistentServer comes back with
// every write it acknowledged.
func (in *Instance) Restart() {
	in.t.Helper()
	in.Stop()
	var err error
	// Retry briefly: the port is ours, but the kernel may take a moment to release it.
	for range startAttempts {
		if err = in.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	in.t.Fatalf("redistest: restart on port %d: %v", in.port, err)
}

// startOnFreePort starts the server, trying fresh ports while the bind fails. prepare, when
// given, runs after each port is picked, to pick more ports and set in.extra.
func (in *Instance) startOnFreePort(prepare ...func() error) {
	in.t.Helper()
	var err error
	for range startAttempts {
		if in.port, err = freePort(); err != nil {
			continue
		}
		if len(prepare) > 0 {
			if err = prepare[0](); err != nil {
				continue
			}
		}
		if err = in.start(); err == nil {
			return
		}
	}
	in.t.Fatalf("redistest: start redis-server: %v", err)
}

// start runs redis-server on in.port and waits until it answers PING. On failure the process is
// gone and the error holds the end of its log.
func (in *Instance) start() error {
	logPath := filepath.Join(in.dir, "redis.log")
	aof := []string{"--appendonly", "no"}
	if in.persistent {
		aof = []string{"--appendonly", "yes", "--appendfsync", "always"}
	}
	args := append(append([]string{}, in.first...),
		"--port", strconv.Itoa(in.port),
		"--bind", "127.0.0.1",
		"--dir", in.dir,
		"--save", "",
		"--daemonize", "no",
		"--logfile", logPath,
	)
	args = append(args, aof...)
	args = append(args, in.extra...)
	cmd := exec.Command(in.bin, args...)
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait() // reap; the exit status of a test server is of no interest
		close(done)
	}()
	in.mu.Lock()
	in.cmd, in.done = cmd, done
	in.mu.Unlock()

	deadline := time.Now().Add(readyTimeout)
	for {
		reply, err := Do(in.Addr(), "PING")
		if err == nil && reply == "PONG" {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("redis-server on port %d exited: %s", in.port, tail(logPath))
		default:
		}
		if time.Now().After(deadline) {
			in.Kill()
			return fmt.Errorf("redis-server on port %d not ready after %v (last: %q, %v): %s",
				in.port, readyTimeout, reply, err, tail(logPath))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// signal sends sig and waits for the exit, escalating to SIGKILL after grace (if > 0).
func (in *Instance) signal(sig syscall.Signal, grace time.Duration) {
	in.mu.Lock()
	cmd, done, paused := in.cmd, in.done, in.paused
	in.cmd, in.paused = nil, false
	in.mu.Unlock()
	if cmd == nil {
		return
	}
	if paused {
		// A stopped process acts on no signal but SIGKILL until it is continued: without this, a
		// SIGTERM would wait out the whole grace period and end in a SIGKILL.
		cmd.Process.Signal(sigCont)
	}
	cmd.Process.Signal(sig)
	if grace > 0 {
		select {
		case <-done:
			return
		case <-time.After(grace):
			cmd.Process.Kill()
		}
	}
	<-done
}

// ClusterInstance is a Redis Cluster of three masters without replicas.
type ClusterInstance struct {
	// Nodes are the cluster's servers, in the order of Addrs.
	Nodes []*Instance
}

// Cluster starts a Redis Cluster of three masters on free 127.0.0.1 ports, creates it with
// `redis-cli --cluster create`, waits until every node reports cluster_state:ok, and stops it
// when the test ends.
func Cluster(t testing.TB) *ClusterInstance {
	t.Helper()
	bin := lookPath(t, "redis-server")
	cli := lookPath(t, "redis-cli")
	c := &ClusterInstance{}
	for range 3 {
		dir := t.TempDir()
		in := &Instance{t: t, bin: bin, dir: dir}
		t.Cleanup(in.Stop)
		var err error
		for range startAttempts {
			// The bus gets a port of its own (cluster-port, Redis 7.0+): the default, port+10000,
			// may be taken or out of range for a port the kernel handed out.
			var bus int
			if in.port, err = freePort(); err != nil {
				continue
			}
			if bus, err = freePort(); err != nil {
				continue
			}
			in.extra = []string{
				"--cluster-enabled", "yes",
				"--cluster-port", strconv.Itoa(bus),
				"--cluster-config-file", filepath.Join(dir, "nodes.conf"),
			}
			if err = in.start(); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("redistest: start cluster node: %v", err)
		}
		c.Nodes = append(c.Nodes, in)
	}

	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}

	// redis-cli returns once the slots are assigned; each node still has to hear of the others.
	deadline := time.Now().Add(readyTimeout)
	for _, in := range c.Nodes {
		for {
			info, err := Do(in.Addr(), "CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: cluster node %s not ok after %v: %q, %v", in.Addr(), readyTimeout, info, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return c
}

// Addrs returns the nodes' host:port addresses.
func (c *ClusterInstance) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, in := range c.Nodes {
		addrs[i] = in.Addr()
	}
	return addrs
}

// URL returns a REDIS_URL naming every node as a seed, in the gateway's cluster form.
func (c *ClusterInstance) URL() string {
	return "redis-cluster://" + strings.Join(c.Addrs(), ",")
}

// SentinelInstance is a Redis server watched by one Sentinel, as master "mymaster".
type SentinelInstance struct {
	Master, Sentinel *Instance
}

// Sentinel starts a Redis server and a Sentinel that monitors it as master "mymaster" (quorum
// 1), each on a free 127.0.0.1 port, and stops both when the test ends.
func Sentinel(t testing.TB) *SentinelInstance {
	t.Helper()
	master := Server(t)
	dir := t.TempDir()
	// Sentinel rewrites its config file, so it gets one of its own.
	conf := filepath.Join(dir, "sentinel.conf")
	monitor := fmt.Sprintf("sentinel monitor mymaster 127.0.0.1 %d 1\n", master.port)
	if err := os.WriteFile(conf, []byte(monitor), 0o600); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	s := &Instance{t: t, bin: master.bin, dir: dir, first: []string{conf, "--sentinel"}}
	t.Cleanup(s.Stop)
	s.startOnFreePort()
	return &SentinelInstance{Master: master, Sentinel: s}
}

// URL returns a REDIS_URL for the master through the Sentinel, in the gateway's sentinel form.
func (s *SentinelInstance) URL() string {
	return "redis-sentinel://" + s.Sentinel.Addr() + "/mymaster"
}

// lookPath finds a Redis binary, or skips the test, or fails it under CI.
func lookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if inCI() {
		t.Fatalf("redistest: %s not found on PATH, and CI must not skip the Redis tests: install it (apt-get install redis-server)", name)
	}
	t.Skipf("redistest: %s not found on PATH; skipping this Redis test (install redis-server to run it; under CI=true this is a failure)", name)
	return ""
}

// inCI reports whether CI is set to anything but a false value: when in doubt, do not skip.
func inCI() bool {
	v := os.Getenv("CI")
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	return err != nil || b
}

// freePort returns a 127.0.0.1 port that was free a moment ago. The caller retries on a bind
// failure, since another process may take the port in between.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Do sends one command to the Redis at addr over a new connection and returns its reply: the
// text of a simple string, a bulk string or an integer. A Redis error reply is returned as an
// error. It is raw RESP on purpose, so that polling a server that is not up yet logs nothing.
func Do(addr string, args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))

	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return "", err
	}

	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("unexpected bulk reply %q", line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	default:
		return "", fmt.Errorf("unsupported reply %q", line)
	}
}

// tail returns the last lines of a log file, for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, "\n")
}
