package gateway_test

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/livechat-gateway/gateway/internal/server"
)

// TestComposeFile checks docker-compose.yml, which cannot run here (no Docker engine): its
// services exist, the gateway's settings are ones the gateway accepts, and its upstream is the
// emulator service.
func TestComposeFile(t *testing.T) {
	b, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]struct {
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"gateway", "emulator", "redis"} {
		if _, ok := f.Services[name]; !ok {
			t.Errorf("docker-compose.yml has no %s service", name)
		}
	}
	env := f.Services["gateway"].Environment
	if _, err := server.ConfigFromEnv(func(k string) string { return env[k] }); err != nil {
		t.Errorf("the gateway's environment in docker-compose.yml is refused: %v", err)
	}
	for k := range env {
		if _, known := map[string]bool{
			"GATEWAY_GRPC_ADDR": true, "GATEWAY_HTTP_ADDR": true, "LIVECHAT_API_URL": true, "REDIS_URL": true,
			"CACHE_TTL": true, "CACHE_STALE_IF_ERROR": true, "CACHE_STORE_TIMEOUT": true, "UPSTREAM_TIMEOUT": true, "LOG_LEVEL": true, "GATEWAY_SHUTDOWN_TIMEOUT": true,
		}[k]; !known {
			t.Errorf("docker-compose.yml sets %s, which the gateway does not read", k)
		}
	}
	if !strings.HasPrefix(env["LIVECHAT_API_URL"], "http://emulator:") || !strings.Contains(strings.Join(f.Services["emulator"].Command, " "), "0.0.0.0:8081") {
		t.Errorf("the gateway's upstream %q is not the emulator service listening on 8081", env["LIVECHAT_API_URL"])
	}
}
