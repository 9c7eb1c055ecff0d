package service

import (
	"context"
	"sync/atomic"
	"time"
)

// Notes collects what the service learned while serving one call, for the call's log line: the
// server's logging interceptor runs outside the service and sees only its answer. A Notes is
// safe for concurrent use.
type Notes struct {
	cache   atomic.Pointer[string]
	fetched atomic.Int64 // Unix nanoseconds; 0: unknown
}

type notesKey struct{}

// WithNotes returns ctx carrying a new Notes, which the service fills while serving the call.
func WithNotes(ctx context.Context) (context.Context, *Notes) {
	n := new(Notes)
	return context.WithValue(ctx, notesKey{}, n), n
}

// NotesFrom returns ctx's Notes, or nil.
func NotesFrom(ctx context.Context) *Notes {
	n, _ := ctx.Value(notesKey{}).(*Notes)
	return n
}

// Cache returns the read cache's outcome of the call, as x-cache reports it (hit, miss, stale,
// bypass), or "" when the cache took no part.
func (n *Notes) Cache() string {
	if p := n.cache.Load(); p != nil {
		return *p
	}
	return ""
}

// noteCache records the cache outcome in ctx's Notes, if it has one.
func noteCache(ctx context.Context, outcome string) {
	if n := NotesFrom(ctx); n != nil {
		n.cache.Store(&outcome)
	}
}

// Fetched returns when the read's answer was fetched from the upstream, for an answer the cache
// served or stored: it expires from the cache CACHE_TTL after that. It is the zero time when the
// cache took no part.
func (n *Notes) Fetched() time.Time {
	if ns := n.fetched.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// noteFetched records when the answer of the call was fetched, in ctx's Notes, if it has one.
func noteFetched(ctx context.Context, at time.Time) {
	if n := NotesFrom(ctx); n != nil && !at.IsZero() {
		n.fetched.Store(at.UnixNano())
	}
}
