package service

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/livechat-gateway/gateway/internal/action"
	"github.com/livechat-gateway/gateway/internal/metrics"
)

// Store is what the read cache needs of a store shared by the gateway's replicas.
// internal/cache's Redis and in-process stores implement it.
type Store interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	Bump(ctx context.Context, key string, ttl time.Duration) (int64, error)
	Lookup(ctx context.Context, counterKey, key string) (gen int64, val []byte, ok bool, err error)
}

// Metadata of the cache: the outcome a read reports, and the client's wish to skip the cache.
const (
	MDCache        = "x-cache"
	MDCacheControl = "cache-control"
)

// The outcomes of a read, as x-cache reports them.
const (
	cacheHit    = "hit"
	cacheMiss   = "miss"
	cacheBypass = "bypass"
)

// Cache configures the read cache (DESIGN.md, "Cache semantics").
type Cache struct {
	Store Store
	// TTL is how long an answer is served: the documented 2-minute propagation delay by
	// default.
	TTL time.Duration
	// Secret keys the hash of the credential in every key, so that no token, nor anything a
	// token could be checked against, is stored. Replicas must share it to share entries.
	Secret []byte
	// MaxValueBytes caps what is cached; a larger answer is served but not stored.
	MaxValueBytes int
	// UpstreamTimeout bounds a shared upstream call, which no single caller's cancellation ends.
	UpstreamTimeout time.Duration
	// Metrics, when set, receives the cache's counters.
	Metrics *metrics.Registry
}

// DefaultMaxValueBytes is Cache.MaxValueBytes when unset.
const DefaultMaxValueBytes = 512 << 10

// reads is the read cache of a Service.
type reads struct {
	Cache
	flight   singleflight.Group
	outcomes *metrics.Counter // by action and outcome: hit, miss, bypass, error
	warned   atomic.Int64     // unix nanoseconds of the last store warning
	log      *slog.Logger
}

// warnEvery bounds how often a sick store is logged: once per this interval, not once a call.
const warnEvery = 10 * time.Second

func newReads(c Cache, log *slog.Logger) (*reads, error) {
	switch {
	case c.Store == nil:
		return nil, errors.New("service: cache without a store")
	case c.TTL <= 0:
		return nil, errors.New("service: cache TTL must be positive")
	case len(c.Secret) < 16:
		return nil, errors.New("service: cache secret must be at least 16 bytes")
	}
	if c.MaxValueBytes <= 0 {
		c.MaxValueBytes = DefaultMaxValueBytes
	}
	if c.UpstreamTimeout <= 0 {
		c.UpstreamTimeout = 10 * time.Second
	}
	if c.Metrics == nil {
		c.Metrics = metrics.New()
	}
	return &reads{
		Cache:    c,
		outcomes: c.Metrics.Counter("gateway_cache_reads_total", "Cached reads by action and outcome (hit, miss, bypass, error: the store failed and upstream served).", "action", "outcome"),
		log:      log,
	}, nil
}

// credential returns the keyed hash of a credential: the one identity the cache knows.
func (r *reads) credential(auth string) string {
	m := hmac.New(sha256.New, r.Secret)
	m.Write([]byte(auth))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// generationKey is the counter of a credential's generation. The hash tag {…} keeps all of a
// credential's keys in one Redis Cluster slot.
func generationKey(cred string) string { return "lcgw:{" + cred + "}:gen" }

// entryKey is the key of one answer: the credential, the region, the action and a hash of the
// request's bytes, which wire.EncodeRequest makes deterministic. The generation the answer was
// filled under is stored in the entry, not in the key, so that one round trip (Store.Lookup)
// fetches the credential's generation and the entry together.
func entryKey(cred, region string, a *action.Action, body []byte) string {
	sum := sha256.Sum256(body)
	return fmt.Sprintf("lcgw:{%s}:e:%s:%s:%s", cred, region, a.Name, hex.EncodeToString(sum[:16]))
}

// answer is a successful upstream answer, as cached and as shared among coalesced callers.
type answer struct {
	resp                proto.Message
	legacy, deprecation string
}

// read serves a read through the cache. call makes the upstream call; its answer is cached when it
// succeeds.
func (r *reads) read(ctx context.Context, a *action.Action, auth, region string, body []byte, call func(context.Context) (*answer, error)) (*answer, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	refresh := noCache(md.Get(MDCacheControl))
	cred := r.credential(auth)

	key := entryKey(cred, region, a, body)
	gen, ans, err := r.lookup(ctx, a, cred, key)
	if err != nil {
		// Fail open: no entry can be trusted without the generation, so go upstream.
		r.storeFailed(ctx, a, "lookup", err)
		setCacheHeader(ctx, cacheBypass)
		return call(ctx)
	}
	if ans != nil && !refresh {
		r.outcomes.Inc(a.Name, cacheHit)
		setCacheHeader(ctx, cacheHit)
		return ans, nil
	}
	outcome := cacheMiss
	if refresh {
		outcome = cacheBypass
	}
	r.outcomes.Inc(a.Name, outcome)
	setCacheHeader(ctx, outcome)

	// Coalesce identical misses. The shared call must not end because its first caller gave
	// up, so it runs detached from that caller's cancellation, bounded by the upstream timeout;
	// each caller still waits only until its own deadline.
	// Callers on different generations must not share a call: the later one may have to see
	// a write the earlier one's answer predates.
	flightKey := fmt.Sprintf("%s:%d", key, gen)
	if refresh {
		flightKey += ":refresh"
	}
	ch := r.flight.DoChan(flightKey, func() (any, error) {
		shared, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.UpstreamTimeout)
		defer cancel()
		if !refresh {
			// A caller that missed just before another flight stored the answer lands here:
			// look again rather than call the upstream a second time.
			if _, ans, err := r.lookup(shared, a, cred, key); err == nil && ans != nil {
				return ans, nil
			}
		}
		ans, err := call(shared)
		if err != nil {
			return nil, err
		}
		// Stored with the generation read before the call: if a write bumped it meanwhile, the
		// entry is already out of date and no lookup will serve it, so a racing read cannot
		// bring stale data back.
		r.put(shared, a, key, gen, ans)
		return ans, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		ans := res.Val.(*answer)
		if res.Shared {
			// Each caller's response is marshaled by its own stream: give each its own copy.
			ans = &answer{resp: proto.Clone(ans.resp), legacy: ans.legacy, deprecation: ans.deprecation}
		}
		return ans, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// lookup returns the credential's generation and the answer at key, if there is one filled
// under that generation. An entry of an older generation, or one that cannot be read, is a miss.
func (r *reads) lookup(ctx context.Context, a *action.Action, cred, key string) (int64, *answer, error) {
	gen, b, ok, err := r.Store.Lookup(ctx, generationKey(cred), key)
	if err != nil || !ok {
		return gen, nil, err
	}
	filled, n := binary.Varint(b)
	if n <= 0 || filled != gen {
		return gen, nil, nil
	}
	ans, err := decodeAnswer(a, b[n:])
	if err != nil {
		r.log.WarnContext(ctx, "unreadable cache entry", "action", a.Name, "err", err)
		return gen, nil, nil
	}
	return gen, ans, nil
}

// put stores an answer with the generation it was filled under, unless it is too large; a store
// error is logged and counted.
func (r *reads) put(ctx context.Context, a *action.Action, key string, gen int64, ans *answer) {
	enc, err := encodeAnswer(ans)
	if err != nil {
		return
	}
	b := binary.AppendVarint(make([]byte, 0, len(enc)+binary.MaxVarintLen64), gen)
	b = append(b, enc...)
	if len(b) > r.MaxValueBytes {
		return
	}
	if err := r.Store.Set(ctx, key, b, r.TTL); err != nil {
		r.storeFailed(ctx, a, "set", err)
	}
}

// wrote bumps the credential's generation after a successful write, which makes every entry it
// filled before unreachable. The counter outlives the entries (twice their TTL), so that it
// cannot expire and restart at a generation whose entries still live.
func (r *reads) wrote(ctx context.Context, a *action.Action, auth string) {
	if _, err := r.Store.Bump(ctx, generationKey(r.credential(auth)), 2*r.TTL); err != nil {
		// The write itself succeeded and is answered as such; this credential may read its
		// old answers until they expire (at most TTL, the documented propagation delay).
		r.storeFailed(ctx, a, "bump", err)
	}
}

// storeFailed counts a store failure and logs it at most once per warnEvery.
func (r *reads) storeFailed(ctx context.Context, a *action.Action, op string, err error) {
	r.outcomes.Inc(a.Name, "error")
	now := time.Now().UnixNano()
	last := r.warned.Load()
	if now-last >= int64(warnEvery) && r.warned.CompareAndSwap(last, now) {
		r.log.WarnContext(ctx, "cache store failed; serving from upstream", "op", op, "action", a.Name, "err", err)
	}
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

func setCacheHeader(ctx context.Context, outcome string) {
	_ = grpc.SetHeader(ctx, metadata.Pairs(MDCache, outcome)) // fails only outside a gRPC call
}

// encodeAnswer serializes an answer: the lifecycle headers, length-prefixed, then the response
// message in the protobuf wire format.
func encodeAnswer(ans *answer) ([]byte, error) {
	msg, err := proto.MarshalOptions{Deterministic: true}.Marshal(ans.resp)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(msg)+len(ans.legacy)+len(ans.deprecation)+4)
	b = binary.AppendUvarint(b, uint64(len(ans.legacy)))
	b = append(b, ans.legacy...)
	b = binary.AppendUvarint(b, uint64(len(ans.deprecation)))
	b = append(b, ans.deprecation...)
	return append(b, msg...), nil
}

func decodeAnswer(a *action.Action, b []byte) (*answer, error) {
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
	resp := a.NewResponse()
	if err := proto.Unmarshal(b, resp); err != nil {
		return nil, err
	}
	return &answer{resp: resp, legacy: legacy, deprecation: deprecation}, nil
}
