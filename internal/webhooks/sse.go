package webhooks

import (
	"context"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	configv1 "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
	"github.com/livechat-gateway/gateway/internal/requestid"
	"github.com/livechat-gateway/gateway/internal/rest"
	"github.com/livechat-gateway/gateway/internal/service"
)

// SSEPath is the REST path of SubscribeWebhooks.
const SSEPath = "/v3.2/gateway/webhooks/stream"

// SSE serves SubscribeWebhooks over REST as server-sent events (GET SSEPath): the query holds the
// request's fields (license_id, actions, webhook_ids, after; a list field repeated or
// comma-separated), Last-Event-ID stands for after when a browser's EventSource reconnects, and
// the headers are the REST surface's (Authorization, X-Region, X-Request-Id).
//
// It opens the RPC through client, the REST surface's in-process channel, so that a stream takes
// the same path as over gRPC, interceptors included. Until the stream's first message (a
// heartbeat, sent once the caller is authorised) an error is answered as the REST surface answers
// errors: the upstream's error body with its HTTP status. After it, each event is an SSE event
// "webhook" whose id is the event's id and whose data is the WebhookEvent as JSON; heartbeats are
// events "heartbeat" with the id they passed; an error that ends the stream is an event "error"
// with the upstream's error body.
type SSE struct {
	client       configv1.WebhookServiceClient
	mux          *runtime.ServeMux
	writeTimeout time.Duration
}

// NewSSE returns the handler. mux is the REST surface's ServeMux, whose header matchers make
// the call's metadata. writeTimeout bounds each write to the client (GATEWAY_HTTP_WRITE_TIMEOUT),
// which the HTTP server would otherwise apply to the whole stream.
func NewSSE(client configv1.WebhookServiceClient, mux *runtime.ServeMux, writeTimeout time.Duration) *SSE {
	return &SSE{client: client, mux: mux, writeTimeout: writeTimeout}
}

// sseJSON writes messages as the REST surface does, with the proto's snake_case names.
var sseJSON = protojson.MarshalOptions{UseProtoNames: true}

// ServeHTTP implements http.Handler.
func (h *SSE) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, err := sseRequest(r)
	if err != nil {
		rest.WriteError(r.Context(), w, err)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	// The call's metadata, as the REST surface's ServeMux makes it for every call: the same
	// headers forwarded (Authorization, X-Region, X-Request-Id, Cache-Control), and the client's
	// address in x-forwarded-for, which the call's log line names.
	ctx, err = runtime.AnnotateContext(ctx, h.mux, r, configv1.WebhookService_SubscribeWebhooks_FullMethodName, runtime.WithHTTPPathPattern(SSEPath))
	if err != nil {
		rest.WriteError(ctx, w, err)
		return
	}
	stream, err := h.client.SubscribeWebhooks(ctx, req)
	if err != nil {
		rest.WriteError(ctx, w, err)
		return
	}
	first, err := stream.Recv()
	// The call's header metadata, as the REST surface's answers carry it: its request id, and
	// the lifecycle headers of the upstream's last answer (from the authorisation's lists).
	if header, _ := stream.Header(); header != nil {
		for _, k := range []string{requestid.Key, service.MDLegacy, service.MDDeprecation} {
			if v := header.Get(k); len(v) > 0 {
				w.Header().Set(textproto.CanonicalMIMEHeaderKey(k), v[0])
			}
		}
	}
	if err != nil {
		rest.WriteError(ctx, w, err)
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{}) // the request is read; the stream lasts
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no") // nginx: pass events on as they come
	w.WriteHeader(http.StatusOK)
	write := func(frame string) error {
		_ = rc.SetWriteDeadline(time.Now().Add(h.writeTimeout))
		if _, err := fmt.Fprint(w, frame); err != nil {
			return err
		}
		return rc.Flush()
	}
	for m := first; ; {
		frame, err := sseFrame(m)
		if err == nil {
			err = write(frame)
		}
		if err != nil {
			return // the client has gone, or is too slow to take a frame: cancel ends the stream
		}
		if m, err = stream.Recv(); err != nil {
			if ctx.Err() == nil {
				_ = write(sseError(err))
			}
			return
		}
	}
}

// sseFrame is m as an SSE event.
func sseFrame(m *configv1.SubscribeWebhooksResponse) (string, error) {
	switch m := m.GetMessage().(type) {
	case *configv1.SubscribeWebhooksResponse_Event:
		b, err := sseJSON.Marshal(m.Event)
		if err != nil {
			return "", err
		}
		return "id: " + m.Event.GetId() + "\nevent: webhook\ndata: " + string(b) + "\n\n", nil
	case *configv1.SubscribeWebhooksResponse_Heartbeat:
		b, err := sseJSON.Marshal(m.Heartbeat)
		if err != nil {
			return "", err
		}
		id := ""
		if after := m.Heartbeat.GetAfter(); after != "" {
			id = "id: " + after + "\n" // a reconnecting EventSource resumes after what was passed
		}
		return id + "event: heartbeat\ndata: " + string(b) + "\n\n", nil
	}
	return "", fmt.Errorf("webhooks: an empty stream message")
}

// sseError is the event that ends a stream with err: the upstream's error body.
func sseError(err error) string {
	st := status.Convert(err)
	return "event: error\ndata: " + string(rest.ErrorBody(service.TypeOf(st), st.Message())) + "\n\n"
}

// sseRequest reads the request from the query and Last-Event-ID, refusing what it does not know.
func sseRequest(r *http.Request) (*configv1.SubscribeWebhooksRequest, error) {
	req := &configv1.SubscribeWebhooksRequest{}
	list := func(vs []string) []string {
		var out []string
		for _, v := range vs {
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					out = append(out, s)
				}
			}
		}
		return out
	}
	for k, vs := range r.URL.Query() {
		switch k {
		case "license_id":
			req.LicenseId = vs[len(vs)-1]
		case "after":
			req.After = vs[len(vs)-1]
		case "actions":
			req.Actions = list(vs)
		case "webhook_ids":
			req.WebhookIds = list(vs)
		default:
			if len(k) > 64 {
				k = strings.ToValidUTF8(k[:64], "") + "…"
			}
			return nil, service.InvalidArgument("query", fmt.Sprintf("unknown query parameter %q: the parameters are license_id, actions, webhook_ids and after", k))
		}
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		req.After = id
	}
	return req, nil
}
