//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
)

// outcome is what a client saw of a write.
type outcome int

const (
	notTried outcome = iota
	applied          // answered OK
	refused          // failed, and not marked as maybe applied: must not have happened
	unknown          // failed, marked as maybe applied (or ended by the caller's deadline)
)

func (o outcome) String() string {
	return [...]string{"not tried", "OK", "failed", "unknown"}[o]
}

// flakyGroup is one group a client tried to create, and perhaps to delete.
type flakyGroup struct {
	token, name string
	create, del outcome
	id          uint32 // when create is applied
}

// TestFlakyUpstream: the upstream answers 30% of calls 500 internal and 10% 429
// too_many_requests. Sixteen clients, over gRPC and REST and with two credentials, read and
// create and delete groups for a few seconds. Then the emulator's own state, read directly, must
// hold every group whose create answered OK exactly once (unless its delete answered OK, or may
// have), no group whose create failed without being marked write_outcome=unknown, and no group
// twice. No call may answer codes.Unknown, and every REST error must have the upstream's body.
func TestFlakyUpstream(t *testing.T) {
	s := startStack(t, []string{"EMULATOR_ERROR_RATE=0.3", "EMULATOR_THROTTLE_RATE=0.1"}, nil)
	groups := pb.NewGroupServiceClient(s.gw.conn)
	agents := pb.NewAgentServiceClient(s.gw.conn)

	const (
		workers  = 16
		duration = 8 * time.Second
	)
	var (
		mu       sync.Mutex
		all      []*flakyGroup
		reads    = newCounter() // by transport and result
		writes   = newCounter() // by transport, action and outcome
		problems = newCounter() // what must never happen
	)
	tokens := []struct{ token, agent string }{{ownerA, agentA}, {ownerB, agentB}}

	// rpcOutcome classifies a gRPC write's error.
	rpcOutcome := func(what string, err error) outcome {
		switch {
		case err == nil:
			return applied
		case status.Code(err) == codes.Unknown:
			problems.add("grpc Unknown", what+": "+err.Error())
		}
		if outcomeUnknown(err) {
			return unknown
		}
		return refused
	}
	// restOutcome classifies a REST write's answer; it checks the error body's shape.
	restOutcome := func(what string, a answer, err error) outcome {
		if err != nil {
			problems.add("REST transport error", what+": "+err.Error())
			return unknown
		}
		if a.status == http.StatusOK {
			return applied
		}
		_, msg, shapeErr := upstreamError(a.body)
		if shapeErr != nil {
			problems.add("REST error body not the upstream's", fmt.Sprintf("%s: %d %s: %v", what, a.status, a.body, shapeErr))
			return unknown
		}
		if strings.Contains(msg, "the write may have been applied") {
			return unknown
		}
		return refused
	}

	s.emu.reset()
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 10))
			tok := tokens[w%2]
			var mine []*flakyGroup // created OK, not yet deleted
			for n := 0; time.Now().Before(deadline); n++ {
				ctx, cancel := context.WithTimeout(withToken(context.Background(), tok.token), 15*time.Second)
				overREST := rng.IntN(2) == 0
				transport := map[bool]string{false: "grpc", true: "rest"}[overREST]
				switch r := rng.Float64(); {
				case r < 0.5 || (r >= 0.8 && len(mine) == 0):
					// A read: one of four, over one of the two surfaces.
					var (
						err error
						a   answer
					)
					k := rng.IntN(4)
					if overREST {
						read := [...]struct{ action, body string }{
							{"list_groups", `{}`}, {"get_group", `{"id":0}`},
							{"get_agent", `{"id":"` + tok.agent + `"}`}, {"list_agents", `{}`},
						}[k]
						action := read.action
						a, err = post(ctx, restClient, s.gw.httpURL, tok.token, action, read.body)
						switch {
						case err != nil:
							problems.add("REST transport error", action+": "+err.Error())
						case a.status != http.StatusOK:
							if _, _, shapeErr := upstreamError(a.body); shapeErr != nil {
								problems.add("REST error body not the upstream's", fmt.Sprintf("%s: %d %s: %v", action, a.status, a.body, shapeErr))
							}
							reads.add(fmt.Sprintf("rest %d", a.status), "")
						default:
							reads.add("rest OK", "")
						}
					} else {
						switch k {
						case 0:
							_, err = groups.ListGroups(ctx, &pb.ListGroupsRequest{})
						case 1:
							_, err = groups.GetGroup(ctx, &pb.GetGroupRequest{Id: proto.Uint32(0)})
						case 2:
							_, err = agents.GetAgent(ctx, &pb.GetAgentRequest{Id: tok.agent})
						case 3:
							_, err = agents.ListAgents(ctx, &pb.ListAgentsRequest{})
						}
						if status.Code(err) == codes.Unknown && err != nil {
							problems.add("grpc Unknown", err.Error())
						}
						reads.add("grpc "+status.Code(err).String(), "")
					}
				case r < 0.8:
					// A create of a group with a name of its own.
					g := &flakyGroup{token: tok.token, name: fmt.Sprintf("flaky-%d-%d", w, n)}
					if overREST {
						a, err := post(ctx, restClient, s.gw.httpURL, tok.token, "create_group",
							fmt.Sprintf(`{"name":%q,"agent_priorities":{%q:"normal"}}`, g.name, tok.agent))
						if g.create = restOutcome("create_group", a, err); g.create == applied {
							var created struct{ ID *uint32 }
							if err := json.Unmarshal(a.body, &created); err != nil || created.ID == nil {
								problems.add("create_group OK without an id", string(a.body))
							} else {
								g.id = *created.ID
							}
						}
					} else {
						resp, err := groups.CreateGroup(ctx, &pb.CreateGroupRequest{
							Name: g.name, AgentPriorities: map[string]string{tok.agent: "normal"},
						})
						if g.create = rpcOutcome("CreateGroup", err); g.create == applied {
							if resp.Id == nil {
								problems.add("CreateGroup OK without an id", resp.String())
							}
							g.id = resp.GetId()
						}
					}
					writes.add(transport+" create "+g.create.String(), "")
					mu.Lock()
					all = append(all, g)
					mu.Unlock()
					if g.create == applied {
						mine = append(mine, g)
					}
				default:
					// A delete of a group this client created.
					i := rng.IntN(len(mine))
					g := mine[i]
					mine = append(mine[:i], mine[i+1:]...)
					var o outcome
					if overREST {
						a, err := post(ctx, restClient, s.gw.httpURL, tok.token, "delete_group", fmt.Sprintf(`{"id":%d}`, g.id))
						o = restOutcome("delete_group", a, err)
					} else {
						_, err := groups.DeleteGroup(ctx, &pb.DeleteGroupRequest{Id: proto.Uint32(g.id)})
						o = rpcOutcome("DeleteGroup", err)
					}
					writes.add(transport+" delete "+o.String(), "")
					mu.Lock()
					g.del = o
					mu.Unlock()
				}
				cancel()
			}
		})
	}
	wg.Wait()

	// The emulator's state, read directly with each token: the upstream is as flaky for this
	// read, so try until it answers.
	found := map[string][]uint32{} // token and name → the ids of the groups so named
	for _, tok := range tokens {
		var (
			code int
			body []byte
			err  error
		)
		for range 200 {
			if code, body, err = s.emu.direct(tok.token, "list_groups", `{}`); err == nil && code == http.StatusOK {
				break
			}
		}
		if err != nil || code != http.StatusOK {
			t.Fatalf("reading %s's groups from the emulator: %d %s %v", tok.token, code, body, err)
		}
		var list []struct {
			ID   uint32
			Name string
		}
		if err := json.Unmarshal(body, &list); err != nil {
			t.Fatalf("the emulator's list_groups: %v: %s", err, body)
		}
		for _, g := range list {
			found[tok.token+" "+g.Name] = append(found[tok.token+" "+g.Name], g.ID)
		}
	}

	var checked, maybe, twice int
	for _, g := range all {
		ids := found[g.token+" "+g.name]
		what := fmt.Sprintf("group %q of %s (create %v, delete %v)", g.name, g.token, g.create, g.del)
		switch {
		case len(ids) > 1:
			twice++
			t.Errorf("%s is in the emulator %d times (ids %v): a write was applied twice", what, len(ids), ids)
		case g.create == refused && len(ids) != 0:
			t.Errorf("%s is in the emulator (id %d), but its create failed without write_outcome=unknown", what, ids[0])
		case g.create == applied && (g.del == notTried || g.del == refused) && (len(ids) != 1 || ids[0] != g.id):
			t.Errorf("%s: the emulator has ids %v, want exactly the created %d", what, ids, g.id)
		case g.create == applied && g.del == applied && len(ids) != 0:
			t.Errorf("%s: still in the emulator (id %v) after its delete answered OK", what, ids)
		case g.create == unknown || g.del == unknown:
			maybe++
		}
		checked++
	}

	// Writes are never sent twice: the upstream received at most one call per client write
	// (fewer when the gateway shed some).
	var creates, deletes int
	for name, n := range writes.n {
		switch {
		case strings.Contains(name, " create "):
			creates += n
		case strings.Contains(name, " delete "):
			deletes += n
		}
	}
	emuCalls := s.emu.stats().Calls
	if int(emuCalls["create_group"]) > creates || int(emuCalls["delete_group"]) > deletes {
		t.Errorf("clients made %d creates and %d deletes, and the upstream received %d and %d: a write was sent more than once",
			creates, deletes, emuCalls["create_group"], emuCalls["delete_group"])
	}

	readsOK := reads.get("grpc OK") + reads.get("rest OK")
	rate := float64(readsOK) / float64(max(reads.total(), 1))
	t.Logf("reads: %v", reads)
	t.Logf("writes: %v", writes)
	figure(t, "flaky upstream read success rate", "%.1f%% (%d of %d reads; upstream 30%% 500s, 10%% 429s)", 100*rate, readsOK, reads.total())
	figure(t, "flaky upstream writes checked against the emulator's state", "%d (%d of unknown outcome), %d applied twice; upstream received %d create_group for %d client creates, %d delete_group for %d deletes",
		checked, maybe, twice, emuCalls["create_group"], creates, emuCalls["delete_group"], deletes)
	if problems.total() > 0 {
		t.Errorf("what must never happen happened: %v", problems)
	}
	if reads.total() < 100 || checked < 100 {
		t.Errorf("only %d reads and %d writes in %v: the load did not run", reads.total(), checked, duration)
	}
	if rate < 0.75 {
		t.Errorf("read success rate %.1f%%, want at least 75%% (reads are retried up to 3 times)", 100*rate)
	}
}
