package redistest

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

func TestServerKillRestart(t *testing.T) {
	t.Parallel()
	in := Server(t)
	if got := in.URL(); got != "redis://"+in.Addr()+"/0" {
		t.Errorf("URL() = %q; want redis://%s/0", got, in.Addr())
	}
	if _, err := Do(in.Addr(), "SET", "k", "v"); err != nil {
		t.Fatalf("SET: %v", err)
	}
	in.Kill()
	if reply, err := Do(in.Addr(), "PING"); err == nil {
		t.Fatalf("PING after Kill = %q; want an error", reply)
	}
	addr := in.Addr()
	in.Restart()
	if in.Addr() != addr {
		t.Errorf("Addr() after Restart = %s; want the same %s", in.Addr(), addr)
	}
	// Nothing is persisted: the restarted server is empty.
	if reply, err := Do(in.Addr(), "DBSIZE"); err != nil || reply != "0" {
		t.Errorf("DBSIZE after Restart = %q, %v; want 0", reply, err)
	}
	in.Stop()
	in.Stop() // a second Stop does nothing
	if reply, err := Do(in.Addr(), "PING"); err == nil {
		t.Fatalf("PING after Stop = %q; want an error", reply)
	}
}

// TestPersistentServerKeepsWrites: a PersistentServer comes back from a SIGTERM and from a
// SIGKILL with every write it acknowledged, on the same port.
func TestPersistentServerKeepsWrites(t *testing.T) {
	t.Parallel()
	in := PersistentServer(t)
	addr := in.Addr()
	for i, stop := range []func(){in.Stop, in.Kill} {
		key := "k" + string(rune('0'+i))
		if _, err := Do(in.Addr(), "SET", key, "v"); err != nil {
			t.Fatalf("SET: %v", err)
		}
		stop()
		if reply, err := Do(addr, "PING"); err == nil {
			t.Fatalf("PING after stopping = %q; want an error", reply)
		}
		in.Restart()
		if in.Addr() != addr {
			t.Errorf("Addr() after Restart = %s; want the same %s", in.Addr(), addr)
		}
		for j := 0; j <= i; j++ {
			k := "k" + string(rune('0'+j))
			if reply, err := Do(in.Addr(), "GET", k); err != nil || reply != "v" {
				t.Errorf("GET %s after restart %d = %q, %v; want v", k, i, reply, err)
			}
		}
	}
}

// pingWithin reports whether the Redis at addr answers PING within d. Unlike Do, whose 2s
// deadline suits a server expected to answer, it gives a frozen server only d.
func pingWithin(t *testing.T, addr string, d time.Duration) bool {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, d)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(d))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && line == "+PONG\r\n"
}

func TestServerPauseResume(t *testing.T) {
	t.Parallel()
	in := Server(t)
	if _, err := Do(in.Addr(), "SET", "k", "v"); err != nil {
		t.Fatalf("SET: %v", err)
	}
	in.Pause()
	// A paused server still has its port, so the kernel accepts the connection: the PING just
	// gets no answer, as with a hung host.
	if pingWithin(t, in.Addr(), 200*time.Millisecond) {
		t.Fatal("PING after Pause answered; want no answer")
	}
	in.Resume()
	if !pingWithin(t, in.Addr(), 2*time.Second) {
		t.Fatal("PING after Resume: no answer")
	}
	// Unlike Restart, Pause keeps the data.
	if reply, err := Do(in.Addr(), "GET", "k"); err != nil || reply != "v" {
		t.Errorf("GET k after Pause and Resume = %q, %v; want v", reply, err)
	}
	in.Resume() // resuming a running server does nothing
}

// TestPausedServerStops checks that each way of ending a server works on a paused one, and
// quickly: a SIGTERM alone would wait for a SIGCONT that never comes, until Stop's 5s grace ran
// out.
func TestPausedServerStops(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		end     func(*Instance)
		running bool // whether a server listens afterwards
	}{
		{"Stop", (*Instance).Stop, false},
		{"Kill", (*Instance).Kill, false},
		{"Restart", (*Instance).Restart, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := Server(t)
			in.Pause()
			start := time.Now()
			tc.end(in)
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("%s of a paused server took %v; want well under Stop's 5s grace", tc.name, took)
			}
			if got := pingWithin(t, in.Addr(), time.Second); got != tc.running {
				t.Errorf("PING after %s of a paused server answered: %v; want %v", tc.name, got, tc.running)
			}
		})
	}
	// The test's cleanup stops a server left paused. Cleanups run last registered first, so the
	// one that checks the time runs after Server's Stop, and the one that starts the clock
	// before it.
	t.Run("cleanup", func(t *testing.T) {
		t.Parallel()
		var start time.Time
		t.Cleanup(func() {
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("the cleanup of a paused server took %v; want well under Stop's 5s grace", took)
			}
		})
		Server(t).Pause()
		t.Cleanup(func() { start = time.Now() })
	})
}

func TestCluster(t *testing.T) {
	t.Parallel()
	c := Cluster(t)
	if len(c.Addrs()) != 3 {
		t.Fatalf("Addrs() = %v; want 3 nodes", c.Addrs())
	}
	if want := "redis-cluster://" + strings.Join(c.Addrs(), ","); c.URL() != want {
		t.Errorf("URL() = %q; want %q", c.URL(), want)
	}
	for _, addr := range c.Addrs() {
		info, err := Do(addr, "CLUSTER", "INFO")
		if err != nil || !strings.Contains(info, "cluster_known_nodes:3") || !strings.Contains(info, "cluster_size:3") {
			t.Errorf("CLUSTER INFO on %s = %q, %v; want 3 known nodes, 3 masters", addr, info, err)
		}
	}
}

func TestSentinel(t *testing.T) {
	t.Parallel()
	s := Sentinel(t)
	if want := "redis-sentinel://" + s.Sentinel.Addr() + "/mymaster"; s.URL() != want {
		t.Errorf("URL() = %q; want %q", s.URL(), want)
	}
	info, err := Do(s.Sentinel.Addr(), "INFO", "sentinel")
	if err != nil || !strings.Contains(info, "name=mymaster,status=ok,address="+s.Master.Addr()) {
		t.Errorf("INFO sentinel = %q, %v; want mymaster ok at %s", info, err, s.Master.Addr())
	}
}

// stopper is a testing.TB that records how a test would have ended, and ends the call with a
// panic instead of runtime.Goexit.
type stopper struct {
	testing.TB
	how string
}

func (s *stopper) Helper()               {}
func (s *stopper) Fatalf(string, ...any) { s.how = "fatal"; panic(s) }
func (s *stopper) Skipf(string, ...any)  { s.how = "skip"; panic(s) }

func TestMissingRedisSkipsExceptInCI(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no redis-server there
	for _, tc := range []struct{ ci, want string }{
		{"", "skip"},
		{"false", "skip"},
		{"true", "fatal"},
		{"1", "fatal"},
		{"yes", "fatal"}, // not a boolean: when in doubt, do not skip
	} {
		t.Setenv("CI", tc.ci)
		for name, start := range map[string]func(testing.TB){
			"Server":   func(tb testing.TB) { Server(tb) },
			"Cluster":  func(tb testing.TB) { Cluster(tb) },
			"Sentinel": func(tb testing.TB) { Sentinel(tb) },
		} {
			s := &stopper{TB: t}
			func() {
				defer func() {
					if r := recover(); r != nil && r != s {
						panic(r)
					}
				}()
				start(s)
			}()
			if s.how != tc.want {
				t.Errorf("%s with CI=%q and no redis-server: %q; want %q", name, tc.ci, s.how, tc.want)
			}
		}
	}
}
