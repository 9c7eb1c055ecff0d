package flight

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/livechat-gateway/gateway/internal/testutil"
)

// These tests synchronise on channels and on the Group's own state, never on sleeps: where a
// test must know that callers have joined a call, it waits (polling, with a generous bound) until
// the call counts them as waiters. Whatever a test's calls block on, they also end on the test's
// abort channel, closed when it ends, so that a broken Group fails a test rather than hanging it.

// errAborted is what a test's call returns when the test ended before the call was released.
var errAborted = errors.New("the test ended")

// newGroup returns a Group that is closed when t ends, and t's abort channel, closed just before.
// Call noLeaks first.
func newGroup(t *testing.T, timeout time.Duration, onPanic func(*PanicError)) (*Group[string], <-chan struct{}) {
	t.Helper()
	g := New[string](timeout, 0, onPanic)
	abort := make(chan struct{})
	t.Cleanup(g.Close)
	t.Cleanup(func() { close(abort) })
	return g, abort
}

// wait returns when ch or abort is closed, and reports whether it was ch.
func wait(ch, abort <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-abort:
		return false
	}
}

// noLeaks fails t if goroutines other than those running now are left when t ends. Register it
// first, so that it runs after every other cleanup.
func noLeaks(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// bound is how long a test waits for something that must happen, before it fails instead of
// hanging.
const bound = 10 * time.Second

// waitWaiters waits until the running call of key has n waiters.
func waitWaiters[T any](t *testing.T, g *Group[T], key string, n int) {
	t.Helper()
	testutil.Eventually(t, "waiters of "+key, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		c := g.calls[key]
		return c != nil && c.waiters == n
	})
}

// waitIdle waits until no call of g runs.
func waitIdle[T any](t *testing.T, g *Group[T]) {
	t.Helper()
	testutil.Eventually(t, "no call running", func() bool { return g.Running() == 0 })
}

// result is one Do's outcome.
type result struct {
	val      string
	finished bool
	err      error
}

// doAsync calls g.Do on a goroutine and returns a channel of its outcome.
func doAsync(ctx context.Context, g *Group[string], key string, fn func(context.Context) (string, error), then func(context.Context, string)) <-chan result {
	ch := make(chan result, 1)
	go func() {
		v, f, err := g.Do(ctx, key, fn, then)
		ch <- result{v, f, err}
	}()
	return ch
}

// gate is a call that reports its start, with its context, and returns val when released, or
// ctx's error when ctx ends first. It counts how often it was called.
type gate struct {
	val     string
	calls   atomic.Int32
	started chan context.Context
	release chan struct{}
	abort   <-chan struct{}
}

func newGate(val string, abort <-chan struct{}) *gate {
	return &gate{val: val, started: make(chan context.Context, 100), release: make(chan struct{}), abort: abort}
}

func (g *gate) fn(ctx context.Context) (string, error) {
	g.calls.Add(1)
	g.started <- ctx
	select {
	case <-g.release:
		return g.val, nil
	case <-ctx.Done():
		return "", ctx.Err()
	case <-g.abort:
		return "", errAborted
	}
}

func TestConcurrentCallersShareOneCall(t *testing.T) {
	noLeaks(t)
	g, abort := newGroup(t, 0, nil)
	gt := newGate("v", abort)
	const n = 20
	var chs []<-chan result
	for range n {
		chs = append(chs, doAsync(context.Background(), g, "k", gt.fn, nil))
	}
	waitWaiters(t, g, "k", n)
	close(gt.release)
	for i, ch := range chs {
		if r := testutil.Recv(t, "a waiter's answer", ch); r.val != "v" || r.err != nil || r.finished {
			t.Errorf("waiter %d got %+v, want v from the running call", i, r)
		}
	}
	if c := gt.calls.Load(); c != 1 {
		t.Errorf("fn called %d times for %d concurrent callers, want 1", c, n)
	}
	waitIdle(t, g)
}

func TestDistinctKeysRunSeparately(t *testing.T) {
	noLeaks(t)
	g, abort := newGroup(t, 0, nil)
	a, b := newGate("a", abort), newGate("b", abort)
	ra := doAsync(context.Background(), g, "a", a.fn, nil)
	rb := doAsync(context.Background(), g, "b", b.fn, nil)
	// Both run at once: each has started before either is released.
	testutil.Recv(t, "a started", a.started)
	testutil.Recv(t, "b started", b.started)
	if n := g.Running(); n != 2 {
		t.Errorf("Running() = %d with two keys' calls running, want 2", n)
	}
	close(b.release)
	if r := testutil.Recv(t, "b's answer", rb); r.val != "b" || r.err != nil {
		t.Errorf("b got %+v", r)
	}
	close(a.release)
	if r := testutil.Recv(t, "a's answer", ra); r.val != "a" || r.err != nil {
		t.Errorf("a got %+v", r)
	}
	if a.calls.Load() != 1 || b.calls.Load() != 1 {
		t.Errorf("calls: a %d, b %d; want 1 each", a.calls.Load(), b.calls.Load())
	}
	waitIdle(t, g)
}

// TestWaiterLeavesOthersStay: a waiter that joined a running call leaves at its context's end
// with its context's error; the call goes on for the waiter that remains.
func TestWaiterLeavesOthersStay(t *testing.T) {
	noLeaks(t)
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"canceled", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			// Already past: the waiter leaves as soon as it has joined.
			return context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		}, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, abort := newGroup(t, 0, nil)
			gt := newGate("v", abort)
			stay := doAsync(context.Background(), g, "k", gt.fn, nil)
			fnCtx := testutil.Recv(t, "fn started", gt.started)
			waitWaiters(t, g, "k", 1)
			ctx, cancel := tc.ctx()
			defer cancel()
			leave := doAsync(ctx, g, "k", gt.fn, nil)
			cancel()
			if r := testutil.Recv(t, "the leaving waiter", leave); !errors.Is(r.err, tc.want) || r.val != "" || r.finished {
				t.Errorf("leaving waiter got %+v, want %v", r, tc.want)
			}
			if err := fnCtx.Err(); err != nil {
				t.Fatalf("the call's context ended (%v) while a waiter remained", err)
			}
			close(gt.release)
			if r := testutil.Recv(t, "the staying waiter", stay); r.val != "v" || r.err != nil {
				t.Errorf("staying waiter got %+v, want v", r)
			}
			if c := gt.calls.Load(); c != 1 {
				t.Errorf("fn called %d times, want 1", c)
			}
			waitIdle(t, g)
		})
	}
}

// TestCallOutlivesItsFirstCaller: the caller that started the call leaves; the call, which
// runs on the Group's context and not the starter's, goes on for the waiter that joined it.
func TestCallOutlivesItsFirstCaller(t *testing.T) {
	noLeaks(t)
	g, abort := newGroup(t, 0, nil)
	gt := newGate("v", abort)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := doAsync(ctx, g, "k", gt.fn, nil)
	fnCtx := testutil.Recv(t, "fn started", gt.started)
	second := doAsync(context.Background(), g, "k", gt.fn, nil)
	waitWaiters(t, g, "k", 2)
	cancel()
	if r := testutil.Recv(t, "the first caller", first); !errors.Is(r.err, context.Canceled) {
		t.Errorf("first caller got %+v, want context.Canceled", r)
	}
	if err := fnCtx.Err(); err != nil {
		t.Fatalf("the call's context ended (%v) when its first caller left", err)
	}
	close(gt.release)
	if r := testutil.Recv(t, "the second caller", second); r.val != "v" || r.err != nil {
		t.Errorf("second caller got %+v, want v", r)
	}
	if c := gt.calls.Load(); c != 1 {
		t.Errorf("fn called %d times, want 1", c)
	}
	waitIdle(t, g)
}

// TestLastWaiterLeavingCancels: when the last waiter leaves, the call's context is already
// cancelled when its Do returns (a guarantee, checked right after the return, with no waiting),
// and the key is free: a new caller starts a new call, which the old one's end does not disturb.
func TestLastWaiterLeavingCancels(t *testing.T) {
	noLeaks(t)
	for _, tc := range []struct {
		name    string
		waiters int
	}{{"one waiter", 1}, {"three waiters", 3}} {
		t.Run(tc.name, func(t *testing.T) {
			g, abort := newGroup(t, 0, nil)
			// old reports its context and then keeps running past its cancellation until
			// released, so that a new call of the key overlaps it.
			var oldCtx context.Context
			oldStarted := make(chan struct{})
			oldRelease := make(chan struct{})
			var oldCalls atomic.Int32
			old := func(ctx context.Context) (string, error) {
				oldCalls.Add(1)
				oldCtx = ctx
				close(oldStarted)
				wait(oldRelease, abort)
				return "old", ctx.Err()
			}
			// The early waiters, on goroutines of their own.
			var cancels []context.CancelFunc
			var chs []<-chan result
			for range tc.waiters - 1 {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				cancels = append(cancels, cancel)
				chs = append(chs, doAsync(ctx, g, "k", old, nil))
			}
			// The last waiter is this goroutine. Once all have joined, a helper sends the
			// early ones away, checking that the call goes on, and then the last one.
			lastCtx, leaveLast := context.WithCancel(context.Background())
			defer leaveLast()
			go func() {
				defer leaveLast()
				if !hasWaiters(g, "k", tc.waiters) {
					t.Errorf("not %d waiters after %v", tc.waiters, bound)
					return
				}
				<-oldStarted
				for i, cancel := range cancels {
					cancel()
					<-chs[i]
					if err := oldCtx.Err(); err != nil {
						t.Errorf("the call was cancelled (%v) while %d waiters remained", err, tc.waiters-1-i)
					}
				}
			}()
			_, finished, err := g.Do(lastCtx, "k", old, nil)
			fnErr := func() error { <-oldStarted; return oldCtx.Err() }()
			if !errors.Is(err, context.Canceled) || finished {
				t.Fatalf("last waiter got %v, finished=%v; want context.Canceled", err, finished)
			}
			if !errors.Is(fnErr, context.Canceled) {
				t.Fatalf("the call's context is %v right after its last waiter's Do returned, want it cancelled already", fnErr)
			}

			// The key is free while the old call is still running (its goroutine has not ended).
			if n := g.Running(); n != 1 {
				t.Fatalf("Running() = %d, want the old call still running", n)
			}
			fresh := newGate("new", abort)
			got := doAsync(context.Background(), g, "k", fresh.fn, nil)
			newCtx := testutil.Recv(t, "the new call started", fresh.started)
			if newCtx.Err() != nil {
				t.Fatal("the new call started cancelled")
			}
			close(oldRelease) // the old call ends; it must not remove the new one
			testutil.Eventually(t, "the old call's end", func() bool { return g.Running() == 1 })
			joiner := doAsync(context.Background(), g, "k", fresh.fn, nil)
			waitWaiters(t, g, "k", 2)
			close(fresh.release)
			for _, ch := range []<-chan result{got, joiner} {
				if r := testutil.Recv(t, "the new call's answer", ch); r.val != "new" || r.err != nil || r.finished {
					t.Errorf("a caller of the new call got %+v, want new", r)
				}
			}
			if oldCalls.Load() != 1 || fresh.calls.Load() != 1 {
				t.Errorf("calls: old %d, new %d; want 1 each", oldCalls.Load(), fresh.calls.Load())
			}
			waitIdle(t, g)
		})
	}
}

// hasWaiters waits until the running call of key has n waiters, and reports whether it did
// within bound. Unlike waitWaiters, it may run on any goroutine.
func hasWaiters[T any](g *Group[T], key string, n int) bool {
	for deadline := time.Now().Add(bound); time.Now().Before(deadline); time.Sleep(100 * time.Microsecond) {
		g.mu.Lock()
		c := g.calls[key]
		ok := c != nil && c.waiters == n
		g.mu.Unlock()
		if ok {
			return true
		}
	}
	return false
}

// TestSyncCancelUnderContention repeats the last-waiter guarantee with many keys at once: every
// Do that returns its context's error as the last waiter finds its call's context cancelled.
func TestSyncCancelUnderContention(t *testing.T) {
	noLeaks(t)
	g, abort := newGroup(t, 0, nil)
	const n = 200
	var wg sync.WaitGroup
	var notCancelled atomic.Int32
	for i := range n {
		wg.Go(func() {
			key := "k" + strconv.Itoa(i)
			// fn may start before Do returns, after it, or never (a caller already gone starts
			// no call): whichever of the two sees the other's mark checks fn's context.
			var (
				mu       sync.Mutex
				returned bool
				fnCtx    context.Context
			)
			check := func(c context.Context) {
				if c.Err() == nil {
					notCancelled.Add(1)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
			defer cancel()
			_, _, err := g.Do(ctx, key, func(ctx context.Context) (string, error) {
				mu.Lock()
				if returned {
					check(ctx) // started after Do returned: must have started cancelled
				} else {
					fnCtx = ctx
				}
				mu.Unlock()
				wait(ctx.Done(), abort)
				return "", ctx.Err()
			}, nil)
			if err == nil {
				t.Errorf("a call that only ends at its cancellation answered")
				return
			}
			mu.Lock()
			returned = true
			if fnCtx != nil {
				check(fnCtx)
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if c := notCancelled.Load(); c != 0 {
		t.Errorf("%d of %d calls were not cancelled when their last waiter's Do returned", c, n)
	}
	waitIdle(t, g)
}

// TestSuccessLingersWhileThenRuns: the waiters are answered before then runs; a caller arriving
// while then runs gets the same result with finished=true and starts no call; once then has
// ended, the key is free.
func TestSuccessLingersWhileThenRuns(t *testing.T) {
	noLeaks(t)
	g, abort := newGroup(t, 0, nil)
	gt := newGate("v", abort)
	thenStarted := make(chan string, 1)
	thenRelease := make(chan struct{})
	thenDone := make(chan struct{})
	then := func(ctx context.Context, v string) {
		thenStarted <- v
		wait(thenRelease, abort)
		close(thenDone)
	}
	a := doAsync(context.Background(), g, "k", gt.fn, then)
	b := doAsync(context.Background(), g, "k", gt.fn, then)
	waitWaiters(t, g, "k", 2)
	close(gt.release)
	// The waiters are answered while then is held: then does not delay them.
	for _, ch := range []<-chan result{a, b} {
		if r := testutil.Recv(t, "a waiter's answer", ch); r.val != "v" || r.err != nil || r.finished {
			t.Errorf("waiter got %+v, want v, not finished", r)
		}
	}
	if v := testutil.Recv(t, "then started", thenStarted); v != "v" {
		t.Errorf("then was given %q, want v", v)
	}
	select {
	case <-thenDone:
		t.Fatal("then ended before it was released")
	default:
	}
	// A caller arriving while then runs is handed the result, with no new call.
	other := func(context.Context) (string, error) {
		t.Error("a new call started while the last one's then ran")
		return "", nil
	}
	if v, finished, err := g.Do(context.Background(), "k", other, then); v != "v" || !finished || err != nil {
		t.Errorf("Do while then runs = %q, %v, %v; want v, finished", v, finished, err)
	}
	if n := g.Running(); n != 1 {
		t.Errorf("Running() = %d while then runs, want 1", n)
	}
	close(thenRelease)
	testutil.Recv(t, "then's end", thenDone)
	waitIdle(t, g)
	// Then has ended: the key is free, and a new caller makes a new call.
	next := newGate("w", abort)
	close(next.release)
	if v, finished, err := g.Do(context.Background(), "k", next.fn, nil); v != "w" || finished || err != nil {
		t.Errorf("Do after then = %q, %v, %v; want a new call's w", v, finished, err)
	}
	if gt.calls.Load() != 1 || next.calls.Load() != 1 {
		t.Errorf("calls: first %d, second %d; want 1 each", gt.calls.Load(), next.calls.Load())
	}
	waitIdle(t, g)
}

// TestFailureIsNotHandedOn: a failed call's error goes to its waiters only; then does not run,
// and the next caller makes a new call.
func TestFailureIsNotHandedOn(t *testing.T) {
	noLeaks(t)
	g, abort := newGroup(t, 0, nil)
	boom := errors.New("boom")
	release := make(chan struct{})
	var calls atomic.Int32
	failing := func(context.Context) (string, error) {
		calls.Add(1)
		wait(release, abort)
		return "", boom
	}
	then := func(context.Context, string) { t.Error("then ran after a failure") }
	a := doAsync(context.Background(), g, "k", failing, then)
	b := doAsync(context.Background(), g, "k", failing, then)
	waitWaiters(t, g, "k", 2)
	close(release)
	for _, ch := range []<-chan result{a, b} {
		if r := testutil.Recv(t, "a waiter", ch); !errors.Is(r.err, boom) || r.finished {
			t.Errorf("waiter got %+v, want boom", r)
		}
	}
	// No waiting: a failed call is forgotten before its waiters are answered.
	if v, finished, err := g.Do(context.Background(), "k", func(context.Context) (string, error) { return "ok", nil }, nil); v != "ok" || finished || err != nil {
		t.Errorf("Do after a failure = %q, %v, %v; want a new call's ok", v, finished, err)
	}
	if c := calls.Load(); c != 1 {
		t.Errorf("failing fn called %d times, want 1", c)
	}
	waitIdle(t, g)
}

// panics records what onPanic is told.
type panics struct {
	mu  sync.Mutex
	got []*PanicError
	ch  chan *PanicError
}

func newPanics() *panics { return &panics{ch: make(chan *PanicError, 10)} }

func (p *panics) on(pe *PanicError) {
	p.mu.Lock()
	p.got = append(p.got, pe)
	p.mu.Unlock()
	p.ch <- pe
}

func (p *panics) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.got)
}

func TestPanicInFn(t *testing.T) {
	noLeaks(t)
	p := newPanics()
	g, abort := newGroup(t, 0, p.on)
	release := make(chan struct{})
	panicking := func(context.Context) (string, error) {
		if !wait(release, abort) {
			return "", errAborted
		}
		panic("kaboom")
	}
	const n = 3
	var chs []<-chan result
	for range n {
		chs = append(chs, doAsync(context.Background(), g, "k", panicking, func(context.Context, string) { t.Error("then ran after a panic") }))
	}
	waitWaiters(t, g, "k", n)
	close(release)
	for i, ch := range chs {
		r := testutil.Recv(t, "a waiter", ch)
		var pe *PanicError
		if !errors.As(r.err, &pe) {
			t.Fatalf("waiter %d got %+v, want a *PanicError", i, r)
		}
		if pe.Value != "kaboom" || !strings.Contains(string(pe.Stack), "flight_test.go") || !strings.Contains(pe.Error(), "kaboom") {
			t.Errorf("waiter %d: PanicError value %v, message %q, stack:\n%s", i, pe.Value, pe.Error(), pe.Stack)
		}
	}
	waitIdle(t, g)
	if c := p.count(); c != 1 {
		t.Errorf("onPanic called %d times, want once", c)
	}
	// The group still works.
	if v, _, err := g.Do(context.Background(), "k", func(context.Context) (string, error) { return "ok", nil }, nil); v != "ok" || err != nil {
		t.Errorf("Do after a panic = %q, %v", v, err)
	}
	waitIdle(t, g)
}

func TestPanicInThen(t *testing.T) {
	noLeaks(t)
	p := newPanics()
	g, abort := newGroup(t, 0, p.on)
	gt := newGate("v", abort)
	then := func(context.Context, string) { panic("then kaboom") }
	a := doAsync(context.Background(), g, "k", gt.fn, then)
	b := doAsync(context.Background(), g, "k", gt.fn, then)
	waitWaiters(t, g, "k", 2)
	close(gt.release)
	for _, ch := range []<-chan result{a, b} {
		if r := testutil.Recv(t, "a waiter", ch); r.val != "v" || r.err != nil {
			t.Errorf("waiter got %+v, want v: a panic in then must not reach the waiters", r)
		}
	}
	pe := testutil.Recv(t, "onPanic", p.ch)
	if pe.Value != "then kaboom" || len(pe.Stack) == 0 {
		t.Errorf("onPanic got value %v, stack %d bytes", pe.Value, len(pe.Stack))
	}
	waitIdle(t, g)
	if c := p.count(); c != 1 {
		t.Errorf("onPanic called %d times, want once", c)
	}
	next := newGate("w", abort)
	close(next.release)
	if v, finished, err := g.Do(context.Background(), "k", next.fn, nil); v != "w" || finished || err != nil {
		t.Errorf("Do after a panic in then = %q, %v, %v; want a new call's w", v, finished, err)
	}
	waitIdle(t, g)
}

func TestGroupTimeoutEndsAHungCall(t *testing.T) {
	noLeaks(t)
	g, abort := newGroup(t, 20*time.Millisecond, nil)
	fnErr := make(chan error, 1)
	hung := func(ctx context.Context) (string, error) {
		wait(ctx.Done(), abort)
		fnErr <- ctx.Err()
		return "", ctx.Err()
	}
	// The caller would wait for bound, and then leave with context.Canceled; the group's
	// timeout ends the call first.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer time.AfterFunc(bound, cancel).Stop()
	_, _, err := g.Do(ctx, "k", hung, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Do of a hung call = %v, want context.DeadlineExceeded", err)
	}
	if err := testutil.Recv(t, "fn's end", fnErr); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("fn's context ended with %v, want context.DeadlineExceeded", err)
	}
	waitIdle(t, g)
}

// TestCloseCancelsAndWaits: Close cancels running calls and waits for them and for a then in
// progress, Do then refuses with ErrClosed, and Close may be called again.
func TestCloseCancelsAndWaits(t *testing.T) {
	noLeaks(t)
	g, abort := newGroup(t, 0, nil)
	// A hung call, which goes on for a while after its cancellation.
	hungStarted := make(chan struct{})
	hungCancelled := make(chan struct{})
	hungRelease := make(chan struct{})
	hung := func(ctx context.Context) (string, error) {
		close(hungStarted)
		if wait(ctx.Done(), abort) {
			close(hungCancelled)
		}
		wait(hungRelease, abort)
		return "", ctx.Err()
	}
	waiter := doAsync(context.Background(), g, "hung", hung, nil)
	testutil.Recv(t, "the hung call's start", hungStarted)
	waitWaiters(t, g, "hung", 1)
	// A finished call whose then is in progress.
	thenStarted := make(chan struct{})
	thenCancelled := make(chan struct{})
	thenRelease := make(chan struct{})
	var thenEnded atomic.Bool
	then := func(ctx context.Context, _ string) {
		close(thenStarted)
		if wait(ctx.Done(), abort) { // then runs on the Group's lifetime: Close ends it
			close(thenCancelled)
		}
		if wait(thenRelease, abort) {
			thenEnded.Store(true)
		}
	}
	// The caller leaves after bound, should the answer wait for then.
	fillCtx, cancelFill := context.WithCancel(context.Background())
	defer cancelFill()
	defer time.AfterFunc(bound, cancelFill).Stop()
	if v, _, err := g.Do(fillCtx, "fill", func(context.Context) (string, error) { return "v", nil }, then); v != "v" || err != nil {
		t.Fatalf("Do = %q, %v", v, err)
	}
	testutil.Recv(t, "then's start", thenStarted)
	if n := g.Running(); n != 2 {
		t.Fatalf("Running() = %d, want 2", n)
	}

	closed := make(chan struct{})
	go func() { g.Close(); close(closed) }()
	testutil.Recv(t, "the hung call's cancellation by Close", hungCancelled)
	testutil.Recv(t, "then's cancellation by Close", thenCancelled)
	if _, _, err := g.Do(context.Background(), "new", func(context.Context) (string, error) {
		t.Error("a call started after Close")
		return "", nil
	}, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Do during Close = %v, want ErrClosed", err)
	}
	select {
	case <-closed:
		t.Fatal("Close returned while a call and a then were still running")
	default:
	}
	close(hungRelease)
	if r := testutil.Recv(t, "the hung call's waiter", waiter); !errors.Is(r.err, context.Canceled) {
		t.Errorf("the waiter of a call Close cancelled got %+v, want context.Canceled", r)
	}
	select {
	case <-closed:
		t.Fatal("Close returned while a then was still running")
	default:
	}
	close(thenRelease)
	testutil.Recv(t, "Close's return", closed)
	if !thenEnded.Load() {
		t.Error("Close returned before then ended")
	}
	if n := g.Running(); n != 0 {
		t.Errorf("Running() = %d right after Close, want 0", n)
	}
	if _, _, err := g.Do(context.Background(), "fill", func(context.Context) (string, error) { return "v", nil }, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Do after Close = %v, want ErrClosed", err)
	}
	g.Close() // again: returns at once
}

// TestCloseWithoutCalls: Close of an idle group returns, and leaves nothing behind.
func TestCloseWithoutCalls(t *testing.T) {
	noLeaks(t)
	g := New[string](time.Second, 0, nil)
	g.Close()
	g.Close()
	if _, _, err := g.Do(context.Background(), "k", func(context.Context) (string, error) { return "", nil }, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Do after Close = %v, want ErrClosed", err)
	}
}

// TestSuccessLingers checks that a successful call stays joinable for the Group's linger after
// its then has ended, and that a new call starts once the linger has passed.
func TestSuccessLingers(t *testing.T) {
	noLeaks(t)
	g := New[string](0, 500*time.Millisecond, nil)
	t.Cleanup(g.Close)
	var calls atomic.Int64
	fn := func(context.Context) (string, error) { calls.Add(1); return "v", nil }
	thenDone := make(chan struct{})
	if v, finished, err := g.Do(context.Background(), "k", fn, func(context.Context, string) { close(thenDone) }); v != "v" || finished || err != nil {
		t.Fatalf("first Do = %q, %v, %v; want v, not finished, nil", v, finished, err)
	}
	<-thenDone
	// Right after then the linger (half a second) has not passed: the result is handed on.
	if v, finished, err := g.Do(context.Background(), "k", fn, nil); v != "v" || !finished || err != nil || calls.Load() != 1 {
		t.Fatalf("Do right after then = %q, %v, %v with %d calls; want v, finished, nil, 1 call", v, finished, err, calls.Load())
	}
	testutil.Eventually(t, "a new call after the linger", func() bool {
		_, finished, _ := g.Do(context.Background(), "k", fn, nil)
		return !finished
	})
	if n := calls.Load(); n != 2 {
		t.Errorf("%d calls, want 2", n)
	}
}
