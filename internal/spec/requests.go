package spec

import (
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strconv"
)

// The allowed values the spec lists.
var (
	roles               = []string{"viceowner", "administrator", "normal"}
	loginStatuses       = []string{"accepting chats", "not accepting chats"}
	priorities          = []string{"first", "normal", "last", "supervisor"}
	days                = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}
	emailSubscriptions  = []string{"daily_summary", "weekly_summary"}
	notificationsValues = []string{
		"new_visitor", "incoming_chat", "returning_visitor", "queued_visitor", "visitor_is_typing",
		"new_goal", "unassigned_chats", "unassigned_chat_messages", "ticket",
		"inactive_notifications", "mute_all_sounds", "repeat_sound_notifications",
		"ticket_notifications",
	}
	// agentFields are get_agent's and list_agents' fields[] values. "summaries" is not in the
	// tables but is what list_agents' example asks for; it is accepted as a name of
	// email_subscriptions and answered under the name that was asked for.
	agentFields = []string{
		"work_scheduler", "groups", "email_subscriptions", "summaries", "notifications",
		"job_title", "mobile", "max_chats_count", "suspended", "awaiting_approval",
	}
	groupFields = []string{"agent_priorities", "routing_status"}
	// PropertyTypes and Locations are the property types and locations.
	PropertyTypes  = []string{"int", "string", "bool", "tokenized_string"}
	Locations      = []string{"chat", "thread", "event", "license", "group"}
	propertyUsers  = []string{"agent", "customer"}
	additionalData = []string{"chat_properties"}
	authorTypes    = []string{"customer", "agent"}
)

// webhookActions maps each triggering action of register_webhook to the filters the spec's
// "Triggering actions" table makes available for it.
var webhookActions = map[string][]string{
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

// noAdditionalData lists the actions for which additional_data (chat_properties) is not
// available, per register_webhook's table. agent_status_changed is named there although it is
// not a triggering action of this version.
var noAdditionalData = []string{"agent_status_changed", "agent_deleted", "customer_created"}

// Limits the spec states.
const (
	agentMaxChats     = 100
	botMaxChats       = 500
	groupNameMaxRunes = 180
	// AgentDefaultMaxChats and BotDefaultMaxChats are max_chats_count when a create leaves it
	// out.
	AgentDefaultMaxChats = 6
	BotDefaultMaxChats   = 6
	// WebhooksPerAction is how many webhooks a bearer token's application may register for one
	// action; WebhooksPerActionPAT is the same for personal access tokens, all together.
	WebhooksPerAction    = 60
	WebhooksPerActionPAT = 10
)

var hhmm = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)

func timeOfDay(s string) string {
	if !hhmm.MatchString(s) {
		return "must be a time in the format HH:MM"
	}
	return ""
}

func absoluteURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "must be an absolute http or https URL"
	}
	return ""
}

// Parts shared by several requests.
var (
	workScheduler = &mapping{keys: days, values: obj(
		req("start", &str{format: timeOfDay}),
		req("end", &str{format: timeOfDay}),
	)}
	groupMemberships = &array{
		elem:     obj(req("id", uintValue), req("priority", oneOf(priorities...))),
		uniqueBy: "id",
	}
	agentFieldsList = set(oneOf(agentFields...))
	groupFieldsList = set(oneOf(groupFields...))
	agentPriorities = mapOf(oneOf(priorities...))
	groupName       = &str{nonEmpty: true, maxRunes: groupNameMaxRunes}
	webhookFilters  = obj(
		opt("author_type", oneOf(authorTypes...)),
		opt("only_my_chats", boolValue),
		opt("chat_member_ids", &mapping{
			keys: []string{"agents_any", "agents_exclude"}, values: set(nonEmpty), minKeys: 1, maxKeys: 1,
		}),
		opt("agent_ids", set(nonEmpty)),
		opt("chat_properties", mapOf(anyValue{})),
	)
	botWebhooks = obj(
		req("url", &str{format: absoluteURL}),
		req("secret_key", nonEmpty),
		// "Actions have to be unique."
		req("actions", &array{uniqueBy: "name", elem: obj(
			req("name", oneOf(sortedKeys(webhookActions)...)),
			opt("filters", webhookFilters),
			opt("additional_data", set(oneOf(additionalData...))),
		).withRule(func(path string, m map[string]any) *Violation {
			return checkWebhookFilters(path, m["name"].(string), m)
		})}),
	)
	// propertyValues is {"<namespace>": {"<name>": <value>}}; values are checked against each
	// property's registration by the handler. Like every required map of properties, it must
	// have a key: proto3 cannot tell an empty map from one not given, so for a gRPC client the
	// two are the same request, and over REST they are too.
	// A namespace must set a property too: an empty one writes nothing, and is what a gRPC client
	// sends when its library could not encode the Struct it was given (Node's proto-loader turns
	// a plain object into an empty Struct), so a request that would succeed doing nothing is
	// refused instead.
	propertyValues = &mapping{values: &mapping{values: anyValue{}, minKeys: 1}, minKeys: 1}
	// propertyNames is {"<namespace>": ["<name>", ...]}.
	propertyNames  = &mapping{values: set(nonEmpty), minKeys: 1}
	propertySchema = obj(
		req("type", oneOf(PropertyTypes...)),
		req("locations", &mapping{keys: Locations, minKeys: 1, values: obj(
			req("access", &mapping{keys: propertyUsers, minKeys: 1, values: obj(
				req("read", boolValue),
				req("write", boolValue),
			)}),
		)}),
		opt("description", anyString),
		opt("domain", arr(anyValue{})),
		opt("range", obj(opt("from", int32Value), opt("to", int32Value))),
	).withRule(checkPropertyDomain)
)

// agentSettings are the optional fields of create_agent and update_agent.
var agentSettings = []field{
	opt("role", oneOf(roles...)),
	opt("avatar_path", anyString),
	opt("login_status", oneOf(loginStatuses...)),
	opt("job_title", anyString),
	opt("mobile", anyString),
	opt("max_chats_count", &integer{0, agentMaxChats}),
	opt("groups", groupMemberships),
	opt("notifications", set(oneOf(notificationsValues...))),
	opt("email_subscriptions", set(oneOf(emailSubscriptions...))),
	opt("work_scheduler", workScheduler),
}

// botSettings are the optional fields of create_bot and update_bot.
var botSettings = []field{
	opt("avatar", anyString),
	opt("max_chats_count", &integer{0, botMaxChats}),
	opt("default_group_priority", oneOf(priorities...)),
	opt("groups", groupMemberships),
	opt("webhooks", botWebhooks),
	opt("work_scheduler", workScheduler),
}

// requests is the schema of every action's request body.
var requests = map[string]node{
	// create_agent and update_agent share their optional fields; only create takes
	// awaiting_approval, and only create requires a name.
	"create_agent": obj(append([]field{
		req("id", nonEmpty),
		req("name", nonEmpty),
		opt("awaiting_approval", boolValue),
	}, agentSettings...)...),
	"get_agent":   obj(req("id", nonEmpty), opt("fields", agentFieldsList)),
	"list_agents": obj(opt("filters", obj(opt("group_ids", set(uintValue)))), opt("fields", agentFieldsList)),
	"update_agent": obj(append([]field{
		req("id", nonEmpty),
		opt("name", nonEmpty),
	}, agentSettings...)...),
	"delete_agent":               obj(req("id", nonEmpty)),
	"suspend_agent":              obj(req("id", nonEmpty)),
	"unsuspend_agent":            obj(req("id", nonEmpty)),
	"request_agent_unsuspension": obj(),
	"approve_agent":              obj(req("id", nonEmpty)),

	// Likewise create_bot and update_bot; only create takes job_title, as the spec's tables say.
	"create_bot": obj(append([]field{
		req("name", nonEmpty),
		opt("job_title", anyString),
	}, botSettings...)...),
	"delete_bot": obj(req("bot_agent_id", nonEmpty)),
	"update_bot": obj(append([]field{
		req("id", nonEmpty),
		opt("name", nonEmpty),
	}, botSettings...)...),
	"list_bots": obj(opt("all", boolValue)),
	"get_bot":   obj(req("bot_agent_id", nonEmpty)),

	"create_group": obj(
		req("name", groupName),
		opt("language_code", anyString),
		req("agent_priorities", agentPriorities),
	).withRule(func(path string, m map[string]any) *Violation {
		if !slices.Contains(mapValues(m["agent_priorities"].(map[string]any)), any("normal")) {
			return invalid("agent_priorities", "at least one agent must have the normal priority")
		}
		return nil
	}),
	"update_group": obj(
		req("id", uintValue),
		opt("name", groupName),
		opt("language_code", anyString),
		opt("agent_priorities", agentPriorities),
	),
	"delete_group": obj(req("id", uintValue)),
	"list_groups":  obj(opt("fields", groupFieldsList)),
	"get_group":    obj(req("id", uintValue), opt("fields", groupFieldsList)),

	"register_properties":        &mapping{values: propertySchema, minKeys: 1},
	"list_registered_properties": obj(opt("all", boolValue)),
	"update_license_properties":  obj(req("properties", propertyValues)),
	"list_license_properties":    obj(opt("namespace_prefix", anyString), opt("name_prefix", anyString)),
	"delete_license_properties":  obj(req("properties", propertyNames)),
	"update_group_properties":    obj(req("group_id", uintValue), req("properties", propertyValues)),
	"list_group_properties": obj(
		req("group_id", uintValue), opt("namespace_prefix", anyString), opt("name_prefix", anyString),
	),
	"delete_group_properties": obj(req("group_id", uintValue), req("properties", propertyNames)),

	"register_webhook": obj(
		req("action", oneOf(sortedKeys(webhookActions)...)),
		req("secret_key", nonEmpty),
		req("url", &str{format: absoluteURL}),
		opt("additional_data", set(oneOf(additionalData...))),
		opt("description", anyString),
		opt("filters", webhookFilters),
	).withRule(func(path string, m map[string]any) *Violation {
		return checkWebhookFilters(path, m["action"].(string), m)
	}),
	"list_registered_webhooks": obj(),
	"unregister_webhook":       obj(req("webhook_id", nonEmpty)),
}

// checkWebhookFilters checks a webhook's filters and additional_data (the keys of m) against its
// action, as the "Triggering actions" table of register_webhook lists them. chat_properties,
// which the table leaves out but get_bot's example uses, goes with the chat actions.
func checkWebhookFilters(path, action string, m map[string]any) *Violation {
	allowed := webhookActions[action]
	filters, _ := m["filters"].(map[string]any)
	for _, k := range sortedKeys(filters) {
		ok := slices.Contains(allowed, k) || (k == "chat_properties" && slices.Contains(allowed, "only_my_chats"))
		if !ok {
			return invalid(join(path, "filters."+k), "not available for action %q", action)
		}
	}
	if extra, _ := m["additional_data"].([]any); len(extra) > 0 && slices.Contains(noAdditionalData, action) {
		return invalid(join(path, "additional_data"), "not available for action %q", action)
	}
	return nil
}

// checkPropertyDomain checks a property definition's domain and range. They are the spec's two
// ways of configuring a property's domain, so a property takes one of them; a range works only
// for numbers, and a domain's values must be of the property's type.
func checkPropertyDomain(path string, m map[string]any) *Violation {
	typ := m["type"].(string)
	domain, hasDomain := m["domain"].([]any)
	rng, hasRange := m["range"].(map[string]any)
	if hasDomain && hasRange {
		return invalid(path, "a property takes a domain or a range, not both")
	}
	if hasRange {
		if typ != "int" {
			return invalid(join(path, "range"), "a range works only for the int type")
		}
		from, okFrom := rng["from"].(json.Number)
		to, okTo := rng["to"].(json.Number)
		if okFrom && okTo {
			f, _ := from.Int64()
			t, _ := to.Int64()
			if f > t {
				return invalid(join(path, "range"), "from must not be greater than to")
			}
		}
	}
	if hasDomain && len(domain) == 0 {
		return invalid(join(path, "domain"), "must not be empty")
	}
	for i, v := range domain {
		if err := checkValue(typ, join(path, "domain")+"["+strconv.Itoa(i)+"]", v); err != nil {
			return err
		}
	}
	return nil
}

func mapValues[V any](m map[string]V) []V {
	out := make([]V, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}
