package action_test

import (
	"os"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/reflect/protoreflect"

	configv1 "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
	"github.com/livechat-gateway/gateway/internal/action"
)

// documented lists the actions of the upstream's documentation, in its order, as written there.
var documented = []string{
	"create_agent", "get_agent", "list_agents", "update_agent", "delete_agent", "suspend_agent",
	"unsuspend_agent", "request_agent_unsuspension", "approve_agent",
	"create_bot", "delete_bot", "update_bot", "list_bots", "get_bot",
	"create_group", "update_group", "delete_group", "list_groups", "get_group",
	"register_properties", "list_registered_properties", "update_license_properties",
	"list_license_properties", "delete_license_properties", "update_group_properties",
	"list_group_properties", "delete_group_properties",
	"register_webhook", "list_registered_webhooks", "unregister_webhook",
}

// reads are the cached reads that README.md and docs/cache.md list.
var reads = []string{
	"get_agent", "list_agents", "get_bot", "list_bots", "get_group", "list_groups",
	"list_registered_properties", "list_license_properties", "list_group_properties",
	"list_registered_webhooks",
}

func TestAllActions(t *testing.T) {
	var names, gotReads []string
	for _, a := range action.All() {
		names = append(names, a.Name)
		if a.Read {
			gotReads = append(gotReads, a.Name)
		}
		if got, ok := action.ByName(a.Name); !ok || got != a {
			t.Errorf("ByName(%q) = %v, %v; want the action", a.Name, got, ok)
		}
		if got, ok := action.ByMethod(a.FullMethod()); !ok || got != a {
			t.Errorf("ByMethod(%q) = %v, %v; want the action", a.FullMethod(), got, ok)
		}
		if got, want := a.NewRequest().ProtoReflect().Descriptor(), a.Method.Input(); got != want {
			t.Errorf("%s: NewRequest() is a %s, want %s", a.Name, got.FullName(), want.FullName())
		}
		if got, want := a.NewResponse().ProtoReflect().Descriptor(), a.Method.Output(); got != want {
			t.Errorf("%s: NewResponse() is a %s, want %s", a.Name, got.FullName(), want.FullName())
		}
	}
	if !slices.Equal(names, documented) {
		t.Errorf("action names = %q\nwant the documented %q", names, documented)
	}
	slices.Sort(gotReads)
	want := slices.Sorted(slices.Values(reads))
	if !slices.Equal(gotReads, want) {
		t.Errorf("reads = %q, want %q", gotReads, want)
	}
	if _, ok := action.ByName("get_agents"); ok {
		t.Error(`ByName("get_agents") found an action that does not exist`)
	}
}

// TestEveryRPCIsAnAction checks that the five services hold exactly the 30 unary RPCs of the table,
// and SubscribeWebhooks, the gateway's own streaming RPC, which is no action.
func TestEveryRPCIsAnAction(t *testing.T) {
	files := []protoreflect.FileDescriptor{
		configv1.File_livechat_configuration_v1_agent_proto,
		configv1.File_livechat_configuration_v1_bot_proto,
		configv1.File_livechat_configuration_v1_group_proto,
		configv1.File_livechat_configuration_v1_property_proto,
		configv1.File_livechat_configuration_v1_webhook_proto,
	}
	var services, streams []string
	rpcs := 0
	for _, f := range files {
		for i := range f.Services().Len() {
			s := f.Services().Get(i)
			services = append(services, string(s.Name()))
			for j := range s.Methods().Len() {
				m := s.Methods().Get(j)
				full := "/" + string(s.FullName()) + "/" + string(m.Name())
				if m.IsStreamingServer() || m.IsStreamingClient() {
					// The gateway's own RPCs, not upstream actions.
					streams = append(streams, full)
					if _, ok := action.ByMethod(full); ok {
						t.Errorf("streaming RPC %s is an action", full)
					}
					continue
				}
				rpcs++
				if _, ok := action.ByMethod(full); !ok {
					t.Errorf("RPC %s carries no action", full)
				}
			}
		}
	}
	wantServices := []string{"AgentService", "BotService", "GroupService", "PropertyService", "WebhookService"}
	if !slices.Equal(services, wantServices) {
		t.Errorf("services = %q, want %q", services, wantServices)
	}
	if want := []string{configv1.WebhookService_SubscribeWebhooks_FullMethodName}; !slices.Equal(streams, want) {
		t.Errorf("streaming RPCs = %q, want %q", streams, want)
	}
	if rpcs != 30 || len(action.All()) != 30 {
		t.Errorf("%d RPCs and %d actions, want 30 of each", rpcs, len(action.All()))
	}
}

// httpConfig is the part of a gRPC API Configuration file that holds HTTP rules.
type httpConfig struct {
	Type string `yaml:"type"`
	HTTP struct {
		Rules []struct {
			Selector     string `yaml:"selector"`
			Post         string `yaml:"post"`
			Get          string `yaml:"get"`
			Body         string `yaml:"body"`
			ResponseBody string `yaml:"response_body"`
		} `yaml:"rules"`
	} `yaml:"http"`
}

// TestHTTPRulesMatchTable checks http.yaml, which grpc-gateway and the OpenAPI generator read,
// against the table that Go code reads.
func TestHTTPRulesMatchTable(t *testing.T) {
	data, err := os.ReadFile("../../proto/livechat/configuration/v1/http.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg httpConfig
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Type != "google.api.Service" {
		t.Errorf("type = %q, want google.api.Service", cfg.Type)
	}
	seen := map[string]bool{}
	for _, r := range cfg.HTTP.Rules {
		a, ok := action.ByMethod("/" + lastDotToSlash(r.Selector))
		if !ok {
			t.Errorf("rule for %s: no such action", r.Selector)
			continue
		}
		if seen[a.Name] {
			t.Errorf("%s is bound twice", r.Selector)
		}
		seen[a.Name] = true
		if r.Post != a.Path() || r.Get != "" {
			t.Errorf("%s is bound to post %q (get %q), want post %q", r.Selector, r.Post, r.Get, a.Path())
		}
		wantBody := "*"
		if a.Body != "" {
			wantBody = string(a.Body)
		}
		if r.Body != wantBody {
			t.Errorf("%s: body %q, want %q", r.Selector, r.Body, wantBody)
		}
		if r.ResponseBody != string(a.ResponseBody) {
			t.Errorf("%s: response_body %q, want %q", r.Selector, r.ResponseBody, a.ResponseBody)
		}
	}
	for _, a := range action.All() {
		if !seen[a.Name] {
			t.Errorf("%s has no HTTP rule", a.Name)
		}
	}
}

// lastDotToSlash turns a selector such as pkg.Service.Method into pkg.Service/Method.
func lastDotToSlash(s string) string {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' {
			return s[:i] + "/" + s[i+1:]
		}
	}
	return s
}

// TestInvalidates checks the invalidation column: reads invalidate nothing, a write names only
// reads, and the cross-resource effects the spec implies are there.
func TestInvalidates(t *testing.T) {
	for _, a := range action.All() {
		if a.Read && len(a.Invalidates) > 0 {
			t.Errorf("read %s invalidates %v", a.Name, a.Invalidates)
		}
		for _, name := range a.Invalidates {
			if r, ok := action.ByName(name); !ok || !r.Read {
				t.Errorf("%s invalidates %q, which is not a read", a.Name, name)
			}
		}
	}
	for _, tc := range []struct{ write, read string }{
		{"create_agent", "list_groups"}, // agent_priorities
		{"delete_bot", "get_group"},     // agent_priorities lists bots too
		{"update_group", "get_agent"},   // an agent's groups
		{"delete_group", "list_bots"},   // a bot's groups
		{"delete_group", "list_group_properties"},
		{"update_agent", "get_agent"},
		{"register_properties", "list_registered_properties"},
		{"delete_license_properties", "list_license_properties"},
		{"update_group_properties", "list_group_properties"},
		{"unregister_webhook", "list_registered_webhooks"},
	} {
		a, _ := action.ByName(tc.write)
		if !slices.Contains(a.Invalidates, tc.read) {
			t.Errorf("%s does not invalidate %s", tc.write, tc.read)
		}
	}
}
