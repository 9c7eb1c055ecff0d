package cache

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/livechat-gateway/gateway/internal/tracing"
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

	// RootCAs, when not nil, are the CAs that a TLS Redis's certificate is checked against,
	// instead of the system's: for a Redis with a certificate of a private CA.
	RootCAs *x509.CertPool
	// GetClientCertificate, when not nil, gives the client certificate for a TLS Redis that asks
	// for one (tls-auth-clients).
	GetClientCertificate func(*tls.CertificateRequestInfo) (*tls.Certificate, error)

	// TracerProvider, when it records (tracing.Enabled), gives each Redis command a client span
	// named after the command, such as "evalsha". The command's arguments are not recorded: keys
	// and values are hashed and sealed, but a span is no place for them.
	TracerProvider trace.TracerProvider
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
	c, err := NewRedisClient(url, o)
	if err != nil {
		return nil, err
	}
	return &Redis{c: c, timeout: o.withDefaults().Timeout}, nil
}

// NewRedisClient returns a go-redis client of the Redis that url names, configured as NewRedis
// configures its own (o's defaults, TLS, tracing; o.Timeout is not applied: it is the Store's),
// for parts of the gateway that keep data of their own in the same Redis, such as the webhook
// events. They take a client of their own so that their pool, and their pub/sub subscription,
// never hold the cache's connections.
func NewRedisClient(url string, o RedisOptions) (redis.UniversalClient, error) {
	u, err := ParseRedisURL(url)
	if err != nil {
		return nil, err
	}
	if o.RootCAs != nil || o.GetClientCertificate != nil {
		if u.TLSConfig == nil {
			return nil, errors.New("cache: a CA or a client certificate for Redis needs a TLS REDIS_URL (rediss://, rediss-cluster:// or rediss-sentinel://)")
		}
		// go-redis's own configuration for the URL (its server name, TLS 1.2 at least), with
		// these added.
		u.TLSConfig = u.TLSConfig.Clone()
		if o.RootCAs != nil {
			u.TLSConfig.RootCAs = o.RootCAs
		}
		u.TLSConfig.GetClientCertificate = o.GetClientCertificate
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
	c := redis.NewUniversalClient(u)
	if tracing.Enabled(o.TracerProvider) {
		err := redisotel.InstrumentTracing(c, redisotel.WithTracerProvider(o.TracerProvider),
			redisotel.WithDBStatement(false), redisotel.WithCallerEnabled(false),
			// go-redis dials in a context of the pool's, not the call's, and the near cache's
			// subscription opens its connection in one of its own: each dial, and each new
			// connection's setup, would be a trace of its own, noise without a call it served.
			redisotel.WithDialFilter(true),
			redisotel.WithCommandFilter(connSetup),
			redisotel.WithCommandsFilter(func(cmds []redis.Cmder) bool { return slices.ContainsFunc(cmds, connSetup) }))
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("cache: tracing Redis: %w", err)
		}
	}
	return c, nil
}

// connSetup reports whether cmd is part of setting a new connection up (HELLO, CLIENT SETINFO,
// AUTH, SELECT) rather than a call's work: such commands are not traced.
func connSetup(cmd redis.Cmder) bool {
	switch strings.ToLower(cmd.Name()) {
	case "hello", "client", "auth", "select":
		return true
	}
	return false
}

// The scripts run atomically on the node that holds their keys; the keys of one call share a hash
// tag, so one node holds all of them. Generations travel as decimal strings and are compared as
// strings: Lua's numbers are doubles.
var (
	// initScript creates a missing counter with a fresh value (ARGV[1]) living ARGV[2] ms, and
	// returns the counter, whichever value it now holds.
	initScript = redis.NewScript(`
redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
return redis.call('GET', KEYS[1])`)

	// fillScript stores ARGV[2] at KEYS[2] for ARGV[3] ms when the counter KEYS[1] holds ARGV[1],
	// and makes the counter live at least as long.
	fillScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1`)

	// bumpScript increments the counter KEYS[1], or creates it with the fresh value ARGV[1], makes
	// it live at least ARGV[2] ms, announces its key on the channel ARGV[3] (for the replicas'
	// near caches: in the same script, so that no bump goes unannounced), and returns its value.
	bumpScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('INCR', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
redis.call('PUBLISH', ARGV[3], KEYS[1])
return redis.call('GET', KEYS[1])`)
)

// Lookup returns the counter at genKey and the value at key with one MGET, the whole cost of a
// hit. Only when the counter is missing does it take a second round trip, to create it.
func (r *Redis) Lookup(ctx context.Context, genKey, key string, ttl time.Duration) (int64, []byte, bool, error) {
	if err := checkTTL("lookup", genKey, ttl); err != nil {
		return 0, nil, false, err
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	vals, err := r.c.MGet(ctx, genKey, key).Result()
	if err != nil {
		return 0, nil, false, fmt.Errorf("cache: lookup %q: %w", key, err)
	}
	if len(vals) != 2 {
		return 0, nil, false, fmt.Errorf("cache: lookup %q: %d values for 2 keys", key, len(vals))
	}
	s, isStr := vals[0].(string)
	if !isStr {
		s, err = initScript.Run(ctx, r.c, []string{genKey}, freshGeneration(), millis(ttl)).Text()
		if err != nil {
			return 0, nil, false, fmt.Errorf("cache: lookup %q: creating the counter: %w", key, err)
		}
		gen, err := parseGeneration(genKey, s)
		return gen, nil, false, err
	}
	gen, err := parseGeneration(genKey, s)
	if err != nil {
		return 0, nil, false, err
	}
	if v, isStr := vals[1].(string); isStr {
		return gen, []byte(v), true, nil
	}
	return gen, nil, false, nil
}

// Fill stores val at key while the counter holds gen (a script: GET, SET PX, PEXPIRE).
func (r *Redis) Fill(ctx context.Context, genKey string, gen int64, key string, val []byte, ttl time.Duration) (bool, error) {
	if err := checkTTL("fill", key, ttl); err != nil {
		return false, err
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	n, err := fillScript.Run(ctx, r.c, []string{genKey, key}, strconv.FormatInt(gen, 10), val, millis(ttl)).Int()
	if err != nil {
		return false, fmt.Errorf("cache: fill %q: %w", key, err)
	}
	return n == 1, nil
}

// Bump moves the counter on (a script: INCR, or SET of a fresh value, then PEXPIRE, and PUBLISH
// of its key on BumpChannel).
func (r *Redis) Bump(ctx context.Context, genKey string, ttl time.Duration) (int64, error) {
	if err := checkTTL("bump", genKey, ttl); err != nil {
		return 0, err
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	s, err := bumpScript.Run(ctx, r.c, []string{genKey}, freshGeneration(), millis(ttl), BumpChannel).Text()
	if err != nil {
		return 0, fmt.Errorf("cache: bump %q: %w", genKey, err)
	}
	return parseGeneration(genKey, s)
}

// millis returns ttl in whole milliseconds, at least 1: PX and PEXPIRE take nothing finer, and
// refuse 0.
func millis(ttl time.Duration) int64 { return max(ttl.Milliseconds(), 1) }

// parseGeneration reads a counter's value.
func parseGeneration(genKey, s string) (int64, error) {
	gen, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("cache: counter %q holds %q, not a generation", genKey, s)
	}
	return gen, nil
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
