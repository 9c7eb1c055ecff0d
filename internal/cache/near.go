package cache

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// BumpChannel is the Redis pub/sub channel on which every Bump of a Redis store announces the key
// of the counter it moved, so that the near caches of all replicas forget that counter.
const BumpChannel = "livechat-gateway:bumps"

// Defaults of NearOptions.
const (
	DefaultNearMaxBytes = 32 << 20
	DefaultNearLiveness = time.Second
)

// NearOptions configures a Near.
type NearOptions struct {
	// MaxBytes bounds the copies kept in process (keys and values). Default DefaultNearMaxBytes.
	MaxBytes int64
	// Liveness is how long after the invalidation channel's last sign of life its copies are
	// still trusted: if the channel dies silently, a bump it missed is served for at most that
	// long. The channel is pinged four times as often. Default DefaultNearLiveness.
	Liveness time.Duration
	// Now reads the clock (time.Now when nil).
	Now func() time.Time
}

// Near is a Store in front of a Redis one that keeps an in-process copy of the counters and
// entries it has read, and answers a Lookup from them without a round trip while it can be sure
// that they are current:
//
//   - every Bump of any replica's Redis store publishes the counter's key on BumpChannel in the
//     same script that moves the counter, and Near drops its copy of a counter when the key
//     arrives;
//   - its own Bump drops the copy before it returns, so a replica reads its own writes at once;
//     another replica reads them once the announcement has reached it;
//   - a copy read from Redis is kept only if no announcement (nor a reconnection) came while it
//     was being read, so an announcement that overtakes a read cannot be undone by it;
//   - while the subscription is not confirmed, or has shown no sign of life (a message or a
//     pong) for Liveness, nothing is served from the copies; every (re)subscription starts
//     from an empty copy, since announcements may have been missed meanwhile.
//
// A value it returns may be shared with other callers: callers must not modify it.
type Near struct {
	shared   *Redis
	local    *Memory // counters (gen) and entries (val, with the gen they were read under)
	liveness time.Duration
	now      func() time.Time

	// seq counts the events after which a read from Redis may be out of date: announcements,
	// this replica's bumps, (re)subscriptions and losses of the channel.
	seq        atomic.Uint64
	subscribed atomic.Bool
	alive      atomic.Int64 // unix nanoseconds of the channel's last sign of life

	hits, misses, bypassed atomic.Int64

	stop    context.CancelFunc
	stopped sync.WaitGroup
}

var _ Store = (*Near)(nil)

// NewNear returns a near cache in front of shared and starts listening on BumpChannel; Close
// stops it and closes shared.
func NewNear(shared *Redis, o NearOptions) *Near {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultNearMaxBytes
	}
	if o.Liveness <= 0 {
		o.Liveness = DefaultNearLiveness
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	// A count bound too, so that many tiny entries cannot make the map and list large: an entry
	// is rarely under 256 bytes with its key.
	n := &Near{shared: shared, local: NewMemory(int(max(o.MaxBytes/256, 1000)), o.MaxBytes, WithClock(o.Now)),
		liveness: o.Liveness, now: o.Now}
	ctx, cancel := context.WithCancel(context.Background())
	n.stop = cancel
	n.stopped.Go(func() { n.listen(ctx) })
	return n
}

// NearStats are a Near's counts since it started.
type NearStats struct {
	// Hits were answered from the copies, Misses went to Redis while the copies were trusted,
	// Bypassed went to Redis because they were not.
	Hits, Misses, Bypassed int64
	// Trusted reports whether the copies are served now.
	Trusted bool
}

// Stats returns n's counts.
func (n *Near) Stats() NearStats {
	return NearStats{Hits: n.hits.Load(), Misses: n.misses.Load(), Bypassed: n.bypassed.Load(), Trusted: n.trusted()}
}

// trusted reports whether the copies may be served: the subscription is confirmed and has shown
// a sign of life within the liveness window.
func (n *Near) trusted() bool {
	return n.subscribed.Load() && n.now().UnixNano()-n.alive.Load() < int64(n.liveness)
}

// Lookup answers from the copies when it can, else from Redis, keeping copies of what it read.
func (n *Near) Lookup(ctx context.Context, genKey, key string, ttl time.Duration) (int64, []byte, bool, error) {
	trusted := n.trusted()
	if trusted {
		n.local.mu.Lock()
		now := n.now()
		if c := n.local.get(genKey, true, now); c != nil {
			if e := n.local.get(key, false, now); e != nil && e.gen == c.gen {
				n.local.mu.Unlock()
				n.hits.Add(1)
				return c.gen, e.val, true, nil
			}
		}
		n.local.mu.Unlock()
		n.misses.Add(1)
	} else {
		n.bypassed.Add(1)
	}
	seq := n.seq.Load()
	gen, val, ok, err := n.shared.Lookup(ctx, genKey, key, ttl)
	if err != nil || !trusted {
		return gen, val, ok, err
	}
	n.keep(seq, genKey, gen, key, val, ok, ttl)
	return gen, val, ok, nil
}

// keep stores copies of a counter and, if ok, of an entry read from Redis under it, unless an
// event that may make them out of date came since the read began (seq).
func (n *Near) keep(seq uint64, genKey string, gen int64, key string, val []byte, ok bool, ttl time.Duration) {
	n.local.mu.Lock()
	defer n.local.mu.Unlock()
	// Checked under the lock that invalidate takes after moving seq on: either the event came
	// first and nothing is kept, or it comes after and drops what was kept.
	if n.seq.Load() != seq || !n.trusted() {
		return
	}
	expires := n.now().Add(ttl)
	if c := n.local.get(genKey, true, n.now()); c == nil || c.gen != gen {
		n.local.put(&item{key: genKey, gen: gen, counter: true, expires: expires})
	}
	if ok {
		n.local.put(&item{key: key, val: val, gen: gen, expires: expires})
	}
}

// Fill fills Redis and, when Redis stored it, keeps a copy.
func (n *Near) Fill(ctx context.Context, genKey string, gen int64, key string, val []byte, ttl time.Duration) (bool, error) {
	seq := n.seq.Load()
	stored, err := n.shared.Fill(ctx, genKey, gen, key, val, ttl)
	if err != nil || !stored {
		return stored, err
	}
	n.local.mu.Lock()
	defer n.local.mu.Unlock()
	if c := n.local.get(genKey, true, n.now()); c != nil && c.gen == gen && n.seq.Load() == seq && n.trusted() {
		n.local.put(&item{key: key, val: val, gen: gen, expires: n.now().Add(ttl)})
	}
	return true, nil
}

// Bump drops the counter's copy before and after bumping it in Redis (which announces it to the
// other replicas), so that no read of this replica that started before the bump returned keeps
// the old generation.
func (n *Near) Bump(ctx context.Context, genKey string, ttl time.Duration) (int64, error) {
	n.invalidate(genKey)
	gen, err := n.shared.Bump(ctx, genKey, ttl)
	n.invalidate(genKey)
	return gen, err
}

// Ping pings Redis.
func (n *Near) Ping(ctx context.Context) error { return n.shared.Ping(ctx) }

// Close stops listening and closes Redis.
func (n *Near) Close() error {
	n.stop()
	n.stopped.Wait()
	return n.shared.Close()
}

// invalidate drops the copy of the counter at genKey.
func (n *Near) invalidate(genKey string) {
	n.seq.Add(1)
	n.local.mu.Lock()
	defer n.local.mu.Unlock()
	if el, ok := n.local.items[genKey]; ok {
		n.local.remove(el)
	}
}

// reset forgets every copy and stops or starts trusting the copies to come.
func (n *Near) reset(subscribed bool) {
	n.seq.Add(1)
	n.subscribed.Store(subscribed)
	n.local.mu.Lock()
	defer n.local.mu.Unlock()
	n.local.lru.Init()
	clear(n.local.items)
	n.local.bytes = 0
}

// listen keeps the subscription to BumpChannel until ctx ends.
func (n *Near) listen(ctx context.Context) {
	Listen(ctx, n.shared.c, BumpChannel, n.liveness/4, n.liveness, n.now, nearListener{n})
}

// nearListener is Near's side of its subscription.
type nearListener struct{ n *Near }

// Subscribed: announcements may have been missed before this point: start empty.
func (l nearListener) Subscribed()           { l.n.reset(true) }
func (l nearListener) Message(genKey string) { l.n.invalidate(genKey) }
func (l nearListener) Lost()                 { l.n.reset(false) }
func (l nearListener) Alive()                { l.n.alive.Store(l.n.now().UnixNano()) }
