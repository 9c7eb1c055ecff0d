package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/livechat-gateway/gateway/internal/cache"
	"github.com/livechat-gateway/gateway/internal/service"
	"github.com/livechat-gateway/gateway/internal/webhooks"
)

// hooks is the gateway's webhook part: the secrets, the events' store and the receiver of
// POST /webhooks (docs/webhooks.md).
type hooks struct {
	registry *webhooks.Registry
	store    webhooks.Store
	receiver *webhooks.Receiver
	// subs serves SubscribeWebhooks; set by subscribe, once the service exists.
	subs    *webhooks.Subscriptions
	client  redis.UniversalClient // the store's and registry's own Redis client, or nil
	timeout time.Duration         // WEBHOOK_STORE_TIMEOUT, also for learning a secret
	log     *slog.Logger
}

// newHooks builds the webhook part of cfg. secret keys the secrets' hashes; shared says whether
// every replica holds it (CACHE_KEY_SECRET), without which the learned secrets stay in process.
// ro is the Redis TLS options (redisTLS).
func newHooks(cfg Config, log *slog.Logger, tp trace.TracerProvider, secret []byte, shared bool, reg prometheus.Registerer, ro cache.RedisOptions) (*hooks, error) {
	configured, err := webhooks.ParseSecrets(cfg.WebhookSecrets)
	if err != nil {
		return nil, fmt.Errorf("WEBHOOK_SECRETS: %w", err)
	}
	opts := webhooks.Options{DedupeWindow: cfg.WebhookDedupeWindow, Retention: cfg.WebhookRetention, MaxLen: cfg.WebhookStreamMaxLen}
	h := &hooks{log: log, timeout: cfg.WebhookStoreTimeout}
	var registryRedis redis.UniversalClient
	if cfg.RedisURL == "" {
		h.store = webhooks.NewMemoryStore(opts, int64(cfg.WebhookMemoryMaxBytes))
		log.Info("webhook events in process: deliveries received by this replica only, lost on restart (set REDIS_URL to share them)")
	} else {
		// A client of its own: its pool is not the cache's, whose timeouts are tens of
		// milliseconds, and a burst of deliveries or subscribers' reads must never hold the
		// cache's connections.
		ro.DialTimeout, ro.ReadTimeout, ro.WriteTimeout, ro.PoolTimeout = cfg.WebhookStoreTimeout, cfg.WebhookStoreTimeout, cfg.WebhookStoreTimeout, cfg.WebhookStoreTimeout
		ro.TracerProvider = tp
		c, err := cache.NewRedisClient(cfg.RedisURL, ro)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		h.client = c
		h.store = webhooks.NewRedisStore(c, opts, cfg.WebhookStoreTimeout)
		if shared {
			registryRedis = c
		} else {
			log.Warn("CACHE_KEY_SECRET is unset: webhook secrets learned here verify only this replica's deliveries; set it so that every replica verifies them")
		}
	}
	h.registry = webhooks.NewRegistry(secret, cfg.WebhookMaxSecrets, registryRedis, configured)
	h.receiver, err = webhooks.NewReceiver(webhooks.ReceiverOptions{
		Registry: h.registry, Store: h.store, Logger: log, Metrics: reg,
		MaxBodyBytes: int64(cfg.MaxRequestBytes), MaxDepth: cfg.MaxJSONDepth,
		Timeout: cfg.WebhookStoreTimeout, MaxInFlight: cfg.WebhookMaxInFlight,
	})
	if err != nil {
		h.close()
		return nil, err
	}
	if len(configured) > 0 {
		log.Info("webhook secrets configured", "webhooks", len(configured)) // how many, never which secret
	}
	return h, nil
}

// subscribe builds the SubscribeWebhooks streams, which read h's store and authorise each
// subscriber through svc's cache.
func (h *hooks) subscribe(cfg Config, svc *service.Service, reg prometheus.Registerer) error {
	var err error
	h.subs, err = webhooks.NewSubscriptions(webhooks.SubscriptionOptions{
		Store: h.store, Gateway: svc, Logger: h.log, Metrics: reg, CacheTTL: cfg.CacheTTL,
		Heartbeat: cfg.WebhookHeartbeat, MaxSubscribers: cfg.WebhookMaxSubscribers, Batch: cfg.WebhookSubscriberBatch,
	})
	return err
}

// learn is the service's write hook: it learns the webhook secret a successful write sets, before
// the write's answer goes back, so that the first delivery, which may follow at once, verifies.
// A failure fails no call (the write has been made), but is logged, without the secret.
func (h *hooks) learn(ctx context.Context, action string, req, resp proto.Message) {
	id, secret, ok := webhooks.Secret(action, req, resp)
	if !ok {
		return
	}
	// Not the caller's cancellation: the write is made, and its secret must be kept
	// even when the caller has gone.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.timeout)
	defer cancel()
	if err := h.registry.Learn(lctx, id, secret); err != nil {
		level := slog.LevelError
		if errors.Is(err, webhooks.ErrRegistryFull) {
			level = slog.LevelWarn
		}
		h.log.Log(ctx, level, "webhook secret not learned: this webhook's deliveries will be refused until it is", "action", action, "webhook_id", id, "err", err)
		return
	}
	h.log.Debug("webhook secret learned", "action", action, "webhook_id", id)
}

func (h *hooks) close() {
	if h.store != nil {
		h.store.Close()
	}
	if h.client != nil {
		h.client.Close()
	}
}
