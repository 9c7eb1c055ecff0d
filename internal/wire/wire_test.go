package wire_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	configv1 "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/wire"
)

func mask(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }

func TestEncodeRequest(t *testing.T) {
	tests := []struct {
		name   string
		action string
		req    proto.Message
		want   string
	}{
		{
			name:   "plain message",
			action: "create_agent",
			req: &configv1.CreateAgentRequest{
				Id: "smith@example.com", Name: "Agent Smith", AwaitingApproval: proto.Bool(false),
				Groups: []*configv1.GroupMembership{{Id: proto.Uint32(0), Priority: "first"}},
			},
			want: `{"id":"smith@example.com","name":"Agent Smith","awaiting_approval":false,"groups":[{"id":0,"priority":"first"}]}`,
		},
		{
			name:   "group 0 keeps its id",
			action: "get_group",
			req:    &configv1.GetGroupRequest{Id: proto.Uint32(0)},
			want:   `{"id":0}`,
		},
		{
			name:   "body field is the whole body",
			action: "register_properties",
			req: &configv1.RegisterPropertiesRequest{Properties: map[string]*configv1.PropertyDefinition{
				"p": {Type: "int", Range: &configv1.PropertyRange{From: proto.Int32(0), To: proto.Int32(3)}},
			}},
			want: `{"p":{"type":"int","range":{"from":0,"to":3}}}`,
		},
		{
			name:   "empty body field is an empty object",
			action: "register_properties",
			req:    &configv1.RegisterPropertiesRequest{},
			want:   `{}`,
		},
		{
			name:   "no mask sends every set field and no empty list",
			action: "update_agent",
			req:    &configv1.UpdateAgentRequest{Id: "a", Name: proto.String("n"), Notifications: []string{}},
			want:   `{"id":"a","name":"n"}`,
		},
		{
			name:   "an empty mask is no mask and is not sent",
			action: "update_agent",
			req:    &configv1.UpdateAgentRequest{Id: "a", Name: proto.String("n"), UpdateMask: mask()},
			want:   `{"id":"a","name":"n"}`,
		},
		{
			name:   "masked empty list and map are sent empty",
			action: "update_agent",
			req: &configv1.UpdateAgentRequest{
				Id: "a", Name: proto.String("n"), Role: proto.String("normal"),
				UpdateMask: mask("name", "notifications", "work_scheduler", "email_subscriptions"),
			},
			want: `{"id":"a","name":"n","notifications":[],"work_scheduler":{},"email_subscriptions":[]}`,
		},
		{
			name:   "masked unset scalar is not sent",
			action: "update_agent",
			req:    &configv1.UpdateAgentRequest{Id: "a", UpdateMask: mask("job_title")},
			want:   `{"id":"a"}`,
		},
		{
			name:   "nested paths keep only what they name",
			action: "update_bot",
			req: &configv1.UpdateBotRequest{
				Id: "b", Webhooks: &configv1.BotWebhooks{Url: "http://x", SecretKey: "s"},
				UpdateMask: mask("webhooks.url", "webhooks.actions"),
			},
			want: `{"id":"b","webhooks":{"url":"http://x","actions":[]}}`,
		},
		{
			name:   "a shorter path takes the whole field",
			action: "update_bot",
			req: &configv1.UpdateBotRequest{
				Id: "b", Webhooks: &configv1.BotWebhooks{Url: "http://x", SecretKey: "s"},
				UpdateMask: mask("webhooks.url", "webhooks"),
			},
			want: `{"id":"b","webhooks":{"url":"http://x","secret_key":"s"}}`,
		},
		{
			name:   "group id 0 with an emptied map",
			action: "update_group",
			req:    &configv1.UpdateGroupRequest{Id: proto.Uint32(0), UpdateMask: mask("agent_priorities")},
			want:   `{"id":0,"agent_priorities":{}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := proto.Clone(tt.req)
			got, err := wire.EncodeRequest(testutil.Action(t, tt.action), tt.req)
			if err != nil {
				t.Fatalf("EncodeRequest() error: %v", err)
			}
			if !testutil.JSONEqual(t, string(got), tt.want) {
				t.Errorf("EncodeRequest() = %s, want %s", got, tt.want)
			}
			if diff := cmp.Diff(before, tt.req, protocmp.Transform()); diff != "" {
				t.Errorf("EncodeRequest changed its argument (-before +after):\n%s", diff)
			}
		})
	}
}

func TestEncodeRequestRejectsBadMasks(t *testing.T) {
	for _, path := range []string{"nope", "update_mask", "groups.id", "name.first", "webhooks.nope", ""} {
		req := &configv1.UpdateBotRequest{Id: "b", UpdateMask: mask(path)}
		_, err := wire.EncodeRequest(testutil.Action(t, "update_bot"), req)
		if err == nil || !strings.Contains(err.Error(), "update_mask") {
			t.Errorf("EncodeRequest(update_mask %q) error = %v, want an update_mask error", path, err)
		}
	}
}

func TestDecodeResponse(t *testing.T) {
	tests := []struct {
		name   string
		action string
		body   string
		strict bool
		want   proto.Message
		errs   bool
	}{
		{
			name: "top-level array", action: "list_agents",
			body: `[{"id":"a","max_chats_count":0},{"id":"b"}]`,
			want: &configv1.ListAgentsResponse{Agents: []*configv1.Agent{{Id: "a", MaxChatsCount: proto.Int32(0)}, {Id: "b"}}},
		},
		{
			name: "null array is empty", action: "list_agents", body: `null`,
			want: &configv1.ListAgentsResponse{},
		},
		{
			name: "top-level resource", action: "get_group",
			body: `{"id":0,"name":"General","agent_priorities":{"a":"normal"}}`,
			want: &configv1.GetGroupResponse{Group: &configv1.Group{
				Id: proto.Uint32(0), Name: proto.String("General"), AgentPriorities: map[string]string{"a": "normal"},
			}},
		},
		{
			name: "whole message", action: "create_bot", body: `{"bot_agent_id":"x"}`,
			want: &configv1.CreateBotResponse{BotAgentId: "x"},
		},
		{
			name: "no payload", action: "update_agent", body: "",
			want: &configv1.UpdateAgentResponse{},
		},
		{
			name: "unknown fields dropped", action: "get_bot",
			body: `{"bot_agent":{"id":"x","timezone":"Europe/Warsaw"},"extra":[1]}`,
			want: &configv1.GetBotResponse{BotAgent: &configv1.Bot{Id: "x"}},
		},
		{
			name: "unknown fields refused when strict", action: "get_bot",
			body: `{"bot_agent":{"id":"x","timezone":"Europe/Warsaw"}}`, strict: true, errs: true,
		},
		{
			name: "not JSON", action: "list_groups", body: `<html>`, errs: true,
		},
		{
			name: "trailing data", action: "list_groups", body: `[] []`, errs: true,
		},
		{
			name: "not a value on its own", action: "list_agents", body: `[], "x": 1`, errs: true,
		},
		{
			name: "not a value on its own, even when wrapped", action: "get_agent", body: `{"id":"a"}, "agent": {}`, errs: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := testutil.Action(t, tt.action)
			opts := wire.LenientUnmarshalOptions()
			if tt.strict {
				opts = wire.StrictUnmarshalOptions()
			}
			got := a.NewResponse()
			err := wire.DecodeResponse(a, []byte(tt.body), got, opts)
			if tt.errs {
				if err == nil {
					t.Fatalf("DecodeResponse(%s) = %v, want an error", tt.body, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeResponse(%s) error: %v", tt.body, err)
			}
			if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("DecodeResponse(%s) mismatch (-want +got):\n%s", tt.body, diff)
			}
		})
	}
}
