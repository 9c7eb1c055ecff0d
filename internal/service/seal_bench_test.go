package service

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/livechat-gateway/gateway/internal/action"
	"github.com/livechat-gateway/gateway/internal/cache"
	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/upstream"
	"github.com/livechat-gateway/gateway/internal/wire"
)

// stBenchAgent is agent i as get_agent answers it, with every field an agent has.
func stBenchAgent(i int) string {
	return fmt.Sprintf(`{"id":"agent%03d@example.com","name":"Agent %03d Lastname","role":"normal",
		"avatar_path":"https://cdn.livechat-files.com/api/file/lc/avatars/agent%03d.png","login_status":"accepting chats",
		"job_title":"Customer Support Specialist","mobile":"+1 555 0100 %03d","max_chats_count":6,
		"groups":[{"id":0,"priority":"normal"},{"id":1,"priority":"first"},{"id":2,"priority":"last"}],
		"notifications":["new_visitor","returning_visitor","queued_visitor","incoming_chat"],
		"email_subscriptions":["weekly_summary"],"summaries":["daily_summary","weekly_summary"],
		"work_scheduler":{"monday":{"start":"08:00","end":"16:00"},"tuesday":{"start":"08:00","end":"16:00"},
		"wednesday":{"start":"08:00","end":"16:00"}},"suspended":false,"awaiting_approval":false}`, i, i, i, i)
}

// stBenchAnswer returns a list_agents answer (the upstream's body) of at least size bytes as the
// cache encodes it.
func stBenchAgents(t testing.TB, size int) string {
	a := testutil.Action(t, "list_agents")
	var agents []string
	for {
		agents = append(agents, stBenchAgent(len(agents)))
		body := "[" + strings.Join(agents, ",") + "]"
		if len(stBenchPlain(t, a, body)) >= size {
			return body
		}
	}
}

// stBenchPlain decodes the upstream's body as the service does and encodes it as the cache does.
func stBenchPlain(t testing.TB, a *action.Action, body string) []byte {
	t.Helper()
	resp := a.NewResponse()
	if err := wire.CheckAnswer(a, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := wire.DecodeResponse(a, []byte(body), resp, wire.LenientUnmarshalOptions()); err != nil {
		t.Fatal(err)
	}
	plain, err := encodeAnswer(&answer{resp: resp, deprecation: "2027-06-30"})
	if err != nil {
		t.Fatal(err)
	}
	return plain
}

// stBenchService is a Service with a cache on the in-process store, in front of an upstream that
// answers body to every call, served over gRPC on an in-memory listener.
func stBenchService(b *testing.B, body string) (*Service, *grpc.ClientConn, *fakeUpstream) {
	b.Helper()
	up := &fakeUpstream{resp: &upstream.Response{Body: []byte(body), Deprecation: "2027-06-30"}}
	svc, err := New(up, slog.New(slog.NewTextHandler(io.Discard, nil)), WithCache(Cache{
		Store: cache.NewMemory(0, 0), TTL: time.Hour, Secret: stSecret,
	}))
	if err != nil {
		b.Fatal(err)
	}
	return svc, serve(b, svc), up
}

// BenchmarkSealHit measures what sealing costs a hit. A cache without sealing would still
// decode the entry (decodeAnswer, the baseline); sealing adds finding the credential's AEAD (kept
// once derived, see keyring.sealerOf) and open. Sub-benchmarks:
//
//   - decode: the baseline;
//   - sealer: deriving a credential's AEAD (HKDF and the AES key schedule), which a hit pays only
//     for a credential whose sealer is not kept; open: opening the entry; overhead: what a hit
//     does, a kept sealer and open;
//   - sealed: the real path of a hit's entry (r.unseal: sealer, open, decode), which reports
//     x-decode, its ratio to the baseline measured in the same run;
//   - fill-seal: what a fill adds (kept sealer and seal), once per miss, for comparison;
//   - call-hit and grpc-hit: a whole hit, in process (Service.Call) and over gRPC on an in-memory
//     listener, which report %seal-call and %seal-grpc: the overhead's share of them.
//
// On a busy machine, overhead is the steadier measure of the cost: it is short, where sealed and
// decode are long and differ by little.
func BenchmarkSealHit(b *testing.B) {
	for _, tc := range []struct{ name, action, req, body string }{
		{"get_agent", "get_agent", `{"id":"agent000@example.com"}`, stBenchAgent(0)},
		{"list_agents_1KB", "list_agents", `{}`, stBenchAgents(b, 1<<10)},
		{"list_agents_20KB", "list_agents", `{}`, stBenchAgents(b, 20<<10)},
	} {
		b.Run(tc.name, func(b *testing.B) { stBenchHit(b, tc.action, tc.req, tc.body) })
	}
}

func stBenchHit(b *testing.B, name, reqJSON, body string) {
	const auth = "Bearer dal:owner-a"
	a := testutil.Action(b, name)
	req := a.NewRequest()
	if err := jsonUnmarshal(reqJSON, req); err != nil {
		b.Fatal(err)
	}
	reqBody, err := wire.EncodeRequest(a, req)
	if err != nil {
		b.Fatal(err)
	}
	plain := stBenchPlain(b, a, body)
	k, aead := stSealer(b, stSecret, auth)
	key := entryKey(k.id(auth), "", a, reqBody)
	entry := seal(aead, key, 1, time.Now(), plain)

	ns := map[string]float64{} // ns/op of the last run of each sub-benchmark
	nsOp := func(b *testing.B) float64 { return float64(b.Elapsed().Nanoseconds()) / float64(b.N) }
	run := func(sub string, f func(b *testing.B)) {
		b.Run(sub, func(b *testing.B) {
			f(b)
			ns[sub] = nsOp(b)
		})
	}
	id := k.id(auth)
	// unseal is the real path of a hit: the credential's kept sealer, then open (and decode).
	unseal := func(b *testing.B, decode bool) {
		aead, err := k.sealerOf(id, auth)
		if err != nil {
			b.Fatal(err)
		}
		p, err := open(aead, key, entry)
		if err != nil {
			b.Fatal(err)
		}
		if decode {
			if _, err := decodeAnswer(a, p); err != nil {
				b.Fatal(err)
			}
		}
	}
	run("decode", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeAnswer(a, plain); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(plain)), "answer-B")
	})
	run("sealer", func(b *testing.B) {
		for b.Loop() {
			if _, err := k.sealer(auth); err != nil {
				b.Fatal(err)
			}
		}
	})
	run("open", func(b *testing.B) {
		for b.Loop() {
			if _, err := open(aead, key, entry); err != nil {
				b.Fatal(err)
			}
		}
	})
	run("overhead", func(b *testing.B) {
		for b.Loop() {
			unseal(b, false)
		}
		b.ReportMetric(float64(len(entry)), "entry-B")
		b.ReportMetric((ns["decode"]+nsOp(b))/ns["decode"], "x-decode")
	})
	run("sealed", func(b *testing.B) {
		for b.Loop() {
			unseal(b, true)
		}
		b.ReportMetric(nsOp(b)/ns["decode"], "x-decode")
	})
	run("fill-seal", func(b *testing.B) {
		now := time.Now()
		for b.Loop() {
			aead, err := k.sealerOf(id, auth)
			if err != nil {
				b.Fatal(err)
			}
			seal(aead, key, 1, now, plain)
		}
	})

	svc, conn, up := stBenchService(b, body)
	ctx := metadata.AppendToOutgoingContext(context.Background(), MDAuthorization, auth)
	invoke := func() metadata.MD {
		var header metadata.MD
		if err := conn.Invoke(ctx, a.FullMethod(), req, a.NewResponse(), grpc.Header(&header)); err != nil {
			b.Fatal(err)
		}
		return header
	}
	for deadline := time.Now().Add(10 * time.Second); ; { // until the fill has landed
		if h := invoke(); len(h.Get(MDCache)) > 0 && h.Get(MDCache)[0] == cacheHit {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("no hit after 10s")
		}
	}
	run("call-hit", func(b *testing.B) {
		in := metadata.NewIncomingContext(context.Background(), metadata.Pairs(MDAuthorization, auth))
		for b.Loop() {
			if resp, err := svc.Call(in, a, req); err != nil || resp == nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(100*ns["overhead"]/nsOp(b), "%seal-call")
	})
	run("grpc-hit", func(b *testing.B) {
		for b.Loop() {
			invoke()
		}
		b.ReportMetric(100*ns["overhead"]/nsOp(b), "%seal-grpc")
		b.Logf("%s, answer %d B, entry %d B: sealing adds %.0f ns a hit (sealer %.0f, open %.0f) to a decode of %.0f ns: x%.2f "+
			"(sealed path measured: x%.2f); %.1f%% of a hit in process (%.0f ns), %.1f%% over gRPC (%.0f ns)",
			name, len(plain), len(entry), ns["overhead"], ns["sealer"], ns["open"], ns["decode"],
			(ns["decode"]+ns["overhead"])/ns["decode"], ns["sealed"]/ns["decode"],
			100*ns["overhead"]/ns["call-hit"], ns["call-hit"], 100*ns["overhead"]/nsOp(b), nsOp(b))
	})
	if n := up.count(); n != 1 {
		b.Fatalf("the upstream was called %d times; every call after the first must be a hit", n)
	}
}
