package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"time"

	"github.com/livechat-gateway/gateway/internal/cache"
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
	CacheTTL          time.Duration // CACHE_TTL
	// CacheStaleIfError (CACHE_STALE_IF_ERROR) is how long past CACHE_TTL an answer may stand in
	// for an upstream that fails; 0 turns it off.
	CacheStaleIfError time.Duration
	// CacheKeySecret (CACHE_KEY_SECRET) keys the credential hashes in cache keys. Unset, each
	// process draws a random one, and replicas do not share entries.
	CacheKeySecret  string
	UpstreamTimeout time.Duration // UPSTREAM_TIMEOUT
	ShutdownTimeout time.Duration // GATEWAY_SHUTDOWN_TIMEOUT: how long in-flight calls may finish
	LogLevel        slog.Level    // LOG_LEVEL
}

// Defaults returns the configuration when no variable is set.
func Defaults() Config {
	return Config{
		GRPCAddr:          ":9090",
		HTTPAddr:          ":8080",
		UpstreamURL:       "https://api.livechatinc.com",
		CacheTTL:          2 * time.Minute,
		CacheStaleIfError: 10 * time.Minute,
		CacheStoreTimeout: 100 * time.Millisecond,
		UpstreamTimeout:   10 * time.Second,
		ShutdownTimeout:   15 * time.Second,
		LogLevel:          slog.LevelInfo,
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
	str("GATEWAY_GRPC_ADDR", &c.GRPCAddr)
	str("GATEWAY_HTTP_ADDR", &c.HTTPAddr)
	str("LIVECHAT_API_URL", &c.UpstreamURL)
	str("REDIS_URL", &c.RedisURL)
	str("CACHE_KEY_SECRET", &c.CacheKeySecret)
	dur("CACHE_TTL", &c.CacheTTL)
	dur("CACHE_STALE_IF_ERROR", &c.CacheStaleIfError)
	dur("CACHE_STORE_TIMEOUT", &c.CacheStoreTimeout)
	dur("UPSTREAM_TIMEOUT", &c.UpstreamTimeout)
	dur("GATEWAY_SHUTDOWN_TIMEOUT", &c.ShutdownTimeout)
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

// Validate reports every bad value of c, each by its variable's name.
func (c Config) Validate() error {
	var errs []error
	for _, a := range []struct{ name, addr string }{{"GATEWAY_GRPC_ADDR", c.GRPCAddr}, {"GATEWAY_HTTP_ADDR", c.HTTPAddr}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: want host:port, such as :9090", a.name, a.addr))
		}
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
	if c.CacheKeySecret != "" && len(c.CacheKeySecret) < 16 {
		errs = append(errs, errors.New("CACHE_KEY_SECRET: want at least 16 bytes"))
	}
	if c.CacheTTL <= 0 || c.CacheTTL > time.Hour {
		errs = append(errs, fmt.Errorf("CACHE_TTL=%v: want more than 0 and at most 1h", c.CacheTTL))
	}
	if c.CacheStaleIfError < 0 || c.CacheStaleIfError > 24*time.Hour {
		errs = append(errs, fmt.Errorf("CACHE_STALE_IF_ERROR=%v: want 0 (off) to 24h", c.CacheStaleIfError))
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
	return errors.Join(errs...)
}
