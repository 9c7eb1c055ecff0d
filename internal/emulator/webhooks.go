package emulator

import "github.com/livechat-gateway/gateway/internal/spec"

type registerWebhookRequest struct {
	Action         string         `json:"action"`
	SecretKey      string         `json:"secret_key"`
	URL            string         `json:"url"`
	AdditionalData []string       `json:"additional_data"`
	Description    string         `json:"description"`
	Filters        map[string]any `json:"filters"`
}

// webhookIDLength is the length of a new webhook id; the spec's example is 25 characters.
const webhookIDLength = 25

func registerWebhook(c *call) (any, *apiError) {
	var r registerWebhookRequest
	if err := c.decode(&r); err != nil {
		return nil, err
	}
	if err := c.need("webhooks--my:rw"); err != nil {
		return nil, err
	}
	filters, _ := c.field("filters").(map[string]any)
	// The limit is per action, and for PATs shared by all of them: "Using multiple PATs doesn't
	// rise the limit".
	limit, n := spec.WebhooksPerAction, 0
	if c.tok.Personal {
		limit = spec.WebhooksPerActionPAT
	}
	for _, h := range c.lic.Webhooks {
		if h.Action == r.Action && h.Personal == c.tok.Personal && (c.tok.Personal || h.OwnerClientID == c.tok.ClientID) {
			n++
		}
	}
	if n >= limit {
		return nil, newError(errLimitReached, "at most %d webhooks can be registered for action %q", limit, r.Action)
	}
	id := c.fixedID
	if id == "" {
		id = c.w.newID(webhookIDLength)
	}
	if c.lic.Webhooks[id] != nil {
		return nil, newError(errAlreadyExist, "webhook %q already exists", id)
	}
	c.lic.Seq++
	c.lic.Webhooks[id] = &webhook{
		Seq: c.lic.Seq, ID: id, URL: r.URL, Description: r.Description, Action: r.Action,
		SecretKey: r.SecretKey, Filters: filters, AdditionalData: r.AdditionalData,
		OwnerClientID: c.tok.ClientID, Personal: c.tok.Personal,
	}
	return map[string]any{"webhook_id": id}, nil
}

// listRegisteredWebhooks answers the webhooks of the requester's application, or, with
// webhooks--all:ro, every webhook of the license. The secret keys are not listed.
func listRegisteredWebhooks(c *call) (any, *apiError) {
	if err := c.need("webhooks--my:ro"); err != nil {
		return nil, err
	}
	all := c.tok.has("webhooks--all:ro")
	out := []any{}
	for _, h := range sortedBySeq(c.lic.Webhooks, func(h *webhook) int { return h.Seq }) {
		if !all && h.OwnerClientID != c.tok.ClientID {
			continue
		}
		v := map[string]any{
			"webhook_id": h.ID, "url": h.URL, "action": h.Action, "owner_client_id": h.OwnerClientID,
		}
		if h.Description != "" {
			v["description"] = h.Description
		}
		if h.Filters != nil {
			v["filters"] = h.Filters
		}
		if h.AdditionalData != nil {
			v["additional_data"] = h.AdditionalData
		}
		out = append(out, v)
	}
	return out, nil
}

type unregisterWebhookRequest struct {
	WebhookID string `json:"webhook_id"`
}

func unregisterWebhook(c *call) (any, *apiError) {
	var r unregisterWebhookRequest
	if err := c.decode(&r); err != nil {
		return nil, err
	}
	if err := c.need("webhooks--my:rw"); err != nil {
		return nil, err
	}
	h := c.lic.Webhooks[r.WebhookID]
	if h == nil {
		return nil, newError(errNotFound, "webhook %q not found", r.WebhookID)
	}
	if h.OwnerClientID != c.tok.ClientID {
		if err := c.need("webhooks--all:rw"); err != nil {
			return nil, err
		}
	}
	delete(c.lic.Webhooks, h.ID)
	return nil, nil
}
