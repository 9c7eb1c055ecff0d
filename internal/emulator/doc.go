// Package emulator is an offline, in-memory LiveChat Configuration API v3.2: all 30 actions at
// POST /v3.2/configuration/action/<action>, with the rules and errors of the upstream's
// documentation. It is the gateway's upstream in tests and a stand-in for developers, the way
// LocalStack stands in for AWS. It is written from the spec, not from the gateway, so that a
// gateway mistake shows up as an emulator refusal.
//
// # State and credentials
//
// The state is in memory: licenses, each with agents (one of them the owner), bots, groups (group
// 0 "General" always exists and cannot be deleted), registered properties per namespace (the
// spec's four "test" properties exist in every license), license and group property values, and
// webhooks. A new agent or bot without groups joins group 0. Group membership is stored once, on
// the group, so an agent's groups and a group's agent_priorities always agree.
//
// The built-in tokens (builtin.json) are:
//
//	token           license  requester                          scopes
//	dal:owner-a     A (dal)  owner-a@example.com, the owner     all
//	dal:readonly-a  A (dal)  agent-a@example.com, a normal one  the ":ro" ones
//	dal:owner-b     B (dal)  owner-b@example.com, the owner     all
//	fra:owner-f     F (fra)  owner-f@example.com, the owner     all
//
// A token's client id is its property namespace. dal:owner-a's is the spec's example namespace,
// 0805e283233042b37f460ed8fbf22160, so that the spec's property examples work as written. A Config
// (WithConfig, or the binary's -config file) adds licenses, tokens, expired licenses, personal
// access tokens, and start-up agents, groups, bots and webhooks with fixed ids.
//
// # Rules
//
// Each request is checked against the spec's rules for its action (package spec, shared with the
// gateway): required fields, JSON types, the allowed values, HH:MM times, limits (agent
// max_chats_count ≤ 100, bot ≤ 500, group name ≤ 180 characters), unknown fields, which are
// refused, and the rules between fields (a new group needs a normal priority, webhook filters must
// suit the action, a property takes a domain or a range). Then the action's handler checks the
// "Required scopes" (a :rw scope grants its :ro, and an --all scope its --my), the resources the
// request names, property values against their registered type, domain and range, and the
// webhook limits (60 per action, 10 for personal tokens). A handler checks everything before it
// changes anything, so a refused call changes nothing.
//
// Before its action, every call passes, in this order: the action name (404 not_found), the
// method (POST), the injected faults, the path's version (unsupported_version), the body's size
// and Content-Type (application/json), the token (authentication; the token's agent must still
// exist), the token's region against X-Region, default dal (misdirected_request with
// data.region), and the license (license_expired).
//
// Where the spec's tables and examples disagree, the emulator answers both ways: fields[] takes
// "summaries" as well as "email_subscriptions", and routing_status, avatar_path and a bot's avatar
// are always answered because the examples show them unasked. An action documented without a
// payload answers {}.
//
// # Errors
//
// Errors have the upstream's body, {"error": {"type", "message", "data"?}}, with the spec's
// default message or a more precise one that names the field. The spec gives no HTTP statuses;
// the emulator uses these:
//
//	type                  status
//	validation            422 (what the real API was seen to answer)
//	authentication        401
//	authorization         403
//	limit_reached         403
//	license_expired       402
//	not_found             404
//	group_not_found       404
//	already_exist         409
//	transfer_ownership    409
//	misdirected_request   421
//	too_many_requests     429, with Retry-After: 1
//	unsupported_version   400
//	internal              500
//
// A method other than POST is 405 and a body over 4 MiB is 413, both with a validation body. An
// unknown action is 404 not_found. An unknown group is group_not_found, an unknown agent, bot,
// webhook or property not_found. transfer_ownership has no path in this API's documented actions
// and is produced only by SetFault.
//
// Every response carries Deprecation: <date> (WithDeprecation), as v3.2 is deprecated, or, with
// WithLegacy, Legacy: <date> instead: the spec says a response has one of the two.
//
// # Faults and counters
//
// WithLatency, WithErrorRate and WithThrottleRate (or EMULATOR_LATENCY, EMULATOR_ERROR_RATE and
// EMULATOR_THROTTLE_RATE, see OptionsFromEnv) slow down or fail a share of all calls. SetFault
// makes one action answer one error type, or adds latency to it, for a number of calls or until
// cleared. Calls counts the calls each action received, refused ones included. The same controls
// are served over HTTP under /emulator/ (see serveAdmin): GET /emulator/stats, POST
// /emulator/reset, POST and DELETE /emulator/faults, GET /emulator/tokens, and the webhook
// endpoints below.
// GET /emulator/stats also reports the server's connections, open now and at peak, when the
// http.Server feeds ConnState (cmd/livechat-emulator does): how many connections a client such as
// the gateway holds to the upstream. It also reports, per action, the traceparent headers of the
// latest calls that had one (Traceparents), so that a test can see the trace context a gateway
// propagated.
//
// # Webhook deliveries
//
// The emulator has no chats, so tests say what happened: POST /emulator/events with an Event,
// {"license": "A", "action": "incoming_chat", "payload": {...}}, or Fire in Go. The license is its
// id as configured (A is dal:owner-a's) and the action one that register_webhook takes; anything
// else, an unknown field or a body over 1 MiB is refused with 400 (413) and a validation body. The
// event goes to every webhook of that license and action whose filters match: those registered
// with register_webhook, in registration order, then the bots' webhooks of create_bot and
// update_bot. The spec says bot webhooks work only for online bots; the emulator has no routing
// status, so it treats every bot as online. A bot's webhook has no id in v3.2, so its deliveries
// carry the bot's id as webhook_id.
//
// Each delivery is one POST, without retries, of the spec's general format, {"webhook_id",
// "secret_key", "action", "license_id", "payload", "additional_data"}, with the webhook's own
// secret_key and the license id as configured, a string (the upstream's ids are numbers, so a
// receiver should take both).
// additional_data holds the keys of the event's additional_data that the webhook asked for,
// chat_properties being the payload's chat.properties when the event does not give it; it is {}
// when there are none. Up to 8 deliveries run at once, each given 5 seconds; WithDeliveryClient
// gives them another http.Client, such as one that reaches an in-process receiver.
//
// Filters are judged on facts the event gives, or else the payload holds:
//
//	filter           fact                                   from the payload, when not given
//	author_type      author_type                            payload.event.author_type
//	only_my_chats    source_client_id, compared with the    chat properties' source.client_id
//	                 webhook owner's (a bot's application's)
//	                 client id
//	chat_member_ids  chat_agent_ids                         payload.chat.users of type agent
//	agent_ids        -                                      payload.agent_id
//	chat_properties  -                                      payload.chat.properties, else the
//	                                                        event's additional_data.chat_properties
//
// A filter whose fact is unknown holds only when it excludes: agents_exclude holds with no known
// agents; agents_any, author_type, only_my_chats: true, agent_ids and chat_properties do not.
// chat_properties is judged as get_bot's example shows it, {"<namespace>": {"<name>": {"values":
// [...]}}}: the property is one of the values; any other condition does not hold.
//
// delete_agent fires agent_deleted, with payload {"agent_id": "<id>"} (the spec's copy shows no
// payload; agent_id is what the agent_ids filter names), to the webhooks chosen when the agent is
// deleted. Those deliveries run after the answer, as the upstream's do; WaitDeliveries, or GET
// /emulator/deliveries?wait=5s, waits for them.
//
// Every delivery is recorded, without the secret: seq, time, webhook_id, type (license or bot),
// url, action, license_id, and the receiver's HTTP status or, when it gave none, the error. POST
// /emulator/events answers {"deliveries": [...]} once its deliveries have ended. GET
// /emulator/deliveries lists the latest 1000, oldest first, with counts {"total", "failed",
// "in_flight"} (also in GET /emulator/stats); after=<seq> lists only later ones. POST
// /emulator/reset forgets them; seq goes on, so a client polling with after= sees none twice.
package emulator
