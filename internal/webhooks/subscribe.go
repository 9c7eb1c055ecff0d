package webhooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	configv1 "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
	"github.com/livechat-gateway/gateway/internal/action"
	"github.com/livechat-gateway/gateway/internal/service"
)

// Gateway is what a subscription needs of the gateway's service: the generic path, through the
// cache, for the lists that authorise a subscriber, and the decoding of a stream's request with
// the service's rules. *service.Service implements it.
type Gateway interface {
	Call(ctx context.Context, a *action.Action, req proto.Message) (proto.Message, error)
	Recv(stream grpc.ServerStream, m proto.Message) error
}

var _ Gateway = (*service.Service)(nil)

// SubscriptionOptions configure Subscriptions. A zero bound takes its default.
type SubscriptionOptions struct {
	Store   Store
	Gateway Gateway
	Logger  *slog.Logger
	// CacheTTL is the cache's CACHE_TTL: a subscriber's lists are asked again when the
	// answers they came from expire from the cache.
	CacheTTL time.Duration
	// Heartbeat is how long a stream may go without a message (WEBHOOK_HEARTBEAT_INTERVAL):
	// past it, a heartbeat is sent. Default 15s.
	Heartbeat time.Duration
	// MaxSubscribers bounds the streams open at once on this replica, both surfaces
	// (WEBHOOK_MAX_SUBSCRIBERS). Default 1000.
	MaxSubscribers int
	// Batch is how many events a stream reads from the store at once, and so holds at most
	// while a slow subscriber takes them (WEBHOOK_SUBSCRIBER_BATCH). Default 100, at most
	// MaxRead.
	Batch int
	// Metrics, when not nil, gets the subscriptions' gauges.
	Metrics prometheus.Registerer
	// Now is the clock of heartbeats and re-checks. Default time.Now.
	Now func() time.Time
}

// Defaults of SubscriptionOptions.
const (
	DefaultHeartbeat      = 15 * time.Second
	DefaultMaxSubscribers = 1000
	DefaultBatch          = 100
)

// Bounds of a subscription that need no setting.
const (
	// maxFilters bounds the actions and webhook ids a request may list.
	maxFilters = 1000
	// minRecheck is the shortest time between two re-checks of a subscriber's lists, so that a
	// cache that keeps serving an expired answer (stale-if-error) is not asked in a loop.
	minRecheck = time.Second
	// storeGrace is how long a stream rides out a failing store (a Redis restart), reading again
	// with a growing pause and still sending heartbeats, before it ends with UNAVAILABLE.
	storeGrace = 30 * time.Second
)

// errDraining is the cause a stream ends with when the gateway shuts down.
var errDraining = errors.New("webhooks: the gateway is shutting down")

// Subscriptions serves WebhookService.SubscribeWebhooks: each stream follows one license's
// events in the Store, passes on those of the webhooks its caller may list, and resumes after an
// id. A stream holds at most Batch events at a time; a subscriber that reads slowly falls behind
// in the Store, not in memory, and is cut off with OUT_OF_RANGE if what it has not read is
// trimmed.
type Subscriptions struct {
	o        SubscriptionOptions
	open     prometheus.Gauge
	buffered prometheus.Gauge

	mu       sync.Mutex
	draining bool
	streams  map[*int]context.CancelCauseFunc
}

// NewSubscriptions returns the subscriptions o describes.
func NewSubscriptions(o SubscriptionOptions) (*Subscriptions, error) {
	if o.Store == nil || o.Gateway == nil || o.Logger == nil || o.CacheTTL <= 0 {
		return nil, errors.New("webhooks: subscriptions need a store, the gateway, a logger and the cache TTL")
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.MaxSubscribers <= 0 {
		o.MaxSubscribers = DefaultMaxSubscribers
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	o.Batch = min(o.Batch, MaxRead)
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Subscriptions{o: o, streams: map[*int]context.CancelCauseFunc{},
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_webhook_subscribers",
			Help: "SubscribeWebhooks streams open on this replica, gRPC and server-sent events.",
		}),
		buffered: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_webhook_subscriber_buffered_events",
			Help: "Events read from the store by SubscribeWebhooks streams and not yet sent or passed over: at most WEBHOOK_SUBSCRIBER_BATCH per stream, however slowly its subscriber reads.",
		}),
	}
	if o.Metrics != nil {
		for _, c := range []prometheus.Collector{s.open, s.buffered} {
			if err := o.Metrics.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// Stream returns the RPC for service.Service.Register.
func (s *Subscriptions) Stream() service.Stream {
	return service.Stream{FullMethod: configv1.WebhookService_SubscribeWebhooks_FullMethodName, Handler: s.handle}
}

// handle is the RPC's grpc.StreamHandler.
func (s *Subscriptions) handle(_ any, stream grpc.ServerStream) error {
	req := new(configv1.SubscribeWebhooksRequest)
	if err := s.o.Gateway.Recv(stream, req); err != nil {
		return err
	}
	return s.Serve(stream.Context(), req, func(m *configv1.SubscribeWebhooksResponse) error { return stream.SendMsg(m) })
}

// Drain ends every stream with UNAVAILABLE, which tells its subscriber to resume elsewhere with
// after, and refuses new ones: for a gateway shutting down, whose servers wait for open calls.
func (s *Subscriptions) Drain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.draining = true
	for _, cancel := range s.streams {
		cancel(errDraining)
	}
}

// join registers a new stream, or refuses it.
func (s *Subscriptions) join(ctx context.Context) (context.Context, func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return nil, nil, status.Error(codes.Unavailable, "the gateway is shutting down: subscribe on another replica")
	}
	if len(s.streams) >= s.o.MaxSubscribers {
		return nil, nil, service.Shed(fmt.Sprintf("this replica serves %d webhook subscriptions, its limit (WEBHOOK_MAX_SUBSCRIBERS): retry, or subscribe on another replica", s.o.MaxSubscribers))
	}
	ctx, cancel := context.WithCancelCause(ctx)
	key := new(int)
	s.streams[key] = cancel
	s.open.Inc()
	return ctx, func() {
		s.mu.Lock()
		delete(s.streams, key)
		s.mu.Unlock()
		s.open.Dec()
		cancel(nil)
	}, nil
}

// Serve serves one subscription, sending its messages with send, until the caller goes (ctx),
// the gateway drains, or an error ends it. The first message is a heartbeat, sent once the
// request is checked and the caller authorised, whose after is where the stream starts.
func (s *Subscriptions) Serve(ctx context.Context, req *configv1.SubscribeWebhooksRequest, send func(*configv1.SubscribeWebhooksResponse) error) error {
	if err := checkRequest(req); err != nil {
		return err
	}
	ctx, leave, err := s.join(ctx)
	if err != nil {
		return err
	}
	defer leave()
	st := &stream{s: s, license: req.GetLicenseId(), filter: newFilter(req), send: send, cursor: req.GetAfter()}
	return s.ended(ctx, st.run(ctx))
}

// stream is one subscription's state.
type stream struct {
	s       *Subscriptions
	license string
	filter  filter
	send    func(*configv1.SubscribeWebhooksResponse) error

	cursor   string          // the id of the last event passed, sent or not; "" before the first kept
	allowed  map[string]bool // the webhook ids the caller may receive deliveries of
	recheck  time.Time       // when to ask for allowed again
	nextBeat time.Time       // when to send a heartbeat if no event is sent before
	failing  time.Time       // since when the store fails, or zero
	pause    time.Duration   // before the next read of a failing store
}

// run authorises the caller, finds where the stream starts, and then reads and sends until an
// error ends the stream.
func (st *stream) run(ctx context.Context) error {
	var err error
	if st.allowed, st.recheck, err = st.s.authorize(ctx); err != nil {
		return err
	}
	switch st.cursor {
	case "0":
		st.cursor = "" // the oldest event kept
	case "":
		if st.cursor, err = st.s.o.Store.Last(ctx, st.license); err != nil {
			st.s.o.Logger.WarnContext(ctx, "webhook subscription: the event store failed", "err", err)
			return status.Error(codes.Unavailable, "the webhook event store is unavailable: retry")
		}
	}
	if err := st.beat(); err != nil {
		return err
	}
	for {
		if err := st.step(ctx); err != nil {
			return err
		}
	}
}

// step re-checks the authorisation when due, reads what follows the cursor (waiting for it until
// a heartbeat or re-check is due) and sends what passes, or a heartbeat when due.
func (st *stream) step(ctx context.Context) error {
	s := st.s
	now := s.o.Now()
	if !now.Before(st.recheck) {
		var err error
		if st.allowed, st.recheck, err = s.authorize(ctx); err != nil {
			return err
		}
	}
	wait := max(min(st.nextBeat.Sub(now), st.recheck.Sub(now)), time.Millisecond)
	events, err := s.o.Store.Read(ctx, st.license, st.cursor, s.o.Batch, wait)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, ErrTrimmed):
		return status.Errorf(codes.OutOfRange, "the events after %s are no longer kept (older than WEBHOOK_RETENTION, or past WEBHOOK_STREAM_MAX_LEN), so some are lost: subscribe again with after \"0\" for the oldest kept, or without after for new ones", st.cursor)
	case err != nil:
		return st.storeFailed(ctx, now, err)
	case !st.failing.IsZero():
		s.o.Logger.InfoContext(ctx, "webhook subscription: the event store answers again", "after", now.Sub(st.failing).String())
		st.failing = time.Time{}
	}
	s.buffered.Add(float64(len(events)))
	sent, err := s.deliver(ctx, events, st.allowed, st.filter, &st.cursor, st.send)
	s.buffered.Sub(float64(len(events)))
	if err != nil {
		return err
	}
	if now = s.o.Now(); sent {
		st.nextBeat = now.Add(s.o.Heartbeat)
	} else if !now.Before(st.nextBeat) {
		return st.beat()
	}
	return nil
}

// beat sends a heartbeat.
func (st *stream) beat() error {
	st.nextBeat = st.s.o.Now().Add(st.s.o.Heartbeat)
	return st.send(&configv1.SubscribeWebhooksResponse{Message: &configv1.SubscribeWebhooksResponse_Heartbeat{
		Heartbeat: &configv1.WebhookHeartbeat{After: st.cursor},
	}})
}

// storeFailed rides out a failing store (a Redis restart) for storeGrace: it pauses, longer each
// time, before the next read, sending heartbeats when due; past the grace it ends the stream.
func (st *stream) storeFailed(ctx context.Context, now time.Time, err error) error {
	if st.failing.IsZero() {
		st.failing, st.pause = now, 50*time.Millisecond
		st.s.o.Logger.WarnContext(ctx, "webhook subscription: the event store failed; reading again", "err", err)
	} else if now.Sub(st.failing) > storeGrace {
		return status.Errorf(codes.Unavailable, "the webhook event store has failed for %v: subscribe again with after %q", storeGrace, st.cursor)
	}
	if !now.Before(st.nextBeat) {
		if err := st.beat(); err != nil {
			return err
		}
	}
	t := time.NewTimer(st.pause)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	st.pause = min(2*st.pause, time.Second)
	return nil
}

// deliver sends the events that pass the subscription's authorisation and filters, moving cursor
// past each, sent or not. It reports whether it sent any.
func (s *Subscriptions) deliver(ctx context.Context, events []Event, allowed map[string]bool, f filter, cursor *string, send func(*configv1.SubscribeWebhooksResponse) error) (bool, error) {
	sent := false
	for i := range events {
		ev := &events[i]
		if allowed[ev.WebhookID] && f.pass(ev) {
			m, err := message(ev)
			if err != nil {
				// Stored by the receiver, which checked both are objects: only a damaged
				// store gets here. Passed over, so that one bad entry cannot stall a stream.
				s.o.Logger.ErrorContext(ctx, "webhook subscription: an event that does not decode; passed over", "id", ev.ID, "err", err)
			} else if err := send(m); err != nil {
				return sent, err
			}
			sent = true
		}
		*cursor = ev.ID
	}
	return sent, nil
}

// ended is the status a stream ends with: UNAVAILABLE when the gateway drains, else err's.
func (s *Subscriptions) ended(ctx context.Context, err error) error {
	if errors.Is(context.Cause(ctx), errDraining) {
		return status.Error(codes.Unavailable, "the gateway is shutting down: subscribe again, on another replica, with after set to the id of the last event you processed")
	}
	if _, ok := status.FromError(err); !ok {
		return status.FromContextError(err).Err()
	}
	return err
}

// authorize returns the webhook ids the caller may receive deliveries of: its registered
// webhooks' and its bots' (a bot's deliveries carry its id), read through the cache, and when
// to ask again: when the first of the two answers expires from the cache. A token without the
// scope to list bots has none of their deliveries; any other error ends the stream with its
// status (a revoked token: UNAUTHENTICATED).
func (s *Subscriptions) authorize(ctx context.Context) (map[string]bool, time.Time, error) {
	now := s.o.Now()
	recheck := now.Add(s.o.CacheTTL)
	call := func(name string, req proto.Message) (proto.Message, error) {
		a, _ := action.ByName(name)
		cctx, notes := service.WithNotes(ctx)
		resp, err := s.o.Gateway.Call(cctx, a, req)
		if f := notes.Fetched(); err == nil && !f.IsZero() && f.Add(s.o.CacheTTL).Before(recheck) {
			recheck = f.Add(s.o.CacheTTL)
		}
		return resp, err
	}
	allowed := map[string]bool{}
	resp, err := call("list_registered_webhooks", &configv1.ListRegisteredWebhooksRequest{})
	if err != nil {
		return nil, time.Time{}, err
	}
	for _, w := range resp.(*configv1.ListRegisteredWebhooksResponse).GetWebhooks() {
		allowed[w.GetWebhookId()] = true
	}
	resp, err = call("list_bots", &configv1.ListBotsRequest{})
	switch {
	case status.Code(err) == codes.PermissionDenied:
	case err != nil:
		return nil, time.Time{}, err
	default:
		for _, b := range resp.(*configv1.ListBotsResponse).GetBotAgents() {
			allowed[b.GetId()] = true
		}
	}
	if floor := now.Add(minRecheck); recheck.Before(floor) {
		recheck = floor
	}
	return allowed, recheck, nil
}

// filter is a request's actions and webhook_ids; an empty set passes everything.
type filter struct{ actions, ids map[string]bool }

func newFilter(req *configv1.SubscribeWebhooksRequest) filter {
	set := func(v []string) map[string]bool {
		if len(v) == 0 {
			return nil
		}
		m := make(map[string]bool, len(v))
		for _, s := range v {
			m[s] = true
		}
		return m
	}
	return filter{actions: set(req.GetActions()), ids: set(req.GetWebhookIds())}
}

func (f filter) pass(ev *Event) bool {
	return (f.actions == nil || f.actions[ev.Action]) && (f.ids == nil || f.ids[ev.WebhookID])
}

// checkRequest refuses a request that cannot name a stream or a filter, naming the field.
func checkRequest(req *configv1.SubscribeWebhooksRequest) error {
	switch {
	case req.GetLicenseId() == "":
		return service.InvalidArgument("license_id", "license_id is required: the license whose deliveries to stream, as their license_id gives it")
	case !ValidLicense(req.GetLicenseId()):
		return service.InvalidArgument("license_id", "license_id must be 1 to 64 letters, digits, '_', '.' or '-'")
	case len(req.GetActions()) > maxFilters:
		return service.InvalidArgument("actions", fmt.Sprintf("actions may list at most %d actions", maxFilters))
	case len(req.GetWebhookIds()) > maxFilters:
		return service.InvalidArgument("webhook_ids", fmt.Sprintf("webhook_ids may list at most %d ids", maxFilters))
	}
	for i, a := range req.GetActions() {
		if !actionPattern.MatchString(a) {
			return service.InvalidArgument(fmt.Sprintf("actions[%d]", i), "an action is a snake_case name such as incoming_chat")
		}
	}
	for i, id := range req.GetWebhookIds() {
		if !webhookIDPattern.MatchString(id) {
			return service.InvalidArgument(fmt.Sprintf("webhook_ids[%d]", i), "a webhook id is 1 to 128 letters, digits or _.:@+-")
		}
	}
	if after := req.GetAfter(); after != "0" {
		if _, err := parseID(after); err != nil {
			return service.InvalidArgument("after", "after must be an event id, <milliseconds>-<sequence> such as 1767225600000-0, or 0 for the oldest event kept")
		}
	}
	return nil
}

// message is the stream's message of ev.
func message(ev *Event) (*configv1.SubscribeWebhooksResponse, error) {
	payload, extra := new(structpb.Struct), new(structpb.Struct)
	if err := protojson.Unmarshal(ev.Payload, payload); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	if err := protojson.Unmarshal(additional(ev.AdditionalData), extra); err != nil {
		return nil, fmt.Errorf("additional_data: %w", err)
	}
	return &configv1.SubscribeWebhooksResponse{Message: &configv1.SubscribeWebhooksResponse_Event{Event: &configv1.WebhookEvent{
		Id: ev.ID, ReceivedAt: timestamppb.New(ev.ReceivedAt), WebhookId: ev.WebhookID, Action: ev.Action,
		LicenseId: ev.LicenseID, Payload: payload, AdditionalData: extra,
	}}}, nil
}
