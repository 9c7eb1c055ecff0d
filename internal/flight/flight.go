// Package flight coalesces identical concurrent calls into one, as golang.org/x/sync/singleflight
// does, with three differences that a gateway in front of a slow upstream needs:
//
//   - The shared call is owned by its waiters: each waiter returns at its own context's end, and
//     when the last one has gone the call's context is cancelled, so a call nobody waits for costs
//     nothing upstream. While any waiter remains, the call goes on.
//   - Every call derives from the Group's lifetime: Close cancels what still runs and waits for it.
//   - A panic in a call does not cross goroutines: its waiters get an error (a *PanicError), and
//     the process lives.
//
// It is hand-written because singleflight has none of these, and each is part of the gateway's
// promise that a caller who leaves costs nothing and one bad call takes nothing down.
package flight

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned by Do once the Group is closed.
var ErrClosed = errors.New("flight: group closed")

// PanicError is the error of a call that panicked.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("flight: call panicked: %v", e.Value) }

// Group runs calls keyed by a string, one at a time per key. Create it with New; its zero value is
// not usable.
type Group[T any] struct {
	ctx     context.Context // the lifetime every call derives from
	stop    context.CancelFunc
	timeout time.Duration
	linger  time.Duration
	onPanic func(*PanicError)
	wg      sync.WaitGroup
	running atomic.Int64
	waiting atomic.Int64

	mu     sync.Mutex
	calls  map[string]*call[T]
	closed bool
}

// call is one running call and its waiters.
type call[T any] struct {
	cancel  context.CancelFunc
	done    chan struct{} // closed when val and err are set
	val     T
	err     error
	waiters int // callers still waiting; 0 cancels the call unless it has finished
}

// New returns a Group whose calls each run at most timeout (no bound when timeout ≤ 0), and whose
// successful calls stay joinable for linger after their then has ended. onPanic, when not nil,
// is told of every panic in a call or its then, with the stack, so that one is logged even when
// no waiter is left to see it.
func New[T any](timeout, linger time.Duration, onPanic func(*PanicError)) *Group[T] {
	ctx, stop := context.WithCancel(context.Background())
	return &Group[T]{ctx: ctx, stop: stop, timeout: timeout, linger: linger, onPanic: onPanic, calls: map[string]*call[T]{}}
}

// Do returns the result of fn for key: of a call of fn already running for key, or of a new one,
// which runs on its own goroutine with a context of the Group's (not ctx: the call is shared).
// Do returns when the call ends or ctx ends, whichever is first; in the second case its error is
// ctx's, and if no other caller waits the call is cancelled before Do returns.
//
// When fn has succeeded, then (if not nil) runs on the call's goroutine with fn's result and a
// context of the Group's lifetime, after the waiters have been handed the result: it is for work
// that must not delay them, such as storing the result. Until then has ended and the Group's
// linger has passed, new callers of key are given the same result without a new call: a caller
// that looked for the stored result just before it was stored finds it here. A failed call ends
// at once: its error is for the callers that waited for it, never for later ones.
//
// finished reports that the call had already returned when Do was called, so that its result
// was there for the taking.
//
// fn's result is shared by every waiter: a waiter that modifies it must copy it first.
func (g *Group[T]) Do(ctx context.Context, key string, fn func(context.Context) (T, error), then func(context.Context, T)) (val T, finished bool, err error) {
	if err := ctx.Err(); err != nil {
		// A caller already gone would start a call only for it to be cancelled at once.
		var zero T
		return zero, false, err
	}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		var zero T
		return zero, false, ErrClosed
	}
	c, ok := g.calls[key]
	if ok {
		select {
		case <-c.done:
			g.mu.Unlock()
			return c.val, true, c.err
		default:
		}
	} else {
		c = g.start(key, fn, then)
	}
	c.waiters++
	g.waiting.Add(1)
	g.mu.Unlock()
	defer g.waiting.Add(-1)

	select {
	case <-c.done:
		return c.val, false, c.err
	case <-ctx.Done():
	}
	g.mu.Lock()
	c.waiters--
	abandoned := c.waiters == 0
	if abandoned {
		select {
		case <-c.done: // finished meanwhile: keep it for then and for late callers
			abandoned = false
		default:
			// New callers of key must not join a call that is being cancelled.
			g.forget(key, c)
		}
	}
	g.mu.Unlock()
	if abandoned {
		c.cancel()
	}
	var zero T
	return zero, false, ctx.Err()
}

// start starts a call of fn for key. g.mu is held.
func (g *Group[T]) start(key string, fn func(context.Context) (T, error), then func(context.Context, T)) *call[T] {
	var (
		ctx    context.Context
		cancel context.CancelFunc
	)
	if g.timeout > 0 {
		ctx, cancel = context.WithTimeout(g.ctx, g.timeout)
	} else {
		ctx, cancel = context.WithCancel(g.ctx)
	}
	c := &call[T]{cancel: cancel, done: make(chan struct{})}
	g.calls[key] = c
	g.running.Add(1)
	g.wg.Go(func() {
		defer g.running.Add(-1)
		defer cancel()
		val, err := run(ctx, g.onPanic, fn)
		linger := then != nil && err == nil
		g.mu.Lock()
		c.val, c.err = val, err
		if !linger {
			g.forget(key, c)
		}
		close(c.done)
		g.mu.Unlock()
		if linger {
			run(g.ctx, g.onPanic, func(ctx context.Context) (struct{}, error) { then(ctx, val); return struct{}{}, nil })
			forget := func() {
				g.mu.Lock()
				g.forget(key, c)
				g.mu.Unlock()
			}
			if g.linger > 0 {
				// A timer, not this goroutine, keeps the result joinable: waiting costs nothing.
				time.AfterFunc(g.linger, forget)
			} else {
				forget()
			}
		}
	})
	return c
}

// forget removes c from the running calls, unless another call of key has replaced it. g.mu is
// held.
func (g *Group[T]) forget(key string, c *call[T]) {
	if g.calls[key] == c {
		delete(g.calls, key)
	}
}

// run calls fn, turning a panic into a *PanicError, which it also reports to onPanic.
func run[V any](ctx context.Context, onPanic func(*PanicError), fn func(context.Context) (V, error)) (val V, err error) {
	defer func() {
		if p := recover(); p != nil {
			pe := &PanicError{Value: p, Stack: debug.Stack()}
			if onPanic != nil {
				onPanic(pe)
			}
			err = pe
		}
	}()
	return fn(ctx)
}

// Close cancels every running call, makes Do refuse new ones, and waits until all have ended,
// their then included. Callers waiting in Do get the calls' results (typically the
// cancellation's error).
func (g *Group[T]) Close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.stop()
	g.wg.Wait()
}

// Waiting returns the number of callers waiting in Do for a call to end, for tests and metrics.
func (g *Group[T]) Waiting() int { return int(g.waiting.Load()) }

// Running returns the number of calls whose goroutine has not ended: running, cancelled but not
// yet returned, or in their then. It is for tests and metrics.
func (g *Group[T]) Running() int { return int(g.running.Load()) }
