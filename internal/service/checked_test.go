package service

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/upstream"
)

func TestCheckedBodies(t *testing.T) {
	c := newCheckedBodies()
	getAgent, getBot := testutil.Action(t, "get_agent"), testutil.Action(t, "get_bot")
	body := []byte(`{"id":"a@example.com"}`)
	if c.passed(getAgent, body) {
		t.Fatal("a body passed before it was added")
	}
	c.add(getAgent, body)
	if !c.passed(getAgent, body) {
		t.Error("an added body did not pass")
	}
	if c.passed(getBot, body) {
		t.Error("a body passed for another action")
	}
	if c.passed(getAgent, []byte(`{"id":"b@example.com"}`)) {
		t.Error("another body passed")
	}
	big := []byte(`{"id":"` + strings.Repeat("x", maxCheckedBody) + `"}`)
	if c.add(getAgent, big); c.passed(getAgent, big) {
		t.Error("a body over maxCheckedBody was kept")
	}
}

// TestCheckedRequestsRefusedEveryTime: a request that fails the checks is refused every time it
// is made, and never reaches the upstream; one that passes is served every time.
func TestCheckedRequestsRefusedEveryTime(t *testing.T) {
	up := &fakeUpstream{resp: &upstream.Response{Body: []byte(`{"id":"a@example.com"}`)}}
	s, _ := newService(t, up)
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs(MDAuthorization, "Bearer dal:x"))
	a := testutil.Action(t, "get_agent")
	bad, good := a.NewRequest(), a.NewRequest()
	if err := jsonUnmarshal(`{}`, bad); err != nil { // id is required
		t.Fatal(err)
	}
	if err := jsonUnmarshal(`{"id":"a@example.com"}`, good); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := s.Call(ctx, a, bad); status.Code(err) != codes.InvalidArgument {
			t.Errorf("bad request, call %d: %v, want INVALID_ARGUMENT", i, err)
		}
		if _, err := s.Call(ctx, a, good); err != nil {
			t.Errorf("good request, call %d: %v", i, err)
		}
	}
	if n := up.count(); n != 3 {
		t.Errorf("%d upstream calls, want the 3 good ones", n)
	}
}
