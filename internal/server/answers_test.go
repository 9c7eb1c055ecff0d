package server_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/livechat-gateway/gateway/internal/emulator"
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

// TestRESTIsTheUpstreamsSurface is the differential test of the whole REST surface: one sequence
// of calls (writes and reads, null bodies and nested nulls, empty lists and maps, and every error
// type the emulator produces) goes to an emulator directly and, over REST through the gateway,
// to a second emulator started the same way (same seed, so generated ids agree). Each pair of
// answers must have the same status, error type and JSON body.
func TestRESTIsTheUpstreamsSurface(t *testing.T) {
	opts := []emulator.Option{specWorld(t), emulator.WithSeed(7)}
	v := newEnv(t, opts...) // the gateway, in front of v.emu
	direct, err := emulator.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(direct)
	t.Cleanup(srv.Close)
	d := &env{t: t, emuURL: srv.URL}

	// compare sends the call both ways and returns the upstream's answer.
	compare := func(t *testing.T, token, action, body string) string {
		t.Helper()
		want := d.direct(token, action, body)
		got := v.rest(token, action, body)
		if got.status != want.status || !testutil.JSONEqual(t, got.body, want.body) {
			t.Errorf("%s %s:\ngateway  %d %s\nupstream %d %s", action, body, got.status, got.body, want.status, want.body)
		}
		return want.body
	}
	group := `{"name":"Diff","agent_priorities":{"owner-a@example.com":"normal"}}`
	calls := []struct{ token, action, body string }{
		{ownerA, "list_groups", `{"fields":["agent_priorities","routing_status"]}`},
		{ownerA, "create_group", group},
		{ownerA, "create_group", `{"name":"Diff 2","agent_priorities":{"owner-a@example.com":"normal"},"language_code":null}`},
		{ownerA, "list_groups", `{"fields":["agent_priorities","routing_status"]}`},
		{ownerA, "create_agent", `{"id":"diff@example.com","name":"Diff","notifications":null,"work_scheduler":null}`},
		{ownerA, "get_agent", `{"id":"diff@example.com","fields":["notifications","work_scheduler","email_subscriptions","groups"]}`},
		{ownerA, "update_agent", `{"id":"diff@example.com","job_title":"Tester","notifications":null}`},
		{ownerA, "get_agent", `{"id":"diff@example.com","fields":["notifications","job_title"]}`},
		{ownerA, "list_agents", `{"filters":{"group_ids":null},"fields":["groups","notifications"]}`},
		{ownerA, "request_agent_unsuspension", `null`},
		{ownerA, "list_registered_webhooks", `null`},
		{ownerA, "create_bot", `{"name":"Diff Bot","webhooks":{"url":"https://example.com/h","secret_key":"k","actions":[{"name":"incoming_chat","filters":null,"additional_data":null}]}}`},
		{ownerA, "list_bots", `{"all":true}`},
		{readonlyA, "list_bots", `{}`},
		{ownerA, "delete_agent", `{"id":"diff@example.com"}`},
		{ownerA, "get_agent", `{"id":"diff@example.com"}`},
		{ownerA, "list_agents", `{}`},
	}
	for i, c := range calls {
		t.Run(fmt.Sprintf("%02d %s", i, c.action), func(t *testing.T) { compare(t, c.token, c.action, c.body) })
	}
	// The reads not above, on what the sequence made: every read action is compared.
	t.Run("the other reads", func(t *testing.T) {
		var bot struct {
			ID string `json:"bot_agent_id"`
		}
		json.Unmarshal([]byte(compare(t, ownerA, "create_bot", `{"name":"Diff Bot 2"}`)), &bot)
		var grp struct {
			ID int `json:"id"`
		}
		json.Unmarshal([]byte(compare(t, ownerA, "create_group", `{"name":"Diff 3","agent_priorities":{"owner-a@example.com":"normal"}}`)), &grp)
		compare(t, ownerA, "get_bot", fmt.Sprintf(`{"bot_agent_id":%q}`, bot.ID))
		compare(t, ownerA, "get_group", fmt.Sprintf(`{"id":%d,"fields":["agent_priorities","routing_status"]}`, grp.ID))
		compare(t, ownerA, "list_registered_properties", `{"all":true}`)
		compare(t, ownerA, "list_license_properties", `{}`)
		compare(t, ownerA, "list_group_properties", fmt.Sprintf(`{"group_id":%d}`, grp.ID))
		compare(t, testutil.SpecToken, "list_agents", `{"fields":["groups","notifications","work_scheduler","email_subscriptions"]}`)
	})

	// Every error type, on a write, which the gateway sends once, as the upstream answers it;
	// internal on a read (a write's 5xx has an unknown outcome, which the gateway says in its
	// message), and misdirected_request for both of the gateway's attempts (it repairs the first).
	for _, typ := range emulator.ErrorTypes() {
		t.Run("error "+typ, func(t *testing.T) {
			action, body, times := "create_group", group, 1
			switch typ {
			case "internal":
				action, body, times = "list_groups", `{}`, 3 // every attempt of the read
			case "misdirected_request":
				times = 2
			}
			if err := direct.SetFault(action, emulator.Fault{Error: typ, Times: 1}); err != nil {
				t.Fatal(err)
			}
			if err := v.emu.SetFault(action, emulator.Fault{Error: typ, Times: times}); err != nil {
				t.Fatal(err)
			}
			// no-cache: a cached answer would stand in for the read.
			want := d.direct(ownerA, action, body)
			got := v.rest(ownerA, action, body, "Cache-Control", "no-cache")
			if got.status != want.status || !testutil.JSONEqual(t, got.body, want.body) {
				t.Errorf("%s forced:\ngateway  %d %s\nupstream %d %s", typ, got.status, got.body, want.status, want.body)
			}
			direct.ClearFaults()
			v.emu.ClearFaults()
		})
	}
}
