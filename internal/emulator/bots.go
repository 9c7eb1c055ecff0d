package emulator

import (
	"github.com/livechat-gateway/gateway/internal/spec"
)

// botRequest is create_bot's and update_bot's request.
type botRequest struct {
	ID                   string                `json:"id"`
	Name                 *string               `json:"name"`
	Avatar               *string               `json:"avatar"`
	MaxChatsCount        *int                  `json:"max_chats_count"`
	DefaultGroupPriority *string               `json:"default_group_priority"`
	JobTitle             *string               `json:"job_title"`
	Groups               *[]membership         `json:"groups"`
	WorkScheduler        *map[string]workHours `json:"work_scheduler"`
}

type botIDRequest struct {
	BotAgentID string `json:"bot_agent_id"`
}

// botIDLength is the length of the upstream's bot ids, such as 5c9871d5372c824cbf22d860a707a578.
const botIDLength = 32

func createBot(c *call) (any, *apiError) {
	var r botRequest
	if err := c.decode(&r); err != nil {
		return nil, err
	}
	if err := c.need("agents-bot--my:rw"); err != nil {
		return nil, err
	}
	webhooks, _ := c.field("webhooks").(map[string]any)
	if err := c.lic.checkMemberships("groups", r.Groups); err != nil {
		return nil, err
	}
	id := c.fixedID
	if id == "" {
		id = c.w.newID(botIDLength)
	}
	if c.lic.Bots[id] != nil || c.lic.Agents[id] != nil {
		return nil, newError(errAlreadyExist, "bot %q already exists", id)
	}
	c.lic.Seq++
	b := &bot{
		Seq: c.lic.Seq, ID: id, Status: "not accepting chats", ClientID: c.tok.ClientID,
		Personal: c.tok.Personal, MaxChatsCount: spec.BotDefaultMaxChats, Webhooks: webhooks,
	}
	b.apply(&r)
	c.lic.Bots[id] = b
	if r.Groups == nil {
		// Like a new agent, a new bot joins the General group, with its default priority.
		p := b.DefaultGroupPriority
		if p == "" {
			p = "normal"
		}
		c.lic.setMemberships(id, []membership{{generalGroup, p}})
	} else {
		c.lic.setMemberships(id, *r.Groups)
	}
	return map[string]any{"bot_agent_id": id}, nil
}

func (b *bot) apply(r *botRequest) {
	if r.Name != nil {
		b.Name = *r.Name
	}
	if r.Avatar != nil {
		b.Avatar = *r.Avatar
	}
	if r.MaxChatsCount != nil {
		b.MaxChatsCount = *r.MaxChatsCount
	}
	if r.DefaultGroupPriority != nil {
		b.DefaultGroupPriority = *r.DefaultGroupPriority
	}
	if r.JobTitle != nil {
		b.JobTitle = *r.JobTitle
	}
	if r.WorkScheduler != nil {
		b.WorkScheduler = *r.WorkScheduler
	}
}

// botOwn reports whether the requester owns b: the requester's application created it, or, for a
// personal access token, any PAT did (see list_bots' footnote).
func (c *call) botOwn(b *bot) bool {
	if c.tok.Personal {
		return b.Personal
	}
	return !b.Personal && b.ClientID == c.tok.ClientID
}

// bot returns the bot with id after checking the scopes: my for the requester's own bots, all for
// the others.
func (c *call) bot(id, my, all string) (*bot, *apiError) {
	if err := c.need(my); err != nil {
		return nil, err
	}
	b := c.lic.Bots[id]
	if b == nil {
		return nil, newError(errNotFound, "bot %q not found", id)
	}
	if !c.botOwn(b) {
		if err := c.need(all); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func deleteBot(c *call) (any, *apiError) {
	var r botIDRequest
	if err := c.decode(&r); err != nil {
		return nil, err
	}
	b, err := c.bot(r.BotAgentID, "agents-bot--my:rw", "agents-bot--all:rw")
	if err != nil {
		return nil, err
	}
	c.lic.setMemberships(b.ID, nil)
	delete(c.lic.Bots, b.ID)
	return nil, nil
}

func updateBot(c *call) (any, *apiError) {
	var r botRequest
	if err := c.decode(&r); err != nil {
		return nil, err
	}
	b, err := c.bot(r.ID, "agents-bot--my:rw", "agents-bot--all:rw")
	if err != nil {
		return nil, err
	}
	webhooks, _ := c.field("webhooks").(map[string]any)
	if err := c.lic.checkMemberships("groups", r.Groups); err != nil {
		return nil, err
	}
	b.apply(&r)
	if webhooks != nil {
		b.Webhooks = webhooks
	}
	if r.Groups != nil {
		c.lic.setMemberships(b.ID, *r.Groups)
	}
	return nil, nil
}

type listBotsRequest struct {
	All bool `json:"all"`
}

func listBots(c *call) (any, *apiError) {
	var r listBotsRequest
	if err := c.decode(&r); err != nil {
		return nil, err
	}
	if err := c.need(mine(!r.All, "agents-bot--my:ro", "agents-bot--all:ro")); err != nil {
		return nil, err
	}
	out := []any{}
	for _, b := range sortedBySeq(c.lic.Bots, func(b *bot) int { return b.Seq }) {
		if r.All || c.botOwn(b) {
			out = append(out, b.summary())
		}
	}
	return map[string]any{"bot_agents": out}, nil
}

func getBot(c *call) (any, *apiError) {
	var r botIDRequest
	if err := c.decode(&r); err != nil {
		return nil, err
	}
	b, err := c.bot(r.BotAgentID, "agents-bot--my:ro", "agents-bot--all:ro")
	if err != nil {
		return nil, err
	}
	v := b.summary()
	v["application"] = map[string]any{"client_id": b.ClientID}
	v["max_chats_count"] = b.MaxChatsCount
	v["groups"] = c.lic.membershipsOf(b.ID)
	if b.DefaultGroupPriority != "" {
		v["default_group_priority"] = b.DefaultGroupPriority
	}
	if b.JobTitle != "" {
		v["job_title"] = b.JobTitle
	}
	if b.Webhooks != nil {
		v["webhooks"] = b.Webhooks
	}
	if b.WorkScheduler != nil {
		v["work_scheduler"] = b.WorkScheduler
	}
	return map[string]any{"bot_agent": v}, nil
}

// summary is a bot as list_bots answers.
func (b *bot) summary() map[string]any {
	// avatar is answered even when empty, as list_bots' example has it.
	return map[string]any{"id": b.ID, "name": b.Name, "avatar": b.Avatar, "status": b.Status}
}
