package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// sdkBodies are the request bodies the official Go SDK (github.com/livechat/lc-sdk-go v2.4.0,
// the last release that speaks v3.2, package configuration) sends, byte for byte as its
// json.Marshal writes them:
//   - RequestAgentUnsuspension and ListRegisteredWebhooks call with a nil payload, which is the
//     body null (v2.4.0's ListRegisteredWebhooks takes no options; the owner_client_id body is
//     the later SDKs' list_webhooks, of API v3.3);
//   - ListAgents without group ids still writes its filters object, whose group_ids is a nil
//     slice: null;
//   - a bot webhook action without filters or additional data writes both as null.
var sdkBodies = []struct{ name, action, body string }{
	{"RequestAgentUnsuspension", "request_agent_unsuspension", `null`},
	{"ListRegisteredWebhooks", "list_registered_webhooks", `null`},
	{"ListAgents without groups", "list_agents", `{"filters":{"group_ids":null}}`},
	{"ListAgents without groups, with fields", "list_agents", `{"fields":["max_chats_count"],"filters":{"group_ids":null}}`},
	{"CreateBot with a webhook action without filters", "create_bot",
		`{"name":"SDK Bot","max_chats_count":6,"webhooks":{"url":"https://example.com/webhooks","secret_key":"sdk-secret",` +
			`"actions":[{"name":"incoming_chat","filters":null,"additional_data":null}]}}`},
}

// TestSDKBodies checks that what the official Go SDK sends succeeds, through the gateway's REST
// surface and directly against the emulator alike: null is "not given", at the top level and at
// any depth.
func TestSDKBodies(t *testing.T) {
	v := newEnv(t)
	for _, tc := range sdkBodies {
		t.Run(tc.name, func(t *testing.T) {
			for _, side := range []struct {
				name string
				post func(token, name, body string, headers ...string) answer
			}{{"gateway", v.rest}, {"emulator", v.direct}} {
				got := side.post(ownerA, tc.action, tc.body)
				status, body := got.status, got.body
				if status != http.StatusOK {
					t.Errorf("%s: %s %s = %d %s, want 200", side.name, tc.action, tc.body, status, body)
					continue
				}
				if !json.Valid([]byte(body)) {
					t.Errorf("%s: %s %s answered %q, not JSON", side.name, tc.action, tc.body, body)
				}
			}
		})
	}
	// Both create_bot calls made a bot.
	got := v.rest(ownerA, "list_bots", `{"all":false}`)
	if got.status != http.StatusOK || strings.Count(got.body, `"SDK Bot"`) != 2 {
		t.Errorf("list_bots after the SDK's create_bot = %d %s, want both SDK bots", got.status, got.body)
	}
}
