package server_test

import (
	"testing"

	"github.com/livechat-gateway/gateway/internal/testutil"
)

// TestRESTAnswersAreTheUpstreams is a differential test of the reads: each is sent over REST to
// the gateway and directly to the emulator behind it, with the same token and body, and the two
// answers must have the same status and be JSON-equal: the same keys, the empty lists and maps
// the upstream sends included ("notifications": [], "agent_priorities": {}, "bot_agents": []),
// which protobuf cannot carry. The second call of each is a cache hit, and must be equal too.
func TestRESTAnswersAreTheUpstreams(t *testing.T) {
	v := newEnv(t, specWorld(t))
	allAgentFields := `["work_scheduler","groups","email_subscriptions","notifications","job_title","mobile","max_chats_count","suspended","awaiting_approval"]`
	for _, tc := range []struct{ name, token, action, body string }{
		{"get_agent", ownerA, "get_agent", `{"id":"owner-a@example.com"}`},
		{"get_agent, every field", ownerA, "get_agent", `{"id":"owner-a@example.com","fields":` + allAgentFields + `}`},
		{"get_agent, empty fields", ownerA, "get_agent", `{"id":"owner-a@example.com","fields":["notifications","work_scheduler","email_subscriptions"]}`},
		{"list_agents", ownerA, "list_agents", `{}`},
		{"list_agents, every field", ownerA, "list_agents", `{"fields":` + allAgentFields + `}`},
		{"list_agents, no groups", ownerA, "list_agents", `{"filters":{"group_ids":null}}`},
		{"list_groups", ownerA, "list_groups", `{}`},
		{"list_groups, every field", ownerA, "list_groups", `{"fields":["agent_priorities","routing_status"]}`},
		{"get_group", ownerA, "get_group", `{"id":0,"fields":["agent_priorities","routing_status"]}`},
		{"list_bots", ownerA, "list_bots", `{"all":true}`},
		{"list_bots, read-only", readonlyA, "list_bots", `{}`},
		{"list_registered_webhooks", ownerA, "list_registered_webhooks", `{}`},
		{"list_registered_properties", ownerA, "list_registered_properties", `{}`},
		{"list_license_properties", ownerA, "list_license_properties", `{}`},
		{"list_group_properties", ownerA, "list_group_properties", `{"group_id":0}`},
		{"the spec's world: list_agents", testutil.SpecToken, "list_agents", `{"fields":` + allAgentFields + `}`},
		{"the spec's world: list_bots", testutil.SpecToken, "list_bots", `{"all":true}`},
		{"the spec's world: list_groups", testutil.SpecToken, "list_groups", `{"fields":["agent_priorities","routing_status"]}`},
		{"an error", ownerA, "get_agent", `{"id":"nobody@example.com"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := v.direct(tc.token, tc.action, tc.body)
			for _, call := range []string{"miss", "hit"} {
				got := v.rest(tc.token, tc.action, tc.body)
				if got.status != want.status || !testutil.JSONEqual(t, got.body, want.body) {
					t.Errorf("%s: gateway %d %s\nupstream %d %s", call, got.status, got.body, want.status, want.body)
				}
			}
		})
	}
}
