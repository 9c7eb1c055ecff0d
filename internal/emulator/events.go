package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/livechat-gateway/gateway/internal/spec"
)

// Event is something that happened on a license, for the emulator to deliver to the license's
// webhooks of its action: the body of POST /emulator/events. The upstream learns of events from
// its chat APIs, which the emulator does not have, so tests describe them.
type Event struct {
	// License is the license's id as configured (A for dal:owner-a's).
	License string `json:"license"`
	// Action is a webhook action, one that register_webhook accepts, such as incoming_chat.
	Action string `json:"action"`
	// Payload is delivered as the webhook's payload, as given.
	Payload map[string]any `json:"payload"`
	// AdditionalData holds what webhooks may ask for with additional_data (chat_properties); a
	// webhook receives only the keys it asked for. chat_properties, when left out, is the
	// payload's chat.properties, if the payload has them.
	AdditionalData map[string]any `json:"additional_data,omitempty"`

	// The facts below are what the upstream knows about an event's chat and its filters judge,
	// but a payload may not carry. Each one, when left out, is read from the payload where the
	// spec's payloads hold it (see matches).

	// AuthorType is the author of the event, customer or agent, for the author_type filter.
	AuthorType string `json:"author_type,omitempty"`
	// ChatAgentIDs are the agents in the chat, for the chat_member_ids filter.
	ChatAgentIDs []string `json:"chat_agent_ids,omitempty"`
	// SourceClientID is the chat's source.client_id property, for the only_my_chats filter.
	SourceClientID string `json:"source_client_id,omitempty"`
}

// Delivery is one webhook delivery the emulator made and its outcome.
type Delivery struct {
	// Seq numbers the deliveries from 1, in the order they ended. ResetDeliveries (POST
	// /emulator/reset) does not restart it, so that a client that polls GET
	// /emulator/deliveries?after=<seq> never sees one twice.
	Seq  int64     `json:"seq"`
	Time time.Time `json:"time"` // when the request was sent
	// WebhookID is the webhook's id, or a bot's id for a bot's webhook (see the package doc).
	WebhookID string `json:"webhook_id"`
	Type      string `json:"type"` // license, for register_webhook's, or bot
	URL       string `json:"url"`
	Action    string `json:"action"`
	LicenseID string `json:"license_id"`
	// Status is the receiver's HTTP status, or 0 when it gave none; then Error says why.
	Status int    `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Failed reports whether the receiver did not take the delivery: no answer, or not a 2xx one.
func (d Delivery) Failed() bool { return d.Status < 200 || d.Status > 299 }

const (
	// deliveryTimeout bounds one delivery, the receiver's answer included, as the upstream gives
	// up on a slow receiver too.
	deliveryTimeout = 5 * time.Second
	// deliveryConcurrency bounds the deliveries in flight at once, for the whole emulator.
	deliveryConcurrency = 8
	// deliveryRecords is how many deliveries GET /emulator/deliveries keeps, the latest.
	deliveryRecords = 1000
	// maxEventBytes caps the body of POST /emulator/events.
	maxEventBytes = 1 << 20
	// maxDeliveriesWait caps GET /emulator/deliveries?wait=.
	maxDeliveriesWait = 30 * time.Second
)

// WithDeliveryClient makes the emulator deliver webhooks with c, for example one whose Transport
// reaches an in-process receiver whatever the webhook's URL. Each delivery still times out after
// 5 seconds. The default is a client of its own.
func WithDeliveryClient(c *http.Client) Option { return func(o *options) { o.deliveryClient = c } }

// deliveryLog records the latest deliveries and counts those in flight.
type deliveryLog struct {
	mu       sync.Mutex
	max      int
	records  []Delivery // oldest first, at most max
	seq      int64
	total    int64 // since the last reset, not only those kept
	failed   int64
	inFlight int
	idle     chan struct{} // closed while inFlight is 0
}

func newDeliveryLog() *deliveryLog {
	idle := make(chan struct{})
	close(idle)
	return &deliveryLog{max: deliveryRecords, idle: idle}
}

// start counts n deliveries about to be made.
func (l *deliveryLog) start(n int) {
	if n == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inFlight == 0 {
		l.idle = make(chan struct{})
	}
	l.inFlight += n
}

// done records a finished delivery, numbering it.
func (l *deliveryLog) done(d *Delivery) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	d.Seq = l.seq
	l.total++
	if d.Failed() {
		l.failed++
	}
	if len(l.records) >= l.max {
		l.records = slices.Delete(l.records, 0, len(l.records)-l.max+1)
	}
	l.records = append(l.records, *d)
	if l.inFlight--; l.inFlight == 0 {
		close(l.idle)
	}
}

// list returns the kept deliveries numbered above after.
func (l *deliveryLog) list(after int64) []Delivery {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []Delivery{}
	for _, d := range l.records {
		if d.Seq > after {
			out = append(out, d)
		}
	}
	return out
}

func (l *deliveryLog) stats() map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	return map[string]any{"total": l.total, "failed": l.failed, "in_flight": l.inFlight}
}

func (l *deliveryLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records, l.total, l.failed = nil, 0, 0
}

// wait waits until no delivery is in flight, or ctx is done.
func (l *deliveryLog) wait(ctx context.Context) error {
	for {
		l.mu.Lock()
		idle, n := l.idle, l.inFlight
		l.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-idle:
			// More may have started since; look again.
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Deliveries returns the latest webhook deliveries, at most 1000, oldest first.
func (e *Emulator) Deliveries() []Delivery { return e.deliveries.list(0) }

// WaitDeliveries waits until no webhook delivery is in flight, such as those delete_agent
// starts, or until ctx is done.
func (e *Emulator) WaitDeliveries(ctx context.Context) error { return e.deliveries.wait(ctx) }

// ResetDeliveries forgets the recorded deliveries and their counts. Deliveries in flight are
// still recorded when they end.
func (e *Emulator) ResetDeliveries() { e.deliveries.reset() }

// target is one webhook an event goes to, copied out of the state so that the delivery needs no
// lock.
type target struct {
	id, typ, url string
	body         []byte
}

// Fire delivers ev to every webhook of its license and action whose filters match, license
// webhooks first, in the order they were registered, then bots' webhooks. It returns when every
// delivery has ended, with their records. It refuses an unknown license or action.
func (e *Emulator) Fire(ctx context.Context, ev Event) ([]Delivery, error) {
	if err := ev.check(); err != nil {
		return nil, err
	}
	e.mu.Lock()
	lic := e.w.licenses[ev.License]
	if lic == nil {
		e.mu.Unlock()
		return nil, fmt.Errorf("unknown license %q; the licenses are %v", ev.License, sortedKeys(e.w.licenses))
	}
	targets := lic.targets(&ev)
	e.deliveries.start(len(targets))
	e.mu.Unlock()

	out := make([]Delivery, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = e.deliver(ctx, t, &ev)
		}()
	}
	wg.Wait()
	return out, nil
}

// fireLater delivers the events of a call that changed the state, such as delete_agent's
// agent_deleted, in the background: the upstream does not hold an action's answer back for its
// webhooks. The webhooks are chosen now, under e.mu, which the caller holds.
func (e *Emulator) fireLater(lic *license, events []Event) {
	for _, ev := range events {
		targets := lic.targets(&ev)
		e.deliveries.start(len(targets))
		for _, t := range targets {
			go e.deliver(context.Background(), t, &ev)
		}
	}
}

// check refuses an event the upstream could not send.
func (ev *Event) check() error {
	// An action is a webhook action when register_webhook takes it: the spec's rules say which.
	probe := map[string]any{"action": ev.Action, "secret_key": "k", "url": "http://localhost"}
	if err := spec.Check("register_webhook", probe); err != nil {
		var violation *spec.Violation
		if errors.As(err, &violation) {
			return fmt.Errorf("action: %s", violation.Message)
		}
		return err
	}
	if ev.Payload == nil {
		return errors.New("payload: an object is required")
	}
	if ev.AuthorType != "" && ev.AuthorType != "customer" && ev.AuthorType != "agent" {
		return fmt.Errorf("author_type %q: must be customer or agent", ev.AuthorType)
	}
	// Checked here, before the state is locked, so that building the bodies cannot fail: a Go
	// caller may put anything in the maps.
	if _, err := json.Marshal([]any{ev.Payload, ev.AdditionalData}); err != nil {
		return fmt.Errorf("payload or additional_data: %w", err)
	}
	return nil
}

// targets returns the webhooks of l that ev goes to, each with its body. The caller holds e.mu.
func (l *license) targets(ev *Event) []target {
	var out []target
	add := func(id, typ, url, secret, owner string, filters map[string]any, extra []string) {
		if !ev.matches(filters, owner) {
			return
		}
		out = append(out, target{id: id, typ: typ, url: url, body: ev.body(l.ID, id, secret, extra)})
	}
	for _, h := range sortedBySeq(l.Webhooks, func(h *webhook) int { return h.Seq }) {
		if h.Action == ev.Action {
			add(h.ID, "license", h.URL, h.SecretKey, h.OwnerClientID, h.Filters, h.AdditionalData)
		}
	}
	// A bot's webhooks are create_bot's "webhooks" object, as the request gave it.
	for _, b := range sortedBySeq(l.Bots, func(b *bot) int { return b.Seq }) {
		url, _ := b.Webhooks["url"].(string)
		secret, _ := b.Webhooks["secret_key"].(string)
		actions, _ := b.Webhooks["actions"].([]any)
		for _, a := range actions {
			a, _ := a.(map[string]any)
			if a["name"] != ev.Action {
				continue
			}
			filters, _ := a["filters"].(map[string]any)
			add(b.ID, "bot", url, secret, b.ClientID, filters, stringList(a["additional_data"]))
		}
	}
	return out
}

// body is the general webhook format the spec gives, for one webhook.
func (ev *Event) body(licenseID, webhookID, secret string, extra []string) []byte {
	additional := map[string]any{}
	for _, k := range extra {
		if v, ok := ev.AdditionalData[k]; ok {
			additional[k] = v
		} else if p := ev.chatProperties(); k == "chat_properties" && p != nil {
			// The upstream knows the chat's properties; a payload that holds the chat says them.
			additional[k] = p
		}
	}
	b, err := json.Marshal(struct {
		WebhookID      string         `json:"webhook_id"`
		SecretKey      string         `json:"secret_key"`
		Action         string         `json:"action"`
		LicenseID      string         `json:"license_id"`
		Payload        map[string]any `json:"payload"`
		AdditionalData map[string]any `json:"additional_data"`
	}{webhookID, secret, ev.Action, licenseID, ev.Payload, additional})
	if err != nil {
		panic(err) // check has marshalled the same values
	}
	return b
}

// deliver posts t's body to its URL, once, and records the outcome. The secret is in the body,
// as the protocol has it, and nowhere else: not in the record, not in a log.
func (e *Emulator) deliver(ctx context.Context, t target, ev *Event) (d Delivery) {
	d = Delivery{WebhookID: t.id, Type: t.typ, URL: t.url, Action: ev.Action, LicenseID: ev.License}
	// Recorded however it ends; d is the named result, so the caller gets its number too.
	defer e.deliveries.done(&d)
	select {
	case e.sem <- struct{}{}:
		defer func() { <-e.sem }()
	case <-ctx.Done():
		d.Time, d.Error = time.Now().UTC(), ctx.Err().Error()
		return d
	}
	d.Time = time.Now().UTC()
	ctx, cancel := context.WithTimeout(ctx, deliveryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(t.body))
	if err != nil {
		d.Error = err.Error()
		return d
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "livechat-emulator")
	resp, err := e.client.Do(req)
	if err != nil {
		d.Error = err.Error()
		return d
	}
	// Drained, within reason, so that the connection can be reused.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	d.Status = resp.StatusCode
	return d
}

// matches reports whether a webhook with filters, registered by the application owner, takes the
// event. Every filter must hold. A filter whose fact the event does not give holds only when it
// excludes: agents_exclude with no known agents holds, agents_any, author_type, only_my_chats,
// agent_ids and chat_properties do not. A filter the emulator does not know does not hold.
func (ev *Event) matches(filters map[string]any, owner string) bool {
	for k, v := range filters {
		var ok bool
		switch k {
		case "author_type":
			ok = ev.authorType() != "" && v == ev.authorType()
		case "only_my_chats":
			ok = v != true || (ev.sourceClientID() != "" && ev.sourceClientID() == owner)
		case "chat_member_ids":
			m, _ := v.(map[string]any)
			in := ev.chatAgentIDs()
			anyIn := func(ids []string) bool {
				return slices.ContainsFunc(ids, func(id string) bool { return slices.Contains(in, id) })
			}
			if ids, given := m["agents_any"]; given {
				ok = anyIn(stringList(ids))
			} else if ids, given := m["agents_exclude"]; given {
				ok = !anyIn(stringList(ids))
			}
		case "agent_ids":
			id, _ := ev.Payload["agent_id"].(string)
			ok = id != "" && slices.Contains(stringList(v), id)
		case "chat_properties":
			ok = ev.chatPropertiesMatch(v)
		}
		if !ok {
			return false
		}
	}
	return true
}

func (ev *Event) authorType() string {
	if ev.AuthorType != "" {
		return ev.AuthorType
	}
	// Not a documented payload field, but a test may describe its event this way.
	t, _ := dig(ev.Payload, "event", "author_type").(string)
	return t
}

// chatAgentIDs are the agents in the chat: as given, or the users of type agent in a payload
// that holds the chat (incoming_chat's payload.chat.users).
func (ev *Event) chatAgentIDs() []string {
	if ev.ChatAgentIDs != nil {
		return ev.ChatAgentIDs
	}
	users, _ := dig(ev.Payload, "chat", "users").([]any)
	var out []string
	for _, u := range users {
		u, _ := u.(map[string]any)
		if id, _ := u["id"].(string); id != "" && u["type"] == "agent" {
			out = append(out, id)
		}
	}
	return out
}

// sourceClientID is the chat's source.client_id property, which only_my_chats compares with
// the webhook owner's client id.
func (ev *Event) sourceClientID() string {
	if ev.SourceClientID != "" {
		return ev.SourceClientID
	}
	id, _ := dig(ev.chatProperties(), "source", "client_id").(string)
	return id
}

// chatProperties are the chat's properties: the payload's chat.properties, else the event's
// additional_data.chat_properties.
func (ev *Event) chatProperties() map[string]any {
	if p, ok := dig(ev.Payload, "chat", "properties").(map[string]any); ok {
		return p
	}
	p, _ := ev.AdditionalData["chat_properties"].(map[string]any)
	return p
}

// chatPropertiesMatch judges the chat_properties filter, {"<namespace>": {"<name>": {"values":
// [...]}}} as get_bot's example shows it: each named property is one of its values. That is the
// only condition the spec shows; any other does not hold.
func (ev *Event) chatPropertiesMatch(filter any) bool {
	f, _ := filter.(map[string]any)
	props := ev.chatProperties()
	for ns, names := range f {
		names, _ := names.(map[string]any)
		for name, cond := range names {
			cond, _ := cond.(map[string]any)
			values, ok := cond["values"].([]any)
			if !ok || len(cond) != 1 {
				return false
			}
			got := dig(props, ns, name)
			if got == nil || !slices.ContainsFunc(values, func(v any) bool { return sameJSON(v, got) }) {
				return false
			}
		}
	}
	return true
}

// dig returns the value at the path of keys through nested objects, or nil.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// stringList returns the strings of a JSON array.
func stringList(v any) []string {
	a, _ := v.([]any)
	out := make([]string, 0, len(a))
	for _, x := range a {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// sameJSON reports whether a and b encode alike, so that a number decoded as json.Number equals
// the same number given as a float64.
func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// serveEvent serves POST /emulator/events.
func (e *Emulator) serveEvent(w http.ResponseWriter, r *http.Request) {
	var ev Event
	d := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxEventBytes))
	d.DisallowUnknownFields()
	d.UseNumber()
	if err := d.Decode(&ev); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, invalid("", "event: body is larger than %d bytes", maxEventBytes))
			return
		}
		writeError(w, http.StatusBadRequest, invalid("", "event: %v", err))
		return
	}
	if d.More() {
		writeError(w, http.StatusBadRequest, invalid("", "event: data after the JSON object"))
		return
	}
	out, err := e.Fire(r.Context(), ev)
	if err != nil {
		writeError(w, http.StatusBadRequest, invalid("", "event: %v", err))
		return
	}
	writeJSON(w, map[string]any{"deliveries": out})
}

// serveDeliveries serves GET /emulator/deliveries[?after=<seq>][&wait=<duration>].
func (e *Emulator) serveDeliveries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var after int64
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, invalid("after", "want a delivery's seq, a number"))
			return
		}
		after = n
	}
	if v := q.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			writeError(w, http.StatusBadRequest, invalid("wait", "want a duration such as 5s"))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), min(d, maxDeliveriesWait))
		defer cancel()
		// Running out of time is no error: in_flight says what is still out.
		_ = e.WaitDeliveries(ctx)
	}
	out := e.deliveries.stats()
	out["deliveries"] = e.deliveries.list(after)
	writeJSON(w, out)
}
