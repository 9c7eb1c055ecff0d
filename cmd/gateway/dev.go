package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	configv1 "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
	"github.com/livechat-gateway/gateway/internal/service"
)

// What gateway -dev registers at start, so that a newcomer can watch webhook deliveries with
// the commands it prints: a webhook of each of devActions, for devLicense, as devToken, whose
// URL is the gateway's own receiver.
const (
	devToken   = "dal:owner-a"
	devLicense = "A" // devToken's license, as the emulator's configuration names it
	// devEvent is the event the printed command fires at the emulator.
	devEvent = `{"license": "A", "action": "incoming_chat", "payload": {"chat": {"id": "PJ0MRSHTDG", "users": []}}}`
	// devRegisterTimeout bounds the registrations, EMULATOR_LATENCY included.
	devRegisterTimeout = 30 * time.Second
)

// devActions are the actions of the webhooks -dev registers: incoming_chat, which the printed
// command fires, and agent_deleted, which the emulator fires itself when delete_agent succeeds.
var devActions = []string{"incoming_chat", "agent_deleted"}

// devWebhooks is what -dev registered, for its help.
type devWebhooks struct {
	receiverURL string   // the URL the webhooks were registered with
	ids         []string // in the order of devActions
}

// receiverTransport is the emulator's delivery transport in -dev: it hands every delivery,
// whatever its webhook's URL, to the gateway's receiver in this process. So -dev works offline
// (a webhook registered with any URL is delivered to the gateway, never to the network), and
// whatever the TLS settings, since no listener, certificate or client certificate is in the way.
// The handler is set once the gateway is built, after the emulator.
type receiverTransport struct {
	handler atomic.Pointer[http.Handler]
}

func (t *receiverTransport) set(h http.Handler) { t.handler.Store(&h) }

// RoundTrip serves r with the receiver and returns its answer.
func (t *receiverTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	h := t.handler.Load()
	if h == nil {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, errors.New("gateway -dev: the gateway's receiver is not built yet")
	}
	in := r.Clone(r.Context())
	if in.Body == nil {
		in.Body = http.NoBody
	}
	in.RequestURI = r.URL.RequestURI()
	in.RemoteAddr = "127.0.0.1:0" // the emulator, in this process
	w := httptest.NewRecorder()
	(*h).ServeHTTP(w, in)
	in.Body.Close()
	resp := w.Result()
	resp.Request = r
	return resp, nil
}

// registerDevWebhooks registers devActions' webhooks through the gateway (conn, its in-process
// channel), as devToken, with receiverURL and a random secret: the gateway learns the secret as it
// learns any register_webhook's, and the emulator delivers with it.
func registerDevWebhooks(ctx context.Context, conn grpc.ClientConnInterface, receiverURL string) (*devWebhooks, error) {
	ctx, cancel := context.WithTimeout(ctx, devRegisterTimeout)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, service.MDAuthorization, "Bearer "+devToken)
	secret := make([]byte, 16)
	rand.Read(secret)
	client := configv1.NewWebhookServiceClient(conn)
	out := &devWebhooks{receiverURL: receiverURL}
	for _, a := range devActions {
		desc := "gateway -dev: deliveries to the gateway's own receiver"
		resp, err := client.RegisterWebhook(ctx, &configv1.RegisterWebhookRequest{
			Action: a, Url: receiverURL, SecretKey: hex.EncodeToString(secret), Description: &desc,
		})
		if err != nil {
			return nil, fmt.Errorf("register_webhook %s: %w", a, err)
		}
		out.ids = append(out.ids, resp.GetWebhookId())
	}
	return out, nil
}
