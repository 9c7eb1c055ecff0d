package emulator

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// botIDPattern is the shape of the upstream's bot ids, such as 5c9871d5372c824cbf22d860a707a578.
var botIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// createdBotID calls create_bot, checks the answer's shape and returns the new bot's id.
func createdBotID(v *env, token, body string) string {
	v.t.Helper()
	got, ok := v.ok(token, "create_bot", body).(map[string]any)
	id, _ := got["bot_agent_id"].(string)
	if !ok || len(got) != 1 || !botIDPattern.MatchString(id) {
		v.t.Fatalf("create_bot(%s) = %s, want {\"bot_agent_id\": <32 hex digits>}", body, compactJSON(got))
	}
	return id
}

// botState returns get_bot's answer for id, as ownerA sees it.
func botState(v *env, id string) any {
	v.t.Helper()
	return v.ok(ownerA, "get_bot", `{"bot_agent_id":"`+id+`"}`)
}

// newBotState is get_bot's bot_agent for a bot created with only a name by the application
// clientID; tests patch it with patchJSON.
func newBotState(id, clientID string) string {
	return `{"id":"` + id + `","name":"Bot","avatar":"","status":"not accepting chats",
		"application":{"client_id":"` + clientID + `"},"max_chats_count":6,"groups":[{"id":0,"priority":"normal"}]}`
}

// specBotWebhooks is the webhooks object of get_bot's example in the spec.
const specBotWebhooks = `{"url":"http://myservice.com/webhooks","secret_key":"JSauw0Aks8l-asAa","actions":[
	{"name":"incoming_chat","filters":{"chat_properties":{"source":{"type":{"values":["facebook","twitter"]}}}}},
	{"name":"incoming_event","additional_data":["chat_properties"]}]}`

// TestCreateBot covers create_bot's successes: the answer (a new 32-hex-digit id each time), the
// defaults, every field stored and shown by get_bot, the limits' edges, the default group and
// its priority, and the owning application of bots created by each kind of token.
func TestCreateBot(t *testing.T) {
	tests := []struct {
		name, token, body string
		clientID          string
		want              string // patched over newBotState
	}{
		{"only the name", ownerA, `{"name":"Bot"}`, nsA, `{}`},
		{"spec example", ownerA, `{"name":"Bot Name"}`, nsA, `{"name":"Bot Name"}`},
		{"every field", ownerA, `{"name":"Full Bot","avatar":"https://example.com/bot.png","max_chats_count":500,
			"default_group_priority":"last","job_title":"Greeter",
			"groups":[{"id":1,"priority":"first"},{"id":0,"priority":"supervisor"}],
			"webhooks":` + specBotWebhooks + `,"work_scheduler":{"friday":{"start":"07:30","end":"21:30"}}}`, nsA,
			`{"name":"Full Bot","avatar":"https://example.com/bot.png","max_chats_count":500,
			"default_group_priority":"last","job_title":"Greeter",
			"groups":[{"id":0,"priority":"supervisor"},{"id":1,"priority":"first"}],
			"webhooks":` + specBotWebhooks + `,"work_scheduler":{"friday":{"start":"07:30","end":"21:30"}}}`},
		{"max_chats_count 0", ownerA, `{"name":"Bot","max_chats_count":0}`, nsA, `{"max_chats_count":0}`},
		{"max_chats_count 101, over the agents' limit", ownerA, `{"name":"Bot","max_chats_count":101}`, nsA, `{"max_chats_count":101}`},
		{"default_group_priority is the General group's", ownerA, `{"name":"Bot","default_group_priority":"first"}`, nsA,
			`{"default_group_priority":"first","groups":[{"id":0,"priority":"first"}]}`},
		{"default_group_priority with groups", ownerA,
			`{"name":"Bot","default_group_priority":"supervisor","groups":[{"id":2,"priority":"last"}]}`, nsA,
			`{"default_group_priority":"supervisor","groups":[{"id":2,"priority":"last"}]}`},
		{"no groups", ownerA, `{"name":"Bot","groups":[]}`, nsA, `{"groups":[]}`},
		{"empty avatar and job_title", ownerA, `{"name":"Bot","avatar":"","job_title":""}`, nsA, `{}`},
		{"https webhook without actions' options", ownerA,
			`{"name":"Bot","webhooks":{"url":"https://example.com/h?x=1","secret_key":"s","actions":[{"name":"customer_created"}]}}`, nsA,
			`{"webhooks":{"url":"https://example.com/h?x=1","secret_key":"s","actions":[{"name":"customer_created"}]}}`},
		{"--my token", tokMyA, `{"name":"Bot"}`, "client-ab-my-a", `{}`},
		{"personal access token", tokPatA, `{"name":"Bot"}`, "client-ab-pat-a", `{}`},
		{"another license", ownerB, `{"name":"Bot"}`, "client-owner-b", `{}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newAgentBotEnv(t)
			id := createdBotID(v, tc.token, tc.body)
			got := v.ok(tc.token, "get_bot", `{"bot_agent_id":"`+id+`"}`)
			checkAnswer(t, "get_bot after create_bot("+tc.body+")", got,
				`{"bot_agent":`+patchJSON(t, newBotState(id, tc.clientID), tc.want)+`}`)
		})
	}

	t.Run("ids differ", func(t *testing.T) {
		v := newAgentBotEnv(t)
		seen := map[string]bool{}
		for i := range 20 {
			id := createdBotID(v, ownerA, `{"name":"Bot"}`)
			if seen[id] {
				t.Fatalf("create_bot #%d = %s, an id it gave before", i, id)
			}
			seen[id] = true
		}
	})
}

// TestBotAllowedValues checks that create_bot and update_bot accept every value of each list
// the spec allows (groups[].priority, default_group_priority, work_scheduler's days) and that
// get_bot shows it.
func TestBotAllowedValues(t *testing.T) {
	var values []struct{ field, json, view string }
	add := func(field, json, view string) {
		values = append(values, struct{ field, json, view string }{field, json, view})
	}
	for _, p := range specPriorities {
		g := `[{"id":1,"priority":"` + p + `"}]`
		add("groups", g, `{"groups":`+g+`}`)
		add("default_group_priority", `"`+p+`"`, `{"default_group_priority":"`+p+`"}`)
	}
	for _, d := range specDays {
		ws := `{"` + d + `":{"start":"00:00","end":"23:59"}}`
		add("work_scheduler", ws, `{"work_scheduler":`+ws+`}`)
	}
	v := newAgentBotEnv(t)
	for _, val := range values {
		t.Run(val.field+"="+val.json, func(t *testing.T) {
			v := inSubtest(v, t)
			// update_bot's default_group_priority does not move the bot in group 0, so its view is
			// the created bot's with only the field changed.
			id := createdBotID(v, ownerA, `{"name":"Bot"}`)
			body := `{"id":"` + id + `","` + val.field + `":` + val.json + `}`
			v.ok(ownerA, "update_bot", body)
			checkAnswer(t, "get_bot after update_bot("+body+")", botState(v, id),
				`{"bot_agent":`+patchJSON(t, newBotState(id, nsA), val.view)+`}`)

			body = `{"name":"Bot","` + val.field + `":` + val.json + `}`
			id = createdBotID(v, ownerA, body)
			want := val.view
			if val.field == "default_group_priority" { // a new bot joins group 0 with it
				p := answerJSON(t, val.json).(string)
				want = patchJSON(t, want, `{"groups":[{"id":0,"priority":"`+p+`"}]}`)
			}
			checkAnswer(t, "get_bot after create_bot("+body+")", botState(v, id),
				`{"bot_agent":`+patchJSON(t, newBotState(id, nsA), want)+`}`)
		})
	}
}

// botFilterExamples is a valid value of each filter.
var botFilterExamples = map[string]string{
	"chat_member_ids": `{"agents_any":["agent-a@example.com"]}`,
	"author_type":     `"customer"`,
	"only_my_chats":   `true`,
	"agent_ids":       `["agent-a@example.com"]`,
	"chat_properties": `{"source":{"type":{"values":["facebook"]}}}`,
}

// TestBotWebhookFilters checks, for every triggering action of the spec's table, that a bot's
// webhook accepts exactly the filters the table lists for it (and chat_properties, which
// get_bot's example uses, with the chat actions, those that have only_my_chats), and
// additional_data for every action but agent_deleted and customer_created. An accepted webhook
// is shown by get_bot as sent.
func TestBotWebhookFilters(t *testing.T) {
	v := newAgentBotEnv(t)
	for _, action := range sortedKeys(specTriggeringActions) {
		allowed := specTriggeringActions[action]
		if slices.Contains(allowed, "only_my_chats") {
			allowed = append(slices.Clone(allowed), "chat_properties")
		}
		for _, filter := range sortedKeys(botFilterExamples) {
			t.Run(action+"/"+filter, func(t *testing.T) {
				v := inSubtest(v, t)
				hooks := `{"url":"https://example.com/hooks","secret_key":"s","actions":[{"name":"` + action +
					`","filters":{"` + filter + `":` + botFilterExamples[filter] + `}}]}`
				body := `{"name":"Bot","webhooks":` + hooks + `}`
				if !slices.Contains(allowed, filter) {
					r := v.fails(ownerA, "create_bot", body, errValidation)
					if want := "webhooks.actions[0].filters." + filter; !strings.Contains(string(r.body), want) {
						t.Errorf("create_bot(%s) = %s, want a message naming %s", body, r.body, want)
					}
					return
				}
				id := createdBotID(v, ownerA, body)
				got := botState(v, id).(map[string]any)["bot_agent"].(map[string]any)["webhooks"]
				checkAnswer(t, "get_bot webhooks after create_bot("+body+")", got, hooks)
			})
		}
		t.Run(action+"/additional_data", func(t *testing.T) {
			v := inSubtest(v, t)
			body := `{"name":"Bot","webhooks":{"url":"https://example.com/hooks","secret_key":"s","actions":[{"name":"` +
				action + `","additional_data":["chat_properties"]}]}}`
			if action == "agent_deleted" || action == "customer_created" {
				v.fails(ownerA, "create_bot", body, errValidation)
				return
			}
			createdBotID(v, ownerA, body)
		})
	}
	// Several actions, each with its own filters, in one webhooks object.
	createdBotID(v, ownerA, `{"name":"Bot","webhooks":{"url":"http://example.com","secret_key":"s","actions":[
		{"name":"incoming_event","filters":{"author_type":"agent","only_my_chats":false,"chat_member_ids":{"agents_exclude":["x"]}},
		 "additional_data":["chat_properties"]},
		{"name":"agent_deleted","filters":{"agent_ids":["a","b"]}},
		{"name":"routing_status_set","filters":{},"additional_data":[]}]}}`)
}

// botValidationCases are the validation refusals that create_bot and update_bot share, one per
// kind of rule, as body fields besides name and id. Each names the field the message must name.
var botValidationCases = []struct{ name, fields, msg string }{
	{"unknown field", `"status":"accepting chats"`, "status"},
	{"avatar not a string", `"avatar":1`, "avatar"},
	{"max_chats_count over 500", `"max_chats_count":501`, "max_chats_count"},
	{"max_chats_count negative", `"max_chats_count":-1`, "max_chats_count"},
	{"max_chats_count fraction", `"max_chats_count":2.5`, "max_chats_count"},
	{"max_chats_count a string", `"max_chats_count":"6"`, "max_chats_count"},
	{"default_group_priority not allowed", `"default_group_priority":"high"`, "default_group_priority"},
	{"default_group_priority not a string", `"default_group_priority":1`, "default_group_priority"},
	{"groups not an array", `"groups":{}`, "groups"},
	{"groups[].id missing", `"groups":[{"priority":"first"}]`, "groups[0].id"},
	{"groups[].priority missing", `"groups":[{"id":1}]`, "groups[0].priority"},
	{"groups[].id negative", `"groups":[{"id":-1,"priority":"first"}]`, "groups[0].id"},
	{"groups[].priority not allowed", `"groups":[{"id":1,"priority":"bot"}]`, "groups[0].priority"},
	{"groups duplicate", `"groups":[{"id":0,"priority":"first"},{"id":1,"priority":"first"},{"id":0,"priority":"last"}]`, "groups[2].id"},
	{"work_scheduler key not a day", `"work_scheduler":{"holiday":{"start":"08:00","end":"16:00"}}`, "work_scheduler.holiday"},
	{"work_scheduler time not HH:MM", `"work_scheduler":{"monday":{"start":"08:00","end":"4pm"}}`, "work_scheduler.monday.end"},
	{"work_scheduler end missing", `"work_scheduler":{"monday":{"start":"08:00"}}`, "work_scheduler.monday.end"},
	{"webhooks not an object", `"webhooks":[]`, "webhooks"},
	{"webhooks.url missing", `"webhooks":{"secret_key":"s","actions":[]}`, "webhooks.url"},
	{"webhooks.url relative", `"webhooks":{"url":"/hooks","secret_key":"s","actions":[]}`, "webhooks.url"},
	{"webhooks.url not http", `"webhooks":{"url":"ftp://example.com/hooks","secret_key":"s","actions":[]}`, "webhooks.url"},
	{"webhooks.url without host", `"webhooks":{"url":"https://","secret_key":"s","actions":[]}`, "webhooks.url"},
	{"webhooks.secret_key missing", `"webhooks":{"url":"https://example.com","actions":[]}`, "webhooks.secret_key"},
	{"webhooks.secret_key empty", `"webhooks":{"url":"https://example.com","secret_key":"","actions":[]}`, "webhooks.secret_key"},
	{"webhooks.actions missing", `"webhooks":{"url":"https://example.com","secret_key":"s"}`, "webhooks.actions"},
	{"webhooks.actions not an array", `"webhooks":{"url":"https://example.com","secret_key":"s","actions":{"name":"incoming_chat"}}`, "webhooks.actions"},
	{"webhooks unknown field", `"webhooks":{"url":"https://example.com","secret_key":"s","actions":[],"description":"d"}`, "webhooks.description"},
	{"action name missing", `"webhooks":{"url":"https://example.com","secret_key":"s","actions":[{"filters":{}}]}`, "webhooks.actions[0].name"},
	{"action name unknown", `"webhooks":{"url":"https://example.com","secret_key":"s","actions":[{"name":"chat_started"}]}`, "webhooks.actions[0].name"},
	{"action agent_status_changed is not v3.2's", `"webhooks":{"url":"https://example.com","secret_key":"s","actions":[{"name":"agent_status_changed"}]}`, "webhooks.actions[0].name"},
	{"action unknown field", `"webhooks":{"url":"https://example.com","secret_key":"s","actions":[{"name":"incoming_chat","url":"https://x.com"}]}`, "webhooks.actions[0].url"},
	{"actions not unique", `"webhooks":{"url":"https://example.com","secret_key":"s","actions":[{"name":"incoming_chat"},{"name":"incoming_event"},{"name":"incoming_chat","filters":{"only_my_chats":true}}]}`, "webhooks.actions[2].name"},
	{"filters not an object", `"webhooks":{"url":"https://example.com","secret_key":"s","actions":[{"name":"incoming_chat","filters":[]}]}`, "webhooks.actions[0].filters"},
	{"filter unknown", `"webhooks":{"url":"https://example.com","secret_key":"s","actions":[{"name":"incoming_chat","filters":{"source":"facebook"}}]}`, "webhooks.actions[0].filters.source"},
	{"filter not for the action", `"webhooks":{"url":"https://example.com","secret_key":"s","actions":[{"name":"incoming_chat","filters":{"author_type":"agent"}}]}`, "webhooks.actions[0].filters.author_type"},
	{"author_type not allowed", `"webhooks":{"url":"https://example.com","secret_key":"s","actions":[{"name":"incoming_event","filters":{"author_type":"bot"}}]}`, "webhooks.actions[0].filters.author_type"},
	{"only_my_chats not a boolean", `"webhooks":{"url":"https://example.com","secret_key":"s","actions":[{"name":"incoming_event","filters":{"only_my_chats":"yes"}}]}`, "webhooks.actions[0].filters.only_my_chats"},
	{"chat_member_ids with both filters", `"webhooks":{"url":"https://example.com","secret_key":"s","actions":[{"name":"incoming_chat","filters":{"chat_member_ids":{"agents_any":["a"],"agents_exclude":["b"]}}}]}`, "webhooks.actions[0].filters.chat_member_ids"},
	{"chat_member_ids empty", `"webhooks":{"url":"https://example.com","secret_key":"s","actions":[{"name":"incoming_chat","filters":{"chat_member_ids":{}}}]}`, "webhooks.actions[0].filters.chat_member_ids"},
	{"chat_member_ids unknown key", `"webhooks":{"url":"https://example.com","secret_key":"s","actions":[{"name":"incoming_chat","filters":{"chat_member_ids":{"agents_all":["a"]}}}]}`, "webhooks.actions[0].filters.chat_member_ids.agents_all"},
	{"agents_any not an array", `"webhooks":{"url":"https://example.com","secret_key":"s","actions":[{"name":"incoming_chat","filters":{"chat_member_ids":{"agents_any":"a"}}}]}`, "webhooks.actions[0].filters.chat_member_ids.agents_any"},
	{"agents_any empty id", `"webhooks":{"url":"https://example.com","secret_key":"s","actions":[{"name":"incoming_chat","filters":{"chat_member_ids":{"agents_any":[""]}}}]}`, "webhooks.actions[0].filters.chat_member_ids.agents_any[0]"},
	{"agents_exclude duplicate", `"webhooks":{"url":"https://example.com","secret_key":"s","actions":[{"name":"incoming_chat","filters":{"chat_member_ids":{"agents_exclude":["a","a"]}}}]}`, "webhooks.actions[0].filters.chat_member_ids.agents_exclude[1]"},
	{"agent_ids empty id", `"webhooks":{"url":"https://example.com","secret_key":"s","actions":[{"name":"agent_deleted","filters":{"agent_ids":[""]}}]}`, "webhooks.actions[0].filters.agent_ids[0]"},
	{"chat_properties not for agent_deleted", `"webhooks":{"url":"https://example.com","secret_key":"s","actions":[{"name":"agent_deleted","filters":{"chat_properties":{}}}]}`, "webhooks.actions[0].filters.chat_properties"},
	{"additional_data not for customer_created", `"webhooks":{"url":"https://example.com","secret_key":"s","actions":[{"name":"customer_created","additional_data":["chat_properties"]}]}`, "webhooks.actions[0].additional_data"},
	{"additional_data value not allowed", `"webhooks":{"url":"https://example.com","secret_key":"s","actions":[{"name":"incoming_chat","additional_data":["group_properties"]}]}`, "webhooks.actions[0].additional_data[0]"},
	{"additional_data duplicate", `"webhooks":{"url":"https://example.com","secret_key":"s","actions":[{"name":"incoming_chat","additional_data":["chat_properties","chat_properties"]}]}`, "webhooks.actions[0].additional_data[1]"},
}

// TestCreateBotRefused covers every refusal of create_bot: validation of each kind of rule
// (webhooks' action uniqueness and per-action filters included), authorization without
// agents-bot--my:rw, group_not_found, and that none of them changes anything.
func TestCreateBotRefused(t *testing.T) {
	v := newAgentBotEnv(t)
	cases := []agentBotCase{
		{"body not JSON", ownerA, `{"name":"Bot"`, errValidation, "JSON"},
		{"body an array", ownerA, `[{"name":"Bot"}]`, errValidation, "object"},
		{"name missing", ownerA, `{}`, errValidation, "name"},
		{"name empty", ownerA, `{"name":""}`, errValidation, "name"},
		{"name not a string", ownerA, `{"name":["Bot"]}`, errValidation, "name"},
		{"name null", ownerA, `{"name":null}`, errValidation, "name"},
		{"id is not create_bot's", ownerA, `{"name":"Bot","id":"5c9871d5372c824cbf22d860a707a578"}`, errValidation, "id"},
		{"job_title not a string", ownerA, `{"name":"Bot","job_title":false}`, errValidation, "job_title"},

		{"read-only token", readonlyA, `{"name":"Bot"}`, errAuthorization, "agents-bot--my:rw"},
		{"no bot scope", tokRcA, `{"name":"Bot"}`, errAuthorization, "agents-bot--my:rw"},

		{"unknown group", ownerA, `{"name":"Bot","groups":[{"id":1,"priority":"first"},{"id":7,"priority":"first"}]}`, errGroupNotFound, "groups[1].id"},
		{"group of another license", ownerB, `{"name":"Bot","groups":[{"id":2,"priority":"first"}]}`, errGroupNotFound, "groups[0].id"},
		{"valid webhooks, then an unknown group", ownerA, `{"name":"Bot","webhooks":` + specBotWebhooks + `,"groups":[{"id":7,"priority":"first"}]}`,
			errGroupNotFound, "groups[0].id"},
	}
	for _, vc := range botValidationCases {
		cases = append(cases, agentBotCase{vc.name, ownerA, `{"name":"Bot",` + vc.fields + `}`, errValidation, vc.msg})
	}
	runRefusals(t, v, "create_bot", cases)
}

// TestUpdateBot covers update_bot's successes: each field changed alone leaves the others as
// they were (checked with get_bot), groups and webhooks are replaced as a whole, and who may
// update which bot: its own application with agents-bot--my:rw, any PAT for a PAT's bot, and
// agents-bot--all:rw any bot.
func TestUpdateBot(t *testing.T) {
	const full = `{"name":"Full Bot","avatar":"https://example.com/bot.png","max_chats_count":10,
		"default_group_priority":"last","job_title":"Greeter","groups":[{"id":1,"priority":"first"}],
		"webhooks":` + specBotWebhooks + `,"work_scheduler":{"friday":{"start":"07:30","end":"21:30"}}}`
	// fullState is the bot created with full, as get_bot shows it; $ID and $CLIENT are replaced.
	const fullState = `{"id":"$ID","name":"Full Bot","avatar":"https://example.com/bot.png","status":"not accepting chats",
		"application":{"client_id":"$CLIENT"},"max_chats_count":10,"default_group_priority":"last","job_title":"Greeter",
		"groups":[{"id":1,"priority":"first"}],"webhooks":` + specBotWebhooks + `,
		"work_scheduler":{"friday":{"start":"07:30","end":"21:30"}}}`
	const hooks = `{"url":"https://example.com/new","secret_key":"new","actions":[{"name":"agent_deleted","filters":{"agent_ids":["agent-a@example.com"]}}]}`
	tests := []struct {
		name            string
		creator, token  string // who creates the bot, and who updates it
		clientID        string // the creator's application
		fields, changed string // update_bot's body without the id, and what changes (patched over fullState)
	}{
		{"nothing but the id", ownerA, ownerA, nsA, ``, `{}`},
		{"name", ownerA, ownerA, nsA, `"name":"Renamed"`, `{"name":"Renamed"}`},
		{"avatar", ownerA, ownerA, nsA, `"avatar":"https://example.com/new.png"`, `{"avatar":"https://example.com/new.png"}`},
		{"max_chats_count 500", ownerA, ownerA, nsA, `"max_chats_count":500`, `{"max_chats_count":500}`},
		{"max_chats_count 0", ownerA, ownerA, nsA, `"max_chats_count":0`, `{"max_chats_count":0}`},
		{"default_group_priority", ownerA, ownerA, nsA, `"default_group_priority":"first"`, `{"default_group_priority":"first"}`},
		{"groups replaced", ownerA, ownerA, nsA, `"groups":[{"id":2,"priority":"normal"},{"id":0,"priority":"last"}]`,
			`{"groups":[{"id":0,"priority":"last"},{"id":2,"priority":"normal"}]}`},
		{"groups emptied", ownerA, ownerA, nsA, `"groups":[]`, `{"groups":[]}`},
		{"webhooks replaced", ownerA, ownerA, nsA, `"webhooks":` + hooks, `{"webhooks":` + hooks + `}`},
		{"work_scheduler replaced", ownerA, ownerA, nsA, `"work_scheduler":{"monday":{"start":"09:00","end":"17:00"}}`,
			`{"work_scheduler":{"monday":{"start":"09:00","end":"17:00"}}}`},
		{"spec example", ownerA, ownerA, nsA, `"name":"New Bot Name"`, `{"name":"New Bot Name"}`},
		{"--my token, its own bot", tokMyA, tokMyA, "client-ab-my-a", `"name":"Mine"`, `{"name":"Mine"}`},
		{"agents-bot--all:rw, another application's bot", tokMyA, ownerA, "client-ab-my-a", `"name":"Theirs"`, `{"name":"Theirs"}`},
		{"a PAT, another agent's PAT bot", tokPatOwnerA, tokPatA, "client-ab-pat-owner-a", `"name":"Shared"`, `{"name":"Shared"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newAgentBotEnv(t)
			id := createdBotID(v, tc.creator, full)
			body := `{"id":"` + id + `"}`
			if tc.fields != "" {
				body = `{"id":"` + id + `",` + tc.fields + `}`
			}
			checkAnswer(t, fmt.Sprintf("update_bot(%s)", body), v.ok(tc.token, "update_bot", body), `{}`)
			state := strings.NewReplacer("$ID", id, "$CLIENT", tc.clientID).Replace(fullState)
			checkAnswer(t, "get_bot after update_bot("+body+")", botState(v, id),
				`{"bot_agent":`+patchJSON(t, state, tc.changed)+`}`)
		})
	}
}

// TestUpdateBotRefused covers every refusal of update_bot: validation of each kind of rule (and
// job_title and bot_agent_id, which are not update_bot's fields), authorization for the my/all
// scopes and the PAT rule, not_found for an unknown bot, an agent or another license's bot, and
// group_not_found.
func TestUpdateBotRefused(t *testing.T) {
	v := newAgentBotEnv(t)
	own := createdBotID(v, ownerA, `{"name":"Bot"}`)
	mine := createdBotID(v, tokMyA, `{"name":"Mine"}`)
	other := createdBotID(v, ownerB, `{"name":"Other"}`)
	cases := []agentBotCase{
		{"id missing", ownerA, `{"name":"X"}`, errValidation, "id"},
		{"id not a string", ownerA, `{"id":5}`, errValidation, "id"},
		{"bot_agent_id is not update_bot's", ownerA, `{"id":"` + own + `","bot_agent_id":"` + own + `"}`, errValidation, "bot_agent_id"},
		{"job_title is not update_bot's", ownerA, `{"id":"` + own + `","job_title":"Greeter"}`, errValidation, "job_title"},
		{"name empty", ownerA, `{"id":"` + own + `","name":""}`, errValidation, "name"},

		{"read-only token", readonlyA, `{"id":"` + own + `","name":"X"}`, errAuthorization, "agents-bot--my:rw"},
		{"no bot scope", tokRcA, `{"id":"` + mine + `","name":"X"}`, errAuthorization, "agents-bot--my:rw"},
		{"--my token, another application's bot", tokMyA, `{"id":"` + own + `","name":"X"}`, errAuthorization, "agents-bot--all:rw"},
		{"PAT, an application's bot", tokPatA, `{"id":"` + own + `","name":"X"}`, errAuthorization, "agents-bot--all:rw"},

		{"unknown bot", ownerA, `{"id":"00000000000000000000000000000000","name":"X"}`, errNotFound, "00000000000000000000000000000000"},
		{"an agent", ownerA, `{"id":"agent-a@example.com","name":"X"}`, errNotFound, "agent-a@example.com"},
		{"bot of another license", ownerA, `{"id":"` + other + `","name":"X"}`, errNotFound, other},
		{"another license's owner", ownerB, `{"id":"` + own + `","name":"X"}`, errNotFound, own},

		{"unknown group", ownerA, `{"id":"` + own + `","groups":[{"id":3,"priority":"first"}]}`, errGroupNotFound, "groups[0].id"},

		// A refusal found late leaves the body's valid changes unmade.
		{"valid changes, then actions not unique", ownerA, `{"id":"` + own + `","name":"X","max_chats_count":1,"webhooks":{"url":"https://example.com",
			"secret_key":"s","actions":[{"name":"incoming_chat"},{"name":"incoming_chat"}]}}`, errValidation, "webhooks.actions[1].name"},
		{"valid changes, then a filter not for the action", ownerA, `{"id":"` + own + `","name":"X","webhooks":{"url":"https://example.com",
			"secret_key":"s","actions":[{"name":"routing_status_set","filters":{"only_my_chats":true}}]}}`, errValidation, "webhooks.actions[0].filters.only_my_chats"},
		{"valid changes and webhooks, then an unknown group", ownerA, `{"id":"` + own + `","name":"X","webhooks":` + specBotWebhooks + `,
			"groups":[{"id":0,"priority":"first"},{"id":3,"priority":"first"}]}`, errGroupNotFound, "groups[1].id"},
	}
	for _, vc := range botValidationCases {
		cases = append(cases, agentBotCase{vc.name, ownerA, `{"id":"` + own + `",` + vc.fields + `}`, errValidation, vc.msg})
	}
	runRefusals(t, v, "update_bot", cases)
}

// TestGetBot covers get_bot: the spec example's shape with every field, who may read which bot
// (agents-bot--my:ro its own application's or, for a PAT, any PAT's; agents-bot--all:ro any),
// and the refusals: validation, authorization, not_found for an unknown bot, an agent, or
// another license's bot.
func TestGetBot(t *testing.T) {
	v := newAgentBotEnv(t)
	own := createdBotID(v, ownerA, `{"name":"John Doe","avatar":"https://example.com/avatar.jpg",
		"groups":[{"id":0,"priority":"normal"},{"id":1,"priority":"normal"},{"id":2,"priority":"first"}],"webhooks":`+specBotWebhooks+`}`)
	mine := createdBotID(v, tokMyA, `{"name":"Bot"}`)
	pat := createdBotID(v, tokPatOwnerA, `{"name":"Bot"}`)
	other := createdBotID(v, ownerB, `{"name":"Bot"}`)
	ownState := `{"bot_agent":{"id":"` + own + `","name":"John Doe","avatar":"https://example.com/avatar.jpg",
		"status":"not accepting chats","application":{"client_id":"` + nsA + `"},"max_chats_count":6,
		"groups":[{"id":0,"priority":"normal"},{"id":1,"priority":"normal"},{"id":2,"priority":"first"}],
		"webhooks":` + specBotWebhooks + `}}`
	tests := []struct{ name, token, id, want string }{
		{"its application's bot", ownerA, own, ownState},
		{"read-only token, any bot", readonlyA, own, ownState},
		{"--my token, its own bot", tokMyA, mine, `{"bot_agent":` + newBotState(mine, "client-ab-my-a") + `}`},
		{"agents-bot--all:ro, another application's bot", ownerA, mine, `{"bot_agent":` + newBotState(mine, "client-ab-my-a") + `}`},
		{"a PAT, another agent's PAT bot", tokPatA, pat, `{"bot_agent":` + newBotState(pat, "client-ab-pat-owner-a") + `}`},
		{"another license", ownerB, other, `{"bot_agent":` + newBotState(other, "client-owner-b") + `}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"bot_agent_id":"` + tc.id + `"}`
			checkAnswer(t, "get_bot("+body+")", inSubtest(v, t).ok(tc.token, "get_bot", body), tc.want)
		})
	}
	runRefusals(t, v, "get_bot", []agentBotCase{
		{"bot_agent_id missing", ownerA, `{}`, errValidation, "bot_agent_id"},
		{"id instead of bot_agent_id", ownerA, `{"id":"` + own + `"}`, errValidation, "bot_agent_id"},
		{"bot_agent_id empty", ownerA, `{"bot_agent_id":""}`, errValidation, "bot_agent_id"},
		{"bot_agent_id not a string", ownerA, `{"bot_agent_id":1}`, errValidation, "bot_agent_id"},
		{"unknown field", ownerA, `{"bot_agent_id":"` + own + `","fields":["webhooks"]}`, errValidation, "fields"},
		{"--my token, another application's bot", tokMyA, `{"bot_agent_id":"` + own + `"}`, errAuthorization, "agents-bot--all:ro"},
		{"PAT, an application's bot", tokPatA, `{"bot_agent_id":"` + mine + `"}`, errAuthorization, "agents-bot--all:ro"},
		{"no bot scope", tokRcA, `{"bot_agent_id":"` + own + `"}`, errAuthorization, "agents-bot--my:ro"},
		{"unknown bot", ownerA, `{"bot_agent_id":"00000000000000000000000000000000"}`, errNotFound, "00000000000000000000000000000000"},
		{"an agent", ownerA, `{"bot_agent_id":"agent-a@example.com"}`, errNotFound, "agent-a@example.com"},
		{"bot of another license", ownerA, `{"bot_agent_id":"` + other + `"}`, errNotFound, other},
		{"another license's owner", ownerB, `{"bot_agent_id":"` + own + `"}`, errNotFound, own},
	})
}

// TestDeleteBot covers delete_bot: the bot is gone from get_bot, list_bots and its groups, other
// bots stay; who may delete which bot (as for update_bot); and the refusals: validation,
// authorization, not_found.
func TestDeleteBot(t *testing.T) {
	t.Run("deleted", func(t *testing.T) {
		v := newAgentBotEnv(t)
		gone := createdBotID(v, ownerA, `{"name":"Gone","groups":[{"id":1,"priority":"first"}]}`)
		kept := createdBotID(v, ownerA, `{"name":"Kept"}`)
		checkAnswer(t, "delete_bot", v.ok(ownerA, "delete_bot", `{"bot_agent_id":"`+gone+`"}`), `{}`)
		v.fails(ownerA, "get_bot", `{"bot_agent_id":"`+gone+`"}`, errNotFound)
		v.fails(ownerA, "update_bot", `{"id":"`+gone+`","name":"X"}`, errNotFound)
		v.fails(ownerA, "delete_bot", `{"bot_agent_id":"`+gone+`"}`, errNotFound)
		checkAnswer(t, "list_bots after delete_bot", v.ok(ownerA, "list_bots", `{"all":true}`),
			`{"bot_agents":[{"id":"`+kept+`","name":"Kept","avatar":"","status":"not accepting chats"}]}`)
		checkAnswer(t, "get_group(1).agent_priorities after delete_bot",
			v.ok(ownerA, "get_group", `{"id":1,"fields":["agent_priorities"]}`).(map[string]any)["agent_priorities"],
			`{"owner-a@example.com":"normal"}`)
		checkAnswer(t, "get_bot(kept)", botState(v, kept), `{"bot_agent":`+patchJSON(t, newBotState(kept, nsA), `{"name":"Kept"}`)+`}`)
	})

	for _, tc := range []struct{ name, creator, token string }{
		{"--my token, its own bot", tokMyA, tokMyA},
		{"agents-bot--all:rw, another application's bot", tokMyA, ownerA},
		{"a PAT, another agent's PAT bot", tokPatOwnerA, tokPatA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newAgentBotEnv(t)
			id := createdBotID(v, tc.creator, `{"name":"Bot"}`)
			v.ok(tc.token, "delete_bot", `{"bot_agent_id":"`+id+`"}`)
			v.fails(ownerA, "get_bot", `{"bot_agent_id":"`+id+`"}`, errNotFound)
		})
	}

	v := newAgentBotEnv(t)
	own := createdBotID(v, ownerA, `{"name":"Bot"}`)
	mine := createdBotID(v, tokMyA, `{"name":"Mine"}`)
	other := createdBotID(v, ownerB, `{"name":"Other"}`)
	runRefusals(t, v, "delete_bot", []agentBotCase{
		{"bot_agent_id missing", ownerA, `{}`, errValidation, "bot_agent_id"},
		{"id instead of bot_agent_id", ownerA, `{"id":"` + own + `"}`, errValidation, "bot_agent_id"},
		{"bot_agent_id not a string", ownerA, `{"bot_agent_id":[]}`, errValidation, "bot_agent_id"},
		{"unknown field", ownerA, `{"bot_agent_id":"` + own + `","force":true}`, errValidation, "force"},
		{"read-only token", readonlyA, `{"bot_agent_id":"` + own + `"}`, errAuthorization, "agents-bot--my:rw"},
		{"no bot scope", tokRcA, `{"bot_agent_id":"` + mine + `"}`, errAuthorization, "agents-bot--my:rw"},
		{"--my token, another application's bot", tokMyA, `{"bot_agent_id":"` + own + `"}`, errAuthorization, "agents-bot--all:rw"},
		{"PAT, an application's bot", tokPatA, `{"bot_agent_id":"` + mine + `"}`, errAuthorization, "agents-bot--all:rw"},
		{"unknown bot", ownerA, `{"bot_agent_id":"00000000000000000000000000000000"}`, errNotFound, "00000000000000000000000000000000"},
		{"an agent", ownerA, `{"bot_agent_id":"agent-a@example.com"}`, errNotFound, "agent-a@example.com"},
		{"bot of another license", ownerA, `{"bot_agent_id":"` + other + `"}`, errNotFound, other},
		{"another license's owner", ownerB, `{"bot_agent_id":"` + own + `"}`, errNotFound, own},
	})
}

// TestListBots covers list_bots: with all:false (or absent) only the requester's bots, those
// of its application or, for a PAT, those of any PAT (the spec's footnote); with all:true every
// bot of the license, in creation order; never another license's bots; and the refusals:
// validation, and authorization (agents-bot--all:ro for all:true).
func TestListBots(t *testing.T) {
	v := newAgentBotEnv(t)
	own := createdBotID(v, ownerA, `{"name":"Own","avatar":"https://example.com/own.png"}`)
	mine := createdBotID(v, tokMyA, `{"name":"Mine"}`)
	pat := createdBotID(v, tokPatOwnerA, `{"name":"PAT"}`)
	own2 := createdBotID(v, ownerA, `{"name":"Own 2"}`)
	other := createdBotID(v, ownerB, `{"name":"Other"}`)
	summary := map[string]string{
		own:   `{"id":"` + own + `","name":"Own","avatar":"https://example.com/own.png","status":"not accepting chats"}`,
		mine:  `{"id":"` + mine + `","name":"Mine","avatar":"","status":"not accepting chats"}`,
		pat:   `{"id":"` + pat + `","name":"PAT","avatar":"","status":"not accepting chats"}`,
		own2:  `{"id":"` + own2 + `","name":"Own 2","avatar":"","status":"not accepting chats"}`,
		other: `{"id":"` + other + `","name":"Other","avatar":"","status":"not accepting chats"}`,
	}
	list := func(ids ...string) string {
		var s []string
		for _, id := range ids {
			s = append(s, summary[id])
		}
		return `{"bot_agents":[` + strings.Join(s, ",") + `]}`
	}
	tests := []struct{ name, token, body, want string }{
		{"application's bots", ownerA, `{}`, list(own, own2)},
		{"all false", ownerA, `{"all":false}`, list(own, own2)},
		{"all true", ownerA, `{"all":true}`, list(own, mine, pat, own2)},
		{"empty body", ownerA, ``, list(own, own2)},
		{"null body", ownerA, `null`, list(own, own2)},
		{"all null: not given", ownerA, `{"all":null}`, list(own, own2)},
		{"--my token", tokMyA, `{}`, list(mine)},
		{"read-only token's application has none", readonlyA, `{}`, list()},
		{"read-only token, all", readonlyA, `{"all":true}`, list(own, mine, pat, own2)},
		{"a PAT, its own", tokPatOwnerA, `{}`, list(pat)},
		{"a PAT, another agent's PAT bots", tokPatA, `{"all":false}`, list(pat)},
		{"another license", ownerB, `{}`, list(other)},
		{"another license, all", ownerB, `{"all":true}`, list(other)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkAnswer(t, "list_bots("+tc.body+")", inSubtest(v, t).ok(tc.token, "list_bots", tc.body), tc.want)
		})
	}
	runRefusals(t, v, "list_bots", []agentBotCase{
		{"all not a boolean", ownerA, `{"all":"true"}`, errValidation, "all"},
		{"unknown field", ownerA, `{"all":true,"fields":["groups"]}`, errValidation, "fields"},
		{"body an array", ownerA, `[]`, errValidation, "object"},
		{"--my token, all", tokMyA, `{"all":true}`, errAuthorization, "agents-bot--all:ro"},
		{"a PAT, all", tokPatA, `{"all":true}`, errAuthorization, "agents-bot--all:ro"},
		{"no bot scope", tokRcA, `{}`, errAuthorization, "agents-bot--my:ro"},
	})
}

// TestBotGroupsAgreeWithGroups checks that a bot's groups (get_bot) and the groups'
// agent_priorities are one record, whichever side changes: create_bot, update_bot,
// create_group, update_group, delete_group and delete_bot.
func TestBotGroupsAgreeWithGroups(t *testing.T) {
	v := newAgentBotEnv(t)
	groupsOf := func(id, want string) {
		t.Helper()
		got := botState(v, id).(map[string]any)["bot_agent"].(map[string]any)["groups"]
		checkAnswer(t, "get_bot("+id+").groups", got, want)
	}
	membersOf := func(group, want string) {
		t.Helper()
		got := v.ok(ownerA, "get_group", `{"id":`+group+`,"fields":["agent_priorities"]}`).(map[string]any)["agent_priorities"]
		checkAnswer(t, "get_group("+group+").agent_priorities", got, want)
	}

	bot := createdBotID(v, ownerA, `{"name":"Bot","default_group_priority":"first"}`)
	groupsOf(bot, `[{"id":0,"priority":"first"}]`)
	membersOf("0", `{"owner-a@example.com":"normal","agent-a@example.com":"normal","`+bot+`":"first"}`)

	v.ok(ownerA, "update_bot", `{"id":"`+bot+`","groups":[{"id":1,"priority":"first"},{"id":2,"priority":"supervisor"}]}`)
	groupsOf(bot, `[{"id":1,"priority":"first"},{"id":2,"priority":"supervisor"}]`)
	membersOf("0", `{"owner-a@example.com":"normal","agent-a@example.com":"normal"}`)
	membersOf("1", `{"owner-a@example.com":"normal","`+bot+`":"first"}`)

	v.ok(ownerA, "create_group", `{"name":"Bots","agent_priorities":{"owner-a@example.com":"normal","`+bot+`":"last"}}`)
	groupsOf(bot, `[{"id":1,"priority":"first"},{"id":2,"priority":"supervisor"},{"id":3,"priority":"last"}]`)

	v.ok(ownerA, "update_group", `{"id":1,"agent_priorities":{"owner-a@example.com":"normal"}}`)
	v.ok(ownerA, "delete_group", `{"id":2}`)
	groupsOf(bot, `[{"id":3,"priority":"last"}]`)

	v.ok(ownerA, "delete_bot", `{"bot_agent_id":"`+bot+`"}`)
	membersOf("3", `{"owner-a@example.com":"normal"}`)
}

// TestBotActionsAuthentication checks that every bot action refuses a call without a token or
// with an unknown one, with authentication, before looking at the body.
func TestBotActionsAuthentication(t *testing.T) {
	v := newAgentBotEnv(t)
	id := createdBotID(v, ownerA, `{"name":"Bot"}`)
	bodies := map[string]string{
		"create_bot": `{"name":"Bot"}`,
		"delete_bot": `{"bot_agent_id":"` + id + `"}`,
		"update_bot": `{"id":"` + id + `","name":"X"}`,
		"list_bots":  `{"all":true}`,
		"get_bot":    `{"bot_agent_id":"` + id + `"}`,
	}
	for _, action := range sortedKeys(bodies) {
		for _, tok := range []struct{ name, token string }{{"no token", ""}, {"unknown token", "dal:nobody"}} {
			t.Run(action+"/"+tok.name, func(t *testing.T) {
				v := inSubtest(v, t)
				v.fails(tok.token, action, bodies[action], errAuthentication)
				v.fails(tok.token, action, `[`, errAuthentication)
			})
		}
	}
}

// TestAgentsAndBotsOtherRegion checks that license F, in the fra region, is as separate from
// license A as license B is: fra:owner-f, sent to fra, finds none of A's agents or bots, and
// A's tokens find none of F's.
func TestAgentsAndBotsOtherRegion(t *testing.T) {
	v := newAgentBotEnv(t)
	own := createdBotID(v, ownerA, `{"name":"Bot"}`)
	fra := func(action, body string) result {
		t.Helper()
		return v.call(ownerF, action, body, "X-Region", "fra")
	}
	for _, c := range []struct{ action, body, wantErr, want string }{
		{"create_agent", `{"id":"agent-f@example.com","name":"Agent F","groups":[{"id":0,"priority":"normal"}]}`, "", `{"id":"agent-f@example.com"}`},
		{"list_agents", `{}`, "", `[{"id":"owner-f@example.com","name":"Owner F","avatar_path":"","role":"owner","login_status":"not accepting chats"},
			{"id":"agent-f@example.com","name":"Agent F","avatar_path":"","role":"normal","login_status":"not accepting chats"}]`},
		{"list_bots", `{"all":true}`, "", `{"bot_agents":[]}`},
		{"get_agent", `{"id":"agent-a@example.com"}`, errNotFound, ""},
		{"update_agent", `{"id":"agent-a@example.com","name":"X"}`, errNotFound, ""},
		{"get_bot", `{"bot_agent_id":"` + own + `"}`, errNotFound, ""},
		{"delete_bot", `{"bot_agent_id":"` + own + `"}`, errNotFound, ""},
		{"create_bot", `{"name":"Bot","groups":[{"id":1,"priority":"first"}]}`, errGroupNotFound, ""},
	} {
		r := fra(c.action, c.body)
		if c.wantErr != "" {
			if got := r.errorType(); got != c.wantErr {
				t.Errorf("%s(%s) by %s = %d %s, want error %s", c.action, c.body, ownerF, r.status, r.body, c.wantErr)
			}
			continue
		}
		if r.status != http.StatusOK {
			t.Fatalf("%s(%s) by %s = %d %s, want 200", c.action, c.body, ownerF, r.status, r.body)
		}
		checkAnswer(t, c.action+"("+c.body+") by "+ownerF, r.json(t), c.want)
	}
	v.fails(ownerA, "get_agent", `{"id":"agent-f@example.com"}`, errNotFound)
	v.fails(ownerA, "delete_agent", `{"id":"owner-f@example.com"}`, errNotFound)
}
