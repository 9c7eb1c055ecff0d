package server

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestConfigFromEnv checks the defaults, a full set of good values, and that bad values are all
// reported, each by its variable's name.
func TestConfigFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := ConfigFromEnv(env(nil))
	if err != nil || c != Defaults() {
		t.Errorf("ConfigFromEnv() = %+v, %v; want the defaults", c, err)
	}
	c, err = ConfigFromEnv(env(map[string]string{
		"GATEWAY_GRPC_ADDR": "127.0.0.1:1", "GATEWAY_HTTP_ADDR": ":2", "LIVECHAT_API_URL": "http://up:8081",
		"REDIS_URL": "rediss://r:6380/0", "CACHE_TTL": "1h", "UPSTREAM_TIMEOUT": "3s", "LOG_LEVEL": "debug",
		"GATEWAY_SHUTDOWN_TIMEOUT": "1s", "CACHE_STALE_IF_ERROR": "0s", "CACHE_STORE_TIMEOUT": "250ms",
	}))
	if err != nil || c.CacheTTL != time.Hour || c.CacheStaleIfError != 0 || c.CacheStoreTimeout != 250*time.Millisecond || c.UpstreamTimeout != 3*time.Second || c.UpstreamURL != "http://up:8081" || c.LogLevel.String() != "DEBUG" {
		t.Errorf("ConfigFromEnv(good values) = %+v, %v", c, err)
	}
	_, err = ConfigFromEnv(env(map[string]string{
		"GATEWAY_GRPC_ADDR": "nowhere", "GATEWAY_HTTP_ADDR": "also nowhere", "LIVECHAT_API_URL": "api.livechatinc.com",
		"REDIS_URL": "memcached://x", "CACHE_TTL": "0s", "UPSTREAM_TIMEOUT": "-1s", "LOG_LEVEL": "loud",
		"GATEWAY_SHUTDOWN_TIMEOUT": "later", "CACHE_STALE_IF_ERROR": "-1s", "CACHE_STORE_TIMEOUT": "0s",
	}))
	for _, name := range []string{"GATEWAY_GRPC_ADDR", "GATEWAY_HTTP_ADDR", "LIVECHAT_API_URL", "REDIS_URL", "CACHE_TTL", "UPSTREAM_TIMEOUT", "LOG_LEVEL", "GATEWAY_SHUTDOWN_TIMEOUT", "CACHE_STALE_IF_ERROR", "CACHE_STORE_TIMEOUT"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("ConfigFromEnv with a bad %s: %v, want it named", name, err)
		}
	}
	if _, err := ConfigFromEnv(env(map[string]string{"CACHE_TTL": "61m"})); err == nil {
		t.Error("CACHE_TTL=61m was accepted; the limit is 1h")
	}
	if _, err := ConfigFromEnv(env(map[string]string{"CACHE_STALE_IF_ERROR": "25h"})); err == nil {
		t.Error("CACHE_STALE_IF_ERROR=25h was accepted; the limit is 24h")
	}
}

// TestREADMEConfigTable keeps the README's configuration table, the reference for operators,
// equal to the variables the gateway reads.
func TestREADMEConfigTable(t *testing.T) {
	read := map[string]bool{}
	ConfigFromEnv(func(k string) string { read[k] = true; return "" })
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(b), "## Running the gateway")
	_, table, _ = strings.Cut(table, "| variable | default | meaning |")
	table, _, _ = strings.Cut(table, "\n\n")
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Z_]+)` \\|").FindAllStringSubmatch(table, -1) {
		documented[m[1]] = true
	}
	for k := range read {
		if !documented[k] {
			t.Errorf("the gateway reads %s, which the README's configuration table does not list", k)
		}
	}
	for k := range documented {
		if !read[k] {
			t.Errorf("the README's configuration table lists %s, which the gateway does not read", k)
		}
	}
}
