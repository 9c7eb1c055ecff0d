// Package testutil holds the helpers that the gateway's tests share.
package testutil

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/livechat-gateway/gateway/internal/action"
)

// Action returns the action with the upstream name, such as "get_agent", or fails the test.
func Action(t testing.TB, name string) *action.Action {
	t.Helper()
	a, ok := action.ByName(name)
	if !ok {
		t.Fatalf("no action %q", name)
	}
	return a
}

// JSONEqual reports whether two JSON texts hold the same value, whatever their spacing and key
// order. null and [] differ. It fails the test when either text is not JSON.
func JSONEqual(t testing.TB, got, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("invalid JSON %q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("invalid JSON %q: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}

// SyncBuffer collects the output of a logger or a process while a test reads it: a buffer safe
// for concurrent use.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Take returns what was written since the last Take, and forgets it: for a long-running test,
// such as a fuzz target, that reads the output of each step.
func (s *SyncBuffer) Take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.b.String()
	s.b.Reset()
	return out
}

// Clock is a clock that tests move: it stands still until Advance. It is safe for concurrent
// use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at a fixed, arbitrary time.
func NewClock() *Clock { return &Clock{now: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Eventually polls cond until it holds, failing the test after a generous bound: for waiting on
// an event that has no channel to wait on, never on the passing of time.
func Eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	if !WaitFor(10*time.Second, cond) {
		tb.Fatalf("%s: not after 10s", what)
	}
}

// WaitFor polls cond every millisecond until it holds or d has passed, and reports whether it
// held: Eventually for a test that measures how long an event takes, or that goes on without it.
func WaitFor(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// ResetConnection hijacks the connection of the HTTP call that w answers and closes it with
// SO_LINGER 0, so that the client sees a reset and no answer: what a crash or a broken network
// does to a request already sent.
func ResetConnection(tb testing.TB, w http.ResponseWriter) {
	tb.Helper()
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		tb.Errorf("Hijack: %v", err)
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// Recv returns the next value of ch, failing the test if none comes within a generous bound.
func Recv[V any](tb testing.TB, what string, ch <-chan V) V {
	tb.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		tb.Fatalf("%s: not after 10s", what)
		panic("unreachable")
	}
}
