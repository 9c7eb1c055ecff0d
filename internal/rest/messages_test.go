package rest_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/livechat-gateway/gateway/internal/testutil"
)

// TestDecodeRefusalMessages checks the words of the REST surface's refusal of a body that does
// not decode (issue 11, item 4): the field by its snake_case JSON path and the problem in plain
// words, as the upstream says it, never protojson's text with its lowerCamel names, line and
// column. The status and type are the upstream's validation error's.
func TestDecodeRefusalMessages(t *testing.T) {
	gw, _ := newGateway(t)
	for _, tc := range []struct{ action, body, want string }{
		{"get_agent", `{"id":5}`, "id: must be a string"},
		{"get_agent", `{"id":"a","nope":1}`, "nope: unknown field"},
		{"get_agent", `{"id":"a","id":"b"}`, "id: given twice"},
		{"get_agent", `{"id":"a"`, "the body is not valid JSON"},
		{"get_agent", `{"id":"a"}{}`, "the body must be a single JSON value"},
		{"get_agent", `[`, "the body is not valid JSON"},
		{"get_agent", `[{"id":"a"}]`, "the body must be a JSON object"},
		{"get_agent", `"a"`, "the body must be a JSON object"},
		{"get_agent", `{"fields":["groups",1]}`, "fields[1]: must be a string"},
		{"list_agents", `{"filters":{"group_ids":[-1]}}`, "filters.group_ids[0]: must be an integer from 0 to 4294967295"},
		{"list_agents", `{"filters":{"group_ids":"1"}}`, "filters.group_ids: must be an array"},
		{"list_agents", `{"filters":{"groupIds":[1],"group_ids":[2]}}`, "filters.group_ids: given twice"},
		{"update_agent", `{"id":"a","max_chats_count":"x"}`, "max_chats_count: must be an integer from -2147483648 to 2147483647"},
		{"update_agent", `{"id":"a","maxChatsCount":true}`, "max_chats_count: must be an integer from -2147483648 to 2147483647"},
		{"update_license_properties", `{"properties":{"ns":{"p":1e999}}}`, "properties.ns.p: is a number too large to hold"},
		{"update_license_properties", `{"properties":{"ns":[]}}`, "properties.ns: must be an object"},
		{"register_properties", `[]`, "the body must be a JSON object"},
		{"register_properties", `{"p":{"type":"int","range":{"from":"x"}}}`, "p.range.from: must be an integer from -2147483648 to 2147483647"},
		{"register_properties", `{"p":{"tpye":"int"}}`, "p.tpye: unknown field"},
	} {
		status, body := post(t, gw, testutil.Action(t, tc.action), tc.body)
		var got struct {
			Error struct{ Type, Message string }
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil || status != http.StatusUnprocessableEntity ||
			got.Error.Type != "validation" || got.Error.Message != tc.want {
			t.Errorf("%s %s = %d %s, want 422 validation %q", tc.action, tc.body, status, body, tc.want)
		}
	}
}

// TestDepthRefusalNamesSnakeCase checks that a body too deep under a field the client named in
// lowerCamelCase, which protojson takes, is refused naming the field in snake_case.
func TestDepthRefusalNamesSnakeCase(t *testing.T) {
	gw, _ := newGateway(t)
	body := `{"id":"a","workScheduler":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`
	status, got := post(t, gw, testutil.Action(t, "update_agent"), body)
	if want := "work_scheduler: nests objects and arrays deeper than 64 levels"; status != http.StatusUnprocessableEntity || !strings.Contains(got, `"message":"`+want+`"`) {
		t.Errorf("update_agent, too deep under workScheduler = %d %s, want 422 %q", status, got, want)
	}
}
