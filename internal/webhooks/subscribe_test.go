package webhooks

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
	"github.com/livechat-gateway/gateway/internal/action"
)

// listGateway authorises every subscriber for webhook wh1: the answer of
// list_registered_webhooks; list_bots is not the token's to call.
type listGateway struct{}

func (listGateway) Call(_ context.Context, a *action.Action, _ proto.Message) (proto.Message, error) {
	if a.Name == "list_registered_webhooks" {
		return &configv1.ListRegisteredWebhooksResponse{Webhooks: []*configv1.Webhook{{WebhookId: "wh1"}}}, nil
	}
	return nil, status.Error(codes.PermissionDenied, "no scope")
}

func (listGateway) Recv(grpc.ServerStream, proto.Message) error { return errors.New("not a stream") }

// sickStore is a Store whose reads fail while down is set, as a Redis that is restarting: Append
// goes on to the store beneath (a delivery taken by a replica whose Redis is up), and readsDown
// counts the reads that failed.
type sickStore struct {
	Store
	down      atomic.Bool
	readsDown atomic.Int64
}

var errSick = errors.New("connection refused")

func (s *sickStore) Read(ctx context.Context, license, after string, limit int, wait time.Duration) ([]Event, error) {
	if s.down.Load() {
		s.readsDown.Add(1)
		return nil, errSick
	}
	return s.Store.Read(ctx, license, after, limit, wait)
}

func (s *sickStore) Last(ctx context.Context, license string) (string, error) {
	if s.down.Load() {
		return "", errSick
	}
	return s.Store.Last(ctx, license)
}

// served is one Serve of a stream in a goroutine: its messages, and its end.
type served struct {
	msgs chan *configv1.SubscribeWebhooksResponse
	done chan error
}

func serve(t *testing.T, subs *Subscriptions, after string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s := &served{msgs: make(chan *configv1.SubscribeWebhooksResponse, 100), done: make(chan error, 1)}
	go func() {
		s.done <- subs.Serve(ctx, &configv1.SubscribeWebhooksRequest{LicenseId: "A", After: after}, func(m *configv1.SubscribeWebhooksResponse) error {
			s.msgs <- m
			return nil
		})
	}()
	return s
}

// next returns the next message, failing if the stream ends or none comes within 10s.
func (s *served) next(t *testing.T) *configv1.SubscribeWebhooksResponse {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case err := <-s.done:
		t.Fatalf("the stream ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
	}
	return nil
}

// event returns the next event's id, passing heartbeats over.
func (s *served) event(t *testing.T) string {
	t.Helper()
	for {
		if ev := s.next(t).GetEvent(); ev != nil {
			return ev.GetId()
		}
	}
}

// TestSubscribeRidesOutFailingStore (issue 15, acceptance 5, the stream's part): a stream whose
// store fails keeps sending heartbeats, and when the store answers again within storeGrace it
// goes on from where it was, with the events appended meanwhile, each once. When the store fails
// for longer than storeGrace (the clock moved past it), the stream ends with UNAVAILABLE naming
// the after to resume with, and a stream resumed with it receives exactly the events it had not.
func TestSubscribeRidesOutFailingStore(t *testing.T) {
	var (
		mu  sync.Mutex
		off time.Duration
	)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(off) }
	store := &sickStore{Store: NewMemoryStore(Options{}, 0)}
	subs, err := NewSubscriptions(SubscriptionOptions{
		Store: store, Gateway: listGateway{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		CacheTTL: time.Hour, Heartbeat: 100 * time.Millisecond, Now: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	appendN := func(from, n int) []string {
		t.Helper()
		var ids []string
		for i := from; i < from+n; i++ {
			ev := event(i)
			ev.LicenseID = "A"
			id, _, err := store.Append(ctx, "A", ev)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		return ids
	}

	s := serve(t, subs, "")
	if hb := s.next(t).GetHeartbeat(); hb == nil {
		t.Fatal("the first message is not a heartbeat")
	}
	first := appendN(0, 2)
	for _, id := range first {
		if got := s.event(t); got != id {
			t.Fatalf("event %s, want %s", got, id)
		}
	}

	// failing waits until the stream has met the failing store n more times, seeing no event:
	// a Read under way when the store went down may still return what was there.
	failing := func(n int64) {
		t.Helper()
		for before := store.readsDown.Load(); store.readsDown.Load() < before+n; {
			if m := s.next(t); m.GetEvent() != nil {
				t.Fatalf("event %s sent while the store failed", m.GetEvent().GetId())
			}
		}
	}

	// Down, within the grace: heartbeats go on; the events appended meanwhile come once it is up.
	store.down.Store(true)
	failing(1)
	during := appendN(2, 3)
	failing(2)
	store.down.Store(false)
	for _, id := range during {
		if got := s.event(t); got != id {
			t.Fatalf("after the store came back: event %s, want %s", got, id)
		}
	}

	// Down past the grace: UNAVAILABLE, naming the last event sent as the after to resume with.
	store.down.Store(true)
	failing(1)
	missed := appendN(5, 3)
	mu.Lock()
	off += storeGrace + time.Second
	mu.Unlock()
	var end error
	for end == nil {
		select {
		case m := <-s.msgs:
			if m.GetEvent() != nil {
				t.Fatalf("event %s sent while the store failed", m.GetEvent().GetId())
			}
		case end = <-s.done:
		case <-time.After(10 * time.Second):
			t.Fatal("the stream did not end past the grace")
		}
	}
	last := during[len(during)-1]
	if st := status.Convert(end); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), `"`+last+`"`) {
		t.Fatalf("past the grace the stream ended with %v %q, want UNAVAILABLE naming after %q", st.Code(), st.Message(), last)
	}
	store.down.Store(false)
	resumed := serve(t, subs, last)
	if hb := resumed.next(t).GetHeartbeat(); hb.GetAfter() != last {
		t.Fatalf("the resumed stream's first message = %v, want a heartbeat after %s", hb, last)
	}
	for _, id := range missed {
		if got := resumed.event(t); got != id {
			t.Fatalf("resumed: event %s, want %s", got, id)
		}
	}
}
