package emulator

import (
	"maps"
	"slices"
)

type groupRequest struct {
	ID              int64              `json:"id"`
	Name            *string            `json:"name"`
	LanguageCode    *string            `json:"language_code"`
	AgentPriorities *map[string]string `json:"agent_priorities"`
	Fields          []string           `json:"fields"`
}

// routingStatus is every group's routing status: nobody is logged in to an emulator.
const routingStatus = "offline"

func createGroup(c *call) (any, *apiError) {
	var r groupRequest
	if err := c.decode(&r); err != nil {
		return nil, err
	}
	if err := c.need("groups--all:rw"); err != nil {
		return nil, err
	}
	if err := c.lic.checkPriorities(*r.AgentPriorities); err != nil {
		return nil, err
	}
	g := &group{ID: c.lic.NextGroupID, Name: *r.Name, LanguageCode: "en", Members: map[string]string{}}
	if r.LanguageCode != nil {
		g.LanguageCode = *r.LanguageCode
	}
	c.lic.NextGroupID++
	maps.Copy(g.Members, *r.AgentPriorities)
	c.lic.Groups[g.ID] = g
	return map[string]any{"id": g.ID}, nil
}

// checkPriorities checks that every key of an agent_priorities map is an agent or a bot.
func (l *license) checkPriorities(ps map[string]string) *apiError {
	for _, id := range sortedKeys(ps) {
		if l.Agents[id] == nil && l.Bots[id] == nil {
			return newError(errNotFound, "agent_priorities.%s: agent %q not found", id, id)
		}
	}
	return nil
}

// group returns the group with id after checking the scopes: my for a group the requester is a
// member of, all for the others.
func (c *call) group(id int64, my, all string) (*group, *apiError) {
	if err := c.need(my); err != nil {
		return nil, err
	}
	g := c.lic.Groups[id]
	if g == nil {
		return nil, newError(errGroupNotFound, "group %d not found", id)
	}
	if _, member := g.Members[c.tok.Agent]; !member {
		if err := c.need(all); err != nil {
			return nil, err
		}
	}
	return g, nil
}

func updateGroup(c *call) (any, *apiError) {
	var r groupRequest
	if err := c.decode(&r); err != nil {
		return nil, err
	}
	g, err := c.group(r.ID, "groups--my:rw", "groups--all:rw")
	if err != nil {
		return nil, err
	}
	if r.AgentPriorities != nil {
		if err := c.lic.checkPriorities(*r.AgentPriorities); err != nil {
			return nil, err
		}
	}
	if r.Name != nil {
		g.Name = *r.Name
	}
	if r.LanguageCode != nil {
		g.LanguageCode = *r.LanguageCode
	}
	if r.AgentPriorities != nil {
		g.Members = maps.Clone(*r.AgentPriorities)
	}
	return nil, nil
}

func deleteGroup(c *call) (any, *apiError) {
	var r groupRequest
	if err := c.decode(&r); err != nil {
		return nil, err
	}
	g, err := c.group(r.ID, "groups--my:rw", "groups--all:rw")
	if err != nil {
		return nil, err
	}
	if g.ID == generalGroup {
		return nil, invalid("id", "group 0 (General) cannot be deleted")
	}
	delete(c.lic.Groups, g.ID)
	delete(c.lic.GroupValues, g.ID)
	return nil, nil
}

func listGroups(c *call) (any, *apiError) {
	var r groupRequest
	if err := c.decode(&r); err != nil {
		return nil, err
	}
	if err := c.need("groups--all:ro"); err != nil {
		return nil, err
	}
	ids := make([]int64, 0, len(c.lic.Groups))
	for id := range c.lic.Groups {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := []any{}
	for _, id := range ids {
		out = append(out, c.lic.Groups[id].view(r.Fields))
	}
	return out, nil
}

func getGroup(c *call) (any, *apiError) {
	var r groupRequest
	if err := c.decode(&r); err != nil {
		return nil, err
	}
	g, err := c.group(r.ID, "groups--my:ro", "groups--all:ro")
	if err != nil {
		return nil, err
	}
	return g.view(r.Fields), nil
}

// view is a group as list_groups and get_group answer it. routing_status is always answered:
// fields[] lists it as optional, but list_groups' example answers it to a request without
// fields, and a client may rely on either.
func (g *group) view(fields []string) map[string]any {
	v := map[string]any{"id": g.ID, "name": g.Name, "language_code": g.LanguageCode, "routing_status": routingStatus}
	if slices.Contains(fields, "agent_priorities") {
		v["agent_priorities"] = orEmptyMap(g.Members)
	}
	return v
}
