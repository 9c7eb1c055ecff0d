package emulator

import (
	"slices"

	"github.com/livechat-gateway/gateway/internal/spec"
)

// membership is one element of an agent's or bot's groups.
type membership struct {
	ID       int64  `json:"id"`
	Priority string `json:"priority"`
}

// agentRequest is create_agent's and update_agent's request. Pointers tell absent from zero.
type agentRequest struct {
	ID                 string                `json:"id"`
	Name               *string               `json:"name"`
	Role               *string               `json:"role"`
	AvatarPath         *string               `json:"avatar_path"`
	LoginStatus        *string               `json:"login_status"`
	JobTitle           *string               `json:"job_title"`
	Mobile             *string               `json:"mobile"`
	MaxChatsCount      *int                  `json:"max_chats_count"`
	AwaitingApproval   *bool                 `json:"awaiting_approval"`
	Groups             *[]membership         `json:"groups"`
	Notifications      *[]string             `json:"notifications"`
	EmailSubscriptions *[]string             `json:"email_subscriptions"`
	WorkScheduler      *map[string]workHours `json:"work_scheduler"`
}

// idRequest is the request of the actions that take only an agent id.
type idRequest struct {
	ID string `json:"id"`
}

func createAgent(c *call) (any, *apiError) {
	var r agentRequest
	if err := c.decode(&r); err != nil {
		return nil, err
	}
	if err := c.needAny("accounts--all:rc", "accounts--all:rw"); err != nil {
		return nil, err
	}
	if r.Role != nil && *r.Role != "normal" {
		// Footnote 3: a role above normal.
		if err := c.need("accounts.roles.lc--all:rw"); err != nil {
			return nil, err
		}
	}
	// Footnote 1: only a requester with subscription.lc:rw creates agents who need no approval.
	// Such a requester's agents need none unless asked; everyone else's wait for approval.
	approvalFree := c.tok.has("accounts--all:rw") && c.tok.has("subscription.lc:rw")
	if r.AwaitingApproval != nil && !*r.AwaitingApproval && !approvalFree {
		return nil, c.need("accounts--all:rw", "subscription.lc:rw")
	}
	if c.lic.Agents[r.ID] != nil || c.lic.Bots[r.ID] != nil {
		return nil, newError(errAlreadyExist, "agent %q already exists", r.ID)
	}
	if err := c.lic.checkMemberships("groups", r.Groups); err != nil {
		return nil, err
	}
	c.lic.Seq++
	a := &agent{
		Seq: c.lic.Seq, ID: r.ID, Role: "normal", LoginStatus: "not accepting chats",
		MaxChatsCount: spec.AgentDefaultMaxChats, AwaitingApproval: !approvalFree,
	}
	if r.AwaitingApproval != nil {
		a.AwaitingApproval = *r.AwaitingApproval
	}
	a.apply(&r)
	c.lic.Agents[a.ID] = a
	if r.Groups == nil {
		// A new agent joins the General group, as in the LiveChat app.
		c.lic.setMemberships(a.ID, []membership{{generalGroup, "normal"}})
	} else {
		c.lic.setMemberships(a.ID, *r.Groups)
	}
	return map[string]any{"id": a.ID}, nil
}

// apply sets the fields r has.
func (a *agent) apply(r *agentRequest) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&a.Name, r.Name)
	set(&a.Role, r.Role)
	set(&a.AvatarPath, r.AvatarPath)
	set(&a.LoginStatus, r.LoginStatus)
	set(&a.JobTitle, r.JobTitle)
	set(&a.Mobile, r.Mobile)
	if r.MaxChatsCount != nil {
		a.MaxChatsCount = *r.MaxChatsCount
	}
	if r.Notifications != nil {
		a.Notifications = *r.Notifications
	}
	if r.EmailSubscriptions != nil {
		a.EmailSubscriptions = *r.EmailSubscriptions
	}
	if r.WorkScheduler != nil {
		a.WorkScheduler = *r.WorkScheduler
	}
}

type getAgentRequest struct {
	ID     string   `json:"id"`
	Fields []string `json:"fields"`
}

func getAgent(c *call) (any, *apiError) {
	var r getAgentRequest
	if err := c.decode(&r); err != nil {
		return nil, err
	}
	if err := c.need(mine(r.ID == c.tok.Agent, "agents--my:ro", "agents--all:ro")); err != nil {
		return nil, err
	}
	a := c.lic.Agents[r.ID]
	if a == nil {
		return nil, newError(errNotFound, "agent %q not found", r.ID)
	}
	return c.lic.agentView(a, r.Fields), nil
}

type listAgentsRequest struct {
	Filters struct {
		GroupIDs []int64 `json:"group_ids"`
	} `json:"filters"`
	Fields []string `json:"fields"`
}

func listAgents(c *call) (any, *apiError) {
	var r listAgentsRequest
	if err := c.decode(&r); err != nil {
		return nil, err
	}
	if err := c.need("agents--all:ro"); err != nil {
		return nil, err
	}
	for i, id := range r.Filters.GroupIDs {
		if c.lic.Groups[id] == nil {
			return nil, newError(errGroupNotFound, "filters.group_ids[%d]: group %d not found", i, id)
		}
	}
	out := []any{}
	for _, a := range sortedBySeq(c.lic.Agents, func(a *agent) int { return a.Seq }) {
		if r.Filters.GroupIDs != nil && !slices.ContainsFunc(r.Filters.GroupIDs, func(id int64) bool {
			_, ok := c.lic.Groups[id].Members[a.ID]
			return ok
		}) {
			continue
		}
		out = append(out, c.lic.agentView(a, r.Fields))
	}
	return out, nil
}

// agentView is an agent as get_agent and list_agents answer: the basic fields, and those of
// fields. A requested list is [] when empty rather than absent.
func (l *license) agentView(a *agent, fields []string) map[string]any {
	// avatar_path is answered even when empty, as get_agent's example has it among the basics.
	v := map[string]any{
		"id": a.ID, "name": a.Name, "avatar_path": a.AvatarPath, "role": a.Role, "login_status": a.LoginStatus,
	}
	for _, f := range fields {
		switch f {
		case "work_scheduler":
			v[f] = orEmptyMap(a.WorkScheduler)
		case "groups":
			v[f] = l.membershipsOf(a.ID)
		case "email_subscriptions", "summaries":
			v[f] = orEmpty(a.EmailSubscriptions)
		case "notifications":
			v[f] = orEmpty(a.Notifications)
		case "job_title":
			v[f] = a.JobTitle
		case "mobile":
			v[f] = a.Mobile
		case "max_chats_count":
			v[f] = a.MaxChatsCount
		case "suspended":
			v[f] = a.Suspended
		case "awaiting_approval":
			v[f] = a.AwaitingApproval
		}
	}
	return v
}

func updateAgent(c *call) (any, *apiError) {
	var r agentRequest
	if err := c.decode(&r); err != nil {
		return nil, err
	}
	// Footnotes 1 and 2: another agent needs agents--all:rw, a new role
	// accounts.roles.lc--all:rw.
	if err := c.need(mine(r.ID == c.tok.Agent, "agents--my:rw", "agents--all:rw")); err != nil {
		return nil, err
	}
	if r.Role != nil {
		if err := c.need("accounts.roles.lc--all:rw"); err != nil {
			return nil, err
		}
	}
	a := c.lic.Agents[r.ID]
	if a == nil {
		return nil, newError(errNotFound, "agent %q not found", r.ID)
	}
	if r.Role != nil && a.ID == c.lic.Owner {
		return nil, invalid("role", "the license owner's role cannot be changed")
	}
	if err := c.lic.checkMemberships("groups", r.Groups); err != nil {
		return nil, err
	}
	a.apply(&r)
	if r.Groups != nil {
		c.lic.setMemberships(a.ID, *r.Groups)
	}
	return nil, nil
}

func deleteAgent(c *call) (any, *apiError) {
	var r idRequest
	if err := c.decode(&r); err != nil {
		return nil, err
	}
	// Footnote 1: another agent needs the --all scopes.
	self := r.ID == c.tok.Agent
	if err := c.need(mine(self, "agents--my:rw", "agents--all:rw"), mine(self, "accounts--my:rw", "accounts--all:rw")); err != nil {
		return nil, err
	}
	a, err := c.lic.agent(r.ID)
	if err != nil {
		return nil, err
	}
	if a.ID == c.lic.Owner {
		return nil, invalid("id", "the license owner cannot be deleted")
	}
	c.lic.setMemberships(a.ID, nil)
	delete(c.lic.Agents, a.ID)
	// The spec's copy does not show agent_deleted's payload; agent_id is what its filter,
	// agent_ids, is matched against.
	c.events = append(c.events, Event{License: c.lic.ID, Action: "agent_deleted", Payload: map[string]any{"agent_id": a.ID}})
	return nil, nil
}

func suspendAgent(c *call) (any, *apiError) {
	return changeAgent(c, []string{"agents--all:rw", "sessions--all:rw"}, func(a *agent) *apiError {
		if a.ID == c.lic.Owner {
			return invalid("id", "the license owner cannot be suspended")
		}
		a.Suspended = true
		return nil
	})
}

func unsuspendAgent(c *call) (any, *apiError) {
	return changeAgent(c, []string{"agents--all:rw", "accounts--all:rw", "subscription.lc:rw"}, func(a *agent) *apiError {
		a.Suspended = false
		return nil
	})
}

func approveAgent(c *call) (any, *apiError) {
	return changeAgent(c, []string{"agents--all:rw", "accounts--all:rw", "subscription.lc:rw"}, func(a *agent) *apiError {
		a.AwaitingApproval = false
		return nil
	})
}

// changeAgent serves the actions that take an agent id, need scopes, and change the agent with
// change, which may refuse before changing anything.
func changeAgent(c *call, scopes []string, change func(*agent) *apiError) (any, *apiError) {
	var r idRequest
	if err := c.decode(&r); err != nil {
		return nil, err
	}
	if err := c.need(scopes...); err != nil {
		return nil, err
	}
	a, err := c.lic.agent(r.ID)
	if err != nil {
		return nil, err
	}
	return nil, change(a)
}

// requestAgentUnsuspension accepts the request: the upstream only emails the license's owners,
// which the emulator has no way to do. It needs no scope.
func requestAgentUnsuspension(c *call) (any, *apiError) { return nil, nil }

// agent returns the agent with id, or not_found.
func (l *license) agent(id string) (*agent, *apiError) {
	if a := l.Agents[id]; a != nil {
		return a, nil
	}
	return nil, newError(errNotFound, "agent %q not found", id)
}

// checkMemberships checks that every group of an agent or bot exists. The spec's rules have
// already refused a group listed twice.
func (l *license) checkMemberships(path string, ms *[]membership) *apiError {
	if ms == nil {
		return nil
	}
	for i, m := range *ms {
		if l.Groups[m.ID] == nil {
			return newError(errGroupNotFound, "%s[%d].id: group %d not found", path, i, m.ID)
		}
	}
	return nil
}

// setMemberships makes ms the groups of member, an agent or bot id.
func (l *license) setMemberships(member string, ms []membership) {
	for _, g := range l.Groups {
		delete(g.Members, member)
	}
	for _, m := range ms {
		l.Groups[m.ID].Members[member] = m.Priority
	}
}

// membershipsOf returns the groups of member, by group id.
func (l *license) membershipsOf(member string) []membership {
	out := []membership{}
	for _, g := range l.Groups {
		if p, ok := g.Members[member]; ok {
			out = append(out, membership{g.ID, p})
		}
	}
	slices.SortFunc(out, func(a, b membership) int { return int(a.ID - b.ID) })
	return out
}

// sortedBySeq returns m's values in creation order.
func sortedBySeq[V any](m map[string]V, seq func(V) int) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b V) int { return seq(a) - seq(b) })
	return out
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func orEmptyMap[V any](m map[string]V) map[string]V {
	if m == nil {
		return map[string]V{}
	}
	return m
}
