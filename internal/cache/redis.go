package cache

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions tune the Redis client. A zero field takes its default. The defaults fail fast:
// the caller serves from upstream when Redis errors, so with a sick Redis a quick error costs a
// request far less than a slow answer. An option given in REDIS_URL (?read_timeout=200ms) wins
// over the field here.
type RedisOptions struct {
	// Timeout caps one Store call end to end, on top of ctx's deadline: waiting for a connection,
	// dialling, writing, reading, and the redirects and retries of go-redis's Cluster client,
	// which it makes on network errors even without MaxRetries. Default 100ms, so that one call
	// to a sick Redis never costs more than that before the caller falls back to upstream. A
	// negative Timeout leaves only ctx's deadline.
	Timeout time.Duration

	// DialTimeout bounds opening one connection. Default 100ms: a dial within a data center takes
	// well under a millisecond, and a Redis that does not answer a SYN should be given up on
	// quickly. It is longer than ReadTimeout because a TLS handshake takes a few round trips.
	DialTimeout time.Duration

	// ReadTimeout and WriteTimeout bound one command's socket I/O. Default 50ms: tens of ms so
	// that a sick Redis costs little before we fall back to upstream, while a healthy one answers
	// a GET of a few hundred KB well within it.
	ReadTimeout, WriteTimeout time.Duration

	// PoolSize is the most connections to one Redis server (to each node of a Cluster). Default
	// 10*GOMAXPROCS, go-redis's own default for one server: enough that calls rarely wait, few
	// enough that many replicas stay far below Redis's maxclients.
	PoolSize int

	// PoolTimeout is how long a call waits for a free connection when all PoolSize are busy.
	// Default 50ms: a pool that stays exhausted means Redis is slow, and waiting longer only
	// delays the fall-back.
	PoolTimeout time.Duration

	// MinIdleConns is how many idle connections are kept open, so that a burst does not start
	// with dials. Default 0: a dial costs well under a millisecond in a data center, while idle
	// connections of every replica to every node add up on Redis.
	MinIdleConns int

	// MaxRetries is how often a failed command is retried. Default 0, no retries, which is to
	// fail fast: the caller's fall-back to upstream is the retry.
	MaxRetries int
}

func (o RedisOptions) withDefaults() RedisOptions {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.Timeout, 100*time.Millisecond)
	def(&o.DialTimeout, 100*time.Millisecond)
	def(&o.ReadTimeout, 50*time.Millisecond)
	def(&o.WriteTimeout, 50*time.Millisecond)
	def(&o.PoolTimeout, 50*time.Millisecond)
	if o.PoolSize == 0 {
		o.PoolSize = 10 * runtime.GOMAXPROCS(0)
	}
	return o
}

// Redis is the Store on a Redis server, Cluster or Sentinel-managed master, shared by the
// gateway's replicas. It is safe for concurrent use.
type Redis struct {
	c       redis.UniversalClient
	timeout time.Duration
}

// NewRedis returns a Store on the Redis that url names (any form that ParseRedisURL takes),
// using a go-redis UniversalClient. It does not connect: Redis is an optimisation, so the
// gateway starts and serves without it, and Ping tells whether it answers.
func NewRedis(url string, o RedisOptions) (*Redis, error) {
	u, err := ParseRedisURL(url)
	if err != nil {
		return nil, err
	}
	o = o.withDefaults()
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&u.DialTimeout, o.DialTimeout)
	def(&u.ReadTimeout, o.ReadTimeout)
	def(&u.WriteTimeout, o.WriteTimeout)
	def(&u.PoolTimeout, o.PoolTimeout)
	if u.PoolSize == 0 {
		u.PoolSize = o.PoolSize
	}
	if u.MinIdleConns == 0 {
		u.MinIdleConns = o.MinIdleConns
	}
	if u.MaxRetries == 0 {
		u.MaxRetries = o.MaxRetries
		if u.MaxRetries <= 0 {
			u.MaxRetries = -1 // go-redis reads 0 as its default, 3 retries, and -1 as none
		}
	}
	if u.DialerRetries == 0 {
		// One attempt: go-redis's default of 5 attempts 100ms apart would hold a call to a dead
		// Redis for half a second.
		u.DialerRetries = 1
	}
	// Let ctx's deadline shorten the socket timeouts, not only cancel between commands.
	u.ContextTimeoutEnabled = true
	return &Redis{c: redis.NewUniversalClient(u), timeout: o.Timeout}, nil
}

// Get returns the value at key (GET), or ok=false on a miss.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, bool, error) {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	val, err := r.c.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("cache: get %q: %w", key, err)
	}
	return val, true, nil
}

// Set stores val at key for ttl (SET with PX, or EX for whole seconds).
func (r *Redis) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if err := checkTTL("set", key, ttl); err != nil {
		return err
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	if err := r.c.Set(ctx, key, val, ttl).Err(); err != nil {
		return fmt.Errorf("cache: set %q: %w", key, err)
	}
	return nil
}

// Generation returns the counter at key (GET), 0 when it does not exist.
func (r *Redis) Generation(ctx context.Context, key string) (int64, error) {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	n, err := r.c.Get(ctx, key).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("cache: generation %q: %w", key, err)
	}
	return n, nil
}

// Bump increments the counter at key and sets its ttl, in one MULTI/EXEC transaction (INCR,
// PEXPIRE): a counter bumped but left without expiry would live forever, and the two commands
// need only one round trip. Both name the same key, so they go to one node of a Cluster.
func (r *Redis) Bump(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	if err := checkTTL("bump", key, ttl); err != nil {
		return 0, err
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	var incr *redis.IntCmd
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		incr = p.Incr(ctx, key)
		p.PExpire(ctx, key, ttl)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("cache: bump %q: %w", key, err)
	}
	return incr.Val(), nil
}

// Ping reports whether Redis answers (PING), for readiness checks.
func (r *Redis) Ping(ctx context.Context) error {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	if err := r.c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("cache: ping: %w", err)
	}
	return nil
}

// Close closes the client's connections.
func (r *Redis) Close() error {
	if err := r.c.Close(); err != nil {
		return fmt.Errorf("cache: close: %w", err)
	}
	return nil
}

// bound applies RedisOptions.Timeout to ctx.
func (r *Redis) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if r.timeout < 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, r.timeout)
}
