package rest_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/structpb"

	configv1 "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
	"github.com/livechat-gateway/gateway/internal/action"
	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/wire"
)

// TestAllRoutesRegistered checks that the generated gateway routes each action's upstream path to
// its RPC, and nothing else.
func TestAllRoutesRegistered(t *testing.T) {
	gw, fake := newGateway(t)
	for _, a := range action.All() {
		if code, answer := post(t, gw, a, "{}"); code != http.StatusOK {
			t.Errorf("POST %s = %d %s, want 200", a.Path(), code, answer)
		}
		if n := len(fake.calls(a.Name)); n != 1 {
			t.Errorf("POST %s reached %s %d times, want once", a.Path(), a.FullMethod(), n)
		}
	}
	for _, path := range []string{"/v3.2/configuration/action/get_agents", "/v3.3/configuration/action/get_agent", "/v3.2/configuration/action/"} {
		resp, err := http.Post(gw.URL+path, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("POST %s = %d, want 404", path, resp.StatusCode)
		}
	}
	resp, err := http.Get(gw.URL + testutil.Action(t, "get_agent").Path())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Errorf("GET of an action = 200, want it refused: every action is POST")
	}
}

func TestRESTShapes(t *testing.T) {
	gw, fake := newGateway(t)
	tests := []struct {
		name    string
		action  string
		respond proto.Message
		want    string // JSON-equal to the answer; null and [] differ
	}{
		{
			name: "list_agents answers a top-level array", action: "list_agents",
			respond: &configv1.ListAgentsResponse{Agents: []*configv1.Agent{{Id: "a"}, {Id: "b", MaxChatsCount: proto.Int32(0)}}},
			want:    `[{"id":"a"},{"id":"b","max_chats_count":0}]`,
		},
		{
			name: "an empty list is [], not null", action: "list_agents",
			respond: &configv1.ListAgentsResponse{}, want: `[]`,
		},
		{
			name: "list_groups answers a top-level array", action: "list_groups",
			respond: &configv1.ListGroupsResponse{Groups: []*configv1.Group{{Id: proto.Uint32(0), Name: proto.String("General")}}},
			want:    `[{"id":0,"name":"General"}]`,
		},
		{
			name: "list_registered_webhooks answers a top-level array", action: "list_registered_webhooks",
			respond: &configv1.ListRegisteredWebhooksResponse{}, want: `[]`,
		},
		{
			name: "list_license_properties answers the namespace map", action: "list_license_properties",
			respond: &configv1.ListLicensePropertiesResponse{Properties: map[string]*structpb.Struct{
				"ns": {Fields: map[string]*structpb.Value{"p": structpb.NewStringValue("v")}},
			}},
			want: `{"ns":{"p":"v"}}`,
		},
		{
			name: "an empty map is {}", action: "list_group_properties",
			respond: &configv1.ListGroupPropertiesResponse{}, want: `{}`,
		},
		{
			name: "get_group answers the group itself", action: "get_group",
			respond: &configv1.GetGroupResponse{Group: &configv1.Group{Id: proto.Uint32(0), RoutingStatus: proto.String("offline")}},
			want:    `{"id":0,"routing_status":"offline"}`,
		},
		{
			name: "a missing resource is {}, not null", action: "get_agent",
			respond: &configv1.GetAgentResponse{}, want: `{}`,
		},
		{
			name: "an action with no payload answers {}", action: "update_agent",
			respond: &configv1.UpdateAgentResponse{}, want: `{}`,
		},
		{
			name: "get_bot keeps its wrapper", action: "get_bot",
			respond: &configv1.GetBotResponse{BotAgent: &configv1.Bot{Id: "x"}},
			want:    `{"bot_agent":{"id":"x"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := testutil.Action(t, tt.action)
			fake.respond(a.Name, tt.respond)
			code, answer := post(t, gw, a, "{}")
			if code != http.StatusOK {
				t.Fatalf("POST %s = %d %s, want 200", a.Path(), code, answer)
			}
			if !testutil.JSONEqual(t, answer, tt.want) {
				t.Errorf("POST %s answered %s, want %s", a.Path(), answer, tt.want)
			}
		})
	}
}

// TestFieldNamesAreSnakeCase checks the keys of a full agent, the message with the most
// multi-word fields.
func TestFieldNamesAreSnakeCase(t *testing.T) {
	gw, fake := newGateway(t)
	a := testutil.Action(t, "get_agent")
	fake.respond(a.Name, &configv1.GetAgentResponse{Agent: &configv1.Agent{
		Id: "a", Name: proto.String("A"), Role: proto.String("normal"), AvatarPath: proto.String(""),
		LoginStatus: proto.String("accepting chats"), JobTitle: proto.String("j"), Mobile: proto.String("m"),
		MaxChatsCount: proto.Int32(6), Groups: []*configv1.GroupMembership{{Id: proto.Uint32(0), Priority: "normal"}},
		Notifications: []string{"new_goal"}, EmailSubscriptions: []string{"daily_summary"}, Summaries: []string{"weekly_summary"},
		WorkScheduler: map[string]*configv1.WorkHours{"monday": {Start: "08:00", End: "16:00"}},
		Suspended:     proto.Bool(false), AwaitingApproval: proto.Bool(false),
	}})
	code, answer := post(t, gw, a, `{"id":"a"}`)
	if code != http.StatusOK {
		t.Fatalf("get_agent = %d %s", code, answer)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(answer), &got); err != nil {
		t.Fatal(err)
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range got {
			if !yield(k) {
				return
			}
		}
	})
	want := []string{
		"avatar_path", "awaiting_approval", "email_subscriptions", "groups", "id", "job_title", "login_status",
		"max_chats_count", "mobile", "name", "notifications", "role", "summaries", "suspended", "work_scheduler",
	}
	if !slices.Equal(keys, want) {
		t.Errorf("get_agent keys = %q, want %q", keys, want)
	}
}

// TestRegisterPropertiesTakesTheMap checks that register_properties' HTTP body is the property
// map itself, as the upstream documents it.
func TestRegisterPropertiesTakesTheMap(t *testing.T) {
	gw, fake := newGateway(t)
	a := testutil.Action(t, "register_properties")
	body := `{"p":{"type":"int","description":"","locations":{"group":{"access":{"agent":{"read":true,"write":false}}}},"range":{"from":0,"to":10}}}`
	if code, answer := post(t, gw, a, body); code != http.StatusOK {
		t.Fatalf("register_properties = %d %s", code, answer)
	}
	want := &configv1.RegisterPropertiesRequest{Properties: map[string]*configv1.PropertyDefinition{
		"p": {
			Type: "int", Description: proto.String(""),
			Locations: map[string]*configv1.PropertyLocation{"group": {Access: map[string]*configv1.PropertyAccess{
				"agent": {Read: proto.Bool(true), Write: proto.Bool(false)},
			}}},
			Range: &configv1.PropertyRange{From: proto.Int32(0), To: proto.Int32(10)},
		},
	}}
	got := fake.last(t, a.Name)
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("register_properties request mismatch (-want +got):\n%s", diff)
	}
	if up, err := wire.EncodeRequest(a, got); err != nil || !testutil.JSONEqual(t, string(up), body) {
		t.Errorf("register_properties went upstream as %s (%v), want %s", up, err, body)
	}
	// The map is the body: wrapping it in {"properties": ...} names a property "properties",
	// whose definition is not one.
	if code, _ := post(t, gw, a, `{"properties":`+body+`}`); code != http.StatusUnprocessableEntity {
		t.Errorf("register_properties with a wrapped map = %d, want 422", code)
	}
}

// TestEmptiedListsReachTheUpstream checks that a REST client's empty list or map in an update
// goes upstream as written, through the update_mask the decoder infers.
func TestEmptiedListsReachTheUpstream(t *testing.T) {
	gw, fake := newGateway(t)
	tests := []struct {
		action, body string
		mask         []string
	}{
		{"update_agent", `{"id":"a","notifications":[],"email_subscriptions":[],"work_scheduler":{}}`,
			[]string{"email_subscriptions", "id", "notifications", "work_scheduler"}},
		{"update_bot", `{"id":"b","groups":[],"webhooks":{"url":"u","secret_key":"s","actions":[]}}`,
			[]string{"groups", "id", "webhooks.actions", "webhooks.secret_key", "webhooks.url"}},
		{"update_group", `{"id":0,"agent_priorities":{}}`, []string{"agent_priorities", "id"}},
		{"update_group", `{"id":7,"name":"n"}`, []string{"id", "name"}},
	}
	for _, tt := range tests {
		a := testutil.Action(t, tt.action)
		if code, answer := post(t, gw, a, tt.body); code != http.StatusOK {
			t.Fatalf("%s %s = %d %s", tt.action, tt.body, code, answer)
		}
		req := fake.last(t, a.Name)
		fd := req.ProtoReflect().Descriptor().Fields().ByName("update_mask")
		mask, _ := req.ProtoReflect().Get(fd).Message().Interface().(*fieldmaskpb.FieldMask)
		if !slices.Equal(mask.GetPaths(), tt.mask) {
			t.Errorf("%s %s: update_mask = %q, want %q", tt.action, tt.body, mask.GetPaths(), tt.mask)
		}
		up, err := wire.EncodeRequest(a, req)
		if err != nil || !testutil.JSONEqual(t, string(up), tt.body) {
			t.Errorf("%s %s went upstream as %s (%v)", tt.action, tt.body, up, err)
		}
	}
	// The upstream has no update_mask: a REST body that names one is refused, as the upstream
	// refuses an unknown field, and never reaches the server.
	a := testutil.Action(t, "update_agent")
	before := len(fake.calls(a.Name))
	for _, body := range []string{
		`{"id":"a","name":"n","role":"normal","update_mask":"name"}`,
		`{"id":"a","name":"n","updateMask":"name"}`,
	} {
		code, answer := post(t, gw, a, body)
		if code != http.StatusUnprocessableEntity || !strings.Contains(answer, `"update_mask: unknown field"`) {
			t.Errorf("update_agent %s = %d %s, want 422 update_mask: unknown field", body, code, answer)
		}
	}
	if n := len(fake.calls(a.Name)) - before; n != 0 {
		t.Errorf("bodies with update_mask reached the server %d times", n)
	}
}

// TestRequestDecoding covers bodies that are not the upstream's well-formed JSON. A refused body
// never reaches the server.
func TestRequestDecoding(t *testing.T) {
	gw, fake := newGateway(t)
	a := testutil.Action(t, "get_group")
	tests := []struct {
		body string
		ok   bool
	}{
		{``, true}, // an empty body is an empty request, as {} is
		{` {} `, true},
		{`{"id":0}`, true},
		{`{"id":"1"}`, true}, // protojson takes quoted numbers
		{`{"id":1,"nope":1}`, false},
		{`{"id":-1}`, false},
		{`{"id":1.5}`, false},
		{`{"id":4294967296}`, false},
		{`{"id":1} {"id":2}`, false},
		{`{"id":1,"id":2}`, false},
		{`[]`, false},
		{`null`, true},
		{`{"id":`, false},
		{`{"fields":"routing_status"}`, false},
	}
	for _, tt := range tests {
		before := len(fake.calls(a.Name))
		code, answer := post(t, gw, a, tt.body)
		reached := len(fake.calls(a.Name)) > before
		if tt.ok && (code != http.StatusOK || !reached) {
			t.Errorf("get_group %q = %d %s (reached server: %v), want 200", tt.body, code, answer, reached)
		}
		if !tt.ok && (code != http.StatusUnprocessableEntity || reached) {
			t.Errorf("get_group %q = %d %s (reached server: %v), want 422 without a call", tt.body, code, answer, reached)
		}
	}
	reg := testutil.Action(t, "register_properties")
	for _, body := range []string{`{"p":{"type":"int"}} x`, `{"p":{"type":"int","nope":1}}`, `{"p":1}`, `[]`} {
		before := len(fake.calls(reg.Name))
		if code, answer := post(t, gw, reg, body); code != http.StatusUnprocessableEntity || len(fake.calls(reg.Name)) > before {
			t.Errorf("register_properties %q = %d %s, want 422 without a call", body, code, answer)
		}
	}
}
