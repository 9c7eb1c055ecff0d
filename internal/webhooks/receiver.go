package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/livechat-gateway/gateway/internal/rest"
	"github.com/livechat-gateway/gateway/internal/wire"
)

// Results of a delivery, the values of gateway_webhook_deliveries_total's result label: a fixed
// few, whatever a sender puts in its body.
const (
	ResultStored       = "stored"
	ResultDuplicate    = "duplicate"
	ResultUnauthorized = "unauthorized"
	ResultMalformed    = "malformed"
	ResultStoreError   = "store_error"
	ResultShed         = "shed"
)

// ReceiverOptions configure a Receiver.
type ReceiverOptions struct {
	Registry *Registry
	Store    Store
	Logger   *slog.Logger
	// Metrics, when not nil, gets gateway_webhook_deliveries_total.
	Metrics prometheus.Registerer
	// MaxBodyBytes bounds a delivery's body (GATEWAY_MAX_REQUEST_BYTES); larger is 413.
	MaxBodyBytes int64
	// MaxDepth bounds its nesting (GATEWAY_MAX_JSON_DEPTH), checked before it is decoded.
	MaxDepth int
	// Timeout bounds the verification and the append together (WEBHOOK_STORE_TIMEOUT).
	Timeout time.Duration
	// MaxInFlight bounds the deliveries handled at once (WEBHOOK_MAX_IN_FLIGHT); past it a
	// delivery is answered 503 at once, and LiveChat retries it.
	MaxInFlight int
	// Now is the clock of received_at. Default time.Now.
	Now func() time.Time
}

// Receiver is the http.Handler of POST /webhooks.
type Receiver struct {
	o     ReceiverOptions
	slots chan struct{}
	count *prometheus.CounterVec
}

// NewReceiver returns the receiver o describes.
func NewReceiver(o ReceiverOptions) (*Receiver, error) {
	if o.Registry == nil || o.Store == nil || o.Logger == nil {
		return nil, errors.New("webhooks: a receiver needs a registry, a store and a logger")
	}
	if o.MaxBodyBytes <= 0 || o.MaxDepth <= 0 || o.Timeout <= 0 || o.MaxInFlight <= 0 {
		return nil, errors.New("webhooks: a receiver needs its bounds: body bytes, depth, timeout, in flight")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	r := &Receiver{o: o, slots: make(chan struct{}, o.MaxInFlight),
		count: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_webhook_deliveries_total",
			Help: "Webhook deliveries received on /webhooks, by result: stored, duplicate (stored before, within the dedupe window), unauthorized (secret_key not the webhook's), malformed (not the general webhook format, too large or too deep), store_error (not stored: 503, LiveChat retries), shed (too many at once: 503).",
		}, []string{"result"})}
	for _, res := range []string{ResultStored, ResultDuplicate, ResultUnauthorized, ResultMalformed, ResultStoreError, ResultShed} {
		r.count.WithLabelValues(res) // every series from the start, at 0
	}
	if o.Metrics != nil {
		if err := o.Metrics.Register(r.count); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// delivery is the general webhook format. Fields the spec does not name are ignored, so that a
// field LiveChat adds does not cost its deliveries.
type delivery struct {
	WebhookID      *string         `json:"webhook_id"`
	SecretKey      *string         `json:"secret_key"`
	Action         *string         `json:"action"`
	LicenseID      json.RawMessage `json:"license_id"`
	Payload        json.RawMessage `json:"payload"`
	AdditionalData json.RawMessage `json:"additional_data"`
}

// ServeHTTP handles one delivery: 200 once stored (or stored before), 400 malformed, 413 too
// large, 401 not verified, 503 when it could not be stored or too many are in flight.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	select {
	case rc.slots <- struct{}{}:
		defer func() { <-rc.slots }()
	default:
		rc.count.WithLabelValues(ResultShed).Inc()
		w.Header().Set("Retry-After", "1")
		rest.WriteErrorBody(w, http.StatusServiceUnavailable, "too_many_requests", "too many webhook deliveries at once; retry")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, rc.o.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			rc.refuse(w, req, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", rc.o.MaxBodyBytes))
			return
		}
		rc.refuse(w, req, http.StatusBadRequest, "the body could not be read")
		return
	}
	if err := wire.CheckDepth(body, rc.o.MaxDepth); err != nil {
		rc.refuse(w, req, http.StatusBadRequest, err.Error())
		return
	}
	ev, secret, msg := parse(body)
	if msg != "" {
		rc.refuse(w, req, http.StatusBadRequest, msg)
		return
	}
	ev.ReceivedAt = rc.o.Now().UTC()
	ctx, cancel := context.WithTimeout(req.Context(), rc.o.Timeout)
	defer cancel()
	log := rc.o.Logger.With("webhook_id", ev.WebhookID, "action", ev.Action, "license_id", ev.LicenseID)
	ok, err := rc.o.Registry.Verify(ctx, ev.WebhookID, secret)
	sameLicense := true
	if ok && err == nil {
		sameLicense, err = rc.o.Registry.Pin(ctx, ev.WebhookID, ev.LicenseID)
	}
	if err != nil {
		rc.count.WithLabelValues(ResultStoreError).Inc()
		log.Error("webhook delivery not verified: the secrets could not be read; answered 503 for a retry", "err", err)
		rest.WriteErrorBody(w, http.StatusServiceUnavailable, "internal", "the delivery could not be verified now; retry")
		return
	}
	if !ok {
		rc.count.WithLabelValues(ResultUnauthorized).Inc()
		log.Warn("webhook delivery refused: its secret_key is not the webhook's", "remote", req.RemoteAddr)
		rest.WriteErrorBody(w, http.StatusUnauthorized, "authentication", "secret_key is not the secret of a webhook this gateway knows")
		return
	}
	if !sameLicense {
		rc.count.WithLabelValues(ResultUnauthorized).Inc()
		log.Warn("webhook delivery refused: its webhook's deliveries carry another license_id", "remote", req.RemoteAddr)
		rest.WriteErrorBody(w, http.StatusUnauthorized, "authentication", "license_id is not the license of this webhook's deliveries")
		return
	}
	id, dup, err := rc.o.Store.Append(ctx, ev.LicenseID, ev)
	if err != nil {
		rc.count.WithLabelValues(ResultStoreError).Inc()
		log.Error("webhook delivery not stored; answered 503 for a retry", "err", err)
		rest.WriteErrorBody(w, http.StatusServiceUnavailable, "internal", "the delivery could not be stored; retry")
		return
	}
	result := ResultStored
	if dup {
		result = ResultDuplicate
	}
	rc.count.WithLabelValues(result).Inc()
	log.Info("webhook delivery", "result", result, "id", id)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"id": id, "duplicate": dup})
}

// refuse answers a malformed delivery. Nothing of the body is logged: it may hold a secret.
func (rc *Receiver) refuse(w http.ResponseWriter, req *http.Request, status int, msg string) {
	rc.count.WithLabelValues(ResultMalformed).Inc()
	rc.o.Logger.Warn("webhook delivery refused: malformed", "status", status, "reason", msg, "remote", req.RemoteAddr)
	rest.WriteErrorBody(w, status, "validation", msg)
}

// parse reads a delivery in the general webhook format, returning the event, its secret and ""
// or, for a malformed one, a message for the sender that names the field (and never quotes a
// value: secret_key is one).
func parse(body []byte) (Event, string, string) {
	var d delivery
	if err := json.Unmarshal(body, &d); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return Event{}, "", typeErr.Field + ": must be a string"
		}
		return Event{}, "", "the body is not a JSON object"
	}
	switch {
	case d.WebhookID == nil || *d.WebhookID == "":
		return Event{}, "", "webhook_id: is required"
	case !webhookIDPattern.MatchString(*d.WebhookID):
		return Event{}, "", "webhook_id: is not a webhook id (letters, digits and _.:@+-, at most 128)"
	case d.SecretKey == nil || *d.SecretKey == "":
		return Event{}, "", "secret_key: is required"
	case d.Action == nil || *d.Action == "":
		return Event{}, "", "action: is required"
	case !actionPattern.MatchString(*d.Action):
		return Event{}, "", "action: is not an action name (lowercase snake_case, at most 64)"
	}
	license, msg := licenseOf(d.LicenseID)
	if msg != "" {
		return Event{}, "", msg
	}
	payload, ok := object(d.Payload)
	if !ok || payload == nil {
		return Event{}, "", "payload: must be an object"
	}
	extra, ok := object(d.AdditionalData)
	if !ok {
		return Event{}, "", "additional_data: must be an object"
	}
	// Subscribers get both as protobuf Structs: what a Struct cannot hold would be stored,
	// acknowledged, and then never sent.
	if !structable(payload) {
		return Event{}, "", "payload: " + unstructable
	}
	if extra != nil && !structable(extra) {
		return Event{}, "", "additional_data: " + unstructable
	}
	return Event{WebhookID: *d.WebhookID, Action: *d.Action, LicenseID: license, Payload: payload, AdditionalData: extra}, *d.SecretKey, ""
}

// unstructable says what structable refuses.
const unstructable = "must be an object whose numbers fit a double, whose keys are unique and whose text is UTF-8"

// structable reports whether the JSON object b converts to a protobuf Struct.
func structable(b []byte) bool {
	return protojson.Unmarshal(b, new(structpb.Struct)) == nil
}

// licenseOf reads license_id, a string or a whole number: the upstream's ids are numbers, the
// emulator's strings.
func licenseOf(raw json.RawMessage) (string, string) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", "license_id: is required"
	}
	var license string
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &license); err != nil {
			return "", "license_id: must be a string or a number"
		}
	} else {
		n, err := strconv.ParseUint(string(raw), 10, 64)
		if err != nil {
			return "", "license_id: must be a string or a whole number"
		}
		license = strconv.FormatUint(n, 10)
	}
	if !ValidLicense(license) {
		return "", "license_id: is not a license id (letters, digits and _.-, at most 64)"
	}
	return license, ""
}

// object returns raw compacted when it is a JSON object, nil when it is absent or null, and
// false when it is anything else.
func object(raw json.RawMessage) (json.RawMessage, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, true
	}
	if raw[0] != '{' {
		return nil, false
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return nil, false
	}
	return b.Bytes(), true
}
