package emulator

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// specTriggeringActions is register_webhook's "Triggering actions" table, copied from the spec
// rather than taken from the emulator: each action and its available filters.
var specTriggeringActions = map[string][]string{
	"incoming_chat":                  {"chat_member_ids", "only_my_chats"},
	"chat_deactivated":               {"chat_member_ids", "only_my_chats"},
	"chat_access_granted":            {"chat_member_ids", "only_my_chats"},
	"chat_access_revoked":            {"chat_member_ids", "only_my_chats"},
	"user_added_to_chat":             {"chat_member_ids", "only_my_chats"},
	"user_removed_from_chat":         {"chat_member_ids", "only_my_chats"},
	"incoming_event":                 {"chat_member_ids", "author_type", "only_my_chats"},
	"event_updated":                  {"chat_member_ids", "author_type", "only_my_chats"},
	"incoming_rich_message_postback": {"chat_member_ids", "only_my_chats"},
	"chat_properties_updated":        {"chat_member_ids", "only_my_chats"},
	"chat_properties_deleted":        {"chat_member_ids", "only_my_chats"},
	"thread_properties_updated":      {"chat_member_ids", "only_my_chats"},
	"thread_properties_deleted":      {"chat_member_ids", "only_my_chats"},
	"event_properties_updated":       {"chat_member_ids", "only_my_chats"},
	"event_properties_deleted":       {"chat_member_ids", "only_my_chats"},
	"thread_tagged":                  {"chat_member_ids", "only_my_chats"},
	"thread_untagged":                {"chat_member_ids", "only_my_chats"},
	"routing_status_set":             {},
	"agent_deleted":                  {"agent_ids"},
	"customer_created":               {},
	"events_marked_as_seen":          {"chat_member_ids", "only_my_chats"},
}

// specNoAdditionalData are the triggering actions for which additional_data is not available
// ("all actions except for agent_status_changed, agent_deleted, customer_created").
var specNoAdditionalData = []string{"agent_deleted", "customer_created"}

// filterExamples is a valid value of each filter.
var filterExamples = map[string]string{
	"chat_member_ids": `{"agents_any":["agent-a@example.com"]}`,
	"author_type":     `"customer"`,
	"only_my_chats":   `true`,
	"agent_ids":       `["agent-a@example.com"]`,
}

// Tokens of license A with other client ids and fewer webhook scopes, and two personal access
// tokens of the owner.
var webhookTokens = []TokenConfig{
	{Token: hooksApp2, License: "A", Agent: idAgentA, ClientID: hooksApp2Client, Scopes: []string{"webhooks--my:rw"}},
	{Token: hooksApp2RO, License: "A", Agent: idAgentA, ClientID: hooksApp2Client, Scopes: []string{"webhooks--my:ro"}},
	{Token: noHooks, License: "A", Agent: idAgentA, ClientID: "client-no-hooks", Scopes: []string{"agents--my:ro"}},
	{Token: patA1, License: "A", Agent: idOwnerA, ClientID: "pat-client-1", Scopes: []string{"*"}, Personal: true},
	{Token: patA2, License: "A", Agent: idOwnerA, ClientID: "pat-client-2", Scopes: []string{"webhooks--my:rw"}, Personal: true},
}

const (
	hooksApp2       = "dal:hooks-app2"
	hooksApp2RO     = "dal:hooks-app2-ro"
	hooksApp2Client = "client-hooks-app2"
	noHooks         = "dal:no-hooks"
	patA1           = "dal:pat-a1"
	patA2           = "dal:pat-a2"
)

// hook returns a register_webhook body for action with the given extra members, if any.
func hook(action, extra string) string {
	s := fmt.Sprintf(`{"action":%q,"secret_key":"s3cret","url":"https://example.com/hooks"`, action)
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}

// registerHook registers a webhook and returns its id, checking that it is new and of the upstream's
// length.
func (v *env) registerHook(token, body string) string {
	v.t.Helper()
	got := v.ok(token, "register_webhook", body).(map[string]any)
	id, _ := got["webhook_id"].(string)
	if len(got) != 1 || len(id) != 25 {
		v.t.Fatalf("register_webhook(%s) = %v, want {webhook_id: <25 characters>}", body, got)
	}
	return id
}

// TestWebhooksRegister covers register_webhook's success and that list_registered_webhooks shows
// what was registered: the spec's example, filters and additional_data, an http and an https
// url, the owner's client id, distinct ids, and no secret key in the listing.
func TestWebhooksRegister(t *testing.T) {
	env := newEnv(t)
	spec := env.registerHook(ownerA, `{"url":"http://myservice.com/webhooks","description":"Test webhook","action":"chat_deactivated","secret_key":"laudla991lamda0pnoaa0"}`)
	filtered := env.registerHook(ownerA, `{"url":"https://example.com:8443/h?x=1","action":"incoming_event","secret_key":"k",
		"filters":{"chat_member_ids":{"agents_exclude":["agent-a@example.com","bot@example.com"]},"author_type":"agent","only_my_chats":false},
		"additional_data":["chat_properties"]}`)
	deleted := env.registerHook(ownerA, `{"url":"http://localhost/hooks","action":"agent_deleted","secret_key":"k","filters":{"agent_ids":["agent-a@example.com"]}}`)
	if spec == filtered || spec == deleted || filtered == deleted {
		t.Errorf("webhook ids %s, %s, %s are not distinct", spec, filtered, deleted)
	}
	env.callOK(ownerA, "list_registered_webhooks", `{}`, []any{
		map[string]any{"webhook_id": spec, "url": "http://myservice.com/webhooks", "description": "Test webhook", "action": "chat_deactivated", "owner_client_id": nsA},
		map[string]any{"webhook_id": filtered, "url": "https://example.com:8443/h?x=1", "action": "incoming_event", "owner_client_id": nsA,
			"filters":         jsonValue(t, `{"chat_member_ids":{"agents_exclude":["agent-a@example.com","bot@example.com"]},"author_type":"agent","only_my_chats":false}`),
			"additional_data": []string{"chat_properties"}},
		map[string]any{"webhook_id": deleted, "url": "http://localhost/hooks", "action": "agent_deleted", "owner_client_id": nsA,
			"filters": jsonValue(t, `{"agent_ids":["agent-a@example.com"]}`)},
	})
}

// TestWebhooksRegisterRefused covers register_webhook's refusals that do not depend on the
// action's filter table: the required action, secret_key and url, their JSON types, action
// values (agent_status_changed is not a triggering action of v3.2), the url being an absolute
// http(s) URL, additional_data values, author_type values, chat_member_ids with exactly one of
// agents_any and agents_exclude, unknown fields at any level, and a requester without
// webhooks--my:rw (authorization).
func TestWebhooksRegisterRefused(t *testing.T) {
	env := envWithTokens(t, webhookTokens...)
	runCases(t, env, "register_webhook", []apiCase{
		{name: "empty body", token: ownerA, body: `{}`, wantErr: errValidation, msg: "action"},
		{name: "action missing", token: ownerA, body: `{"secret_key":"k","url":"https://example.com"}`, wantErr: errValidation, msg: "action"},
		{name: "secret_key missing", token: ownerA, body: `{"action":"incoming_chat","url":"https://example.com"}`, wantErr: errValidation, msg: "secret_key"},
		{name: "url missing", token: ownerA, body: `{"action":"incoming_chat","secret_key":"k"}`, wantErr: errValidation, msg: "url"},
		{name: "action unknown", token: ownerA, body: hook("chat_started", ""), wantErr: errValidation, msg: "action"},
		{name: "action of another version", token: ownerA, body: hook("agent_status_changed", ""), wantErr: errValidation, msg: "action"},
		{name: "action a number", token: ownerA, body: `{"action":1,"secret_key":"k","url":"https://example.com"}`, wantErr: errValidation, msg: "action"},
		{name: "secret_key empty", token: ownerA, body: `{"action":"incoming_chat","secret_key":"","url":"https://example.com"}`, wantErr: errValidation, msg: "secret_key"},
		{name: "secret_key a number", token: ownerA, body: `{"action":"incoming_chat","secret_key":5,"url":"https://example.com"}`, wantErr: errValidation, msg: "secret_key"},
		{name: "url without scheme", token: ownerA, body: `{"action":"incoming_chat","secret_key":"k","url":"myservice.com/webhooks"}`, wantErr: errValidation, msg: "url"},
		{name: "url relative", token: ownerA, body: `{"action":"incoming_chat","secret_key":"k","url":"/webhooks"}`, wantErr: errValidation, msg: "url"},
		{name: "url ftp", token: ownerA, body: `{"action":"incoming_chat","secret_key":"k","url":"ftp://example.com/hooks"}`, wantErr: errValidation, msg: "url"},
		{name: "url without host", token: ownerA, body: `{"action":"incoming_chat","secret_key":"k","url":"https:///hooks"}`, wantErr: errValidation, msg: "url"},
		{name: "url empty", token: ownerA, body: `{"action":"incoming_chat","secret_key":"k","url":""}`, wantErr: errValidation, msg: "url"},
		{name: "url unparsable", token: ownerA, body: `{"action":"incoming_chat","secret_key":"k","url":"http://exa mple.com/%zz"}`, wantErr: errValidation, msg: "url"},
		{name: "url an object", token: ownerA, body: `{"action":"incoming_chat","secret_key":"k","url":{"host":"example.com"}}`, wantErr: errValidation, msg: "url"},
		{name: "description a number", token: ownerA, body: hook("incoming_chat", `"description":1`), wantErr: errValidation, msg: "description"},
		{name: "additional_data a string", token: ownerA, body: hook("incoming_chat", `"additional_data":"chat_properties"`), wantErr: errValidation, msg: "additional_data"},
		{name: "additional_data unknown", token: ownerA, body: hook("incoming_chat", `"additional_data":["customer_properties"]`), wantErr: errValidation, msg: "additional_data[0]"},
		{name: "additional_data twice", token: ownerA, body: hook("incoming_chat", `"additional_data":["chat_properties","chat_properties"]`), wantErr: errValidation, msg: "additional_data[1]"},
		{name: "filters an array", token: ownerA, body: hook("incoming_chat", `"filters":[]`), wantErr: errValidation, msg: "filters"},
		{name: "filter unknown", token: ownerA, body: hook("incoming_chat", `"filters":{"customer_ids":["c"]}`), wantErr: errValidation, msg: "filters.customer_ids"},
		{name: "author_type unknown", token: ownerA, body: hook("incoming_event", `"filters":{"author_type":"bot"}`), wantErr: errValidation, msg: "filters.author_type"},
		{name: "author_type a list", token: ownerA, body: hook("incoming_event", `"filters":{"author_type":["agent"]}`), wantErr: errValidation, msg: "filters.author_type"},
		{name: "only_my_chats a string", token: ownerA, body: hook("incoming_chat", `"filters":{"only_my_chats":"true"}`), wantErr: errValidation, msg: "filters.only_my_chats"},
		{name: "chat_member_ids empty", token: ownerA, body: hook("incoming_chat", `"filters":{"chat_member_ids":{}}`), wantErr: errValidation, msg: "filters.chat_member_ids"},
		{name: "chat_member_ids both", token: ownerA, body: hook("incoming_chat", `"filters":{"chat_member_ids":{"agents_any":["a@example.com"],"agents_exclude":["b@example.com"]}}`), wantErr: errValidation, msg: "filters.chat_member_ids"},
		{name: "chat_member_ids unknown key", token: ownerA, body: hook("incoming_chat", `"filters":{"chat_member_ids":{"agents_all":["a@example.com"]}}`), wantErr: errValidation, msg: "filters.chat_member_ids.agents_all"},
		{name: "chat_member_ids an array", token: ownerA, body: hook("incoming_chat", `"filters":{"chat_member_ids":["a@example.com"]}`), wantErr: errValidation, msg: "filters.chat_member_ids"},
		{name: "agents_any a string", token: ownerA, body: hook("incoming_chat", `"filters":{"chat_member_ids":{"agents_any":"a@example.com"}}`), wantErr: errValidation, msg: "filters.chat_member_ids.agents_any"},
		{name: "agents_any with an empty id", token: ownerA, body: hook("incoming_chat", `"filters":{"chat_member_ids":{"agents_any":[""]}}`), wantErr: errValidation, msg: "agents_any[0]"},
		{name: "agents_exclude with a number", token: ownerA, body: hook("incoming_chat", `"filters":{"chat_member_ids":{"agents_exclude":[1]}}`), wantErr: errValidation, msg: "agents_exclude[0]"},
		{name: "agents_any with an id twice", token: ownerA, body: hook("incoming_chat", `"filters":{"chat_member_ids":{"agents_any":["a@example.com","a@example.com"]}}`), wantErr: errValidation, msg: "agents_any[1]"},
		{name: "agent_ids a string", token: ownerA, body: hook("agent_deleted", `"filters":{"agent_ids":"a@example.com"}`), wantErr: errValidation, msg: "filters.agent_ids"},
		{name: "unknown field webhook_id", token: ownerA, body: hook("incoming_chat", `"webhook_id":"pqi8oasdjahuakndw9nsad9na"`), wantErr: errValidation, msg: "webhook_id"},
		{name: "unknown field owner_client_id", token: ownerA, body: hook("incoming_chat", `"owner_client_id":"x"`), wantErr: errValidation, msg: "owner_client_id"},
		{name: "unknown field actions", token: ownerA, body: hook("incoming_chat", `"actions":["incoming_chat"]`), wantErr: errValidation, msg: "actions"},
		{name: "read-only token", token: readonlyA, body: hook("incoming_chat", ""), wantErr: errAuthorization},
		{name: "webhooks--my:ro only", token: hooksApp2RO, body: hook("incoming_chat", ""), wantErr: errAuthorization},
		{name: "no webhook scope", token: noHooks, body: hook("incoming_chat", ""), wantErr: errAuthorization},
	})
	env.callOK(ownerA, "list_registered_webhooks", `{}`, `[]`)
}

// TestWebhooksFiltersPerAction covers the "Triggering actions" table: every action registers
// without filters, each filter registers for the actions that list it and is refused
// (validation naming the filter) for the others, additional_data is refused for agent_deleted
// and customer_created only, and the bot example's chat_properties filter goes with the chat
// actions only.
func TestWebhooksFiltersPerAction(t *testing.T) {
	env := newEnv(t)
	for _, action := range sortedKeys(specTriggeringActions) {
		t.Run(action, func(t *testing.T) {
			env := env.in(t)
			env.registerHook(ownerA, hook(action, ""))
			env.registerHook(ownerA, hook(action, `"filters":{}`))
			for _, filter := range sortedKeys(filterExamples) {
				body := hook(action, fmt.Sprintf(`"filters":{%q:%s}`, filter, filterExamples[filter]))
				tc := apiCase{token: ownerA, body: body}
				if !slices.Contains(specTriggeringActions[action], filter) {
					tc.wantErr, tc.msg = errValidation, "filters."+filter
				}
				env.expect("register_webhook", tc)
			}
			if allowed := specTriggeringActions[action]; len(allowed) > 1 {
				var all []string
				for _, f := range allowed {
					all = append(all, fmt.Sprintf("%q:%s", f, filterExamples[f]))
				}
				env.registerHook(ownerA, hook(action, `"filters":{`+strings.Join(all, ",")+`}`))
			}
			tc := apiCase{token: ownerA, body: hook(action, `"additional_data":["chat_properties"]`)}
			if slices.Contains(specNoAdditionalData, action) {
				tc.wantErr, tc.msg = errValidation, "additional_data"
			}
			env.expect("register_webhook", tc)
			// An empty additional_data asks for nothing, so it is allowed everywhere.
			env.registerHook(ownerA, hook(action, `"additional_data":[]`))

			// chat_properties is not in the table, but get_bot's example uses it with
			// incoming_chat; the emulator takes it for the actions about chats.
			tc = apiCase{token: ownerA, body: hook(action, `"filters":{"chat_properties":{"source":{"type":{"values":["facebook"]}}}}`)}
			if !slices.Contains(specTriggeringActions[action], "only_my_chats") {
				tc.wantErr, tc.msg = errValidation, "filters.chat_properties"
			}
			env.expect("register_webhook", tc)
		})
	}
}

// TestWebhooksLimit covers limit_reached: with a bearer token, 60 webhooks for one action and
// the 61st refused, while other actions are unaffected and an unregistered webhook frees its
// place; with personal access tokens, 10 for one action, shared by two PATs of one agent
// ("Using multiple PATs doesn't rise the limit"), while a bearer token may still register.
func TestWebhooksLimit(t *testing.T) {
	t.Run("bearer", func(t *testing.T) {
		env := envWithTokens(t, webhookTokens...)
		var first string
		for i := range 60 {
			id := env.registerHook(ownerA, hook("incoming_chat", fmt.Sprintf(`"description":"%d"`, i)))
			if i == 0 {
				first = id
			}
		}
		env.expect("register_webhook", apiCase{token: ownerA, body: hook("incoming_chat", `"description":"61st"`), wantErr: errLimitReached, msg: "60"})
		env.registerHook(ownerA, hook("chat_deactivated", ""))
		env.ok(ownerA, "unregister_webhook", `{"webhook_id":"`+first+`"}`)
		env.registerHook(ownerA, hook("incoming_chat", `"description":"again"`))
		env.fails(ownerA, "register_webhook", hook("incoming_chat", ""), errLimitReached)
	})
	t.Run("personal", func(t *testing.T) {
		env := envWithTokens(t, webhookTokens...)
		var ids []string
		for i := range 10 {
			tok := patA1
			if i%2 == 1 {
				tok = patA2
			}
			ids = append(ids, env.registerHook(tok, hook("incoming_event", "")))
		}
		for _, tok := range []string{patA1, patA2} {
			env.expect("register_webhook", apiCase{token: tok, body: hook("incoming_event", ""), wantErr: errLimitReached, msg: "10"})
		}
		env.registerHook(patA1, hook("incoming_chat", ""))
		env.registerHook(ownerA, hook("incoming_event", ""))
		env.ok(patA2, "unregister_webhook", `{"webhook_id":"`+ids[1]+`"}`)
		env.registerHook(patA1, hook("incoming_event", ""))
		env.fails(patA2, "register_webhook", hook("incoming_event", ""), errLimitReached)
	})
}

// TestWebhooksList covers list_registered_webhooks: the webhooks in registration order with
// their owner_client_id; a requester with webhooks--my only sees its application's, one with
// webhooks--all:ro (dal:readonly-a) or :rw sees every one; no webhook scope is authorization and
// any field is unknown (validation).
func TestWebhooksList(t *testing.T) {
	env := envWithTokens(t, webhookTokens...)
	env.callOK(ownerA, "list_registered_webhooks", `{}`, `[]`)
	mine := env.registerHook(ownerA, hook("incoming_chat", `"description":"owner's"`))
	theirs := env.registerHook(hooksApp2, hook("thread_tagged", ""))
	ownerView := map[string]any{"webhook_id": mine, "url": "https://example.com/hooks", "description": "owner's", "action": "incoming_chat", "owner_client_id": nsA}
	app2View := map[string]any{"webhook_id": theirs, "url": "https://example.com/hooks", "action": "thread_tagged", "owner_client_id": hooksApp2Client}
	cases := []struct {
		name, token string
		want        []any
	}{
		{"owner, all scopes", ownerA, []any{ownerView, app2View}},
		{"read-only, webhooks--all:ro", readonlyA, []any{ownerView, app2View}},
		{"app2, webhooks--my:rw", hooksApp2, []any{app2View}},
		{"app2, webhooks--my:ro", hooksApp2RO, []any{app2View}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env.in(t).callOK(tc.token, "list_registered_webhooks", `{}`, tc.want)
			env.in(t).callOK(tc.token, "list_registered_webhooks", ``, tc.want)
		})
	}
	runCases(t, env, "list_registered_webhooks", []apiCase{
		{name: "no webhook scope", token: noHooks, body: `{}`, wantErr: errAuthorization},
		{name: "unknown field", token: ownerA, body: `{"all":true}`, wantErr: errValidation, msg: "all"},
		{name: "body an array", token: ownerA, body: `[]`, wantErr: errValidation},
	})
}

// TestWebhooksUnregister covers unregister_webhook: the webhook leaves the listing; an unknown
// or already unregistered id is not_found; another application's webhook needs webhooks--all:rw
// (authorization with --my only), the requester's own needs webhooks--my:rw (authorization
// read-only); and the required, non-empty webhook_id and unknown fields (validation).
func TestWebhooksUnregister(t *testing.T) {
	env := envWithTokens(t, webhookTokens...)
	h1 := env.registerHook(ownerA, hook("incoming_chat", ""))
	h2 := env.registerHook(ownerA, hook("chat_deactivated", ""))
	h3 := env.registerHook(hooksApp2, hook("incoming_chat", ""))
	h4 := env.registerHook(hooksApp2, hook("thread_tagged", ""))
	listed := func(want ...string) {
		t.Helper()
		var got []string
		for _, h := range env.ok(readonlyA, "list_registered_webhooks", `{}`).([]any) {
			got = append(got, h.(map[string]any)["webhook_id"].(string))
		}
		if !slices.Equal(got, want) {
			t.Errorf("list_registered_webhooks ids = %v, want %v", got, want)
		}
	}
	id := func(h string) string { return `{"webhook_id":"` + h + `"}` }

	runCases(t, env, "unregister_webhook", []apiCase{
		{name: "owner unregisters its own", token: ownerA, body: id(h1)},
		{name: "again", token: ownerA, body: id(h1), wantErr: errNotFound, msg: h1},
		{name: "unknown id", token: ownerA, body: id("pqi8oasdjahuakndw9nsad9na"), wantErr: errNotFound},
		{name: "read-only token", token: readonlyA, body: id(h2), wantErr: errAuthorization},
		{name: "webhooks--my:ro on its own", token: hooksApp2RO, body: id(h3), wantErr: errAuthorization},
		{name: "webhooks--my:rw on another's", token: hooksApp2, body: id(h2), wantErr: errAuthorization},
		{name: "webhooks--my:rw on its own", token: hooksApp2, body: id(h3)},
		{name: "webhooks--all:rw on another's", token: ownerA, body: id(h4)},
		{name: "webhook_id missing", token: ownerA, body: `{}`, wantErr: errValidation, msg: "webhook_id"},
		{name: "webhook_id empty", token: ownerA, body: `{"webhook_id":""}`, wantErr: errValidation, msg: "webhook_id"},
		{name: "webhook_id a number", token: ownerA, body: `{"webhook_id":1}`, wantErr: errValidation, msg: "webhook_id"},
		{name: "unknown field", token: ownerA, body: `{"webhook_id":"` + h2 + `","action":"chat_deactivated"}`, wantErr: errValidation, msg: "action"},
	})
	listed(h2)
}

// TestWebhooksOtherLicense covers the separation of licenses: dal:owner-b lists none of license
// A's webhooks, cannot unregister them (not_found), and its own registrations leave A's alone.
func TestWebhooksOtherLicense(t *testing.T) {
	env := newEnv(t)
	a := env.registerHook(ownerA, hook("incoming_chat", ""))
	env.callOK(ownerB, "list_registered_webhooks", `{}`, `[]`)
	env.fails(ownerB, "unregister_webhook", `{"webhook_id":"`+a+`"}`, errNotFound)
	b := env.registerHook(ownerB, hook("incoming_chat", ""))
	env.callOK(ownerB, "list_registered_webhooks", `{}`, []any{map[string]any{
		"webhook_id": b, "url": "https://example.com/hooks", "action": "incoming_chat", "owner_client_id": "client-owner-b",
	}})
	env.callOK(ownerA, "list_registered_webhooks", `{}`, []any{map[string]any{
		"webhook_id": a, "url": "https://example.com/hooks", "action": "incoming_chat", "owner_client_id": nsA,
	}})
	env.fails(ownerA, "unregister_webhook", `{"webhook_id":"`+b+`"}`, errNotFound)
}
