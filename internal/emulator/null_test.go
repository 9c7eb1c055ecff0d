package emulator

import (
	"bytes"
	"testing"
)

// TestNullIsNotGiven checks that null means "not given", as it does to the upstream and its
// official Go SDK: a body that is only null is an empty request, and a member that is null, at
// any depth, is as if it were not sent. Each call with nulls gets the same answer, and leaves
// the same state, as the call without them in an emulator started the same way.
func TestNullIsNotGiven(t *testing.T) {
	const hooks = `"url":"https://example.com/h","secret_key":"s"`
	for _, tc := range []struct{ name, token, action, body, same string }{
		{"request_agent_unsuspension, null body", readonlyA, "request_agent_unsuspension", `null`, `{}`},
		{"list_registered_webhooks, null body", ownerA, "list_registered_webhooks", " null\n", ``},
		{"list_groups, null body", ownerA, "list_groups", `null`, `{}`},
		{"list_agents, group_ids null", ownerA, "list_agents", `{"filters":{"group_ids":null}}`, `{"filters":{}}`},
		{"list_agents, filters and fields null", ownerA, "list_agents", `{"filters":null,"fields":null}`, `{}`},
		{"list_bots, all null", ownerA, "list_bots", `{"all":null}`, `{}`},
		{"update_agent, lists null", ownerA, "update_agent", `{"id":"agent-a@example.com","name":"N","notifications":null,"work_scheduler":null,"groups":null}`,
			`{"id":"agent-a@example.com","name":"N"}`},
		{"create_bot, webhook action's filters null", ownerA, "create_bot",
			`{"name":"B","max_chats_count":6,"groups":null,"webhooks":{` + hooks + `,"actions":[{"name":"incoming_chat","filters":null,"additional_data":null}]}}`,
			`{"name":"B","max_chats_count":6,"webhooks":{` + hooks + `,"actions":[{"name":"incoming_chat"}]}}`},
		{"register_webhook, filters null", ownerA, "register_webhook",
			`{"action":"incoming_chat",` + hooks + `,"filters":null,"additional_data":null,"description":null}`,
			`{"action":"incoming_chat",` + hooks + `}`},
		{"update_license_properties, a value null", ownerA, "update_license_properties",
			`{"properties":{"` + nsA + `":{"string_property":null,"int_property":null}}}`, `{"properties":{"` + nsA + `":{}}}`},
		{"list_license_properties, name_prefix null", ownerA, "list_license_properties", `{"name_prefix":null}`, `{}`},
		{"register_properties, null body", ownerA, "register_properties", `null`, `{}`},
		{"get_agent, id null is still required", ownerA, "get_agent", `{"id":null}`, `{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			with, without := newEnv(t), newEnv(t)
			got, want := with.call(tc.token, tc.action, tc.body), without.call(tc.token, tc.action, tc.same)
			if got.status != want.status || !bytes.Equal(got.body, want.body) {
				t.Errorf("%s %s = %d %s,\nwant as %s: %d %s", tc.action, tc.body, got.status, got.body, tc.same, want.status, want.body)
			}
			if a, b := with.e.Snapshot(), without.e.Snapshot(); !bytes.Equal(a, b) {
				t.Errorf("%s %s left the state\n%s,\nwant as %s:\n%s", tc.action, tc.body, a, tc.same, b)
			}
		})
	}
	// A null that is an array's element is a value, not a key left out: it is refused.
	v := newEnv(t)
	v.fails(ownerA, "list_agents", `{"filters":{"group_ids":[0,null]}}`, errValidation)
	v.fails(ownerA, "get_agent", `null null`, errValidation)
}
