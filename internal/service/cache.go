package service

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livechat-gateway/gateway/internal/action"
	"github.com/livechat-gateway/gateway/internal/cache"
	"github.com/livechat-gateway/gateway/internal/flight"
	"github.com/livechat-gateway/gateway/internal/tracing"
	"github.com/livechat-gateway/gateway/internal/upstream"
)

// Store is what the read cache needs of a store shared by the gateway's replicas: generation
// counters that never repeat a value, and entries filled only under the current one. internal/cache's
// Redis and in-process stores implement it (see cache.Store for the contract).
type Store interface {
	Lookup(ctx context.Context, genKey, key string, ttl time.Duration) (gen int64, val []byte, ok bool, err error)
	Fill(ctx context.Context, genKey string, gen int64, key string, val []byte, ttl time.Duration) (stored bool, err error)
	Bump(ctx context.Context, genKey string, ttl time.Duration) (int64, error)
	Ping(ctx context.Context) error
	Close() error
}

// Metadata of the cache: the outcome a read reports, and the client's wish to skip the cache.
const (
	MDCache        = "x-cache"
	MDCacheControl = "cache-control"
)

// The outcomes of a read, as x-cache reports them and gateway_cache_reads_total counts them.
// error is counted for a read whose store lookup failed; it reports bypass.
const (
	cacheHit    = "hit"
	cacheMiss   = "miss"
	cacheStale  = "stale"
	cacheBypass = "bypass"
	cacheError  = "error"
)

// Cache configures the read cache. The guarantees it keeps are in docs/cache.md.
type Cache struct {
	Store Store
	// TTL is how long an answer is served: the documented 2-minute propagation delay by
	// default.
	TTL time.Duration
	// StaleIfError is how long past TTL an answer may still stand in for a refresh that failed
	// with a transient upstream error (RFC 5861's stale-if-error). 0 turns it off.
	StaleIfError time.Duration
	// Secret keys the hash of the credential in every key and the sealing of every entry.
	// Replicas must share it to share entries. At least 16 bytes.
	Secret []byte
	// MaxValueBytes caps what is cached; a larger answer is served but not stored.
	MaxValueBytes int
	// UpstreamTimeout bounds a shared upstream call, which no single caller's deadline ends.
	UpstreamTimeout time.Duration
	// StoreTimeout is the bound that Store puts on each of its calls itself
	// (CACHE_STORE_TIMEOUT), if it has one. A lookup gets half of its caller's remaining time
	// at most; when that half is longer than StoreTimeout, the store's own bound is the
	// tighter, and the lookup is not given a deadline of its own (a timer a call). 0: unknown.
	StoreTimeout time.Duration
	// Breaker tunes the circuit breaker around Store.
	Breaker cache.BreakerOptions
	// MaxPendingBumps bounds the credentials whose invalidation is owed to a store that failed
	// (DefaultMaxPendingBumps when 0). Past it, no cached answer is trusted until the store has
	// had time to forget them all.
	MaxPendingBumps int
	// Now reads the clock (time.Now when nil); tests move it.
	Now func() time.Time
	// Metrics, when set, registers the cache's series: reads by action and outcome, store errors
	// and latency, the breaker's state.
	Metrics prometheus.Registerer
	// TracerProvider, when set, traces each cached read ("cache.read"), each fill
	// ("cache.fill") and each invalidation ("cache.invalidate"), with the action and the
	// outcome as attributes (docs/observability.md).
	TracerProvider trace.TracerProvider
}

// Defaults of Cache's zero fields.
const (
	DefaultMaxValueBytes   = 512 << 10
	DefaultMaxPendingBumps = 10_000
)

// storeWriteTimeout bounds a Fill or Bump beyond the store's own per-call bound, so that a store
// without one (a test's) cannot hold a write's answer or a shared call's goroutine for long.
const storeWriteTimeout = time.Second

// shareAfterFill is how long a shared call's answer stays joinable after it was stored: a read
// whose lookup ran just before the fill landed, and which reaches the shared calls just after,
// takes that answer instead of calling the upstream again. It covers a lookup's time (at most
// the store's 100ms per call) with room to spare. Such an answer is served only while fresh.
const shareAfterFill = time.Second

// warnEvery bounds how often a sick store is logged: once per this interval, not once a call.
const warnEvery = 10 * time.Second

// reads is the read cache of a Service.
type reads struct {
	Cache
	store   *cache.Breaker
	keys    *keyring
	life    time.Duration // how long an entry and its counter live in the store: TTL + StaleIfError
	flights *flight.Group[*answer]
	pending *pendingBumps
	// epoch counts this replica's writes. Flights are keyed by it, so that a read that starts
	// after a write answered never joins a shared call that started before it, even when the
	// store could not tell the generation.
	epoch atomic.Int64
	solo  atomic.Int64 // numbers the calls that must not be shared

	metrics *cacheMetrics
	warned  atomic.Int64 // unix nanoseconds of the last store warning
	log     *slog.Logger
	tracer  trace.Tracer // nil: tracing off

	stop    context.CancelFunc
	stopped sync.WaitGroup
}

func newReads(c Cache, log *slog.Logger) (*reads, error) {
	switch {
	case c.Store == nil:
		return nil, errors.New("service: cache without a store")
	case c.TTL <= 0:
		return nil, errors.New("service: cache TTL must be positive")
	case c.StaleIfError < 0:
		return nil, errors.New("service: cache stale-if-error must not be negative")
	case len(c.Secret) < 16:
		return nil, errors.New("service: cache secret must be at least 16 bytes")
	}
	keys, err := newKeyring(c.Secret)
	if err != nil {
		return nil, err
	}
	if c.MaxValueBytes <= 0 {
		c.MaxValueBytes = DefaultMaxValueBytes
	}
	if c.UpstreamTimeout <= 0 {
		c.UpstreamTimeout = upstream.DefaultTimeout
	}
	if c.MaxPendingBumps <= 0 {
		c.MaxPendingBumps = DefaultMaxPendingBumps
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	r := &reads{
		Cache:   c,
		keys:    keys,
		life:    c.TTL + c.StaleIfError,
		pending: &pendingBumps{max: c.MaxPendingBumps, at: map[string]time.Time{}},
		log:     log,
	}
	if c.TracerProvider != nil {
		r.tracer = c.TracerProvider.Tracer("github.com/livechat-gateway/gateway/internal/service")
	}
	onState := c.Breaker.OnStateChange
	c.Breaker.OnStateChange = func(from, to string) {
		level := slog.LevelInfo
		if to == "open" {
			level = slog.LevelWarn
		}
		log.Log(context.Background(), level, "cache store breaker", "from", from, "to", to)
		if onState != nil {
			onState(from, to)
		}
	}
	r.store = cache.NewBreaker(c.Store, c.Breaker)
	r.metrics = newCacheMetrics(c.Metrics, r.store.State)
	r.flights = flight.New[*answer](c.UpstreamTimeout, shareAfterFill, func(p *flight.PanicError) {
		log.Error("panic in a shared upstream call", "panic", fmt.Sprint(p.Value), "stack", string(p.Stack))
	})
	ctx, stop := context.WithCancel(context.Background())
	r.stop = stop
	r.stopped.Go(func() { r.flushPendingLoop(ctx) })
	return r, nil
}

// close cancels the shared calls still running, stops the background work and waits for both.
func (r *reads) close() {
	r.flights.Close()
	r.stop()
	r.stopped.Wait()
}

// genKey is the counter of a credential's generation. The hash tag {…} keeps all of a
// credential's keys in one Redis Cluster slot.
func genKey(id string) string { return "lcgw:{" + id + "}:gen" }

// entryKey is the key of one answer: the credential, the region, the action and a hash of the
// request's bytes, which wire.EncodeRequest makes deterministic. The generation the answer was
// filled under is in the entry, not in the key, so that one round trip (Store.Lookup) fetches the
// credential's generation and the entry together.
func entryKey(id, region string, a *action.Action, body []byte) string {
	sum := sha256.Sum256(body)
	var hash [32]byte
	hex.Encode(hash[:], sum[:16])
	// lcgw:{<id>}:e:<region>:<action>:<hash>, written into one buffer: one allocation a read,
	// where fmt.Sprintf made five.
	var k strings.Builder
	k.Grow(len("lcgw:{}:e:::") + len(id) + len(region) + len(a.Name) + len(hash))
	for _, s := range []string{"lcgw:{", id, "}:e:", region, ":", a.Name, ":"} {
		k.WriteString(s)
	}
	k.Write(hash[:])
	return k.String()
}

// answer is a successful upstream answer, as cached and as shared among coalesced callers.
type answer struct {
	// resp is the response, or nil when the answer was read from the cache for a caller whose
	// transport takes it encoded: then raw holds it, in protobuf's wire format.
	resp                proto.Message
	raw                 []byte
	legacy, deprecation string
	// empties are the places of the empty lists and maps of the upstream's answer, which resp
	// cannot hold (wire.EmptyPaths), for the REST surface to put back.
	empties string
	at      time.Time // when the upstream call that answered began, for shared answers
}

// decode decodes raw into resp, if it is not decoded yet.
func (ans *answer) decode(a *action.Action) error {
	if ans.resp != nil {
		return nil
	}
	resp := a.NewResponse()
	if err := proto.Unmarshal(ans.raw, resp); err != nil {
		return err
	}
	ans.resp, ans.raw = resp, nil
	return nil
}

// reply is what the service answers the call with: resp, or raw as an encoded response.
func (ans *answer) reply() any {
	if ans.resp != nil {
		return ans.resp
	}
	return encoded(ans.raw)
}

// clone returns a copy of ans that its caller's stream may marshal on its own.
func (ans *answer) clone() *answer {
	return &answer{resp: proto.Clone(ans.resp), legacy: ans.legacy, deprecation: ans.deprecation, empties: ans.empties, at: ans.at}
}

// read serves a read through the cache. fetch makes the upstream call.
//
// A fresh entry of the credential's current generation is a hit. Otherwise the read joins or
// starts the shared call for its entry and generation, which fills the entry after handing its
// answer out. An entry past its TTL (but within StaleIfError) stands in for that call's answer
// when the call fails with a transient error. When the store fails, the read is served by the
// upstream, still coalesced, and nothing is stored.
//
// With raw, an answer read from the cache is left encoded (answer.raw), for a caller whose
// transport sends or decodes it as it is; otherwise it is decoded, and an entry that does not
// decode is a miss.
//
// It returns the outcome that x-cache reports, which the caller sends with its other header
// metadata.
func (r *reads) read(ctx context.Context, a *action.Action, auth, region string, body []byte, raw bool, fetch func(context.Context) (*answer, error)) (_ *answer, xcache string, err error) {
	ctx, span := r.startSpan(ctx, "cache.read", a)
	defer func() {
		if err != nil {
			span.SetStatus(codes.Error, "")
		}
		span.End()
	}()
	// A shared call and its fill run in contexts of their own, not the caller's (see
	// flight.Group.Do): they carry this span's context, so that the upstream call and the store's
	// commands they make show in the trace of the read that started them.
	sc := span.SpanContext()
	refresh := noCache(metadata.ValueFromIncomingContext(ctx, MDCacheControl))
	id := r.keys.id(auth)
	key := entryKey(id, region, a, body)
	epoch := r.epoch.Load() // before the lookup: see epoch

	var (
		outcome string
		fill    func(context.Context, *answer)
		stale   *entry
		shared  string // what the shared call's key adds to key and epoch
	)
	switch gen, ent, err := r.lookup(ctx, a, id, auth, key, raw); {
	case errors.Is(err, errOwed):
		// A write of this credential is not yet reflected in the store: trust nothing in it.
		outcome = cacheBypass
		shared = "|owed"
	case err != nil:
		r.storeFailed(ctx, "lookup", err)
		outcome = cacheError
		shared = "|nostore"
	case ent != nil && !refresh && r.age(ent) < r.TTL:
		noteFetched(ctx, ent.filled)
		return ent.ans, r.report(ctx, a, cacheHit), nil
	default:
		outcome = cacheMiss
		if refresh {
			outcome = cacheBypass
			shared = "|refresh"
		} else if ent != nil {
			stale = ent
		}
		shared += "|" + strconv.FormatInt(gen, 10)
		fill = r.filler(a, id, auth, key, gen)
	}
	// Made only now: a hit needs none.
	flightKey := key + "|" + strconv.FormatInt(epoch, 10) + shared
	if fill != nil && sc.IsValid() {
		fillIt := fill
		fill = func(c context.Context, ans *answer) { fillIt(trace.ContextWithSpanContext(c, sc), ans) }
	}

	call := func(ctx context.Context) (*answer, error) {
		began := r.Now()
		if sc.IsValid() {
			ctx = trace.ContextWithSpanContext(ctx, sc)
		}
		ans, err := fetch(ctx)
		if err == nil {
			ans.at = began
		}
		return ans, err
	}
	ans, finished, err := r.flights.Do(ctx, flightKey, call, fill)
	if finished && (refresh || r.Now().Sub(ans.at) >= r.TTL) {
		// The answer of a shared call that ended before this read began: as good as a hit
		// while it is fresh, but no-cache asks for a call of its own, and so does one too old.
		ans, _, err = r.flights.Do(ctx, flightKey+"|"+strconv.FormatInt(r.solo.Add(1), 10), call, fill)
		finished = false
	}
	if finished && outcome == cacheMiss {
		// The answer of a shared call that has just ended, being stored or stored a moment ago:
		// this read cost nothing upstream, as a hit does.
		outcome = cacheHit
	}
	if err != nil {
		// The shared call may have taken long: the entry must still be within its life now.
		if stale != nil && ctx.Err() == nil && transient(err) && r.age(stale) < r.life {
			r.log.DebugContext(ctx, "serving a stale answer for a failing upstream", "action", a.Name, "err", err)
			noteFetched(ctx, stale.filled)
			return stale.ans, r.report(ctx, a, cacheStale), nil
		}
		return nil, r.report(ctx, a, outcome), err
	}
	noteFetched(ctx, ans.at)
	return ans.clone(), r.report(ctx, a, outcome), nil
}

// startSpan starts one of the cache's spans, with a's name when a is not nil. With tracing off it
// returns ctx and a span that records nothing, at no cost: no context, no option, no attribute is
// allocated on the read path.
func (r *reads) startSpan(ctx context.Context, name string, a *action.Action) (context.Context, trace.Span) {
	if r.tracer == nil {
		return ctx, noop.Span{}
	}
	if a == nil {
		return r.tracer.Start(ctx, name)
	}
	return r.tracer.Start(ctx, name, trace.WithAttributes(tracing.AttrAction.String(a.Name)))
}

// report counts a read's outcome, records it on the read's span and in the call's notes, and
// returns what x-cache reports of it: a store error shows as bypass.
func (r *reads) report(ctx context.Context, a *action.Action, outcome string) string {
	r.metrics.outcomes.WithLabelValues(a.Name, outcome).Inc()
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(tracing.AttrCacheOutcome.String(outcome))
	}
	if outcome == cacheError {
		outcome = cacheBypass
	}
	noteCache(ctx, outcome)
	return outcome
}

// entry is an answer read from the store, with when it was filled.
type entry struct {
	ans    *answer
	filled time.Time
}

// age returns how old e is. A replica whose clock is ahead of this one's may have filled it "in
// the future": that is age 0.
func (r *reads) age(e *entry) time.Duration { return max(r.Now().Sub(e.filled), 0) }

// errOwed is lookup's error for a credential whose write the store has not been told of.
var errOwed = errors.New("cache: invalidation owed")

// lookup returns the credential's generation and its entry at key, if there is one filled under
// that generation and still within its life. An entry of an older generation, too old, or one
// that does not open (sealed under another credential, or damaged) is a miss.
func (r *reads) lookup(ctx context.Context, a *action.Action, id, auth, key string, raw bool) (int64, *entry, error) {
	// The store may have at most half of the caller's remaining time, so that a slow store
	// leaves the caller time to be served by the upstream. The store bounds each call itself
	// too, to tens of milliseconds: when that bound (StoreTimeout) is the tighter, it is enough.
	if deadline, ok := ctx.Deadline(); ok {
		if half := time.Until(deadline) / 2; r.StoreTimeout <= 0 || half < r.StoreTimeout {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, half)
			defer cancel()
		}
	}
	if r.pending.owed(id, r.Now()) && !r.flush(ctx, id) {
		return 0, nil, errOwed
	}
	start := time.Now()
	gen, b, ok, err := r.store.Lookup(ctx, genKey(id), key, r.life)
	r.metrics.timed("lookup", start, err)
	if err != nil || !ok {
		return gen, nil, err
	}
	filled, at, ok := entryHeader(b)
	if !ok || filled != gen {
		return gen, nil, nil
	}
	ent := &entry{filled: at}
	if r.age(ent) >= r.life {
		return gen, nil, nil
	}
	if ent.ans, err = r.unseal(a, id, auth, key, b, raw); err != nil {
		r.warn(ctx, "unreadable cache entry; treated as a miss", "action", a.Name, "err", err)
		return gen, nil, nil
	}
	return gen, ent, nil
}

// unseal opens an entry and, unless raw, decodes its response.
func (r *reads) unseal(a *action.Action, id, auth, key string, b []byte, raw bool) (*answer, error) {
	aead, err := r.keys.sealerOf(id, auth)
	if err != nil {
		return nil, err
	}
	plain, err := open(aead, key, b)
	if err != nil {
		return nil, err
	}
	if raw {
		// Only the gateway's own fills open (GCM authenticates them), and each is a response
		// that proto.Marshal wrote: it is sent as it is, not decoded only to be encoded again.
		return splitAnswer(plain)
	}
	return decodeAnswer(a, plain)
}

// filler returns the then of a shared call: it seals the answer and fills the entry under the
// generation the read started with, after the answer has been handed out. If a write bumped the
// generation meanwhile, the store refuses it, so a racing read cannot bring stale data back.
//
// The entry is dated when the upstream call began, not when it answered: its age is never
// underestimated, however long the call took.
func (r *reads) filler(a *action.Action, id, auth, key string, gen int64) func(context.Context, *answer) {
	return func(ctx context.Context, ans *answer) {
		ctx, span := r.startSpan(ctx, "cache.fill", a)
		defer span.End()
		plain, err := encodeAnswer(ans)
		if err != nil {
			r.log.ErrorContext(ctx, "encoding an answer for the cache", "action", a.Name, "err", err)
			return
		}
		aead, err := r.keys.sealerOf(id, auth)
		if err != nil {
			r.log.ErrorContext(ctx, "sealing an answer for the cache", "action", a.Name, "err", err)
			return
		}
		b := seal(aead, key, gen, ans.at, plain)
		if len(b) > r.MaxValueBytes {
			span.SetAttributes(tracing.AttrCacheStored.Bool(false))
			return
		}
		ctx, cancel := context.WithTimeout(ctx, storeWriteTimeout)
		defer cancel()
		start := time.Now()
		stored, err := r.store.Fill(ctx, genKey(id), gen, key, b, r.life)
		r.metrics.timed("fill", start, err)
		span.SetAttributes(tracing.AttrCacheStored.Bool(stored))
		if err != nil {
			span.SetStatus(codes.Error, "")
			if ctx.Err() == nil {
				r.storeFailed(ctx, "fill", err)
			}
		}
	}
}

// wrote makes every answer cached for auth before a write unreachable, by bumping its
// generation: after a write that succeeded, and after one whose outcome is unknown. When the
// store cannot be told, the bump is owed: this replica trusts none of the credential's entries
// until it has been made (see pendingBumps).
func (r *reads) wrote(ctx context.Context, auth string) {
	r.epoch.Add(1)
	id := r.keys.id(auth)
	// The write is done, whatever the caller does now: a caller that cancels must not stop the
	// invalidation of what it changed.
	if !r.bump(context.WithoutCancel(ctx), id) {
		r.pending.add(id, r.Now(), r.life)
	}
}

// flush makes an owed bump of id, within ctx, and reports whether it was made.
func (r *reads) flush(ctx context.Context, id string) bool {
	if !r.bump(ctx, id) {
		return false
	}
	r.pending.done(id)
	return true
}

// bump bumps id's generation, within ctx and storeWriteTimeout, and reports whether it did; a
// failure is counted and logged.
func (r *reads) bump(ctx context.Context, id string) bool {
	ctx, span := r.startSpan(ctx, "cache.invalidate", nil)
	defer span.End()
	ctx, cancel := context.WithTimeout(ctx, storeWriteTimeout)
	defer cancel()
	start := time.Now()
	_, err := r.store.Bump(ctx, genKey(id), r.life)
	r.metrics.timed("bump", start, err)
	if err != nil {
		span.SetStatus(codes.Error, "")
		r.storeFailed(ctx, "bump", err)
		return false
	}
	return true
}

// pendingFlushEvery is how often owed bumps are retried in the background. Other replicas do not
// know of them and may serve the credential's old entries once the store is back, so they are
// made as soon as the store answers again, not only when the credential next reads here.
const pendingFlushEvery = time.Second

// flushPendingLoop retries owed bumps until ctx ends.
func (r *reads) flushPendingLoop(ctx context.Context) {
	t := time.NewTicker(pendingFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, id := range r.pending.ids(r.Now()) {
			if !r.flush(ctx, id) {
				break // the store is still failing; the breaker keeps this cheap
			}
		}
	}
}

// storeFailed counts a store failure and logs it at most once per warnEvery.
func (r *reads) storeFailed(ctx context.Context, op string, err error) {
	reason := "failed"
	if errors.Is(err, cache.ErrSkipped) {
		reason = "skipped"
	}
	r.metrics.storeErrors.WithLabelValues(op, reason).Inc()
	r.warn(ctx, "cache store failed; serving from upstream", "op", op, "err", err)
}

// warn logs at most once per warnEvery.
func (r *reads) warn(ctx context.Context, msg string, args ...any) {
	now := time.Now().UnixNano()
	last := r.warned.Load()
	if now-last >= int64(warnEvery) && r.warned.CompareAndSwap(last, now) {
		r.log.WarnContext(ctx, msg, args...)
	}
}

// transient reports whether a shared call's error is one a stale answer may stand in for: the
// upstream unreachable, overloaded or failing (5xx, too_many_requests, an answer that is not
// one), the gateway shedding the call, or the shared call out of time. An answer that says something about the caller
// (authentication, authorization, not_found, ...) is never covered up.
func transient(err error) bool {
	var ue *upstream.Error
	if errors.As(err, &ue) {
		return ue.Status >= 500 || ue.Status == 429 || ue.Type == "too_many_requests"
	}
	return errors.Is(err, upstream.ErrUnavailable) || errors.Is(err, errBadAnswer) ||
		errors.Is(err, upstream.ErrShed) || errors.Is(err, context.DeadlineExceeded)
}

// noCache reports whether a Cache-Control value asks to skip cached answers.
func noCache(values []string) bool {
	for _, v := range values {
		for _, d := range strings.Split(v, ",") {
			if d = strings.ToLower(strings.TrimSpace(d)); d == "no-cache" || d == "no-store" || d == "max-age=0" {
				return true
			}
		}
	}
	return false
}

// pendingBumps are the credentials whose write this replica could not yet tell the store of.
// Their entries in the store predate the write, so no read of theirs here may be served from it
// until the bump is made. An owed bump is forgotten after the store's entry life, by when every
// entry it would have invalidated has expired. Beyond max credentials, the replica trusts no
// entry at all for that long: safe, and bounded.
type pendingBumps struct {
	max  int
	some atomic.Bool // anything owed: the one check a read makes when nothing is

	mu         sync.Mutex
	at         map[string]time.Time // credential id → when its bump is no longer needed
	distrustTo time.Time            // after an overflow, no entry is trusted until then
}

// add owes a bump of id, until now+life.
func (p *pendingBumps) add(id string, now time.Time, life time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.update()
	if _, ok := p.at[id]; !ok && len(p.at) >= p.max {
		p.expire(now)
		if len(p.at) >= p.max {
			p.distrustTo = now.Add(life)
			return
		}
	}
	p.at[id] = now.Add(life)
}

// owed reports whether reads of id must not trust the store.
func (p *pendingBumps) owed(id string, now time.Time) bool {
	if !p.some.Load() {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.update()
	if !p.distrustTo.IsZero() {
		if now.Before(p.distrustTo) {
			return true
		}
		p.distrustTo = time.Time{}
	}
	until, ok := p.at[id]
	if ok && !now.Before(until) {
		delete(p.at, id)
		return false
	}
	return ok
}

// done forgets the owed bump of id.
func (p *pendingBumps) done(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.at, id)
	p.update()
}

// ids returns the credentials with owed bumps, forgetting the expired ones.
func (p *pendingBumps) ids(now time.Time) []string {
	if !p.some.Load() {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expire(now)
	p.update()
	ids := make([]string, 0, len(p.at))
	for id := range p.at {
		ids = append(ids, id)
	}
	return ids
}

// expire drops the owed bumps that are no longer needed. p.mu is held.
func (p *pendingBumps) expire(now time.Time) {
	for id, until := range p.at {
		if !now.Before(until) {
			delete(p.at, id)
		}
	}
}

// update sets some from the state. p.mu is held.
func (p *pendingBumps) update() { p.some.Store(len(p.at) > 0 || !p.distrustTo.IsZero()) }

// encodeAnswer serializes an answer: the lifecycle headers and the empties, each
// length-prefixed, then the response message in the protobuf wire format.
func encodeAnswer(ans *answer) ([]byte, error) {
	msg, err := proto.MarshalOptions{Deterministic: true}.Marshal(ans.resp)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(msg)+len(ans.legacy)+len(ans.deprecation)+len(ans.empties)+6)
	for _, f := range []string{ans.legacy, ans.deprecation, ans.empties} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return append(b, msg...), nil
}

// decodeAnswer deserializes an answer that encodeAnswer wrote, its response decoded.
func decodeAnswer(a *action.Action, b []byte) (*answer, error) {
	ans, err := splitAnswer(b)
	if err != nil {
		return nil, err
	}
	if err := ans.decode(a); err != nil {
		return nil, err
	}
	return ans, nil
}

// splitAnswer deserializes an answer that encodeAnswer wrote, its response left in the protobuf
// wire format (raw), which is what a gRPC caller is sent.
func splitAnswer(b []byte) (*answer, error) {
	field := func() (string, error) {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return "", errors.New("truncated entry")
		}
		s := string(b[k : k+int(n)])
		b = b[k+int(n):]
		return s, nil
	}
	legacy, err := field()
	if err != nil {
		return nil, err
	}
	deprecation, err := field()
	if err != nil {
		return nil, err
	}
	empties, err := field()
	if err != nil {
		return nil, err
	}
	return &answer{raw: b, legacy: legacy, deprecation: deprecation, empties: empties}, nil
}
