package spec

import (
	"errors"
	"strings"
	"testing"
)

// TestCheckBody covers the entry points; the rules themselves are tested through the emulator,
// action by action (internal/emulator's *_test.go).
func TestCheckBody(t *testing.T) {
	for _, tc := range []struct {
		action, body, path string // path "" with ok: accepted
		ok                 bool
	}{
		{"list_groups", ``, "", true},
		{"list_groups", `{}`, "", true},
		{"get_agent", `{"id":"a"}`, "", true},
		{"get_agent", `{}`, "id", false},
		{"get_agent", `{"id":"a"} x`, "", false},
		{"get_agent", `null`, "id", false}, // null is an empty request, which lacks the id
		{"get_agent", `{"id":null}`, "id", false},
		{"list_groups", ` null `, "", true},
		{"list_agents", `{"filters":{"group_ids":null}}`, "", true},
		{"list_agents", `{"filters":null,"fields":null}`, "", true},
		{"list_agents", `{"filters":{"group_ids":[1,null]}}`, "filters.group_ids[1]", false},
		{"get_agent", `null null`, "", false},
		{"create_group", `{"name":"G","agent_priorities":{"a":"last"}}`, "agent_priorities", false},
		{"create_agent", `{"id":"a","name":"A","groups":[{"id":1,"priority":"first"},{"id":1,"priority":"last"}]}`, "groups[1].id", false},
		{"register_webhook", `{"action":"customer_created","secret_key":"k","url":"https://x","additional_data":["chat_properties"]}`, "additional_data", false},
		{"register_properties", `{"p":{"type":"bool","locations":{"chat":{"access":{"agent":{"read":true,"write":true}}}},"range":{"from":1}}}`, "p.range", false},
		{"register_properties", `{"p":{"type":"int","locations":{"chat":{"access":{"agent":{"read":true,"write":true}}}},"domain":[1,"2"]}}`, "p.domain[1]", false},
	} {
		err := CheckBody(tc.action, []byte(tc.body))
		if tc.ok {
			if err != nil {
				t.Errorf("CheckBody(%s, %s) = %v, want nil", tc.action, tc.body, err)
			}
			continue
		}
		var v *Violation
		if !errors.As(err, &v) || v.Path != tc.path {
			t.Errorf("CheckBody(%s, %s) = %#v, want a violation at %q", tc.action, tc.body, err, tc.path)
		}
	}
	if err := CheckBody("no_such_action", []byte(`{}`)); err == nil || errors.As(err, new(*Violation)) {
		t.Errorf("CheckBody of an unknown action = %v, want a plain error", err)
	}
	if err := CheckValue("int", "x", "1"); err == nil || !strings.HasPrefix(err.Error(), "x: ") {
		t.Errorf(`CheckValue(int, "1") = %v, want a violation at x`, err)
	}
	if err := CheckValue("float", "x", "1"); err == nil {
		t.Error("CheckValue of an unknown type = nil")
	}
}

// FuzzCheckBody checks that no body makes the rules panic, and that every refusal is a
// *Violation.
func FuzzCheckBody(f *testing.F) {
	f.Add(uint8(0), []byte(`{"id":"a","fields":["groups"]}`))
	f.Add(uint8(3), []byte(`{"name":"B","webhooks":{"url":"http://x","secret_key":"s","actions":[{"name":"incoming_chat","filters":{"author_type":"agent"}}]}}`))
	actions := Actions()
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		err := CheckBody(actions[int(which)%len(actions)], body)
		if err != nil && !errors.As(err, new(*Violation)) {
			t.Fatalf("CheckBody(%q) = %v, not a *Violation", body, err)
		}
	})
}
