// Package action describes the 30 actions of the LiveChat Configuration API v3.2 once, for every
// part of the gateway that needs them: the RPC that carries each action, whether it only reads, and
// how its HTTP bodies map onto the RPC's messages.
//
// The HTTP bindings are also written in proto/livechat/configuration/v1/http.yaml, which
// grpc-gateway reads; this package's tests check that the two agree.
package action

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	configv1 "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
)

// PathPrefix is the upstream's URL path of every action, without the action name.
const PathPrefix = "/v3.2/configuration/action/"

// Action is one upstream action.
type Action struct {
	// Name is the upstream's name of the action, the last element of its URL path, such as
	// "get_agent". It is the RPC's name in snake_case.
	Name string
	// Method is the RPC that carries the action.
	Method protoreflect.MethodDescriptor
	// Read reports whether the action only reads. Reads are cached and may be retried; every
	// other action changes state and is sent at most once.
	Read bool
	// Body names the request field that is the whole JSON body, or is empty when the body is the
	// whole request message.
	Body protoreflect.Name
	// ResponseBody names the response field that is the whole JSON answer, or is empty when the
	// answer is the whole response message.
	ResponseBody protoreflect.Name
	// Invalidates names, for a write, the reads whose answers it may change, its own resource's
	// and others': a group write changes agents' and bots' groups, an agent or bot write groups'
	// agent_priorities. A cache that drops less than this after a write serves stale answers.
	// It is empty for reads.
	Invalidates []string
	// AnswerKey names, for a read that answers an object, the key its answer always has, such as
	// list_bots' "bot_agents". A 200 without it is not an answer of the upstream's (a proxy's
	// page, a broken deploy), and must not be served or cached as one.
	AnswerKey string

	request, response protoreflect.MessageType
}

// Path returns the action's URL path, such as /v3.2/configuration/action/get_agent.
func (a *Action) Path() string { return PathPrefix + a.Name }

// FullMethod returns the action's gRPC method name, such as
// /livechat.configuration.v1.AgentService/GetAgent.
func (a *Action) FullMethod() string {
	return "/" + string(a.Method.Parent().FullName()) + "/" + string(a.Method.Name())
}

// NewRequest returns a new, empty request message of the action.
func (a *Action) NewRequest() proto.Message { return a.request.New().Interface() }

// NewResponse returns a new, empty response message of the action.
func (a *Action) NewResponse() proto.Message { return a.response.New().Interface() }

// All returns the 30 actions in the order of the upstream's documentation. The slice is shared:
// callers must not modify it.
func All() []*Action { return all }

// ByName returns the action with the upstream name, such as "get_agent".
func ByName(name string) (*Action, bool) {
	a, ok := byName[name]
	return a, ok
}

// ByMethod returns the action that a gRPC method carries, given its full name as in
// /livechat.configuration.v1.AgentService/GetAgent.
func ByMethod(fullMethod string) (*Action, bool) {
	a, ok := byMethod[fullMethod]
	return a, ok
}

// read and write say what an action does, for the table below.
const (
	read  = true
	write = false
)

// The reads a write may change, by what they answer, for the table's invalidates column.
var (
	agents          = []string{"get_agent", "list_agents"}
	bots            = []string{"get_bot", "list_bots"}
	groups          = []string{"get_group", "list_groups"}
	registered      = []string{"list_registered_properties"}
	licenseValues   = []string{"list_license_properties"}
	groupValues     = []string{"list_group_properties"}
	webhooks        = []string{"list_registered_webhooks"}
	nothing         []string
	agentsAndGroups = slices.Concat(agents, groups) // a group's agent_priorities list its agents
	botsAndGroups   = slices.Concat(bots, groups)   // and its bots
	// A group write changes agents' and bots' groups; deleting a group drops its property values.
	groupsAndMembers = slices.Concat(groups, agents, bots, groupValues)
)

// table is the one description of every action. The body fields match http.yaml.
var table = []struct {
	fullMethod         string
	read               bool
	body, responseBody protoreflect.Name
	invalidates        []string
	answerKey          string
}{
	{configv1.AgentService_CreateAgent_FullMethodName, write, "", "", agentsAndGroups, ""},
	{configv1.AgentService_GetAgent_FullMethodName, read, "", "agent", nothing, "id"},
	{configv1.AgentService_ListAgents_FullMethodName, read, "", "agents", nothing, ""},
	{configv1.AgentService_UpdateAgent_FullMethodName, write, "", "", agentsAndGroups, ""},
	{configv1.AgentService_DeleteAgent_FullMethodName, write, "", "", agentsAndGroups, ""},
	{configv1.AgentService_SuspendAgent_FullMethodName, write, "", "", agents, ""},
	{configv1.AgentService_UnsuspendAgent_FullMethodName, write, "", "", agents, ""},
	// It only emails the license's owners.
	{configv1.AgentService_RequestAgentUnsuspension_FullMethodName, write, "", "", nothing, ""},
	{configv1.AgentService_ApproveAgent_FullMethodName, write, "", "", agents, ""},

	{configv1.BotService_CreateBot_FullMethodName, write, "", "", botsAndGroups, ""},
	{configv1.BotService_DeleteBot_FullMethodName, write, "", "", botsAndGroups, ""},
	{configv1.BotService_UpdateBot_FullMethodName, write, "", "", botsAndGroups, ""},
	{configv1.BotService_ListBots_FullMethodName, read, "", "", nothing, "bot_agents"},
	{configv1.BotService_GetBot_FullMethodName, read, "", "", nothing, "bot_agent"},

	{configv1.GroupService_CreateGroup_FullMethodName, write, "", "", groupsAndMembers, ""},
	{configv1.GroupService_UpdateGroup_FullMethodName, write, "", "", groupsAndMembers, ""},
	{configv1.GroupService_DeleteGroup_FullMethodName, write, "", "", groupsAndMembers, ""},
	{configv1.GroupService_ListGroups_FullMethodName, read, "", "groups", nothing, ""},
	{configv1.GroupService_GetGroup_FullMethodName, read, "", "group", nothing, "id"},

	{configv1.PropertyService_RegisterProperties_FullMethodName, write, "properties", "", registered, ""},
	{configv1.PropertyService_ListRegisteredProperties_FullMethodName, read, "", "properties", nothing, ""},
	{configv1.PropertyService_UpdateLicenseProperties_FullMethodName, write, "", "", licenseValues, ""},
	{configv1.PropertyService_ListLicenseProperties_FullMethodName, read, "", "properties", nothing, ""},
	{configv1.PropertyService_DeleteLicenseProperties_FullMethodName, write, "", "", licenseValues, ""},
	{configv1.PropertyService_UpdateGroupProperties_FullMethodName, write, "", "", groupValues, ""},
	{configv1.PropertyService_ListGroupProperties_FullMethodName, read, "", "properties", nothing, ""},
	{configv1.PropertyService_DeleteGroupProperties_FullMethodName, write, "", "", groupValues, ""},

	{configv1.WebhookService_RegisterWebhook_FullMethodName, write, "", "", webhooks, ""},
	{configv1.WebhookService_ListRegisteredWebhooks_FullMethodName, read, "", "webhooks", nothing, ""},
	{configv1.WebhookService_UnregisterWebhook_FullMethodName, write, "", "", webhooks, ""},
}

var (
	all      []*Action
	byName   = map[string]*Action{}
	byMethod = map[string]*Action{}
)

func init() {
	for _, e := range table {
		a, err := build(e.fullMethod, e.read, e.body, e.responseBody)
		if err != nil {
			// The table and the generated code are compiled together, so a mismatch is a
			// programming error that every test run would hit at once.
			panic(err)
		}
		a.Invalidates = e.invalidates
		a.AnswerKey = e.answerKey
		all = append(all, a)
		byName[a.Name] = a
		byMethod[e.fullMethod] = a
	}
}

// build resolves one table entry against the generated descriptors.
func build(fullMethod string, read bool, body, responseBody protoreflect.Name) (*Action, error) {
	service, method, ok := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	if !ok {
		return nil, fmt.Errorf("action: malformed method name %q", fullMethod)
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(service + "." + method))
	if err != nil {
		return nil, fmt.Errorf("action: %s: %w", fullMethod, err)
	}
	md, ok := d.(protoreflect.MethodDescriptor)
	if !ok {
		return nil, fmt.Errorf("action: %s is not a method", fullMethod)
	}
	a := &Action{Name: snakeCase(method), Method: md, Read: read, Body: body, ResponseBody: responseBody}
	if a.request, err = protoregistry.GlobalTypes.FindMessageByName(md.Input().FullName()); err != nil {
		return nil, fmt.Errorf("action: %s: %w", fullMethod, err)
	}
	if a.response, err = protoregistry.GlobalTypes.FindMessageByName(md.Output().FullName()); err != nil {
		return nil, fmt.Errorf("action: %s: %w", fullMethod, err)
	}
	if body != "" && md.Input().Fields().ByName(body) == nil {
		return nil, fmt.Errorf("action: %s: request has no body field %q", fullMethod, body)
	}
	if responseBody != "" && md.Output().Fields().ByName(responseBody) == nil {
		return nil, fmt.Errorf("action: %s: response has no body field %q", fullMethod, responseBody)
	}
	return a, nil
}

// snakeCase turns an RPC name such as RequestAgentUnsuspension into the upstream's action name,
// request_agent_unsuspension.
func snakeCase(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
