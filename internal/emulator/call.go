package emulator

import (
	"encoding/json"
	"errors"
	"slices"

	"github.com/livechat-gateway/gateway/internal/spec"
)

// call is one action call being served: the license and token it came with, and its request
// body, already checked against the action's schema.
type call struct {
	w   *world
	lic *license
	tok *token
	// body is the request as decoded JSON; raw is the same request as bytes, for decoding into
	// the handler's typed request.
	body any
	raw  []byte
	// fixedID, when set, is the id of the resource a create makes, instead of a random one. The
	// config's bots and webhooks use it to take the ids the spec's examples use.
	fixedID string
	// events are the webhook events the call fires once it has succeeded, such as
	// delete_agent's agent_deleted.
	events []Event
}

// handler serves one action. It returns the answer, which is encoded as JSON (nil is {}), or an
// error. A handler checks everything before it changes anything, so that a refused call leaves
// the state as it was.
type handler func(c *call) (any, *apiError)

// handlers serves every action the spec documents.
var handlers = map[string]handler{
	"create_agent":               createAgent,
	"get_agent":                  getAgent,
	"list_agents":                listAgents,
	"update_agent":               updateAgent,
	"delete_agent":               deleteAgent,
	"suspend_agent":              suspendAgent,
	"unsuspend_agent":            unsuspendAgent,
	"request_agent_unsuspension": requestAgentUnsuspension,
	"approve_agent":              approveAgent,

	"create_bot": createBot,
	"delete_bot": deleteBot,
	"update_bot": updateBot,
	"list_bots":  listBots,
	"get_bot":    getBot,

	"create_group": createGroup,
	"update_group": updateGroup,
	"delete_group": deleteGroup,
	"list_groups":  listGroups,
	"get_group":    getGroup,

	"register_properties":        registerProperties,
	"list_registered_properties": listRegisteredProperties,
	"update_license_properties":  updateLicenseProperties,
	"list_license_properties":    listLicenseProperties,
	"delete_license_properties":  deleteLicenseProperties,
	"update_group_properties":    updateGroupProperties,
	"list_group_properties":      listGroupProperties,
	"delete_group_properties":    deleteGroupProperties,

	"register_webhook":         registerWebhook,
	"list_registered_webhooks": listRegisteredWebhooks,
	"unregister_webhook":       unregisterWebhook,
}

// Actions returns the names of the 30 actions the emulator serves, sorted.
func Actions() []string { return sortedKeys(handlers) }

// parse decodes body, the request of action, and checks it against the spec's rules for the
// action (package spec). An empty body is taken as {}.
func (c *call) parse(action string, body []byte) *apiError {
	v, err := spec.Parse(body)
	if err == nil {
		err = spec.Check(action, v)
	}
	if err != nil {
		var violation *spec.Violation
		if errors.As(err, &violation) {
			return invalid(violation.Path, "%s", violation.Message)
		}
		return newError(errInternal, "emulator: %v", err)
	}
	if c.raw, err = json.Marshal(v); err != nil {
		return newError(errInternal, "emulator: %v", err)
	}
	c.body = v
	return nil
}

// decode decodes the request into v, a typed request. It cannot fail on a request that passed
// its schema; if it does, the schema and the type disagree, which is the emulator's own bug.
func (c *call) decode(v any) *apiError {
	if err := json.Unmarshal(c.raw, v); err != nil {
		return newError(errInternal, "emulator: request type does not match its schema: %v", err)
	}
	return nil
}

// need returns an authorization error unless the token grants every scope.
func (c *call) need(scopes ...string) *apiError {
	var missing []string
	for _, s := range scopes {
		if !c.tok.has(s) {
			missing = append(missing, s)
		}
	}
	if missing != nil {
		return denied(missing...)
	}
	return nil
}

// needAny returns an authorization error unless the token grants one of the scopes.
func (c *call) needAny(scopes ...string) *apiError {
	if slices.ContainsFunc(scopes, c.tok.has) {
		return nil
	}
	return denied(scopes...)
}

// mine picks the scope for a resource: my when the requester owns it, all otherwise.
func mine(own bool, my, all string) string {
	if own {
		return my
	}
	return all
}

// field returns the request's top-level value for key, or nil.
func (c *call) field(key string) any {
	if m, ok := c.body.(map[string]any); ok {
		return m[key]
	}
	return nil
}
