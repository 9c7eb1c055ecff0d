package rest_test

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/wire"
)

// TestNullIsNotGiven checks that null means "not given", as it does to the upstream and its
// official Go SDK (v2.4.0 sends null for an action without a payload, and null for the fields it
// leaves out): each body with nulls reaches the server as the same request as the body without
// them, and goes upstream as it. protojson alone refuses a null body, and takes a null list in
// an update as one to empty, through the inferred update_mask.
func TestNullIsNotGiven(t *testing.T) {
	gw, fake := newGateway(t)
cases:
	for _, tt := range []struct{ action, body, same string }{
		{"request_agent_unsuspension", `null`, `{}`},
		{"list_registered_webhooks", " null\n", ``},
		{"get_group", `null`, `{}`},
		{"list_agents", `{"filters":{"group_ids":null}}`, `{"filters":{}}`},
		{"list_agents", `{"filters":null,"fields":null}`, `{}`},
		{"update_agent", `{"id":"a","name":"n","notifications":null,"work_scheduler":null,"groups":null}`, `{"id":"a","name":"n"}`},
		{"create_bot", `{"name":"B","max_chats_count":6,"webhooks":{"url":"https://example.com/h","secret_key":"s",
			"actions":[{"name":"chat_deactivated","filters":null,"additional_data":null}]}}`,
			`{"name":"B","max_chats_count":6,"webhooks":{"url":"https://example.com/h","secret_key":"s","actions":[{"name":"chat_deactivated"}]}}`},
		{"update_license_properties", `{"properties":{"ns":{"p":null,"q":1}}}`, `{"properties":{"ns":{"q":1}}}`},
		{"register_properties", `null`, ``},
		{"register_properties", `{"p":null}`, `{}`},
	} {
		a := testutil.Action(t, tt.action)
		var got, want proto.Message
		for i, body := range []string{tt.same, tt.body} {
			before := len(fake.calls(a.Name))
			if code, answer := post(t, gw, a, body); code != http.StatusOK || len(fake.calls(a.Name)) == before {
				t.Errorf("%s %q = %d %s, want it served", tt.action, body, code, answer)
				continue cases
			}
			if i == 0 {
				want = fake.last(t, a.Name)
			} else {
				got = fake.last(t, a.Name)
			}
		}
		if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
			t.Errorf("%s %s reached the server unlike %s (-want +got):\n%s", tt.action, tt.body, tt.same, diff)
		}
		wantUp, err1 := wire.EncodeRequest(a, want)
		gotUp, err2 := wire.EncodeRequest(a, got)
		if err1 != nil || err2 != nil || string(gotUp) != string(wantUp) {
			t.Errorf("%s %s goes upstream as %s (%v), want %s (%v)", tt.action, tt.body, gotUp, err2, wantUp, err1)
		}
	}
}
