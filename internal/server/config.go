package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/livechat-gateway/gateway/internal/cache"
	"github.com/livechat-gateway/gateway/internal/webhooks"
)

// Config is the gateway's configuration, from the environment. README.md's configuration table is
// its reference, and TestREADMEConfigTable keeps the two equal.
type Config struct {
	GRPCAddr    string // GATEWAY_GRPC_ADDR
	HTTPAddr    string // GATEWAY_HTTP_ADDR
	UpstreamURL string // LIVECHAT_API_URL
	RedisURL    string // REDIS_URL; unset: the in-process store
	// CacheStoreTimeout (CACHE_STORE_TIMEOUT) bounds one call to Redis, all of it: waiting for a
	// connection, dialling, writing and reading.
	CacheStoreTimeout time.Duration
	// CacheNearMaxBytes (CACHE_NEAR_MAX_BYTES) bounds the near cache: in-process copies of the
	// Redis entries this replica read, served without a round trip; 0 turns it off.
	CacheNearMaxBytes int
	// CacheNearLiveness (CACHE_NEAR_LIVENESS) is how long after the invalidation channel's last
	// sign of life the near cache is still trusted: a bump missed by a channel that died silently
	// is served for at most that long.
	CacheNearLiveness time.Duration
	CacheTTL          time.Duration // CACHE_TTL
	// CacheStaleIfError (CACHE_STALE_IF_ERROR) is how long past CACHE_TTL an answer may stand in
	// for an upstream that fails; 0 turns it off.
	CacheStaleIfError time.Duration
	// CacheKeySecret (CACHE_KEY_SECRET) keys the credential hashes in cache keys. Unset, each
	// process draws a random one, and replicas do not share entries.
	CacheKeySecret  string
	UpstreamTimeout time.Duration // UPSTREAM_TIMEOUT
	// UpstreamMaxConns (UPSTREAM_MAX_CONNS) caps the connections to the upstream host.
	UpstreamMaxConns int
	// UpstreamMaxWaiting (UPSTREAM_MAX_WAITING) caps the calls that wait for one of those
	// connections; past it, calls are shed at once.
	UpstreamMaxWaiting int
	// UpstreamMaxPerCredential (UPSTREAM_MAX_CONCURRENT_PER_CREDENTIAL) caps one credential's
	// concurrent upstream calls; 0 stands for a quarter of UpstreamMaxConns.
	UpstreamMaxPerCredential int
	// UpstreamMaxAnswerBytes (UPSTREAM_MAX_ANSWER_BYTES) is the largest upstream answer served,
	// over gRPC and REST alike.
	UpstreamMaxAnswerBytes int

	MaxInFlight     int // GATEWAY_MAX_IN_FLIGHT: calls being served at once, both surfaces
	MaxRequestBytes int // GATEWAY_MAX_REQUEST_BYTES: a REST body or a gRPC request message
	MaxJSONDepth    int // GATEWAY_MAX_JSON_DEPTH: nesting of a request's JSON

	GRPCMaxHeaderBytes    int           // GATEWAY_GRPC_MAX_HEADER_BYTES: a call's metadata
	GRPCMaxStreams        int           // GATEWAY_GRPC_MAX_STREAMS: concurrent calls per connection
	GRPCMaxConnectionIdle time.Duration // GATEWAY_GRPC_MAX_CONNECTION_IDLE
	GRPCKeepaliveMinTime  time.Duration // GATEWAY_GRPC_KEEPALIVE_MIN_TIME: the shortest ping interval allowed
	HTTPReadHeaderTimeout time.Duration // GATEWAY_HTTP_READ_HEADER_TIMEOUT
	HTTPReadTimeout       time.Duration // GATEWAY_HTTP_READ_TIMEOUT
	HTTPWriteTimeout      time.Duration // GATEWAY_HTTP_WRITE_TIMEOUT
	HTTPIdleTimeout       time.Duration // GATEWAY_HTTP_IDLE_TIMEOUT
	HTTPMaxHeaderBytes    int           // GATEWAY_HTTP_MAX_HEADER_BYTES

	// DrainDelay (GATEWAY_DRAIN_DELAY) is how long the gateway reports not ready, still serving,
	// before its listeners close on shutdown, so that load balancers stop sending it calls.
	DrainDelay      time.Duration
	ShutdownTimeout time.Duration // GATEWAY_SHUTDOWN_TIMEOUT: how long in-flight calls may finish
	LogLevel        slog.Level    // LOG_LEVEL
	PprofAddr       string        // PPROF_ADDR: net/http/pprof's listener; unset: off

	// TLSCertFile and TLSKeyFile (TLS_CERT_FILE, TLS_KEY_FILE), both or neither, turn TLS on
	// on both listeners; the files are reloaded when they change.
	TLSCertFile, TLSKeyFile string
	// TLSClientCAFile (TLS_CLIENT_CA_FILE) turns on client certificates checked against it:
	// required on the gRPC listener, and on the HTTP listener for all but /healthz and /readyz.
	TLSClientCAFile string
	// RedisCAFile (REDIS_CA_FILE) is the CA that a rediss:// Redis's certificate is checked
	// against, instead of the system's.
	RedisCAFile string
	// RedisClientCertFile and RedisClientKeyFile (REDIS_CLIENT_CERT_FILE, REDIS_CLIENT_KEY_FILE)
	// are the client certificate presented to a rediss:// Redis that asks for one.
	RedisClientCertFile, RedisClientKeyFile string

	// WebhookAddr (GATEWAY_WEBHOOK_ADDR) serves POST /webhooks on a listener of its own, so that
	// it alone can be exposed to LiveChat; unset, it is on the HTTP listener.
	WebhookAddr string
	// WebhookSecrets (WEBHOOK_SECRETS) are the secrets of webhooks registered elsewhere:
	// "id=secret,..." or "@<file>" (webhooks.ParseSecrets). Never logged.
	WebhookSecrets string
	// WebhookDedupeWindow (WEBHOOK_DEDUPE_WINDOW) is how long a delivery is remembered, so that
	// the same one again is not stored again.
	WebhookDedupeWindow time.Duration
	// WebhookRetention (WEBHOOK_RETENTION) is how long a license's events are kept.
	WebhookRetention time.Duration
	// WebhookStreamMaxLen (WEBHOOK_STREAM_MAX_LEN) bounds the events kept per license.
	WebhookStreamMaxLen int
	// WebhookMaxSecrets (WEBHOOK_MAX_SECRETS) bounds the learned webhook secrets.
	WebhookMaxSecrets int
	// WebhookStoreTimeout (WEBHOOK_STORE_TIMEOUT) bounds verifying and storing one delivery.
	WebhookStoreTimeout time.Duration
	// WebhookMemoryMaxBytes (WEBHOOK_MEMORY_MAX_BYTES) bounds the in-process event store.
	WebhookMemoryMaxBytes int
	// WebhookMaxInFlight (WEBHOOK_MAX_IN_FLIGHT) bounds the deliveries handled at once.
	WebhookMaxInFlight int
	// WebhookHeartbeat (WEBHOOK_HEARTBEAT_INTERVAL) is how long a SubscribeWebhooks stream may
	// go without a message before a heartbeat is sent, for proxies that close idle streams.
	WebhookHeartbeat time.Duration
	// WebhookMaxSubscribers (WEBHOOK_MAX_SUBSCRIBERS) bounds the SubscribeWebhooks streams open
	// on one replica.
	WebhookMaxSubscribers int
	// WebhookSubscriberBatch (WEBHOOK_SUBSCRIBER_BATCH) is how many events a stream reads at
	// once, and so the most it holds for a slow subscriber.
	WebhookSubscriberBatch int
}

// TLS reports whether the listeners serve TLS.
func (c Config) TLS() bool { return c.TLSCertFile != "" }

// Defaults returns the configuration when no variable is set.
func Defaults() Config {
	return Config{
		GRPCAddr:          ":9090",
		HTTPAddr:          ":8080",
		UpstreamURL:       "https://api.livechatinc.com",
		CacheTTL:          2 * time.Minute,
		CacheStaleIfError: 10 * time.Minute,
		CacheStoreTimeout: 100 * time.Millisecond,
		CacheNearMaxBytes: cache.DefaultNearMaxBytes,
		CacheNearLiveness: cache.DefaultNearLiveness,
		UpstreamTimeout:   10 * time.Second,

		UpstreamMaxConns:       64,
		UpstreamMaxWaiting:     128,
		UpstreamMaxAnswerBytes: 8 << 20,
		MaxInFlight:            1000,
		MaxRequestBytes:        1 << 20,
		MaxJSONDepth:           64,

		GRPCMaxHeaderBytes:    16 << 10,
		GRPCMaxStreams:        100,
		GRPCMaxConnectionIdle: 5 * time.Minute,
		GRPCKeepaliveMinTime:  10 * time.Second,
		HTTPReadHeaderTimeout: 10 * time.Second,
		HTTPReadTimeout:       30 * time.Second,
		HTTPWriteTimeout:      60 * time.Second,
		HTTPIdleTimeout:       90 * time.Second,
		HTTPMaxHeaderBytes:    32 << 10,

		DrainDelay:      5 * time.Second,
		ShutdownTimeout: 15 * time.Second,
		LogLevel:        slog.LevelInfo,

		WebhookDedupeWindow:    webhooks.DefaultDedupeWindow,
		WebhookRetention:       webhooks.DefaultRetention,
		WebhookStreamMaxLen:    webhooks.DefaultMaxLen,
		WebhookMaxSecrets:      webhooks.DefaultMaxSecrets,
		WebhookStoreTimeout:    time.Second,
		WebhookMemoryMaxBytes:  webhooks.DefaultMemoryMaxBytes,
		WebhookMaxInFlight:     256,
		WebhookHeartbeat:       webhooks.DefaultHeartbeat,
		WebhookMaxSubscribers:  webhooks.DefaultMaxSubscribers,
		WebhookSubscriberBatch: webhooks.DefaultBatch,
	}
}

// ConfigFromEnv reads the configuration from getenv (os.Getenv in main) over the defaults, and
// validates it, reporting every bad value at once, each by its variable's name.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Defaults()
	var errs []error
	str := func(name string, dst *string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	dur := func(name string, dst *time.Duration) {
		v := getenv(name)
		if v == "" {
			return
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: not a duration such as 10s", name, v))
			return
		}
		*dst = d
	}
	num := func(name string, dst *int) {
		v := getenv(name)
		if v == "" {
			return
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: not a whole number", name, v))
			return
		}
		*dst = n
	}
	str("GATEWAY_GRPC_ADDR", &c.GRPCAddr)
	str("GATEWAY_HTTP_ADDR", &c.HTTPAddr)
	str("LIVECHAT_API_URL", &c.UpstreamURL)
	str("REDIS_URL", &c.RedisURL)
	str("PPROF_ADDR", &c.PprofAddr)
	str("CACHE_KEY_SECRET", &c.CacheKeySecret)
	str("TLS_CERT_FILE", &c.TLSCertFile)
	str("TLS_KEY_FILE", &c.TLSKeyFile)
	str("TLS_CLIENT_CA_FILE", &c.TLSClientCAFile)
	str("REDIS_CA_FILE", &c.RedisCAFile)
	str("REDIS_CLIENT_CERT_FILE", &c.RedisClientCertFile)
	str("REDIS_CLIENT_KEY_FILE", &c.RedisClientKeyFile)
	dur("CACHE_TTL", &c.CacheTTL)
	dur("CACHE_STALE_IF_ERROR", &c.CacheStaleIfError)
	dur("CACHE_STORE_TIMEOUT", &c.CacheStoreTimeout)
	dur("CACHE_NEAR_LIVENESS", &c.CacheNearLiveness)
	num("CACHE_NEAR_MAX_BYTES", &c.CacheNearMaxBytes)
	dur("UPSTREAM_TIMEOUT", &c.UpstreamTimeout)
	dur("GATEWAY_SHUTDOWN_TIMEOUT", &c.ShutdownTimeout)
	dur("GATEWAY_DRAIN_DELAY", &c.DrainDelay)
	num("UPSTREAM_MAX_CONNS", &c.UpstreamMaxConns)
	num("UPSTREAM_MAX_WAITING", &c.UpstreamMaxWaiting)
	num("UPSTREAM_MAX_CONCURRENT_PER_CREDENTIAL", &c.UpstreamMaxPerCredential)
	num("UPSTREAM_MAX_ANSWER_BYTES", &c.UpstreamMaxAnswerBytes)
	num("GATEWAY_MAX_IN_FLIGHT", &c.MaxInFlight)
	num("GATEWAY_MAX_REQUEST_BYTES", &c.MaxRequestBytes)
	num("GATEWAY_MAX_JSON_DEPTH", &c.MaxJSONDepth)
	num("GATEWAY_GRPC_MAX_HEADER_BYTES", &c.GRPCMaxHeaderBytes)
	num("GATEWAY_GRPC_MAX_STREAMS", &c.GRPCMaxStreams)
	dur("GATEWAY_GRPC_MAX_CONNECTION_IDLE", &c.GRPCMaxConnectionIdle)
	dur("GATEWAY_GRPC_KEEPALIVE_MIN_TIME", &c.GRPCKeepaliveMinTime)
	dur("GATEWAY_HTTP_READ_HEADER_TIMEOUT", &c.HTTPReadHeaderTimeout)
	dur("GATEWAY_HTTP_READ_TIMEOUT", &c.HTTPReadTimeout)
	dur("GATEWAY_HTTP_WRITE_TIMEOUT", &c.HTTPWriteTimeout)
	dur("GATEWAY_HTTP_IDLE_TIMEOUT", &c.HTTPIdleTimeout)
	num("GATEWAY_HTTP_MAX_HEADER_BYTES", &c.HTTPMaxHeaderBytes)
	str("GATEWAY_WEBHOOK_ADDR", &c.WebhookAddr)
	str("WEBHOOK_SECRETS", &c.WebhookSecrets)
	dur("WEBHOOK_DEDUPE_WINDOW", &c.WebhookDedupeWindow)
	dur("WEBHOOK_RETENTION", &c.WebhookRetention)
	num("WEBHOOK_STREAM_MAX_LEN", &c.WebhookStreamMaxLen)
	num("WEBHOOK_MAX_SECRETS", &c.WebhookMaxSecrets)
	dur("WEBHOOK_STORE_TIMEOUT", &c.WebhookStoreTimeout)
	num("WEBHOOK_MEMORY_MAX_BYTES", &c.WebhookMemoryMaxBytes)
	num("WEBHOOK_MAX_IN_FLIGHT", &c.WebhookMaxInFlight)
	dur("WEBHOOK_HEARTBEAT_INTERVAL", &c.WebhookHeartbeat)
	num("WEBHOOK_MAX_SUBSCRIBERS", &c.WebhookMaxSubscribers)
	num("WEBHOOK_SUBSCRIBER_BATCH", &c.WebhookSubscriberBatch)
	if v := getenv("LOG_LEVEL"); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			errs = append(errs, fmt.Errorf("LOG_LEVEL=%q: want debug, info, warn or error", v))
		}
	}
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

// EnvNames returns the names of the environment variables ConfigFromEnv reads, all of which it
// reads whatever their values.
func EnvNames() map[string]bool {
	read := map[string]bool{}
	ConfigFromEnv(func(k string) string { read[k] = true; return "" })
	return read
}

// Validate reports every bad value of c, each by its variable's name.
func (c Config) Validate() error {
	var errs []error
	for _, a := range []struct{ name, addr string }{{"GATEWAY_GRPC_ADDR", c.GRPCAddr}, {"GATEWAY_HTTP_ADDR", c.HTTPAddr}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: want host:port, such as :9090", a.name, a.addr))
		}
	}
	if _, _, err := net.SplitHostPort(c.WebhookAddr); c.WebhookAddr != "" && err != nil {
		errs = append(errs, fmt.Errorf("GATEWAY_WEBHOOK_ADDR=%q: want host:port, such as :8088", c.WebhookAddr))
	}
	if !strings.HasPrefix(c.WebhookSecrets, "@") {
		// A file is read in New; the inline form is checked here. The error never holds a
		// secret, nor does this.
		if _, err := webhooks.ParseSecrets(c.WebhookSecrets); err != nil {
			errs = append(errs, fmt.Errorf("WEBHOOK_SECRETS: %w", err))
		}
	}
	if _, _, err := net.SplitHostPort(c.PprofAddr); c.PprofAddr != "" && err != nil {
		errs = append(errs, fmt.Errorf("PPROF_ADDR=%q: want host:port, such as 127.0.0.1:6060", c.PprofAddr))
	}
	if u, err := url.Parse(c.UpstreamURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("LIVECHAT_API_URL=%q: want an absolute http or https URL", c.UpstreamURL))
	}
	if c.RedisURL != "" {
		if _, err := cache.ParseRedisURL(c.RedisURL); err != nil {
			// The error never holds the URL's password, so neither does this.
			errs = append(errs, fmt.Errorf("REDIS_URL: %w", err))
		}
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("TLS_CERT_FILE, TLS_KEY_FILE: set both (TLS on both listeners) or neither"))
	}
	if c.TLSClientCAFile != "" && (c.TLSCertFile == "" || c.TLSKeyFile == "") {
		errs = append(errs, errors.New("TLS_CLIENT_CA_FILE: client certificates need TLS: set TLS_CERT_FILE and TLS_KEY_FILE too"))
	}
	if (c.RedisClientCertFile == "") != (c.RedisClientKeyFile == "") {
		errs = append(errs, errors.New("REDIS_CLIENT_CERT_FILE, REDIS_CLIENT_KEY_FILE: set both or neither"))
	}
	if c.RedisCAFile != "" || c.RedisClientCertFile != "" || c.RedisClientKeyFile != "" {
		if !strings.HasPrefix(c.RedisURL, "rediss") {
			errs = append(errs, errors.New("REDIS_CA_FILE, REDIS_CLIENT_CERT_FILE, REDIS_CLIENT_KEY_FILE: need a TLS REDIS_URL (rediss://, rediss-cluster:// or rediss-sentinel://)"))
		}
	}
	if c.CacheKeySecret != "" && len(c.CacheKeySecret) < 16 {
		errs = append(errs, errors.New("CACHE_KEY_SECRET: want at least 16 bytes"))
	}
	if c.CacheTTL <= 0 || c.CacheTTL > time.Hour {
		errs = append(errs, fmt.Errorf("CACHE_TTL=%v: want more than 0 and at most 1h", c.CacheTTL))
	}
	if c.CacheStaleIfError < 0 || c.CacheStaleIfError > 24*time.Hour {
		errs = append(errs, fmt.Errorf("CACHE_STALE_IF_ERROR=%v: want 0 (off) to 24h", c.CacheStaleIfError))
	}
	if c.CacheNearMaxBytes < 0 {
		errs = append(errs, fmt.Errorf("CACHE_NEAR_MAX_BYTES=%d: want 0 (off) or more", c.CacheNearMaxBytes))
	}
	if c.CacheNearLiveness < 100*time.Millisecond || c.CacheNearLiveness > time.Minute {
		errs = append(errs, fmt.Errorf("CACHE_NEAR_LIVENESS=%v: want 100ms to 1m", c.CacheNearLiveness))
	}
	if c.CacheStoreTimeout <= 0 || c.CacheStoreTimeout > 10*time.Second {
		errs = append(errs, fmt.Errorf("CACHE_STORE_TIMEOUT=%v: want more than 0 and at most 10s", c.CacheStoreTimeout))
	}
	if c.UpstreamTimeout <= 0 {
		errs = append(errs, fmt.Errorf("UPSTREAM_TIMEOUT=%v: want more than 0", c.UpstreamTimeout))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("GATEWAY_SHUTDOWN_TIMEOUT=%v: want more than 0", c.ShutdownTimeout))
	}
	durs := []struct {
		name     string
		v        time.Duration
		min, max time.Duration
	}{
		{"GATEWAY_DRAIN_DELAY", c.DrainDelay, 0, 5 * time.Minute},
		{"GATEWAY_GRPC_MAX_CONNECTION_IDLE", c.GRPCMaxConnectionIdle, time.Second, 24 * time.Hour},
		{"GATEWAY_GRPC_KEEPALIVE_MIN_TIME", c.GRPCKeepaliveMinTime, time.Second, time.Hour},
		{"GATEWAY_HTTP_READ_HEADER_TIMEOUT", c.HTTPReadHeaderTimeout, 100 * time.Millisecond, 10 * time.Minute},
		{"GATEWAY_HTTP_READ_TIMEOUT", c.HTTPReadTimeout, 100 * time.Millisecond, 10 * time.Minute},
		{"GATEWAY_HTTP_WRITE_TIMEOUT", c.HTTPWriteTimeout, 100 * time.Millisecond, time.Hour},
		{"GATEWAY_HTTP_IDLE_TIMEOUT", c.HTTPIdleTimeout, 100 * time.Millisecond, time.Hour},
		{"WEBHOOK_DEDUPE_WINDOW", c.WebhookDedupeWindow, time.Minute, 24 * time.Hour},
		{"WEBHOOK_RETENTION", c.WebhookRetention, time.Minute, 7 * 24 * time.Hour},
		{"WEBHOOK_STORE_TIMEOUT", c.WebhookStoreTimeout, 10 * time.Millisecond, 10 * time.Second},
		{"WEBHOOK_HEARTBEAT_INTERVAL", c.WebhookHeartbeat, 100 * time.Millisecond, 10 * time.Minute},
	}
	for _, d := range durs {
		if d.v < d.min || d.v > d.max {
			errs = append(errs, fmt.Errorf("%s=%v: want %v to %v", d.name, d.v, d.min, d.max))
		}
	}
	if c.WebhookMemoryMaxBytes < c.MaxRequestBytes {
		// The in-process store must hold at least the largest delivery it may be given.
		errs = append(errs, fmt.Errorf("WEBHOOK_MEMORY_MAX_BYTES=%d: want at least GATEWAY_MAX_REQUEST_BYTES (%d)", c.WebhookMemoryMaxBytes, c.MaxRequestBytes))
	}
	if c.HTTPWriteTimeout <= c.UpstreamTimeout {
		// A REST call may take the whole upstream timeout; a shorter write timeout would cut
		// its answer off after the work was done.
		errs = append(errs, fmt.Errorf("GATEWAY_HTTP_WRITE_TIMEOUT=%v: want more than UPSTREAM_TIMEOUT (%v)", c.HTTPWriteTimeout, c.UpstreamTimeout))
	}
	nums := []struct {
		name     string
		v        int
		min, max int
	}{
		{"UPSTREAM_MAX_CONNS", c.UpstreamMaxConns, 1, 100_000},
		{"UPSTREAM_MAX_WAITING", c.UpstreamMaxWaiting, 0, 1_000_000},
		{"UPSTREAM_MAX_CONCURRENT_PER_CREDENTIAL", c.UpstreamMaxPerCredential, 0, 1_000_000},
		{"UPSTREAM_MAX_ANSWER_BYTES", c.UpstreamMaxAnswerBytes, 64 << 10, 256 << 20},
		{"GATEWAY_MAX_IN_FLIGHT", c.MaxInFlight, 1, 1_000_000},
		{"GATEWAY_MAX_REQUEST_BYTES", c.MaxRequestBytes, 4 << 10, 64 << 20},
		{"GATEWAY_MAX_JSON_DEPTH", c.MaxJSONDepth, 8, 1000},
		{"GATEWAY_GRPC_MAX_HEADER_BYTES", c.GRPCMaxHeaderBytes, 1 << 10, 16 << 20},
		{"GATEWAY_GRPC_MAX_STREAMS", c.GRPCMaxStreams, 1, 100_000},
		{"GATEWAY_HTTP_MAX_HEADER_BYTES", c.HTTPMaxHeaderBytes, 1 << 10, 16 << 20},
		{"WEBHOOK_STREAM_MAX_LEN", c.WebhookStreamMaxLen, 100, 10_000_000},
		{"WEBHOOK_MAX_SECRETS", c.WebhookMaxSecrets, 1, 10_000_000},
		{"WEBHOOK_MEMORY_MAX_BYTES", c.WebhookMemoryMaxBytes, 1 << 20, 16 << 30},
		{"WEBHOOK_MAX_IN_FLIGHT", c.WebhookMaxInFlight, 1, 100_000},
		{"WEBHOOK_MAX_SUBSCRIBERS", c.WebhookMaxSubscribers, 1, 1_000_000},
		{"WEBHOOK_SUBSCRIBER_BATCH", c.WebhookSubscriberBatch, 1, webhooks.MaxRead},
	}
	for _, n := range nums {
		if n.v < n.min || n.v > n.max {
			errs = append(errs, fmt.Errorf("%s=%d: want %d to %d", n.name, n.v, n.min, n.max))
		}
	}
	return errors.Join(errs...)
}
