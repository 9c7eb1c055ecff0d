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

// TestTLSConfigValidate: the TLS and Redis TLS variables go in pairs, client certificates need
// TLS, and the Redis files need a TLS REDIS_URL; each error names the variables.
func TestTLSConfigValidate(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	good := [][]string{
		{"TLS_CERT_FILE", "c.pem", "TLS_KEY_FILE", "k.pem"},
		{"TLS_CERT_FILE", "c.pem", "TLS_KEY_FILE", "k.pem", "TLS_CLIENT_CA_FILE", "ca.pem"},
		{"REDIS_URL", "rediss://r:6380", "REDIS_CA_FILE", "ca.pem", "REDIS_CLIENT_CERT_FILE", "c.pem", "REDIS_CLIENT_KEY_FILE", "k.pem"},
		{"REDIS_URL", "rediss-cluster://r:6380", "REDIS_CA_FILE", "ca.pem"},
	}
	for _, kv := range good {
		if _, err := ConfigFromEnv(env(kv...)); err != nil {
			t.Errorf("ConfigFromEnv(%q) = %v", kv, err)
		}
	}
	c, _ := ConfigFromEnv(env(good[1]...))
	if !c.TLS() || c.TLSCertFile != "c.pem" || c.TLSKeyFile != "k.pem" || c.TLSClientCAFile != "ca.pem" {
		t.Errorf("ConfigFromEnv(%q) = %+v", good[1], c)
	}
	for _, tc := range []struct {
		kv   []string
		want string
	}{
		{[]string{"TLS_CERT_FILE", "c.pem"}, "TLS_CERT_FILE, TLS_KEY_FILE: set both"},
		{[]string{"TLS_KEY_FILE", "k.pem"}, "TLS_CERT_FILE, TLS_KEY_FILE: set both"},
		{[]string{"TLS_CLIENT_CA_FILE", "ca.pem"}, "TLS_CLIENT_CA_FILE: client certificates need TLS"},
		{[]string{"REDIS_URL", "rediss://r", "REDIS_CLIENT_CERT_FILE", "c.pem"}, "REDIS_CLIENT_CERT_FILE, REDIS_CLIENT_KEY_FILE: set both"},
		{[]string{"REDIS_URL", "redis://r", "REDIS_CA_FILE", "ca.pem"}, "REDIS_CA_FILE, REDIS_CLIENT_CERT_FILE, REDIS_CLIENT_KEY_FILE: need a TLS REDIS_URL"},
		{[]string{"REDIS_CA_FILE", "ca.pem"}, "need a TLS REDIS_URL"},
	} {
		if _, err := ConfigFromEnv(env(tc.kv...)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ConfigFromEnv(%q) = %v, want an error with %q", tc.kv, err, tc.want)
		}
	}
}

// TestWebhookConfig: the webhook variables' defaults, their bounds named on error, and a
// WEBHOOK_SECRETS error that never quotes a secret.
func TestWebhookConfig(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := ConfigFromEnv(env(map[string]string{
		"GATEWAY_WEBHOOK_ADDR": "127.0.0.1:8088", "WEBHOOK_SECRETS": "a=x,b=y", "WEBHOOK_DEDUPE_WINDOW": "2h",
		"WEBHOOK_RETENTION": "48h", "WEBHOOK_STREAM_MAX_LEN": "500", "WEBHOOK_MAX_SECRETS": "10",
		"WEBHOOK_STORE_TIMEOUT": "2s", "WEBHOOK_MEMORY_MAX_BYTES": "2097152", "WEBHOOK_MAX_IN_FLIGHT": "8",
	}))
	if err != nil || c.WebhookAddr != "127.0.0.1:8088" || c.WebhookDedupeWindow != 2*time.Hour || c.WebhookRetention != 48*time.Hour ||
		c.WebhookStreamMaxLen != 500 || c.WebhookMaxSecrets != 10 || c.WebhookStoreTimeout != 2*time.Second ||
		c.WebhookMemoryMaxBytes != 2<<20 || c.WebhookMaxInFlight != 8 {
		t.Errorf("ConfigFromEnv(webhook values) = %+v, %v", c, err)
	}
	bad := map[string]string{
		"GATEWAY_WEBHOOK_ADDR": "nowhere", "WEBHOOK_SECRETS": "a=hunter2,broken", "WEBHOOK_DEDUPE_WINDOW": "0s",
		"WEBHOOK_RETENTION": "200h", "WEBHOOK_STREAM_MAX_LEN": "5", "WEBHOOK_MAX_SECRETS": "0",
		"WEBHOOK_STORE_TIMEOUT": "1m", "WEBHOOK_MEMORY_MAX_BYTES": "100", "WEBHOOK_MAX_IN_FLIGHT": "0",
	}
	_, err = ConfigFromEnv(env(bad))
	for name := range bad {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("a bad %s: %v, want it named", name, err)
		}
	}
	if err != nil && strings.Contains(err.Error(), "hunter2") {
		t.Errorf("the WEBHOOK_SECRETS error quotes a secret: %v", err)
	}
}
