package gateway_test

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

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
			Command         []string          `yaml:"command"`
			Environment     map[string]string `yaml:"environment"`
			StopGracePeriod string            `yaml:"stop_grace_period"`
			Healthcheck     struct {
				Test []string `yaml:"test"`
			} `yaml:"healthcheck"`
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
	gw := f.Services["gateway"]
	read := map[string]bool{}
	cfg, err := server.ConfigFromEnv(func(k string) string { read[k] = true; return gw.Environment[k] })
	if err != nil {
		t.Errorf("the gateway's environment in docker-compose.yml is refused: %v", err)
	}
	for k := range gw.Environment {
		if !read[k] {
			t.Errorf("docker-compose.yml sets %s, which the gateway does not read", k)
		}
	}
	// Docker kills the container at the end of the grace period: it must cover the drain and
	// the in-flight calls' shutdown timeout.
	if grace, err := time.ParseDuration(gw.StopGracePeriod); err != nil || grace <= cfg.DrainDelay+cfg.ShutdownTimeout {
		t.Errorf("the gateway's stop_grace_period %q is not more than GATEWAY_DRAIN_DELAY + GATEWAY_SHUTDOWN_TIMEOUT (%v)", gw.StopGracePeriod, cfg.DrainDelay+cfg.ShutdownTimeout)
	}
	// The image is distroless: the check runs the binary in exec form, without a shell.
	if test := gw.Healthcheck.Test; len(test) < 3 || test[0] != "CMD" || !slices.Contains(test[2:], "-healthcheck") {
		t.Errorf("the gateway's healthcheck %q does not run the binary with -healthcheck in exec form (CMD)", test)
	}
	if !strings.HasPrefix(gw.Environment["LIVECHAT_API_URL"], "http://emulator:") || !strings.Contains(strings.Join(f.Services["emulator"].Command, " "), "0.0.0.0:8081") {
		t.Errorf("the gateway's upstream %q is not the emulator service listening on 8081", gw.Environment["LIVECHAT_API_URL"])
	}
}
