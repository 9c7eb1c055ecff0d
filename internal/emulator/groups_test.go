package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The agents of license A, as builtin.json defines them. agent-a is the requester of
// dal:readonly-a; both start as "normal" members of group 0.
const (
	idOwnerA = "owner-a@example.com"
	idAgentA = "agent-a@example.com"
)

// apiCase is one call of a table test: who calls which action with what body, and the error
// type the emulator must answer with, or "" when the call must succeed. action, when set,
// overrides the table's action; msg, when set, must appear in the error's message (for a
// validation error, the field it names).
type apiCase struct {
	name    string
	token   string
	action  string
	body    string
	wantErr string
	msg     string
}

// runCases runs each case as a subtest of t, in order, against the one env v. Refused calls
// must change nothing (env.fails checks it), so a table of refusals shares one state.
func runCases(t *testing.T, v *env, action string, cases []apiCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := action
			if tc.action != "" {
				a = tc.action
			}
			v.in(t).expect(a, tc)
		})
	}
}

// expect makes the call of tc to action and checks its outcome.
func (v *env) expect(action string, tc apiCase) {
	v.t.Helper()
	if tc.wantErr == "" {
		v.ok(tc.token, action, tc.body)
		return
	}
	r := v.fails(tc.token, action, tc.body, tc.wantErr)
	if tc.msg == "" {
		return
	}
	var e struct {
		Error apiError `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || !strings.Contains(e.Error.Message, tc.msg) {
		v.t.Errorf("%s(%s) = %s, want a %s message naming %q", action, tc.body, r.body, tc.wantErr, tc.msg)
	}
}

// in returns v reporting to t, so that a failure inside a subtest stops that subtest only.
func (v *env) in(t *testing.T) *env {
	c := *v
	c.t = t
	return &c
}

// envWithTokens is newEnv with extra tokens on the built-in licenses.
func envWithTokens(t *testing.T, toks ...TokenConfig) *env {
	t.Helper()
	return newEnv(t, WithConfig(&Config{Tokens: toks}))
}

// jsonBody encodes v as a request body, for bodies that are easier to build than to write.
func jsonBody(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// jsonValue decodes want, JSON text or any value that encodes to JSON, the way env.ok decodes
// answers (json.Number numbers), so that the two compare with cmp.
func jsonValue(t *testing.T, want any) any {
	t.Helper()
	s, ok := want.(string)
	if !ok {
		s = jsonBody(t, want)
	}
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("test JSON %q: %v", s, err)
	}
	return v
}

// checkJSON reports a difference between got, a decoded answer, and want (see jsonValue).
func checkJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	if diff := cmp.Diff(jsonValue(t, want), got); diff != "" {
		t.Errorf("%s = %v, want %v (-want +got):\n%s", what, got, jsonValue(t, want), diff)
	}
}

// callOK is env.ok followed by checkJSON of its answer against want.
func (v *env) callOK(token, action, body string, want any) {
	v.t.Helper()
	checkJSON(v.t, fmt.Sprintf("%s(%s)", action, body), v.ok(token, action, body), want)
}

// checkMemberGroups checks the groups of id, an agent (get_agent with fields groups) or else a
// bot (get_bot), against want. Only the groups are compared: the rest of an agent or bot is
// other tests' business.
func (v *env) checkMemberGroups(id string, want any) {
	v.t.Helper()
	var got any
	if r := v.call(ownerA, "get_agent", jsonBody(v.t, map[string]any{"id": id, "fields": []string{"groups"}})); r.status == http.StatusOK {
		got = r.json(v.t).(map[string]any)["groups"]
	} else {
		got = v.ok(ownerA, "get_bot", jsonBody(v.t, map[string]string{"bot_agent_id": id})).(map[string]any)["bot_agent"].(map[string]any)["groups"]
	}
	checkJSON(v.t, "groups of "+id, got, want)
}

// groupScopeTokens are tokens of agent-a with only the --my group scopes, or none. agent-a is a
// member of group 0 only, until a test makes it a member of others.
var groupScopeTokens = []TokenConfig{
	{Token: "dal:groups-my-rw", License: "A", Agent: idAgentA, ClientID: "client-groups-my-rw", Scopes: []string{"groups--my:rw"}},
	{Token: "dal:groups-my-ro", License: "A", Agent: idAgentA, ClientID: "client-groups-my-ro", Scopes: []string{"groups--my:ro"}},
	{Token: "dal:no-groups", License: "A", Agent: idAgentA, ClientID: "client-no-groups", Scopes: []string{"agents--my:ro"}},
}

const (
	groupsMyRW = "dal:groups-my-rw"
	groupsMyRO = "dal:groups-my-ro"
	noGroups   = "dal:no-groups"
)

// allGroupFields asks get_group and list_groups for every additional field.
const allGroupFields = `"fields":["agent_priorities","routing_status"]`

// TestGroupsCreate covers create_group's successes: the spec's example, a language code, a bot
// member and every priority, a name of exactly 180 characters counted in runes, ids that follow
// one another, and that get_group, list_groups and the members' get_agent groups show the new
// groups.
func TestGroupsCreate(t *testing.T) {
	env := newEnv(t)
	bot := env.ok(ownerA, "create_bot", `{"name":"Router"}`).(map[string]any)["bot_agent_id"].(string)
	long := strings.Repeat("ż", 180) // 180 runes, 360 bytes

	cases := []struct {
		name string
		body string
		want map[string]any // get_group's answer with every field
	}{
		{
			name: "spec example",
			body: `{"name":"Sports shoes","agent_priorities":{"owner-a@example.com":"normal","agent-a@example.com":"last"}}`,
			want: map[string]any{
				"id": 1, "name": "Sports shoes", "language_code": "en", "routing_status": "offline",
				"agent_priorities": map[string]string{idOwnerA: "normal", idAgentA: "last"},
			},
		},
		{
			name: "language code, a bot and every priority",
			body: fmt.Sprintf(`{"name":"Boty","language_code":"pl","agent_priorities":{%q:"first","agent-a@example.com":"normal","owner-a@example.com":"supervisor"}}`, bot),
			want: map[string]any{
				"id": 2, "name": "Boty", "language_code": "pl", "routing_status": "offline",
				"agent_priorities": map[string]string{bot: "first", idAgentA: "normal", idOwnerA: "supervisor"},
			},
		},
		{
			name: "name of 180 runes",
			body: jsonBody(t, map[string]any{"name": long, "agent_priorities": map[string]string{idAgentA: "normal"}}),
			want: map[string]any{
				"id": 3, "name": long, "language_code": "en", "routing_status": "offline",
				"agent_priorities": map[string]string{idAgentA: "normal"},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := env.in(t)
			env.callOK(ownerA, "create_group", tc.body, map[string]any{"id": tc.want["id"]})
			env.callOK(ownerA, "get_group", fmt.Sprintf(`{"id":%v,%s}`, tc.want["id"], allGroupFields), tc.want)
		})
	}

	env.callOK(ownerA, "list_groups", `{}`, []any{
		map[string]any{"id": 0, "name": "General", "language_code": "en", "routing_status": "offline"},
		map[string]any{"id": 1, "name": "Sports shoes", "language_code": "en", "routing_status": "offline"},
		map[string]any{"id": 2, "name": "Boty", "language_code": "pl", "routing_status": "offline"},
		map[string]any{"id": 3, "name": long, "language_code": "en", "routing_status": "offline"},
	})
	env.checkMemberGroups("agent-a@example.com", `[{"id":0,"priority":"normal"},{"id":1,"priority":"last"},{"id":2,"priority":"normal"},{"id":3,"priority":"normal"}]`)
	env.checkMemberGroups(bot, `[{"id":0,"priority":"normal"},{"id":2,"priority":"first"}]`)
}

// TestGroupsCreateRefused covers create_group's refusals: required fields, JSON types, unknown
// fields, the 180-rune name limit, priority values, the rule that a new group needs a "normal"
// priority, an unknown agent (not_found) and a requester without groups--all:rw (authorization).
func TestGroupsCreateRefused(t *testing.T) {
	env := envWithTokens(t, groupScopeTokens...)
	name181 := strings.Repeat("ż", 181)
	runCases(t, env, "create_group", []apiCase{
		{name: "body not an object", token: ownerA, body: `[]`, wantErr: errValidation},
		{name: "body null: an empty request, name required", token: ownerA, body: `null`, wantErr: errValidation, msg: "name"},
		{name: "body empty", token: ownerA, body: ``, wantErr: errValidation, msg: "name"},
		{name: "name missing", token: ownerA, body: `{"agent_priorities":{"agent-a@example.com":"normal"}}`, wantErr: errValidation, msg: "name"},
		{name: "agent_priorities missing", token: ownerA, body: `{"name":"x"}`, wantErr: errValidation, msg: "agent_priorities"},
		{name: "name empty", token: ownerA, body: `{"name":"","agent_priorities":{"agent-a@example.com":"normal"}}`, wantErr: errValidation, msg: "name"},
		{name: "name of 181 runes", token: ownerA, body: jsonBody(t, map[string]any{"name": name181, "agent_priorities": map[string]string{idAgentA: "normal"}}), wantErr: errValidation, msg: "name"},
		{name: "name a number", token: ownerA, body: `{"name":7,"agent_priorities":{"agent-a@example.com":"normal"}}`, wantErr: errValidation, msg: "name"},
		{name: "name null: not given, so required", token: ownerA, body: `{"name":null,"agent_priorities":{"agent-a@example.com":"normal"}}`, wantErr: errValidation, msg: "name"},
		{name: "language_code a number", token: ownerA, body: `{"name":"x","language_code":1,"agent_priorities":{"agent-a@example.com":"normal"}}`, wantErr: errValidation, msg: "language_code"},
		{name: "agent_priorities an array", token: ownerA, body: `{"name":"x","agent_priorities":["agent-a@example.com"]}`, wantErr: errValidation, msg: "agent_priorities"},
		{name: "priority unknown", token: ownerA, body: `{"name":"x","agent_priorities":{"agent-a@example.com":"high"}}`, wantErr: errValidation, msg: "agent_priorities.agent-a@example.com"},
		{name: "priority a number", token: ownerA, body: `{"name":"x","agent_priorities":{"agent-a@example.com":1}}`, wantErr: errValidation, msg: "agent_priorities.agent-a@example.com"},
		{name: "priority upper case", token: ownerA, body: `{"name":"x","agent_priorities":{"agent-a@example.com":"Normal"}}`, wantErr: errValidation},
		{name: "no normal priority", token: ownerA, body: `{"name":"x","agent_priorities":{"agent-a@example.com":"first","owner-a@example.com":"supervisor"}}`, wantErr: errValidation, msg: "normal"},
		{name: "no member at all", token: ownerA, body: `{"name":"x","agent_priorities":{}}`, wantErr: errValidation, msg: "normal"},
		{name: "unknown field id", token: ownerA, body: `{"id":5,"name":"x","agent_priorities":{"agent-a@example.com":"normal"}}`, wantErr: errValidation, msg: "id"},
		{name: "unknown field fields", token: ownerA, body: `{"name":"x","agent_priorities":{"agent-a@example.com":"normal"},"fields":["routing_status"]}`, wantErr: errValidation, msg: "fields"},
		{name: "unknown agent", token: ownerA, body: `{"name":"x","agent_priorities":{"agent-a@example.com":"normal","ghost@example.com":"last"}}`, wantErr: errNotFound, msg: "ghost@example.com"},
		{name: "agent of another license", token: ownerA, body: `{"name":"x","agent_priorities":{"owner-b@example.com":"normal"}}`, wantErr: errNotFound},
		{name: "read-only token", token: readonlyA, body: `{"name":"x","agent_priorities":{"agent-a@example.com":"normal"}}`, wantErr: errAuthorization},
		{name: "groups--my:rw only", token: groupsMyRW, body: `{"name":"x","agent_priorities":{"agent-a@example.com":"normal"}}`, wantErr: errAuthorization},
	})
}

// TestGroupsUpdate covers update_group's successes and that reads reflect them: a new name
// (up to 180 runes) or language code leaves the rest as it was, new agent_priorities replace the
// members (no "normal" priority is needed outside create_group) and change the agents' groups,
// and group 0 can be renamed.
func TestGroupsUpdate(t *testing.T) {
	env := newEnv(t)
	env.ok(ownerA, "create_group", `{"name":"Sports shoes","agent_priorities":{"owner-a@example.com":"normal","agent-a@example.com":"last"}}`)
	long := strings.Repeat("ж", 180)

	steps := []struct {
		name string
		body string
		want string // get_group 1 with every field, afterwards
	}{
		{"spec example", `{"id":1,"name":"Sport shoes","agent_priorities":{"owner-a@example.com":"normal","agent-a@example.com":"last"}}`,
			`{"id":1,"name":"Sport shoes","language_code":"en","routing_status":"offline","agent_priorities":{"owner-a@example.com":"normal","agent-a@example.com":"last"}}`},
		{"name only", `{"id":1,"name":"Running shoes"}`,
			`{"id":1,"name":"Running shoes","language_code":"en","routing_status":"offline","agent_priorities":{"owner-a@example.com":"normal","agent-a@example.com":"last"}}`},
		{"language only", `{"id":1,"language_code":"de"}`,
			`{"id":1,"name":"Running shoes","language_code":"de","routing_status":"offline","agent_priorities":{"owner-a@example.com":"normal","agent-a@example.com":"last"}}`},
		{"priorities replaced, no normal needed", `{"id":1,"agent_priorities":{"agent-a@example.com":"supervisor"}}`,
			`{"id":1,"name":"Running shoes","language_code":"de","routing_status":"offline","agent_priorities":{"agent-a@example.com":"supervisor"}}`},
		{"nothing but the id", `{"id":1}`,
			`{"id":1,"name":"Running shoes","language_code":"de","routing_status":"offline","agent_priorities":{"agent-a@example.com":"supervisor"}}`},
		{"name of 180 runes", jsonBody(t, map[string]any{"id": 1, "name": long}),
			jsonBody(t, map[string]any{"id": 1, "name": long, "language_code": "de", "routing_status": "offline", "agent_priorities": map[string]string{idAgentA: "supervisor"}})},
		{"every member removed", `{"id":1,"agent_priorities":{}}`,
			jsonBody(t, map[string]any{"id": 1, "name": long, "language_code": "de", "routing_status": "offline", "agent_priorities": map[string]string{}})},
		{"members back", `{"id":1,"agent_priorities":{"owner-a@example.com":"first"}}`,
			jsonBody(t, map[string]any{"id": 1, "name": long, "language_code": "de", "routing_status": "offline", "agent_priorities": map[string]string{idOwnerA: "first"}})},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			env := env.in(t)
			env.callOK(ownerA, "update_group", s.body, `{}`)
			env.callOK(ownerA, "get_group", `{"id":1,`+allGroupFields+`}`, s.want)
		})
	}

	// The members' groups follow the group's agent_priorities.
	env.checkMemberGroups("agent-a@example.com", `[{"id":0,"priority":"normal"}]`)
	env.checkMemberGroups("owner-a@example.com", `[{"id":0,"priority":"normal"},{"id":1,"priority":"first"}]`)

	// Group 0 can be updated, though not deleted.
	env.callOK(ownerA, "update_group", `{"id":0,"name":"Everyone","agent_priorities":{"owner-a@example.com":"normal"}}`, `{}`)
	env.callOK(ownerA, "list_groups", `{"fields":["agent_priorities"]}`, []any{
		map[string]any{"id": 0, "name": "Everyone", "language_code": "en", "routing_status": "offline", "agent_priorities": map[string]string{idOwnerA: "normal"}},
		map[string]any{"id": 1, "name": long, "language_code": "de", "routing_status": "offline", "agent_priorities": map[string]string{idOwnerA: "first"}},
	})
	env.checkMemberGroups("agent-a@example.com", `[]`)
}

// TestGroupsUpdateRefused covers update_group's refusals: the required id, JSON types, unknown
// fields, the 180-rune limit, priority values, an unknown group (group_not_found), an unknown
// agent in agent_priorities (not_found) and a read-only requester (authorization).
func TestGroupsUpdateRefused(t *testing.T) {
	env := newEnv(t)
	env.ok(ownerA, "create_group", `{"name":"Sports shoes","agent_priorities":{"owner-a@example.com":"normal"}}`)
	runCases(t, env, "update_group", []apiCase{
		{name: "id missing", token: ownerA, body: `{"name":"x"}`, wantErr: errValidation, msg: "id"},
		{name: "id a string", token: ownerA, body: `{"id":"1","name":"x"}`, wantErr: errValidation, msg: "id"},
		{name: "id negative", token: ownerA, body: `{"id":-1,"name":"x"}`, wantErr: errValidation, msg: "id"},
		{name: "id a fraction", token: ownerA, body: `{"id":1.5,"name":"x"}`, wantErr: errValidation, msg: "id"},
		{name: "name empty", token: ownerA, body: `{"id":1,"name":""}`, wantErr: errValidation, msg: "name"},
		{name: "name of 181 runes", token: ownerA, body: jsonBody(t, map[string]any{"id": 1, "name": strings.Repeat("ж", 181)}), wantErr: errValidation, msg: "name"},
		{name: "name an object", token: ownerA, body: `{"id":1,"name":{}}`, wantErr: errValidation, msg: "name"},
		{name: "language_code a bool", token: ownerA, body: `{"id":1,"language_code":true}`, wantErr: errValidation, msg: "language_code"},
		{name: "agent_priorities a string", token: ownerA, body: `{"id":1,"agent_priorities":"normal"}`, wantErr: errValidation, msg: "agent_priorities"},
		{name: "priority unknown", token: ownerA, body: `{"id":1,"agent_priorities":{"owner-a@example.com":"boss"}}`, wantErr: errValidation, msg: "agent_priorities.owner-a@example.com"},
		{name: "unknown field fields", token: ownerA, body: `{"id":1,"fields":["routing_status"]}`, wantErr: errValidation, msg: "fields"},
		{name: "unknown field routing_status", token: ownerA, body: `{"id":1,"routing_status":"offline"}`, wantErr: errValidation, msg: "routing_status"},
		{name: "unknown group", token: ownerA, body: `{"id":99,"name":"x"}`, wantErr: errGroupNotFound},
		{name: "unknown agent", token: ownerA, body: `{"id":1,"agent_priorities":{"owner-a@example.com":"normal","ghost@example.com":"normal"}}`, wantErr: errNotFound, msg: "ghost@example.com"},
		{name: "read-only token", token: readonlyA, body: `{"id":0,"name":"x"}`, wantErr: errAuthorization},
	})
}

// TestGroupsDelete covers delete_group's success and what follows from it: the group leaves
// list_groups, get_group answers group_not_found, its members' groups (get_agent and get_bot)
// lose it, its property values go, and a second delete is group_not_found.
func TestGroupsDelete(t *testing.T) {
	env := newEnv(t)
	bot := env.ok(ownerA, "create_bot", `{"name":"Router"}`).(map[string]any)["bot_agent_id"].(string)
	env.ok(ownerA, "create_group", jsonBody(t, map[string]any{"name": "Shoes", "agent_priorities": map[string]string{idOwnerA: "normal", idAgentA: "last", bot: "first"}}))
	env.ok(ownerA, "create_group", `{"name":"Hats","agent_priorities":{"agent-a@example.com":"normal"}}`)
	env.ok(ownerA, "update_group_properties", `{"group_id":1,"properties":{"test":{"string_property":"shoes"}}}`)
	env.checkMemberGroups("agent-a@example.com", `[{"id":0,"priority":"normal"},{"id":1,"priority":"last"},{"id":2,"priority":"normal"}]`)

	env.callOK(ownerA, "delete_group", `{"id":1}`, `{}`)

	env.callOK(ownerA, "list_groups", `{}`, `[{"id":0,"name":"General","language_code":"en","routing_status":"offline"},{"id":2,"name":"Hats","language_code":"en","routing_status":"offline"}]`)
	env.fails(ownerA, "get_group", `{"id":1}`, errGroupNotFound)
	env.fails(ownerA, "list_group_properties", `{"group_id":1}`, errGroupNotFound)
	env.checkMemberGroups("agent-a@example.com", `[{"id":0,"priority":"normal"},{"id":2,"priority":"normal"}]`)
	env.checkMemberGroups("owner-a@example.com", `[{"id":0,"priority":"normal"}]`)
	env.checkMemberGroups(bot, `[{"id":0,"priority":"normal"}]`)
	var state map[string]struct {
		GroupValues map[string]any `json:"group_properties"`
	}
	if err := json.Unmarshal(env.e.Snapshot(), &state); err != nil {
		t.Fatal(err)
	}
	if _, ok := state["A"].GroupValues["1"]; ok {
		t.Errorf("group 1's property values outlive the group: %v", state["A"].GroupValues)
	}

	env.fails(ownerA, "delete_group", `{"id":1}`, errGroupNotFound)
	env.callOK(ownerA, "delete_group", `{"id":2}`, `{}`)
	env.callOK(ownerA, "list_groups", `{}`, `[{"id":0,"name":"General","language_code":"en","routing_status":"offline"}]`)
}

// TestGroupsDeleteRefused covers delete_group's refusals: group 0 (validation), an unknown group
// (group_not_found), the required id and its type, unknown fields, and a read-only requester
// (authorization).
func TestGroupsDeleteRefused(t *testing.T) {
	env := newEnv(t)
	env.ok(ownerA, "create_group", `{"name":"Shoes","agent_priorities":{"owner-a@example.com":"normal","agent-a@example.com":"normal"}}`)
	runCases(t, env, "delete_group", []apiCase{
		{name: "group 0", token: ownerA, body: `{"id":0}`, wantErr: errValidation, msg: "id"},
		{name: "unknown group", token: ownerA, body: `{"id":42}`, wantErr: errGroupNotFound},
		{name: "id missing", token: ownerA, body: `{}`, wantErr: errValidation, msg: "id"},
		{name: "id a string", token: ownerA, body: `{"id":"1"}`, wantErr: errValidation, msg: "id"},
		{name: "id null: not given, so required", token: ownerA, body: `{"id":null}`, wantErr: errValidation, msg: "id"},
		{name: "unknown field", token: ownerA, body: `{"id":1,"name":"Shoes"}`, wantErr: errValidation, msg: "name"},
		{name: "read-only token, member", token: readonlyA, body: `{"id":1}`, wantErr: errAuthorization},
		{name: "read-only token, group 0", token: readonlyA, body: `{"id":0}`, wantErr: errAuthorization},
	})
}

// TestGroupsList covers list_groups: the groups in id order with the basic fields, each
// fields[] value alone and together, and that created, updated and deleted groups show.
func TestGroupsList(t *testing.T) {
	env := newEnv(t)
	general := `{"id":0,"name":"General","language_code":"en","routing_status":"offline"}`
	env.callOK(readonlyA, "list_groups", `{}`, `[`+general+`]`)
	env.callOK(readonlyA, "list_groups", ``, `[`+general+`]`)
	env.callOK(readonlyA, "list_groups", `{"fields":[]}`, `[`+general+`]`)

	env.ok(ownerA, "create_group", `{"name":"Shoes","agent_priorities":{"owner-a@example.com":"normal"}}`)
	env.ok(ownerA, "create_group", `{"name":"Hats","language_code":"fr","agent_priorities":{"agent-a@example.com":"normal","owner-a@example.com":"last"}}`)
	env.ok(ownerA, "create_group", `{"name":"Bags","agent_priorities":{"owner-a@example.com":"normal"}}`)
	env.ok(ownerA, "update_group", `{"id":1,"name":"Sport shoes"}`)
	env.ok(ownerA, "delete_group", `{"id":3}`)

	cases := []struct {
		name, body, want string
	}{
		{"no fields", `{}`, `[` + general + `,
			{"id":1,"name":"Sport shoes","language_code":"en","routing_status":"offline"},
			{"id":2,"name":"Hats","language_code":"fr","routing_status":"offline"}]`},
		{"routing_status", `{"fields":["routing_status"]}`, `[
			{"id":0,"name":"General","language_code":"en","routing_status":"offline"},
			{"id":1,"name":"Sport shoes","language_code":"en","routing_status":"offline"},
			{"id":2,"name":"Hats","language_code":"fr","routing_status":"offline"}]`},
		{"agent_priorities", `{"fields":["agent_priorities"]}`, `[
			{"id":0,"name":"General","language_code":"en","routing_status":"offline","agent_priorities":{"owner-a@example.com":"normal","agent-a@example.com":"normal"}},
			{"id":1,"name":"Sport shoes","language_code":"en","routing_status":"offline","agent_priorities":{"owner-a@example.com":"normal"}},
			{"id":2,"name":"Hats","language_code":"fr","routing_status":"offline","agent_priorities":{"agent-a@example.com":"normal","owner-a@example.com":"last"}}]`},
		{"both", `{` + allGroupFields + `}`, `[
			{"id":0,"name":"General","language_code":"en","routing_status":"offline","agent_priorities":{"owner-a@example.com":"normal","agent-a@example.com":"normal"}},
			{"id":1,"name":"Sport shoes","language_code":"en","routing_status":"offline","agent_priorities":{"owner-a@example.com":"normal"}},
			{"id":2,"name":"Hats","language_code":"fr","routing_status":"offline","agent_priorities":{"agent-a@example.com":"normal","owner-a@example.com":"last"}}]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env.in(t).callOK(readonlyA, "list_groups", tc.body, tc.want)
		})
	}
}

// TestGroupsListRefused covers list_groups' refusals: fields[] values and type, duplicates,
// unknown fields, and requesters without groups--all:ro (authorization), even with groups--my.
func TestGroupsListRefused(t *testing.T) {
	env := envWithTokens(t, groupScopeTokens...)
	runCases(t, env, "list_groups", []apiCase{
		{name: "fields value unknown", token: ownerA, body: `{"fields":["members"]}`, wantErr: errValidation, msg: "fields[0]"},
		{name: "fields a string", token: ownerA, body: `{"fields":"routing_status"}`, wantErr: errValidation, msg: "fields"},
		{name: "fields element a number", token: ownerA, body: `{"fields":[1]}`, wantErr: errValidation, msg: "fields[0]"},
		{name: "fields duplicated", token: ownerA, body: `{"fields":["routing_status","routing_status"]}`, wantErr: errValidation, msg: "fields[1]"},
		{name: "unknown field", token: ownerA, body: `{"id":0}`, wantErr: errValidation, msg: "id"},
		{name: "no group scope", token: noGroups, body: `{}`, wantErr: errAuthorization},
		{name: "groups--my:ro only", token: groupsMyRO, body: `{}`, wantErr: errAuthorization},
		{name: "groups--my:rw only", token: groupsMyRW, body: `{}`, wantErr: errAuthorization},
	})
}

// TestGroupsGet covers get_group: the basic fields, each fields[] value alone and together.
func TestGroupsGet(t *testing.T) {
	env := newEnv(t)
	env.ok(ownerA, "create_group", `{"name":"Sports shoes","language_code":"es","agent_priorities":{"owner-a@example.com":"normal","agent-a@example.com":"last"}}`)
	prio := `"agent_priorities":{"owner-a@example.com":"normal","agent-a@example.com":"last"}`
	cases := []struct {
		name, body, want string
	}{
		{"group 0", `{"id":0}`, `{"id":0,"name":"General","language_code":"en","routing_status":"offline"}`},
		{"no fields", `{"id":1}`, `{"id":1,"name":"Sports shoes","language_code":"es","routing_status":"offline"}`},
		{"empty fields", `{"id":1,"fields":[]}`, `{"id":1,"name":"Sports shoes","language_code":"es","routing_status":"offline"}`},
		{"agent_priorities", `{"id":1,"fields":["agent_priorities"]}`, `{"id":1,"name":"Sports shoes","language_code":"es","routing_status":"offline",` + prio + `}`},
		{"routing_status", `{"id":1,"fields":["routing_status"]}`, `{"id":1,"name":"Sports shoes","language_code":"es","routing_status":"offline"}`},
		{"spec example", `{"id":1,` + allGroupFields + `}`, `{"id":1,"name":"Sports shoes","language_code":"es","routing_status":"offline",` + prio + `}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env.in(t).callOK(readonlyA, "get_group", tc.body, tc.want)
		})
	}
}

// TestGroupsGetRefused covers get_group's refusals: the required id and its type, fields[]
// values, unknown fields, an unknown group (group_not_found) and a requester without any group
// scope (authorization).
func TestGroupsGetRefused(t *testing.T) {
	env := envWithTokens(t, groupScopeTokens...)
	runCases(t, env, "get_group", []apiCase{
		{name: "id missing", token: ownerA, body: `{"fields":["routing_status"]}`, wantErr: errValidation, msg: "id"},
		{name: "id a string", token: ownerA, body: `{"id":"0"}`, wantErr: errValidation, msg: "id"},
		{name: "id too large", token: ownerA, body: `{"id":4294967296}`, wantErr: errValidation, msg: "id"},
		{name: "fields value unknown", token: ownerA, body: `{"id":0,"fields":["name"]}`, wantErr: errValidation, msg: "fields[0]"},
		{name: "fields an object", token: ownerA, body: `{"id":0,"fields":{}}`, wantErr: errValidation, msg: "fields"},
		{name: "unknown field", token: ownerA, body: `{"id":0,"name":"General"}`, wantErr: errValidation, msg: "name"},
		{name: "unknown group", token: ownerA, body: `{"id":7}`, wantErr: errGroupNotFound},
		{name: "no group scope", token: noGroups, body: `{"id":0}`, wantErr: errAuthorization},
	})
}

// TestGroupsMyAndAllScopes covers the --my and --all group scopes of get_group, update_group and
// delete_group: with only --my, the requester reaches the groups it is a member of and is refused
// (authorization) the others, and its reach follows membership as agent_priorities change. A
// --my:rw scope grants --my:ro, and an --all:ro scope reaches every group but writes none.
func TestGroupsMyAndAllScopes(t *testing.T) {
	env := envWithTokens(t, groupScopeTokens...)
	env.ok(ownerA, "create_group", `{"name":"Owner's","agent_priorities":{"owner-a@example.com":"normal"}}`)                             // 1
	env.ok(ownerA, "create_group", `{"name":"Shared","agent_priorities":{"owner-a@example.com":"normal","agent-a@example.com":"last"}}`) // 2
	env.ok(ownerA, "create_group", `{"name":"Agent's","agent_priorities":{"agent-a@example.com":"normal"}}`)                             // 3

	runCases(t, env, "", []apiCase{
		{name: "my:ro gets group 0, a member", token: groupsMyRO, action: "get_group", body: `{"id":0}`},
		{name: "my:ro gets group 2, a member", token: groupsMyRO, action: "get_group", body: `{"id":2}`},
		{name: "my:ro cannot get group 1", token: groupsMyRO, action: "get_group", body: `{"id":1}`, wantErr: errAuthorization},
		{name: "my:ro cannot update its group", token: groupsMyRO, action: "update_group", body: `{"id":2,"name":"x"}`, wantErr: errAuthorization},
		{name: "my:ro cannot delete its group", token: groupsMyRO, action: "delete_group", body: `{"id":3}`, wantErr: errAuthorization},
		{name: "my:rw gets its group", token: groupsMyRW, action: "get_group", body: `{"id":2}`},
		{name: "my:rw cannot get group 1", token: groupsMyRW, action: "get_group", body: `{"id":1}`, wantErr: errAuthorization},
		{name: "my:rw cannot update group 1", token: groupsMyRW, action: "update_group", body: `{"id":1,"name":"x"}`, wantErr: errAuthorization},
		{name: "my:rw cannot delete group 1", token: groupsMyRW, action: "delete_group", body: `{"id":1}`, wantErr: errAuthorization},
		{name: "my:rw cannot delete group 0 either", token: groupsMyRW, action: "delete_group", body: `{"id":0}`, wantErr: errValidation},
		{name: "my:rw updates its group", token: groupsMyRW, action: "update_group", body: `{"id":2,"name":"Shared by two"}`},
		{name: "my:rw leaves its group", token: groupsMyRW, action: "update_group", body: `{"id":2,"agent_priorities":{"owner-a@example.com":"normal"}}`},
		{name: "my:rw no longer gets it", token: groupsMyRW, action: "get_group", body: `{"id":2}`, wantErr: errAuthorization},
		{name: "my:ro no longer gets it", token: groupsMyRO, action: "get_group", body: `{"id":2}`, wantErr: errAuthorization},
		{name: "my:rw no longer updates it", token: groupsMyRW, action: "update_group", body: `{"id":2,"name":"x"}`, wantErr: errAuthorization},
		{name: "all:ro gets group 1", token: readonlyA, action: "get_group", body: `{"id":1}`},
		{name: "all:ro gets group 2", token: readonlyA, action: "get_group", body: `{"id":2}`},
		{name: "all:ro cannot update", token: readonlyA, action: "update_group", body: `{"id":3,"name":"x"}`, wantErr: errAuthorization},
		{name: "owner adds the agent to group 1", token: ownerA, action: "update_group", body: `{"id":1,"agent_priorities":{"owner-a@example.com":"normal","agent-a@example.com":"supervisor"}}`},
		{name: "my:ro now gets group 1", token: groupsMyRO, action: "get_group", body: `{"id":1}`},
		{name: "my:rw deletes group 3, a member", token: groupsMyRW, action: "delete_group", body: `{"id":3}`},
		{name: "my:rw deletes group 1, a member", token: groupsMyRW, action: "delete_group", body: `{"id":1}`},
	})
	env.callOK(ownerA, "list_groups", `{}`, `[{"id":0,"name":"General","language_code":"en","routing_status":"offline"},{"id":2,"name":"Shared by two","language_code":"en","routing_status":"offline"}]`)
}

// TestGroupsOtherLicense covers the separation of licenses: dal:owner-b sees only its own group
// 0, gets group_not_found for license A's groups, cannot name A's agents (not_found), and its
// own groups are numbered and changed independently of A's.
func TestGroupsOtherLicense(t *testing.T) {
	env := newEnv(t)
	env.ok(ownerA, "create_group", `{"name":"Shoes","agent_priorities":{"owner-a@example.com":"normal","agent-a@example.com":"last"}}`)
	env.ok(ownerA, "update_group", `{"id":0,"name":"A's general"}`)

	env.callOK(ownerB, "list_groups", `{`+allGroupFields+`}`,
		`[{"id":0,"name":"General","language_code":"en","routing_status":"offline","agent_priorities":{"owner-b@example.com":"normal"}}]`)
	runCases(t, env, "", []apiCase{
		{name: "get A's group", token: ownerB, action: "get_group", body: `{"id":1}`, wantErr: errGroupNotFound},
		{name: "update A's group", token: ownerB, action: "update_group", body: `{"id":1,"name":"mine"}`, wantErr: errGroupNotFound},
		{name: "delete A's group", token: ownerB, action: "delete_group", body: `{"id":1}`, wantErr: errGroupNotFound},
		{name: "A's agent in a B group", token: ownerB, action: "create_group", body: `{"name":"x","agent_priorities":{"agent-a@example.com":"normal"}}`, wantErr: errNotFound},
	})
	env.callOK(ownerB, "create_group", `{"name":"B shoes","agent_priorities":{"owner-b@example.com":"normal"}}`, `{"id":1}`)
	env.callOK(ownerB, "update_group", `{"id":1,"name":"B boots"}`, `{}`)
	env.callOK(ownerA, "list_groups", `{}`, `[{"id":0,"name":"A's general","language_code":"en","routing_status":"offline"},{"id":1,"name":"Shoes","language_code":"en","routing_status":"offline"}]`)
	env.callOK(ownerB, "list_groups", `{}`, `[{"id":0,"name":"General","language_code":"en","routing_status":"offline"},{"id":1,"name":"B boots","language_code":"en","routing_status":"offline"}]`)
	env.callOK(ownerB, "delete_group", `{"id":1}`, `{}`)
	env.callOK(ownerA, "get_group", `{"id":1}`, `{"id":1,"name":"Shoes","language_code":"en","routing_status":"offline"}`)
}
