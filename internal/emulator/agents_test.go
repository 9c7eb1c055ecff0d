package emulator

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Extra tokens of license A for the scope rules of agents and bots, which the built-in tokens
// (all scopes, or every :ro scope) cannot tell apart. All but tokPatOwnerA are agent-a's, whose
// built-in token is dal:readonly-a.
const (
	tokMyA       = "dal:ab-my-a"        // only the --my scopes of agents, accounts and bots
	tokRcA       = "dal:ab-rc-a"        // accounts--all:rc and agents--all:ro: creates agents that await approval
	tokRwA       = "dal:ab-rw-a"        // accounts--all:rw and agents--all:rw, none of the private scopes
	tokPatA      = "dal:ab-pat-a"       // agent-a's personal access token, agents-bot--my:rw
	tokPatOwnerA = "dal:ab-pat-owner-a" // owner-a's personal access token, agents-bot--my:rw
)

var agentBotTokens = []TokenConfig{
	{Token: tokMyA, License: "A", Agent: "agent-a@example.com", ClientID: "client-ab-my-a", Scopes: []string{
		"agents--my:rw", "accounts--my:rw", "agents-bot--my:rw",
	}},
	{Token: tokRcA, License: "A", Agent: "agent-a@example.com", ClientID: "client-ab-rc-a", Scopes: []string{
		"accounts--all:rc", "agents--all:ro",
	}},
	{Token: tokRwA, License: "A", Agent: "agent-a@example.com", ClientID: "client-ab-rw-a", Scopes: []string{
		"accounts--all:rw", "agents--all:rw",
	}},
	{Token: tokPatA, License: "A", Agent: "agent-a@example.com", ClientID: "client-ab-pat-a", Personal: true, Scopes: []string{
		"agents-bot--my:rw",
	}},
	{Token: tokPatOwnerA, License: "A", Agent: "owner-a@example.com", ClientID: "client-ab-pat-owner-a", Personal: true, Scopes: []string{
		"agents-bot--my:rw",
	}},
}

// newAgentBotEnv is newEnv with agentBotTokens and, in license A, the groups 1 "Sales" and 2
// "Support", each with owner-a as its one (normal) member.
func newAgentBotEnv(t *testing.T) *env {
	t.Helper()
	v := newEnv(t, WithConfig(&Config{Tokens: agentBotTokens}))
	for i, name := range []string{"Sales", "Support"} {
		got := v.ok(ownerA, "create_group", `{"name":"`+name+`","agent_priorities":{"owner-a@example.com":"normal"}}`)
		checkAnswer(t, "create_group("+name+")", got, fmt.Sprintf(`{"id":%d}`, i+1))
	}
	return v
}

// inSubtest returns v reporting to t, so that a failure inside t.Run stops only that subtest.
func inSubtest(v *env, t *testing.T) *env {
	c := *v
	c.t = t
	return &c
}

// answerJSON decodes s the way env.ok decodes answers, with json.Number numbers, so that the two
// compare with cmp.
func answerJSON(t *testing.T, s string) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("test JSON %q: %v", s, err)
	}
	return v
}

// compactJSON is v as one line of JSON, for failure messages.
func compactJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// checkAnswer reports a difference between got, a decoded answer to call, and want, JSON text.
func checkAnswer(t *testing.T, call string, got any, want string) {
	t.Helper()
	if diff := cmp.Diff(answerJSON(t, want), got); diff != "" {
		t.Errorf("%s = %s, want %s (-want +got):\n%s", call, compactJSON(got), want, diff)
	}
}

// patchJSON returns the JSON object base with the keys of the JSON object patch set over it.
func patchJSON(t *testing.T, base, patch string) string {
	t.Helper()
	var b, p map[string]json.RawMessage
	if err := json.Unmarshal([]byte(base), &b); err != nil {
		t.Fatalf("base %s: %v", base, err)
	}
	if err := json.Unmarshal([]byte(patch), &p); err != nil {
		t.Fatalf("patch %s: %v", patch, err)
	}
	for k, v := range p {
		b[k] = v
	}
	out, _ := json.Marshal(b)
	return string(out)
}

// agentBotCase is a refused call: token calls the table's action with body and must get an
// error of type wantErr whose message contains wantMsg (for validation, the field it names;
// for authorization, a missing scope).
type agentBotCase struct {
	name    string
	token   string
	body    string
	wantErr string
	wantMsg string
}

// runRefusals runs each case as a subtest against the one env v. env.fails checks that a
// refused call changed nothing, so the cases can share the state.
func runRefusals(t *testing.T, v *env, action string, cases []agentBotCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := inSubtest(v, t).fails(tc.token, action, tc.body, tc.wantErr)
			var e struct {
				Error apiError `json:"error"`
			}
			if err := json.Unmarshal(r.body, &e); err != nil {
				t.Fatalf("%s(%s): error body %s: %v", action, tc.body, r.body, err)
			}
			if !strings.Contains(e.Error.Message, tc.wantMsg) {
				t.Errorf("%s(%s) = %s, want a %s message containing %q", action, tc.body, r.body, tc.wantErr, tc.wantMsg)
			}
		})
	}
}

// allAgentFields asks get_agent and list_agents for every optional field the spec lists.
const allAgentFields = `["work_scheduler","groups","email_subscriptions","notifications","job_title","mobile","max_chats_count","suspended","awaiting_approval"]`

// agentState returns get_agent's answer for id with every optional field, as token sees it.
func agentState(v *env, token, id string) any {
	v.t.Helper()
	return v.ok(token, "get_agent", `{"id":"`+id+`","fields":`+allAgentFields+`}`)
}

// newAgentState is the full view of an agent created with only an id and a name by a requester
// whose agents need no approval; tests patch it with patchJSON.
const newAgentState = `{"id":"new@example.com","name":"New","avatar_path":"","role":"normal",
	"login_status":"not accepting chats","work_scheduler":{},"groups":[{"id":0,"priority":"normal"}],
	"email_subscriptions":[],"notifications":[],"job_title":"","mobile":"","max_chats_count":6,
	"suspended":false,"awaiting_approval":false}`

// The allowed values, as the spec lists them (not taken from the emulator's tables, so that the
// two are checked against each other).
var (
	specRoles         = []string{"viceowner", "administrator", "normal"}
	specLoginStatuses = []string{"accepting chats", "not accepting chats"}
	specPriorities    = []string{"first", "normal", "last", "supervisor"}
	specDays          = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}
	specSubscriptions = []string{"daily_summary", "weekly_summary"}
	specNotifications = []string{
		"new_visitor", "incoming_chat", "returning_visitor", "queued_visitor", "visitor_is_typing",
		"new_goal", "unassigned_chats", "unassigned_chat_messages", "ticket",
		"inactive_notifications", "mute_all_sounds", "repeat_sound_notifications",
		"ticket_notifications",
	}
)

// quoted is ss as a JSON array of strings.
func quoted(ss ...string) string {
	b, _ := json.Marshal(ss)
	return string(b)
}

// TestCreateAgent covers create_agent's successes: the answer, the defaults, every field stored
// and shown by get_agent, the limits' edges, and which requesters' agents await approval
// (footnote 1: accounts--all:rw with the private subscription.lc:rw, or else they wait).
func TestCreateAgent(t *testing.T) {
	tests := []struct {
		name  string
		token string
		body  string
		want  string // patched over newAgentState
	}{
		{"only required fields", ownerA, `{"id":"new@example.com","name":"New"}`, `{}`},
		{
			"spec example with every field", ownerA,
			`{"id":"new@example.com","name":"Agent Smith","role":"viceowner","avatar_path":"https://example.com/smith.png",
			  "login_status":"accepting chats","job_title":"Support Hero","mobile":"+1 555 0100","max_chats_count":100,
			  "awaiting_approval":false,
			  "groups":[{"id":2,"priority":"first"},{"id":1,"priority":"last"},{"id":0,"priority":"supervisor"}],
			  "work_scheduler":{"monday":{"start":"08:30","end":"12:30"},"sunday":{"start":"00:00","end":"23:59"}},
			  "notifications":["new_visitor","new_goal","visitor_is_typing"],
			  "email_subscriptions":["weekly_summary","daily_summary"]}`,
			`{"name":"Agent Smith","role":"viceowner","avatar_path":"https://example.com/smith.png",
			  "login_status":"accepting chats","job_title":"Support Hero","mobile":"+1 555 0100","max_chats_count":100,
			  "groups":[{"id":0,"priority":"supervisor"},{"id":1,"priority":"last"},{"id":2,"priority":"first"}],
			  "work_scheduler":{"monday":{"start":"08:30","end":"12:30"},"sunday":{"start":"00:00","end":"23:59"}},
			  "notifications":["new_visitor","new_goal","visitor_is_typing"],
			  "email_subscriptions":["weekly_summary","daily_summary"]}`,
		},
		{"max_chats_count 0", ownerA, `{"id":"new@example.com","name":"New","max_chats_count":0}`, `{"max_chats_count":0}`},
		{"no groups", ownerA, `{"id":"new@example.com","name":"New","groups":[]}`, `{"groups":[]}`},
		{"groups without General", ownerA, `{"id":"new@example.com","name":"New","groups":[{"id":1,"priority":"normal"}]}`,
			`{"groups":[{"id":1,"priority":"normal"}]}`},
		{"empty work_scheduler and lists", ownerA,
			`{"id":"new@example.com","name":"New","work_scheduler":{},"notifications":[],"email_subscriptions":[]}`, `{}`},
		{"owner asks for approval", ownerA, `{"id":"new@example.com","name":"New","awaiting_approval":true}`,
			`{"awaiting_approval":true}`},
		{"accounts--all:rc: awaits approval", tokRcA, `{"id":"new@example.com","name":"New"}`, `{"awaiting_approval":true}`},
		{"accounts--all:rc with role normal", tokRcA, `{"id":"new@example.com","name":"New","role":"normal"}`,
			`{"awaiting_approval":true}`},
		{"accounts--all:rc asks for approval", tokRcA, `{"id":"new@example.com","name":"New","awaiting_approval":true}`,
			`{"awaiting_approval":true}`},
		{"accounts--all:rw without subscription.lc:rw: awaits approval", tokRwA, `{"id":"new@example.com","name":"New"}`,
			`{"awaiting_approval":true}`},
		{"id of a deleted agent", ownerA, `{"id":"agent-a@example.com","name":"New"}`, `{"id":"agent-a@example.com"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newAgentBotEnv(t)
			if strings.Contains(tc.body, "agent-a@example.com") { // the "id of a deleted agent" case
				v.ok(ownerA, "delete_agent", `{"id":"agent-a@example.com"}`)
			}
			got := v.ok(tc.token, "create_agent", tc.body)
			id := answerJSON(t, tc.body).(map[string]any)["id"].(string)
			checkAnswer(t, fmt.Sprintf("create_agent(%s)", tc.body), got, `{"id":"`+id+`"}`)
			checkAnswer(t, "get_agent("+id+") after create_agent("+tc.body+")",
				agentState(v, ownerA, id), patchJSON(t, newAgentState, tc.want))
		})
	}
}

// TestAgentAllowedValues checks that create_agent and update_agent accept every value of each
// list the spec allows (role, login_status, groups[].priority, notifications,
// email_subscriptions, work_scheduler's days) and that get_agent shows it.
func TestAgentAllowedValues(t *testing.T) {
	type value struct{ field, json, view string }
	var values []value
	for _, r := range specRoles {
		values = append(values, value{"role", `"` + r + `"`, `{"role":"` + r + `"}`})
	}
	for _, s := range specLoginStatuses {
		values = append(values, value{"login_status", `"` + s + `"`, `{"login_status":"` + s + `"}`})
	}
	for _, p := range specPriorities {
		g := `[{"id":1,"priority":"` + p + `"}]`
		values = append(values, value{"groups", g, `{"groups":` + g + `}`})
	}
	for _, n := range specNotifications {
		values = append(values, value{"notifications", quoted(n), `{"notifications":` + quoted(n) + `}`})
	}
	values = append(values, value{"notifications", quoted(specNotifications...), `{"notifications":` + quoted(specNotifications...) + `}`})
	for _, s := range specSubscriptions {
		values = append(values, value{"email_subscriptions", quoted(s), `{"email_subscriptions":` + quoted(s) + `}`})
	}
	week := map[string]workHours{}
	for _, d := range specDays {
		ws := `{"` + d + `":{"start":"09:00","end":"17:00"}}`
		values = append(values, value{"work_scheduler", ws, `{"work_scheduler":` + ws + `}`})
		week[d] = workHours{"00:00", "23:59"}
	}
	ws := compactJSON(week)
	values = append(values, value{"work_scheduler", ws, `{"work_scheduler":` + ws + `}`})

	v := newAgentBotEnv(t)
	for i, val := range values {
		t.Run(fmt.Sprintf("%s=%s", val.field, val.json), func(t *testing.T) {
			v := inSubtest(v, t)
			id := fmt.Sprintf("value%d@example.com", i)
			body := `{"id":"` + id + `","name":"New","` + val.field + `":` + val.json + `}`
			v.ok(ownerA, "create_agent", body)
			want := patchJSON(t, patchJSON(t, newAgentState, `{"id":"`+id+`"}`), val.view)
			checkAnswer(t, "get_agent after create_agent("+body+")", agentState(v, ownerA, id), want)

			// The same value set by update_agent on an agent created without it.
			id2 := fmt.Sprintf("update%d@example.com", i)
			v.ok(ownerA, "create_agent", `{"id":"`+id2+`","name":"New"}`)
			body = `{"id":"` + id2 + `","` + val.field + `":` + val.json + `}`
			v.ok(ownerA, "update_agent", body)
			want = patchJSON(t, patchJSON(t, newAgentState, `{"id":"`+id2+`"}`), val.view)
			checkAnswer(t, "get_agent after update_agent("+body+")", agentState(v, ownerA, id2), want)
		})
	}
}

// agentValidationCases are the validation refusals that create_agent and update_agent share,
// one per kind of rule, as bodies without the id. Each names the field the message must name.
var agentValidationCases = []struct{ name, fields, msg string }{
	{"name empty", `"name":""`, "name"},
	{"name not a string", `"name":5`, "name"},
	{"unknown field", `"name":"X","suspended":true`, "suspended"},
	{"misspelt field", `"name":"X","emailSubscriptions":["daily_summary"]`, "emailSubscriptions"},
	{"role not allowed", `"name":"X","role":"owner"`, "role"},
	{"role wrong case", `"name":"X","role":"Administrator"`, "role"},
	{"role not a string", `"name":"X","role":1`, "role"},
	{"login_status not allowed", `"name":"X","login_status":"online"`, "login_status"},
	{"avatar_path not a string", `"name":"X","avatar_path":{}`, "avatar_path"},
	{"job_title not a string", `"name":"X","job_title":7`, "job_title"},
	{"mobile not a string", `"name":"X","mobile":5550100`, "mobile"},
	{"max_chats_count over 100", `"name":"X","max_chats_count":101`, "max_chats_count"},
	{"max_chats_count negative", `"name":"X","max_chats_count":-1`, "max_chats_count"},
	{"max_chats_count fraction", `"name":"X","max_chats_count":1.5`, "max_chats_count"},
	{"max_chats_count a string", `"name":"X","max_chats_count":"6"`, "max_chats_count"},
	{"groups not an array", `"name":"X","groups":{"id":0,"priority":"normal"}`, "groups"},
	{"groups[].id missing", `"name":"X","groups":[{"priority":"normal"}]`, "groups[0].id"},
	{"groups[].priority missing", `"name":"X","groups":[{"id":0}]`, "groups[0].priority"},
	{"groups[].id negative", `"name":"X","groups":[{"id":-1,"priority":"normal"}]`, "groups[0].id"},
	{"groups[].id a string", `"name":"X","groups":[{"id":"0","priority":"normal"}]`, "groups[0].id"},
	{"groups[].priority not allowed", `"name":"X","groups":[{"id":0,"priority":"primary"}]`, "groups[0].priority"},
	{"groups[] unknown field", `"name":"X","groups":[{"id":0,"priority":"normal","name":"General"}]`, "groups[0].name"},
	{"groups duplicate", `"name":"X","groups":[{"id":1,"priority":"normal"},{"id":1,"priority":"last"}]`, "groups[1].id"},
	{"notifications not an array", `"name":"X","notifications":"new_visitor"`, "notifications"},
	{"notifications value not allowed", `"name":"X","notifications":["new_visitor","sound_on"]`, "notifications[1]"},
	{"notifications duplicate", `"name":"X","notifications":["new_goal","new_goal"]`, "notifications[1]"},
	{"email_subscriptions value not allowed", `"name":"X","email_subscriptions":["monthly_summary"]`, "email_subscriptions[0]"},
	{"email_subscriptions duplicate", `"name":"X","email_subscriptions":["daily_summary","daily_summary"]`, "email_subscriptions[1]"},
	{"work_scheduler not an object", `"name":"X","work_scheduler":[]`, "work_scheduler"},
	{"work_scheduler day wrong case", `"name":"X","work_scheduler":{"Monday":{"start":"08:00","end":"16:00"}}`, "work_scheduler.Monday"},
	{"work_scheduler key not a day", `"name":"X","work_scheduler":{"weekdays":{"start":"08:00","end":"16:00"}}`, "work_scheduler.weekdays"},
	{"work_scheduler start missing", `"name":"X","work_scheduler":{"monday":{"end":"16:00"}}`, "work_scheduler.monday.start"},
	{"work_scheduler end missing", `"name":"X","work_scheduler":{"monday":{"start":"08:00"}}`, "work_scheduler.monday.end"},
	{"work_scheduler hour 24", `"name":"X","work_scheduler":{"monday":{"start":"08:00","end":"24:00"}}`, "work_scheduler.monday.end"},
	{"work_scheduler minute 60", `"name":"X","work_scheduler":{"monday":{"start":"08:60","end":"16:00"}}`, "work_scheduler.monday.start"},
	{"work_scheduler one-digit hour", `"name":"X","work_scheduler":{"monday":{"start":"8:00","end":"16:00"}}`, "work_scheduler.monday.start"},
	{"work_scheduler with seconds", `"name":"X","work_scheduler":{"monday":{"start":"08:00:00","end":"16:00"}}`, "work_scheduler.monday.start"},
	{"work_scheduler time a number", `"name":"X","work_scheduler":{"monday":{"start":800,"end":"16:00"}}`, "work_scheduler.monday.start"},
	{"work_scheduler unknown field", `"name":"X","work_scheduler":{"monday":{"start":"08:00","end":"16:00","timezone":"UTC"}}`, "work_scheduler.monday.timezone"},
}

// TestCreateAgentRefused covers every refusal of create_agent: validation of each kind of rule,
// authorization for each scope the spec's footnotes require, already_exist for an agent's or a
// bot's id, group_not_found, and that none of them changes anything.
func TestCreateAgentRefused(t *testing.T) {
	v := newAgentBotEnv(t)
	botID := createdBotID(v, ownerA, `{"name":"Bot"}`)
	cases := []agentBotCase{
		{"body not JSON", ownerA, `{"id":`, errValidation, "JSON"},
		{"body an array", ownerA, `[]`, errValidation, "object"},
		{"body null: an empty request, id required", ownerA, `null`, errValidation, "id"},
		{"name null: not given, so required", ownerA, `{"id":"new@example.com","name":null}`, errValidation, "name"},
		{"empty body: id required", ownerA, ``, errValidation, "id"},
		{"id missing", ownerA, `{"name":"X"}`, errValidation, "id"},
		{"name missing", ownerA, `{"id":"new@example.com"}`, errValidation, "name"},
		{"id empty", ownerA, `{"id":"","name":"X"}`, errValidation, "id"},
		{"id not a string", ownerA, `{"id":5,"name":"X"}`, errValidation, "id"},
		{"awaiting_approval not a boolean", ownerA, `{"id":"new@example.com","name":"X","awaiting_approval":"false"}`, errValidation, "awaiting_approval"},

		{"read-only token", readonlyA, `{"id":"new@example.com","name":"X"}`, errAuthorization, "accounts--all:rc"},
		{"only --my scopes", tokMyA, `{"id":"new@example.com","name":"X"}`, errAuthorization, "accounts--all:rc"},
		{"role above normal without accounts.roles.lc--all:rw", tokRcA, `{"id":"new@example.com","name":"X","role":"administrator"}`,
			errAuthorization, "accounts.roles.lc--all:rw"},
		{"viceowner without accounts.roles.lc--all:rw", tokRwA, `{"id":"new@example.com","name":"X","role":"viceowner"}`,
			errAuthorization, "accounts.roles.lc--all:rw"},
		{"no approval without subscription.lc:rw", tokRwA, `{"id":"new@example.com","name":"X","awaiting_approval":false}`,
			errAuthorization, "subscription.lc:rw"},
		{"no approval with accounts--all:rc only", tokRcA, `{"id":"new@example.com","name":"X","awaiting_approval":false}`,
			errAuthorization, "subscription.lc:rw"},

		{"id of an agent", ownerA, `{"id":"agent-a@example.com","name":"X"}`, errAlreadyExist, "agent-a@example.com"},
		{"id of the owner", ownerA, `{"id":"owner-a@example.com","name":"X"}`, errAlreadyExist, "owner-a@example.com"},
		{"id of a bot", ownerA, `{"id":"` + botID + `","name":"X"}`, errAlreadyExist, botID},

		{"unknown group", ownerA, `{"id":"new@example.com","name":"X","groups":[{"id":0,"priority":"normal"},{"id":99,"priority":"normal"}]}`,
			errGroupNotFound, "groups[1].id"},
		{"group of another license", ownerB, `{"id":"new@example.com","name":"X","groups":[{"id":1,"priority":"normal"}]}`,
			errGroupNotFound, "groups[0].id"},
	}
	for _, vc := range agentValidationCases {
		cases = append(cases, agentBotCase{vc.name, ownerA, `{"id":"new@example.com",` + vc.fields + `}`, errValidation, vc.msg})
	}
	runRefusals(t, v, "create_agent", cases)
}

// TestGetAgent covers get_agent: the basic fields, each fields[] value alone and all together,
// "summaries" as another name of email_subscriptions (answered under the name asked for), and
// the my/all scopes: agents--my:ro reads the requester, agents--all:ro anyone.
func TestGetAgent(t *testing.T) {
	v := newAgentBotEnv(t)
	v.ok(ownerA, "create_agent", `{"id":"smith@example.com","name":"Agent Smith","role":"administrator",
		"avatar_path":"https://example.com/smith.png","login_status":"accepting chats","job_title":"Support Hero",
		"mobile":"+1 555 0100","max_chats_count":5,"groups":[{"id":2,"priority":"first"},{"id":1,"priority":"last"}],
		"work_scheduler":{"friday":{"start":"07:30","end":"21:30"}},"notifications":["ticket"],
		"email_subscriptions":["daily_summary","weekly_summary"]}`)
	v.ok(ownerA, "suspend_agent", `{"id":"smith@example.com"}`)
	const basics = `{"id":"smith@example.com","name":"Agent Smith","avatar_path":"https://example.com/smith.png",
		"role":"administrator","login_status":"accepting chats"}`
	tests := []struct {
		name   string
		token  string
		body   string
		want   string // patched over basics
		wholly string // when set, the whole answer instead
	}{
		{"no fields", ownerA, `{"id":"smith@example.com"}`, `{}`, ""},
		{"empty fields", ownerA, `{"id":"smith@example.com","fields":[]}`, `{}`, ""},
		{"work_scheduler", ownerA, `{"id":"smith@example.com","fields":["work_scheduler"]}`,
			`{"work_scheduler":{"friday":{"start":"07:30","end":"21:30"}}}`, ""},
		{"groups", ownerA, `{"id":"smith@example.com","fields":["groups"]}`,
			`{"groups":[{"id":1,"priority":"last"},{"id":2,"priority":"first"}]}`, ""},
		{"email_subscriptions", ownerA, `{"id":"smith@example.com","fields":["email_subscriptions"]}`,
			`{"email_subscriptions":["daily_summary","weekly_summary"]}`, ""},
		{"summaries", ownerA, `{"id":"smith@example.com","fields":["summaries"]}`,
			`{"summaries":["daily_summary","weekly_summary"]}`, ""},
		{"summaries and email_subscriptions", ownerA, `{"id":"smith@example.com","fields":["summaries","email_subscriptions"]}`,
			`{"summaries":["daily_summary","weekly_summary"],"email_subscriptions":["daily_summary","weekly_summary"]}`, ""},
		{"notifications", ownerA, `{"id":"smith@example.com","fields":["notifications"]}`, `{"notifications":["ticket"]}`, ""},
		{"job_title", ownerA, `{"id":"smith@example.com","fields":["job_title"]}`, `{"job_title":"Support Hero"}`, ""},
		{"mobile", ownerA, `{"id":"smith@example.com","fields":["mobile"]}`, `{"mobile":"+1 555 0100"}`, ""},
		{"max_chats_count", ownerA, `{"id":"smith@example.com","fields":["max_chats_count"]}`, `{"max_chats_count":5}`, ""},
		{"suspended", ownerA, `{"id":"smith@example.com","fields":["suspended"]}`, `{"suspended":true}`, ""},
		{"awaiting_approval", ownerA, `{"id":"smith@example.com","fields":["awaiting_approval"]}`, `{"awaiting_approval":false}`, ""},
		{"every field", ownerA, `{"id":"smith@example.com","fields":` + allAgentFields + `}`,
			`{"work_scheduler":{"friday":{"start":"07:30","end":"21:30"}},
			  "groups":[{"id":1,"priority":"last"},{"id":2,"priority":"first"}],
			  "email_subscriptions":["daily_summary","weekly_summary"],"notifications":["ticket"],
			  "job_title":"Support Hero","mobile":"+1 555 0100","max_chats_count":5,"suspended":true,
			  "awaiting_approval":false}`, ""},
		{"read-only token reads another agent", readonlyA, `{"id":"smith@example.com"}`, `{}`, ""},
		{"--my token reads the requester", tokMyA, `{"id":"agent-a@example.com","fields":["groups"]}`, "",
			`{"id":"agent-a@example.com","name":"Agent A","avatar_path":"","role":"normal",
			  "login_status":"not accepting chats","groups":[{"id":0,"priority":"normal"}]}`},
		{"the owner", readonlyA, `{"id":"owner-a@example.com","fields":["groups","awaiting_approval"]}`, "",
			`{"id":"owner-a@example.com","name":"Owner A","avatar_path":"","role":"owner",
			  "login_status":"not accepting chats","awaiting_approval":false,
			  "groups":[{"id":0,"priority":"normal"},{"id":1,"priority":"normal"},{"id":2,"priority":"normal"}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.wholly
			if want == "" {
				want = patchJSON(t, basics, tc.want)
			}
			checkAnswer(t, fmt.Sprintf("get_agent(%s)", tc.body), inSubtest(v, t).ok(tc.token, "get_agent", tc.body), want)
		})
	}

	runRefusals(t, v, "get_agent", []agentBotCase{
		{"id missing", ownerA, `{"fields":["groups"]}`, errValidation, "id"},
		{"id empty", ownerA, `{"id":""}`, errValidation, "id"},
		{"id not a string", ownerA, `{"id":["smith@example.com"]}`, errValidation, "id"},
		{"fields not an array", ownerA, `{"id":"smith@example.com","fields":"groups"}`, errValidation, "fields"},
		{"fields value not allowed", ownerA, `{"id":"smith@example.com","fields":["groups","name"]}`, errValidation, "fields[1]"},
		{"fields value not a string", ownerA, `{"id":"smith@example.com","fields":[1]}`, errValidation, "fields[0]"},
		{"fields duplicate", ownerA, `{"id":"smith@example.com","fields":["mobile","mobile"]}`, errValidation, "fields[1]"},
		{"unknown field", ownerA, `{"id":"smith@example.com","filters":{}}`, errValidation, "filters"},
		{"--my token reads another agent", tokMyA, `{"id":"smith@example.com"}`, errAuthorization, "agents--all:ro"},
		{"no agents scope reads the requester", tokPatA, `{"id":"agent-a@example.com"}`, errAuthorization, "agents--my:ro"},
		{"unknown agent", ownerA, `{"id":"nobody@example.com"}`, errNotFound, "nobody@example.com"},
		{"agent of another license", ownerB, `{"id":"smith@example.com"}`, errNotFound, "smith@example.com"},
		{"owner of another license", ownerB, `{"id":"owner-a@example.com"}`, errNotFound, "owner-a@example.com"},
	})
}

// TestListAgents covers list_agents: every agent in creation order, filters.group_ids (one
// group, several, a group with no agents), fields[] including "summaries", that another
// license's agents never appear, and its refusals: validation, authorization (agents--all:ro
// even for a requester listing only itself) and group_not_found.
func TestListAgents(t *testing.T) {
	v := newAgentBotEnv(t)
	v.ok(ownerA, "create_agent", `{"id":"smith@example.com","name":"Agent Smith","job_title":"Support Hero",
		"max_chats_count":5,"email_subscriptions":["daily_summary","weekly_summary"],"groups":[{"id":1,"priority":"normal"}]}`)
	v.ok(ownerA, "create_agent", `{"id":"adam@example.com","name":"Adam","job_title":"Support Hero (Newbie)",
		"max_chats_count":2,"email_subscriptions":["weekly_summary"],"groups":[{"id":0,"priority":"last"}]}`)
	v.ok(ownerA, "update_group", `{"id":2,"agent_priorities":{}}`)                       // group 2 has no agents
	_ = createdBotID(v, ownerA, `{"name":"Bot","groups":[{"id":1,"priority":"first"}]}`) // bots are not agents

	const (
		owner = `{"id":"owner-a@example.com","name":"Owner A","avatar_path":"","role":"owner","login_status":"not accepting chats"}`
		agent = `{"id":"agent-a@example.com","name":"Agent A","avatar_path":"","role":"normal","login_status":"not accepting chats"}`
		smith = `{"id":"smith@example.com","name":"Agent Smith","avatar_path":"","role":"normal","login_status":"not accepting chats"}`
		adam  = `{"id":"adam@example.com","name":"Adam","avatar_path":"","role":"normal","login_status":"not accepting chats"}`
	)
	tests := []struct {
		name, token, body, want string
	}{
		{"every agent", ownerA, `{}`, `[` + owner + `,` + agent + `,` + smith + `,` + adam + `]`},
		{"read-only token", readonlyA, `{}`, `[` + owner + `,` + agent + `,` + smith + `,` + adam + `]`},
		{"empty filters", ownerA, `{"filters":{}}`, `[` + owner + `,` + agent + `,` + smith + `,` + adam + `]`},
		{"group 0", ownerA, `{"filters":{"group_ids":[0]}}`, `[` + owner + `,` + agent + `,` + adam + `]`},
		{"group 1", ownerA, `{"filters":{"group_ids":[1]}}`, `[` + owner + `,` + smith + `]`},
		{"group without agents", ownerA, `{"filters":{"group_ids":[2]}}`, `[]`},
		{"groups 0 and 1", ownerA, `{"filters":{"group_ids":[0,1]}}`, `[` + owner + `,` + agent + `,` + smith + `,` + adam + `]`},
		{"spec example", ownerA, `{"fields":["summaries","max_chats_count","job_title"],"filters":{"group_ids":[1]}}`, `[` +
			patchJSON(t, owner, `{"summaries":[],"max_chats_count":6,"job_title":""}`) + `,` +
			patchJSON(t, smith, `{"summaries":["daily_summary","weekly_summary"],"max_chats_count":5,"job_title":"Support Hero"}`) + `]`},
		{"groups and suspended", ownerA, `{"fields":["groups","suspended"],"filters":{"group_ids":[0]}}`, `[` +
			patchJSON(t, owner, `{"groups":[{"id":0,"priority":"normal"},{"id":1,"priority":"normal"}],"suspended":false}`) + `,` +
			patchJSON(t, agent, `{"groups":[{"id":0,"priority":"normal"}],"suspended":false}`) + `,` +
			patchJSON(t, adam, `{"groups":[{"id":0,"priority":"last"}],"suspended":false}`) + `]`},
		{"another license", ownerB, `{"fields":["groups"]}`,
			`[{"id":"owner-b@example.com","name":"Owner B","avatar_path":"","role":"owner","login_status":"not accepting chats",
			   "groups":[{"id":0,"priority":"normal"}]}]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkAnswer(t, fmt.Sprintf("list_agents(%s)", tc.body), inSubtest(v, t).ok(tc.token, "list_agents", tc.body), tc.want)
		})
	}

	// list_agents and get_agent answer the same agent alike, for every fields[] value.
	for _, f := range []string{"work_scheduler", "groups", "email_subscriptions", "summaries", "notifications",
		"job_title", "mobile", "max_chats_count", "suspended", "awaiting_approval"} {
		t.Run("same as get_agent/"+f, func(t *testing.T) {
			v := inSubtest(v, t)
			body := `{"fields":["` + f + `"]}`
			list := v.ok(ownerA, "list_agents", body).([]any)
			if len(list) != 4 {
				t.Fatalf("list_agents(%s) = %s, want 4 agents", body, compactJSON(list))
			}
			for _, a := range list {
				id, _ := a.(map[string]any)["id"].(string)
				get := v.ok(ownerA, "get_agent", `{"id":"`+id+`","fields":["`+f+`"]}`)
				checkAnswer(t, "list_agents("+body+") agent "+id, a, compactJSON(get))
				if _, ok := a.(map[string]any)[f]; !ok {
					t.Errorf("list_agents(%s) agent %s = %s, want the field %s", body, id, compactJSON(a), f)
				}
			}
		})
	}

	runRefusals(t, v, "list_agents", []agentBotCase{
		{"body an array", ownerA, `[]`, errValidation, "object"},
		{"unknown field", ownerA, `{"all":true}`, errValidation, "all"},
		{"filters not an object", ownerA, `{"filters":[0]}`, errValidation, "filters"},
		{"filters unknown key", ownerA, `{"filters":{"group_id":[0]}}`, errValidation, "filters.group_id"},
		{"group_ids not an array", ownerA, `{"filters":{"group_ids":0}}`, errValidation, "filters.group_ids"},
		{"group_ids negative", ownerA, `{"filters":{"group_ids":[-1]}}`, errValidation, "filters.group_ids[0]"},
		{"group_ids a string", ownerA, `{"filters":{"group_ids":["1"]}}`, errValidation, "filters.group_ids[0]"},
		{"group_ids duplicate", ownerA, `{"filters":{"group_ids":[1,1]}}`, errValidation, "filters.group_ids[1]"},
		{"fields value not allowed", ownerA, `{"fields":["role"]}`, errValidation, "fields[0]"},
		{"--my token", tokMyA, `{}`, errAuthorization, "agents--all:ro"},
		{"no agents scope", tokPatA, `{}`, errAuthorization, "agents--all:ro"},
		{"unknown group", ownerA, `{"filters":{"group_ids":[0,99]}}`, errGroupNotFound, "filters.group_ids[1]"},
		{"group of another license", ownerB, `{"filters":{"group_ids":[1]}}`, errGroupNotFound, "filters.group_ids[0]"},
	})
}

// TestUpdateAgent covers update_agent's successes: each field changed alone leaves the others as
// they were (checked with get_agent's every field), groups are replaced as a whole, and who may
// update whom (agents--my:rw the requester, agents--all:rw anyone, a role with
// accounts.roles.lc--all:rw).
func TestUpdateAgent(t *testing.T) {
	const smith = `{"id":"smith@example.com","name":"Agent Smith","role":"administrator",
		"avatar_path":"https://example.com/smith.png","login_status":"accepting chats","job_title":"Support Hero",
		"mobile":"+1 555 0100","max_chats_count":5,"groups":[{"id":1,"priority":"last"},{"id":2,"priority":"first"}],
		"work_scheduler":{"friday":{"start":"07:30","end":"21:30"}},"notifications":["ticket"],
		"email_subscriptions":["daily_summary"]}`
	// smithState is smith as get_agent shows it, with every field.
	smithState := patchJSON(t, smith, `{"suspended":false,"awaiting_approval":false}`)
	agentAState := `{"id":"agent-a@example.com","name":"Agent A","avatar_path":"","role":"normal",
		"login_status":"not accepting chats","work_scheduler":{},"groups":[{"id":0,"priority":"normal"}],
		"email_subscriptions":[],"notifications":[],"job_title":"","mobile":"","max_chats_count":6,
		"suspended":false,"awaiting_approval":false}`
	tests := []struct {
		name, token, body string
		id, want          string // the agent to read back, and what changed (patched over its state)
	}{
		{"nothing but the id", ownerA, `{"id":"smith@example.com"}`, "smith@example.com", `{}`},
		{"name", ownerA, `{"id":"smith@example.com","name":"Agent Smyth"}`, "smith@example.com", `{"name":"Agent Smyth"}`},
		{"role", ownerA, `{"id":"smith@example.com","role":"normal"}`, "smith@example.com", `{"role":"normal"}`},
		{"avatar_path emptied", ownerA, `{"id":"smith@example.com","avatar_path":""}`, "smith@example.com", `{"avatar_path":""}`},
		{"login_status", ownerA, `{"id":"smith@example.com","login_status":"not accepting chats"}`, "smith@example.com",
			`{"login_status":"not accepting chats"}`},
		{"job_title", ownerA, `{"id":"smith@example.com","job_title":"Lead"}`, "smith@example.com", `{"job_title":"Lead"}`},
		{"mobile", ownerA, `{"id":"smith@example.com","mobile":""}`, "smith@example.com", `{"mobile":""}`},
		{"max_chats_count 100", ownerA, `{"id":"smith@example.com","max_chats_count":100}`, "smith@example.com", `{"max_chats_count":100}`},
		{"max_chats_count 0", ownerA, `{"id":"smith@example.com","max_chats_count":0}`, "smith@example.com", `{"max_chats_count":0}`},
		{"groups replaced", ownerA, `{"id":"smith@example.com","groups":[{"id":0,"priority":"supervisor"},{"id":2,"priority":"normal"}]}`,
			"smith@example.com", `{"groups":[{"id":0,"priority":"supervisor"},{"id":2,"priority":"normal"}]}`},
		{"groups emptied", ownerA, `{"id":"smith@example.com","groups":[]}`, "smith@example.com", `{"groups":[]}`},
		{"notifications emptied", ownerA, `{"id":"smith@example.com","notifications":[]}`, "smith@example.com", `{"notifications":[]}`},
		{"email_subscriptions", ownerA, `{"id":"smith@example.com","email_subscriptions":["weekly_summary","daily_summary"]}`,
			"smith@example.com", `{"email_subscriptions":["weekly_summary","daily_summary"]}`},
		{"work_scheduler replaced", ownerA, `{"id":"smith@example.com","work_scheduler":{"monday":{"start":"08:30","end":"12:30"}}}`,
			"smith@example.com", `{"work_scheduler":{"monday":{"start":"08:30","end":"12:30"}}}`},
		{"spec example", ownerA, `{"id":"smith@example.com","name":"Agent Smith","role":"viceowner",
			"groups":[{"id":2,"priority":"first"},{"id":1,"priority":"last"},{"id":0,"priority":"normal"}],
			"work_scheduler":{"monday":{"start":"08:30","end":"12:30"},"friday":{"start":"07:30","end":"21:30"}},
			"notifications":["new_visitor","new_goal","visitor_is_typing"],"email_subscriptions":["weekly_summary"]}`,
			"smith@example.com", `{"role":"viceowner",
			"groups":[{"id":0,"priority":"normal"},{"id":1,"priority":"last"},{"id":2,"priority":"first"}],
			"work_scheduler":{"monday":{"start":"08:30","end":"12:30"},"friday":{"start":"07:30","end":"21:30"}},
			"notifications":["new_visitor","new_goal","visitor_is_typing"],"email_subscriptions":["weekly_summary"]}`},
		{"the owner's name", ownerA, `{"id":"owner-a@example.com","name":"Owner Renamed"}`, "owner-a@example.com", ""},
		{"--my token updates the requester", tokMyA, `{"id":"agent-a@example.com","name":"Agent A2","max_chats_count":3}`,
			"agent-a@example.com", `{"name":"Agent A2","max_chats_count":3}`},
		{"agents--all:rw updates another agent", tokRwA, `{"id":"smith@example.com","job_title":"Lead"}`,
			"smith@example.com", `{"job_title":"Lead"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newAgentBotEnv(t)
			v.ok(ownerA, "create_agent", smith)
			checkAnswer(t, fmt.Sprintf("update_agent(%s)", tc.body), v.ok(tc.token, "update_agent", tc.body), `{}`)
			var want string
			switch tc.id {
			case "smith@example.com":
				want = patchJSON(t, smithState, tc.want)
			case "agent-a@example.com":
				want = patchJSON(t, agentAState, tc.want)
			default: // the owner: only the name changed
				checkAnswer(t, "get_agent(owner) after update_agent", v.ok(ownerA, "get_agent", `{"id":"owner-a@example.com"}`),
					`{"id":"owner-a@example.com","name":"Owner Renamed","avatar_path":"","role":"owner","login_status":"not accepting chats"}`)
				return
			}
			checkAnswer(t, "get_agent("+tc.id+") after update_agent("+tc.body+")", agentState(v, ownerA, tc.id), want)
		})
	}
}

// TestUpdateAgentRefused covers every refusal of update_agent: validation of each kind of rule
// (and that awaiting_approval, which only create_agent takes, is an unknown field), the owner's
// role, authorization for the my/all and role scopes, not_found for an unknown agent or one of
// another license, and group_not_found.
func TestUpdateAgentRefused(t *testing.T) {
	v := newAgentBotEnv(t)
	v.ok(ownerA, "create_agent", `{"id":"smith@example.com","name":"Agent Smith"}`)
	botID := createdBotID(v, ownerA, `{"name":"Bot"}`)
	cases := []agentBotCase{
		{"id missing", ownerA, `{"name":"X"}`, errValidation, "id"},
		{"id not a string", ownerA, `{"id":1}`, errValidation, "id"},
		{"awaiting_approval is create_agent's", ownerA, `{"id":"smith@example.com","awaiting_approval":false}`, errValidation, "awaiting_approval"},
		{"the owner's role", ownerA, `{"id":"owner-a@example.com","role":"viceowner"}`, errValidation, "role"},

		{"read-only token updates the requester", readonlyA, `{"id":"agent-a@example.com","name":"X"}`, errAuthorization, "agents--my:rw"},
		{"read-only token updates another agent", readonlyA, `{"id":"smith@example.com","name":"X"}`, errAuthorization, "agents--all:rw"},
		{"--my token updates another agent", tokMyA, `{"id":"smith@example.com","name":"X"}`, errAuthorization, "agents--all:rw"},
		{"--my token updates the owner", tokMyA, `{"id":"owner-a@example.com","name":"X"}`, errAuthorization, "agents--all:rw"},
		{"--my token changes the requester's role", tokMyA, `{"id":"agent-a@example.com","role":"administrator"}`,
			errAuthorization, "accounts.roles.lc--all:rw"},
		{"agents--all:rw changes a role", tokRwA, `{"id":"smith@example.com","role":"normal"}`, errAuthorization, "accounts.roles.lc--all:rw"},

		{"unknown agent", ownerA, `{"id":"nobody@example.com","name":"X"}`, errNotFound, "nobody@example.com"},
		{"a bot", ownerA, `{"id":"` + botID + `","name":"X"}`, errNotFound, botID},
		{"agent of another license", ownerB, `{"id":"smith@example.com","name":"X"}`, errNotFound, "smith@example.com"},

		{"unknown group", ownerA, `{"id":"smith@example.com","groups":[{"id":3,"priority":"normal"}]}`, errGroupNotFound, "groups[0].id"},

		// A refusal found late leaves the body's valid changes unmade.
		{"valid changes, then the owner's role", ownerA, `{"id":"owner-a@example.com","name":"X","max_chats_count":1,"role":"viceowner"}`,
			errValidation, "role"},
		{"valid changes, then an unknown group", ownerA, `{"id":"smith@example.com","name":"X","notifications":["ticket"],
			"groups":[{"id":1,"priority":"normal"},{"id":3,"priority":"normal"}]}`, errGroupNotFound, "groups[1].id"},
		{"valid changes, then a duplicate group", ownerA, `{"id":"smith@example.com","name":"X",
			"groups":[{"id":2,"priority":"normal"},{"id":2,"priority":"last"}]}`, errValidation, "groups[1].id"},
	}
	for _, vc := range agentValidationCases {
		cases = append(cases, agentBotCase{vc.name, ownerA, `{"id":"smith@example.com",` + vc.fields + `}`, errValidation, vc.msg})
	}
	runRefusals(t, v, "update_agent", cases)
}

// TestDeleteAgent covers delete_agent: the agent is gone from get_agent, list_agents and its
// groups, other agents stay; a requester with the --my scopes may delete itself, after which its
// tokens no longer authenticate; and the refusals: validation, the owner, authorization for the
// my/all scopes, not_found.
func TestDeleteAgent(t *testing.T) {
	t.Run("deleted", func(t *testing.T) {
		v := newAgentBotEnv(t)
		v.ok(ownerA, "create_agent", `{"id":"smith@example.com","name":"Agent Smith","groups":[{"id":1,"priority":"first"}]}`)
		checkAnswer(t, "delete_agent(smith)", v.ok(ownerA, "delete_agent", `{"id":"smith@example.com"}`), `{}`)
		v.fails(ownerA, "get_agent", `{"id":"smith@example.com"}`, errNotFound)
		v.fails(ownerA, "update_agent", `{"id":"smith@example.com","name":"X"}`, errNotFound)
		v.fails(ownerA, "delete_agent", `{"id":"smith@example.com"}`, errNotFound)
		checkAnswer(t, "list_agents after delete_agent", v.ok(ownerA, "list_agents", `{}`),
			`[{"id":"owner-a@example.com","name":"Owner A","avatar_path":"","role":"owner","login_status":"not accepting chats"},
			  {"id":"agent-a@example.com","name":"Agent A","avatar_path":"","role":"normal","login_status":"not accepting chats"}]`)
		checkAnswer(t, "get_group(1).agent_priorities after delete_agent",
			v.ok(ownerA, "get_group", `{"id":1,"fields":["agent_priorities"]}`).(map[string]any)["agent_priorities"],
			`{"owner-a@example.com":"normal"}`)
		// The id is free again.
		v.ok(ownerA, "create_agent", `{"id":"smith@example.com","name":"Agent Smith II"}`)
		checkAnswer(t, "get_agent after delete and create", agentState(v, ownerA, "smith@example.com"),
			patchJSON(t, newAgentState, `{"id":"smith@example.com","name":"Agent Smith II"}`))
	})

	t.Run("the requester deletes itself", func(t *testing.T) {
		v := newAgentBotEnv(t)
		checkAnswer(t, "delete_agent(self)", v.ok(tokMyA, "delete_agent", `{"id":"agent-a@example.com"}`), `{}`)
		v.fails(ownerA, "get_agent", `{"id":"agent-a@example.com"}`, errNotFound)
		// Every token of the deleted agent stops authenticating.
		v.fails(tokMyA, "get_agent", `{"id":"agent-a@example.com"}`, errAuthentication)
		v.fails(readonlyA, "list_agents", `{}`, errAuthentication)
	})

	v := newAgentBotEnv(t)
	v.ok(ownerA, "create_agent", `{"id":"smith@example.com","name":"Agent Smith"}`)
	botID := createdBotID(v, ownerA, `{"name":"Bot"}`)
	runRefusals(t, v, "delete_agent", []agentBotCase{
		{"id missing", ownerA, `{}`, errValidation, "id"},
		{"id empty", ownerA, `{"id":""}`, errValidation, "id"},
		{"id null: not given, so required", ownerA, `{"id":null}`, errValidation, "id"},
		{"unknown field", ownerA, `{"id":"smith@example.com","force":true}`, errValidation, "force"},
		{"the owner", ownerA, `{"id":"owner-a@example.com"}`, errValidation, "owner"},
		{"read-only token deletes the requester", readonlyA, `{"id":"agent-a@example.com"}`, errAuthorization, "agents--my:rw"},
		{"read-only token deletes another agent", readonlyA, `{"id":"smith@example.com"}`, errAuthorization, "agents--all:rw"},
		{"--my token deletes another agent", tokMyA, `{"id":"smith@example.com"}`, errAuthorization, "agents--all:rw"},
		{"no accounts scope", tokPatA, `{"id":"agent-a@example.com"}`, errAuthorization, "accounts--my:rw"},
		{"unknown agent", ownerA, `{"id":"nobody@example.com"}`, errNotFound, "nobody@example.com"},
		{"a bot", ownerA, `{"id":"` + botID + `"}`, errNotFound, botID},
		{"agent of another license", ownerB, `{"id":"smith@example.com"}`, errNotFound, "smith@example.com"},
	})
}

// TestSuspendApproveAgent covers suspend_agent, unsuspend_agent and approve_agent: the state
// each sets is what get_agent and list_agents show, repeating one is harmless, and each one's
// refusals: validation, authorization for each of its scopes (the private sessions--all:rw and
// subscription.lc:rw included), not_found, and that the owner cannot be suspended.
func TestSuspendApproveAgent(t *testing.T) {
	v := newAgentBotEnv(t)
	v.ok(tokRcA, "create_agent", `{"id":"new@example.com","name":"New"}`) // awaits approval
	status := func(t *testing.T, id, want string) {
		t.Helper()
		got := v.ok(ownerA, "get_agent", `{"id":"`+id+`","fields":["suspended","awaiting_approval"]}`).(map[string]any)
		checkAnswer(t, "get_agent("+id+") suspended, awaiting_approval",
			map[string]any{"suspended": got["suspended"], "awaiting_approval": got["awaiting_approval"]}, want)
		for _, a := range v.ok(readonlyA, "list_agents", `{"fields":["suspended","awaiting_approval"]}`).([]any) {
			if a := a.(map[string]any); a["id"] == id {
				checkAnswer(t, "list_agents "+id+" suspended, awaiting_approval",
					map[string]any{"suspended": a["suspended"], "awaiting_approval": a["awaiting_approval"]}, want)
			}
		}
	}
	status(t, "new@example.com", `{"suspended":false,"awaiting_approval":true}`)
	steps := []struct{ action, id, want string }{
		{"suspend_agent", "new@example.com", `{"suspended":true,"awaiting_approval":true}`},
		{"suspend_agent", "new@example.com", `{"suspended":true,"awaiting_approval":true}`},
		{"approve_agent", "new@example.com", `{"suspended":true,"awaiting_approval":false}`},
		{"approve_agent", "new@example.com", `{"suspended":true,"awaiting_approval":false}`},
		{"unsuspend_agent", "new@example.com", `{"suspended":false,"awaiting_approval":false}`},
		{"unsuspend_agent", "new@example.com", `{"suspended":false,"awaiting_approval":false}`},
		{"suspend_agent", "agent-a@example.com", `{"suspended":true,"awaiting_approval":false}`},
		{"approve_agent", "owner-a@example.com", `{"suspended":false,"awaiting_approval":false}`},
		{"unsuspend_agent", "owner-a@example.com", `{"suspended":false,"awaiting_approval":false}`},
	}
	for _, s := range steps {
		body := `{"id":"` + s.id + `"}`
		checkAnswer(t, s.action+"("+body+")", v.ok(ownerA, s.action, body), `{}`)
		status(t, s.id, s.want)
	}
	// The other agents are untouched.
	status(t, "new@example.com", `{"suspended":false,"awaiting_approval":false}`)

	scopes := map[string][]string{
		"suspend_agent":   {"agents--all:rw", "sessions--all:rw"},
		"unsuspend_agent": {"agents--all:rw", "accounts--all:rw", "subscription.lc:rw"},
		"approve_agent":   {"agents--all:rw", "accounts--all:rw", "subscription.lc:rw"},
	}
	for _, action := range []string{"suspend_agent", "unsuspend_agent", "approve_agent"} {
		t.Run(action, func(t *testing.T) {
			cases := []agentBotCase{
				{"id missing", ownerA, `{}`, errValidation, "id"},
				{"id empty", ownerA, `{"id":""}`, errValidation, "id"},
				{"id not a string", ownerA, `{"id":true}`, errValidation, "id"},
				{"unknown field", ownerA, `{"id":"new@example.com","reason":"x"}`, errValidation, "reason"},
				{"body an array", ownerA, `["new@example.com"]`, errValidation, "object"},
				{"read-only token", readonlyA, `{"id":"new@example.com"}`, errAuthorization, "agents--all:rw"},
				{"--my token on the requester", tokMyA, `{"id":"agent-a@example.com"}`, errAuthorization, "agents--all:rw"},
				// tokRwA has agents--all:rw and accounts--all:rw, but none of the private scopes.
				{"without the private scope", tokRwA, `{"id":"new@example.com"}`, errAuthorization, scopes[action][len(scopes[action])-1]},
				{"unknown agent", ownerA, `{"id":"nobody@example.com"}`, errNotFound, "nobody@example.com"},
				{"agent of another license", ownerB, `{"id":"new@example.com"}`, errNotFound, "new@example.com"},
			}
			if action == "suspend_agent" {
				cases = append(cases,
					agentBotCase{"the owner", ownerA, `{"id":"owner-a@example.com"}`, errValidation, "owner"},
					agentBotCase{"the owner of another license", ownerB, `{"id":"owner-b@example.com"}`, errValidation, "owner"})
			}
			runRefusals(t, inSubtest(v, t), action, cases)
		})
	}
}

// TestRequestAgentUnsuspension covers request_agent_unsuspension: any token may send it, with
// an empty body or {}, and it changes nothing; a body with any field is refused.
func TestRequestAgentUnsuspension(t *testing.T) {
	v := newAgentBotEnv(t)
	v.ok(ownerA, "suspend_agent", `{"id":"agent-a@example.com"}`)
	for _, tc := range []struct{ name, token, body string }{
		{"suspended agent's read-only token", readonlyA, `{}`},
		{"token without scopes for it", tokPatA, `{}`},
		{"empty body", readonlyA, ``},
		{"owner", ownerA, `{}`},
		{"another license", ownerB, `{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := inSubtest(v, t)
			before := v.e.Snapshot()
			checkAnswer(t, "request_agent_unsuspension("+tc.body+")", v.ok(tc.token, "request_agent_unsuspension", tc.body), `{}`)
			if after := v.e.Snapshot(); string(before) != string(after) {
				t.Errorf("request_agent_unsuspension changed the state:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
	runRefusals(t, v, "request_agent_unsuspension", []agentBotCase{
		{"unknown field", readonlyA, `{"id":"agent-a@example.com"}`, errValidation, "id"},
		{"body an array", readonlyA, `[]`, errValidation, "object"},
		{"body a string", readonlyA, `"please"`, errValidation, "object"},
	})
}

// TestAgentGroupsAgreeWithGroups checks that an agent's groups and the groups' agent_priorities
// are one record, whichever side changes: create_agent, update_agent, create_group,
// update_group, delete_group and delete_agent.
func TestAgentGroupsAgreeWithGroups(t *testing.T) {
	v := newAgentBotEnv(t)
	groupsOf := func(id, want string) {
		t.Helper()
		got := v.ok(ownerA, "get_agent", `{"id":"`+id+`","fields":["groups"]}`).(map[string]any)["groups"]
		checkAnswer(t, "get_agent("+id+").groups", got, want)
	}
	membersOf := func(group, want string) {
		t.Helper()
		got := v.ok(ownerA, "get_group", `{"id":`+group+`,"fields":["agent_priorities"]}`).(map[string]any)["agent_priorities"]
		checkAnswer(t, "get_group("+group+").agent_priorities", got, want)
	}

	v.ok(ownerA, "create_agent", `{"id":"smith@example.com","name":"Agent Smith","groups":[{"id":1,"priority":"first"},{"id":2,"priority":"supervisor"}]}`)
	groupsOf("smith@example.com", `[{"id":1,"priority":"first"},{"id":2,"priority":"supervisor"}]`)
	membersOf("0", `{"owner-a@example.com":"normal","agent-a@example.com":"normal"}`)
	membersOf("1", `{"owner-a@example.com":"normal","smith@example.com":"first"}`)
	membersOf("2", `{"owner-a@example.com":"normal","smith@example.com":"supervisor"}`)

	v.ok(ownerA, "update_agent", `{"id":"smith@example.com","groups":[{"id":0,"priority":"last"},{"id":2,"priority":"normal"}]}`)
	groupsOf("smith@example.com", `[{"id":0,"priority":"last"},{"id":2,"priority":"normal"}]`)
	membersOf("0", `{"owner-a@example.com":"normal","agent-a@example.com":"normal","smith@example.com":"last"}`)
	membersOf("1", `{"owner-a@example.com":"normal"}`)
	membersOf("2", `{"owner-a@example.com":"normal","smith@example.com":"normal"}`)

	v.ok(ownerA, "create_group", `{"name":"Billing","agent_priorities":{"smith@example.com":"normal","agent-a@example.com":"first"}}`)
	groupsOf("smith@example.com", `[{"id":0,"priority":"last"},{"id":2,"priority":"normal"},{"id":3,"priority":"normal"}]`)
	groupsOf("agent-a@example.com", `[{"id":0,"priority":"normal"},{"id":3,"priority":"first"}]`)

	v.ok(ownerA, "update_group", `{"id":2,"agent_priorities":{"owner-a@example.com":"normal"}}`)
	groupsOf("smith@example.com", `[{"id":0,"priority":"last"},{"id":3,"priority":"normal"}]`)

	v.ok(ownerA, "delete_group", `{"id":3}`)
	groupsOf("smith@example.com", `[{"id":0,"priority":"last"}]`)
	groupsOf("agent-a@example.com", `[{"id":0,"priority":"normal"}]`)
	checkAnswer(t, "list_agents in group 2", v.ok(ownerA, "list_agents", `{"filters":{"group_ids":[2]}}`),
		`[{"id":"owner-a@example.com","name":"Owner A","avatar_path":"","role":"owner","login_status":"not accepting chats"}]`)

	v.ok(ownerA, "delete_agent", `{"id":"smith@example.com"}`)
	membersOf("0", `{"owner-a@example.com":"normal","agent-a@example.com":"normal"}`)
}

// TestAgentActionsAuthentication checks that every agent action refuses a call without a token
// or with an unknown one, with authentication, before looking at the body.
func TestAgentActionsAuthentication(t *testing.T) {
	v := newAgentBotEnv(t)
	bodies := map[string]string{
		"create_agent":               `{"id":"new@example.com","name":"New"}`,
		"get_agent":                  `{"id":"agent-a@example.com"}`,
		"list_agents":                `{}`,
		"update_agent":               `{"id":"agent-a@example.com","name":"X"}`,
		"delete_agent":               `{"id":"agent-a@example.com"}`,
		"suspend_agent":              `{"id":"agent-a@example.com"}`,
		"unsuspend_agent":            `{"id":"agent-a@example.com"}`,
		"request_agent_unsuspension": `{}`,
		"approve_agent":              `{"id":"agent-a@example.com"}`,
	}
	for _, action := range sortedKeys(bodies) {
		for _, tok := range []struct{ name, token string }{{"no token", ""}, {"unknown token", "dal:nobody"}} {
			t.Run(action+"/"+tok.name, func(t *testing.T) {
				v := inSubtest(v, t)
				v.fails(tok.token, action, bodies[action], errAuthentication)
				v.fails(tok.token, action, `{"invalid":`, errAuthentication)
			})
		}
	}
}
