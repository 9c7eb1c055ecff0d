package deploy

import (
	"context"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/livechat-gateway/gateway/internal/emulator"
	"github.com/livechat-gateway/gateway/internal/server"
)

// composeFile is the repository's docker-compose.yml; this module lives one level below it.
const composeFile = "../docker-compose.yml"

// emulatorURL is what docs/deploy.md and the compose file's comment tell a developer to set with
// the dev profile.
const emulatorURL = "http://emulator:8081"

// loadCompose loads docker-compose.yml as Docker Compose does, with compose-go (the library
// Compose itself uses): interpolated with env alone, never the environment of the machine
// running the test, checked for consistency, with profiles enabled.
func loadCompose(t *testing.T, profiles []string, env ...string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{composeFile},
		cli.WithName("gateway"),
		cli.WithEnv(env),
		cli.WithProfiles(profiles),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml with profiles %q: %v", profiles, err)
	}
	return p
}

// TestComposeProfiles checks which services each way of running the file starts: without a
// profile the gateway and Redis against the real API, with the dev profile the emulator too;
// and that the gateway never depends on a service the profile leaves out.
func TestComposeProfiles(t *testing.T) {
	for _, tc := range []struct {
		name     string
		profiles []string
		env      []string
		services []string
		upstream string
		deps     map[string]string // service → condition the gateway waits for
	}{
		{"no profile", nil, nil, []string{"gateway", "redis"},
			"https://api.livechatinc.com", map[string]string{"redis": types.ServiceConditionHealthy}},
		{"no profile, another upstream", nil, []string{"LIVECHAT_API_URL=https://api.example.com"}, []string{"gateway", "redis"},
			"https://api.example.com", map[string]string{"redis": types.ServiceConditionHealthy}},
		{"dev", []string{"dev"}, []string{"LIVECHAT_API_URL=" + emulatorURL}, []string{"emulator", "gateway", "redis"},
			emulatorURL, map[string]string{"redis": types.ServiceConditionHealthy, "emulator": types.ServiceConditionHealthy}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := loadCompose(t, tc.profiles, tc.env...)
			if got := slices.Sorted(maps.Keys(p.Services)); !slices.Equal(got, tc.services) {
				t.Errorf("services = %q, want %q", got, tc.services)
			}
			gw := p.Services["gateway"]
			if got := env(gw, "LIVECHAT_API_URL"); got != tc.upstream {
				t.Errorf("the gateway's LIVECHAT_API_URL = %q, want %q", got, tc.upstream)
			}
			// Compose drops an optional dependency on a service that is not enabled, as
			// WithoutUnresolvedOptionalDependencies does; a required one would fail `up`.
			gw = p.WithoutUnresolvedOptionalDependencies().Services["gateway"]
			got := map[string]string{}
			for name, d := range gw.DependsOn {
				got[name] = d.Condition
			}
			if !maps.Equal(got, tc.deps) {
				t.Errorf("the gateway waits for %v, want %v", got, tc.deps)
			}
		})
	}

	// Every dependency of the gateway on a service outside the default set must be optional,
	// or `docker compose up` without the profile refuses to start.
	p := loadCompose(t, nil)
	for name, d := range p.Services["gateway"].DependsOn {
		if _, enabled := p.Services[name]; !enabled && d.Required {
			t.Errorf("the gateway requires %s, which only a profile enables: `docker compose up` would fail", name)
		}
	}
	if ds, ok := p.DisabledServices["emulator"]; !ok || !slices.Equal(ds.Profiles, []string{"dev"}) {
		t.Errorf("the emulator is not in the dev profile alone: %v", ds.Profiles)
	}
}

// TestComposePorts checks what each service publishes on the host: the ports the README and
// docs/deploy.md name, each on the port the service listens on in its container.
func TestComposePorts(t *testing.T) {
	p := loadCompose(t, []string{"dev"}, "LIVECHAT_API_URL="+emulatorURL)
	want := map[string][]string{
		"gateway":  {"8080:8080", "9090:9090"},
		"emulator": {"8081:8081"},
		"redis":    {"6379:6379"},
	}
	for name, ports := range want {
		var got []string
		for _, pc := range p.Services[name].Ports {
			got = append(got, pc.Published+":"+strconv.Itoa(int(pc.Target)))
		}
		slices.Sort(got)
		if !slices.Equal(got, ports) {
			t.Errorf("%s publishes %q, want %q", name, got, ports)
		}
	}

	gw := p.Services["gateway"]
	for _, v := range []struct{ name, port string }{{"GATEWAY_HTTP_ADDR", "8080"}, {"GATEWAY_GRPC_ADDR", "9090"}} {
		if _, port, err := net.SplitHostPort(env(gw, v.name)); err != nil || port != v.port {
			t.Errorf("the gateway's %s = %q: it does not listen on the published %s", v.name, env(gw, v.name), v.port)
		}
	}
	// The emulator listens where the gateway's dev upstream, its health check and its
	// published port say.
	addr := flagValue(p.Services["emulator"].Command, "-addr")
	host, port, err := net.SplitHostPort(addr)
	if err != nil || (host != "0.0.0.0" && host != "") {
		t.Errorf("the emulator's -addr %q does not listen on every interface of its container", addr)
	}
	if u, err := url.Parse(env(gw, "LIVECHAT_API_URL")); err != nil || u.Hostname() != "emulator" || u.Port() != port {
		t.Errorf("the dev upstream %q is not the emulator service on its port %s", env(gw, "LIVECHAT_API_URL"), port)
	}
	if got := flagValue(p.Services["emulator"].HealthCheck.Test, "-addr"); got != addr {
		t.Errorf("the emulator's health check asks %q, but it listens on %q", got, addr)
	}
}

// TestComposeHealthchecks checks each service's health check: every one runs in exec form (the
// images have no shell), and none is left to the image, whose HEALTHCHECK is the gateway's.
func TestComposeHealthchecks(t *testing.T) {
	p := loadCompose(t, []string{"dev"}, "LIVECHAT_API_URL="+emulatorURL)
	want := map[string][]string{
		"gateway":  {"CMD", "/gateway", "-healthcheck"},
		"emulator": {"CMD", "/livechat-emulator", "-addr", "0.0.0.0:8081", "-healthcheck"},
		"redis":    {"CMD", "redis-cli", "ping"},
	}
	for name, test := range want {
		hc := p.Services[name].HealthCheck
		if hc == nil || hc.Disable {
			t.Errorf("%s has no health check", name)
			continue
		}
		if !slices.Equal(hc.Test, test) {
			t.Errorf("%s's health check is %q, want %q", name, hc.Test, test)
		}
		// The binaries give up on their own after 2s; the check's timeout must leave them that.
		if hc.Interval == nil || hc.Timeout == nil || hc.Retries == nil || time.Duration(*hc.Timeout) <= 2*time.Second {
			t.Errorf("%s's health check needs an interval, retries and a timeout over 2s: %+v", name, hc)
		}
	}
}

// TestComposeEnvironment checks that the gateway and the emulator get only variables they read,
// with values they accept (a typo would silently leave a default in place), and that Docker
// waits long enough on stop for the gateway's graceful shutdown.
func TestComposeEnvironment(t *testing.T) {
	p := loadCompose(t, []string{"dev"}, "LIVECHAT_API_URL="+emulatorURL)

	gw := p.Services["gateway"]
	known := server.EnvNames()
	for name := range gw.Environment {
		if !known[name] {
			t.Errorf("docker-compose.yml gives the gateway %s, which it does not read", name)
		}
	}
	cfg, err := server.ConfigFromEnv(func(k string) string { return env(gw, k) })
	if err != nil {
		t.Errorf("the gateway refuses its environment in docker-compose.yml: %v", err)
	}
	// Docker kills the container at the end of the grace period: it must cover the drain and
	// the in-flight calls' shutdown timeout.
	if gw.StopGracePeriod == nil || time.Duration(*gw.StopGracePeriod) <= cfg.DrainDelay+cfg.ShutdownTimeout {
		t.Errorf("the gateway's stop_grace_period %v is not more than GATEWAY_DRAIN_DELAY + GATEWAY_SHUTDOWN_TIMEOUT (%v)",
			gw.StopGracePeriod, cfg.DrainDelay+cfg.ShutdownTimeout)
	}

	emu := p.Services["emulator"]
	read := map[string]bool{}
	if _, err := emulator.OptionsFromEnv(func(k string) string { read[k] = true; return env(emu, k) }); err != nil {
		t.Errorf("the emulator refuses its environment in docker-compose.yml: %v", err)
	}
	for name := range emu.Environment {
		if !read[name] {
			t.Errorf("docker-compose.yml gives the emulator %s, which it does not read", name)
		}
	}
}

// env returns the value s's environment gives name, or "".
func env(s types.ServiceConfig, name string) string {
	if v := s.Environment[name]; v != nil {
		return *v
	}
	return ""
}

// flagValue returns the argument after flag in args, or "".
func flagValue(args []string, flag string) string {
	if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}
