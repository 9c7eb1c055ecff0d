package service

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"google.golang.org/grpc/status"

	"github.com/livechat-gateway/gateway/internal/spec"
	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/upstream"
	"github.com/livechat-gateway/gateway/internal/wire"
)

// The hot path's steps that BenchmarkSealHit does not measure (it measures deriving a sealer,
// opening, decoding a hit and sealing a fill), each with its allocations: run with make
// bench-micro. Their ns/op are for comparing steps within one run, not runs with each other.

// hpRequests are the requests the steps are measured on: get_agent, which make bench loads,
// and update_agent, a write with nested fields and an inferred update mask.
var hpRequests = []struct{ name, action, req string }{
	{"get_agent", "get_agent", `{"id":"agent000@example.com"}`},
	{"update_agent", "update_agent", `{"id":"agent000@example.com","name":"Agent 000","job_title":"Support",
		"max_chats_count":6,"groups":[{"id":0,"priority":"normal"},{"id":1,"priority":"first"}],
		"notifications":["new_visitor","incoming_chat"],"work_scheduler":{"monday":{"start":"08:00","end":"16:00"}},
		"update_mask":"name,jobTitle,maxChatsCount,groups,notifications,workScheduler"}`},
}

// BenchmarkKeyDerivation measures what a read pays to name its entry before the lookup: the
// credential's id (an HMAC of the token under a key derived from CACHE_KEY_SECRET) and the entry
// key (a SHA-256 of the request's bytes, formatted).
func BenchmarkKeyDerivation(b *testing.B) {
	const auth = "Bearer dal:owner-a"
	k, _ := stSealer(b, stSecret, auth)
	a := testutil.Action(b, "get_agent")
	body := []byte(`{"id":"agent000@example.com"}`)
	b.Run("credential-id", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			k.id(auth)
		}
	})
	id := k.id(auth)
	b.Run("entry-key", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			entryKey(id, "", a, body)
		}
	})
}

// BenchmarkRequest measures what every call pays before the cache or the upstream, in the order
// Service.call pays it: the request's upstream JSON (wire.EncodeRequest), its depth check and
// its check against the documented rules (spec.CheckBody), then all three together.
func BenchmarkRequest(b *testing.B) {
	for _, tc := range hpRequests {
		a := testutil.Action(b, tc.action)
		req := a.NewRequest()
		if err := jsonUnmarshal(tc.req, req); err != nil {
			b.Fatal(err)
		}
		body, err := wire.EncodeRequest(a, req)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name+"/encode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := wire.EncodeRequest(a, req); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(body)), "body-B")
		})
		b.Run(tc.name+"/depth", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := wire.CheckDepth(body, wire.DefaultMaxDepth); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/check", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := spec.CheckBody(a.Name, body); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/all", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				body, err := wire.EncodeRequest(a, req)
				if err == nil {
					err = wire.CheckDepth(body, wire.DefaultMaxDepth)
				}
				if err == nil {
					err = spec.CheckBody(a.Name, body)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkErrorMapping measures turning an upstream error into the call's gRPC status with its
// details (Service.status), for a plain error and for one with data and a Retry-After.
func BenchmarkErrorMapping(b *testing.B) {
	svc, err := New(&fakeUpstream{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	a := testutil.Action(b, "get_agent")
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"not_found", &upstream.Error{Action: a.Name, Status: 404, Type: "not_found", Message: "Agent not found"}},
		{"too_many_requests", &upstream.Error{Action: a.Name, Status: 429, Type: "too_many_requests",
			Message: "Too many requests", Data: map[string]any{"limit": "100/min"}, RetryAfter: 3e9}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if st := status.Convert(svc.status(ctx, a, tc.err, false)); st.Code() == 0 {
					b.Fatal("no error")
				}
			}
		})
	}
}
