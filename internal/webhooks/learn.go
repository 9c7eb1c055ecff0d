package webhooks

import (
	"slices"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
)

// Secret returns the webhook id and secret that a successful write sets, if it sets one:
// register_webhook's secret_key for the id its answer gives; create_bot's and update_bot's
// webhooks.secret_key for the bot's id, which is the webhook_id of the bot's deliveries. An
// update_bot whose update_mask leaves webhooks.secret_key out did not send it, and sets none.
func Secret(action string, req, resp proto.Message) (webhookID, secret string, ok bool) {
	switch action {
	case "register_webhook":
		q, _ := req.(*configv1.RegisterWebhookRequest)
		a, _ := resp.(*configv1.RegisterWebhookResponse)
		webhookID, secret = a.GetWebhookId(), q.GetSecretKey()
	case "create_bot":
		q, _ := req.(*configv1.CreateBotRequest)
		a, _ := resp.(*configv1.CreateBotResponse)
		webhookID, secret = a.GetBotAgentId(), q.GetWebhooks().GetSecretKey()
	case "update_bot":
		q, _ := req.(*configv1.UpdateBotRequest)
		if paths := q.GetUpdateMask().GetPaths(); len(paths) > 0 &&
			!slices.Contains(paths, "webhooks") && !slices.Contains(paths, "webhooks.secret_key") {
			return "", "", false
		}
		webhookID, secret = q.GetId(), q.GetWebhooks().GetSecretKey()
	}
	return webhookID, secret, webhookID != "" && secret != ""
}
