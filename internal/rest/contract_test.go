package rest_test

import (
	"net/http"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	configv1 "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/wire"
)

// TestContractFidelity runs every JSON example of the upstream's documentation through the
// contract. Decoding is strict, so a documented field that the proto lacks fails the test.
//
// A request example goes in over REST: the gateway's decoder reads it into the RPC's request, gRPC
// carries it to the server, and the server's copy is encoded as the upstream's body. A response
// example is read strictly into the RPC's response, carried back over gRPC and written by the
// gateway's marshaler as the REST answer. Either way the result must equal the example.
func TestContractFidelity(t *testing.T) {
	gw, fake := newGateway(t)
	for _, e := range loadExamples(t) {
		t.Run(e.file(), func(t *testing.T) {
			a := testutil.Action(t, e.action)
			switch e.kind {
			case "request":
				code, answer := post(t, gw, a, string(e.body))
				if code != http.StatusOK {
					t.Fatalf("POST %s = %d %s, want 200", a.Path(), code, answer)
				}
				got, err := wire.EncodeRequest(a, fake.last(t, a.Name))
				if err != nil {
					t.Fatal(err)
				}
				if !testutil.JSONEqual(t, string(got), string(e.body)) {
					t.Errorf("upstream body = %s\nwant the example %s", got, e.body)
				}
			case "response":
				resp := a.NewResponse()
				if err := wire.DecodeResponse(a, e.body, resp, wire.StrictUnmarshalOptions()); err != nil {
					t.Fatalf("strict decoding: %v", err)
				}
				fake.respond(a.Name, resp)
				code, answer := post(t, gw, a, "{}")
				if code != http.StatusOK {
					t.Fatalf("POST %s = %d %s, want 200", a.Path(), code, answer)
				}
				if !testutil.JSONEqual(t, answer, string(e.body)) {
					t.Errorf("REST answer = %s\nwant the example %s", answer, e.body)
				}
			}
		})
	}
}

// TestRegisteredPropertiesAreDefinitions checks the one answer the proto cannot type closely:
// list_registered_properties maps namespaces to maps of definitions, so each definition is a
// Struct. Every documented definition must still be a PropertyDefinition, read strictly.
func TestRegisteredPropertiesAreDefinitions(t *testing.T) {
	for _, e := range loadExamples(t) {
		if e.action != "list_registered_properties" || e.kind != "response" {
			continue
		}
		a := testutil.Action(t, e.action)
		resp := a.NewResponse().(*configv1.ListRegisteredPropertiesResponse)
		if err := wire.DecodeResponse(a, e.body, resp, wire.StrictUnmarshalOptions()); err != nil {
			t.Fatal(err)
		}
		n := 0
		for ns, props := range resp.GetProperties() {
			for name, v := range props.GetFields() {
				raw, err := protojson.Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				var def configv1.PropertyDefinition
				if err := wire.StrictUnmarshalOptions().Unmarshal(raw, &def); err != nil {
					t.Errorf("%s.%s is not a PropertyDefinition: %v", ns, name, err)
					continue
				}
				again, err := wire.MarshalOptions().Marshal(&def)
				if err != nil {
					t.Fatal(err)
				}
				if !testutil.JSONEqual(t, string(again), string(raw)) {
					t.Errorf("%s.%s = %s as a PropertyDefinition, want %s", ns, name, again, raw)
				}
				n++
			}
		}
		if n == 0 {
			t.Error("the example holds no definition")
		}
	}
}

// TestContradictionsAcceptBothForms covers the places where the documentation contradicts
// itself: the contract takes both forms, and gives back the one it got.
func TestContradictionsAcceptBothForms(t *testing.T) {
	gw, fake := newGateway(t)
	listAgents := testutil.Action(t, "list_agents")
	for _, body := range []string{
		// list_agents' tables name the field email_subscriptions; its example says summaries.
		`[{"id":"a","email_subscriptions":["daily_summary"]}]`,
		`[{"id":"a","summaries":["daily_summary"]}]`,
	} {
		resp := listAgents.NewResponse()
		if err := wire.DecodeResponse(listAgents, []byte(body), resp, wire.StrictUnmarshalOptions()); err != nil {
			t.Fatalf("DecodeResponse(%s): %v", body, err)
		}
		fake.respond(listAgents.Name, resp)
		if code, answer := post(t, gw, listAgents, "{}"); code != http.StatusOK || !testutil.JSONEqual(t, answer, body) {
			t.Errorf("list_agents answering %s gave %d %s", body, code, answer)
		}
	}
	for _, fields := range []string{`{"fields":["email_subscriptions"]}`, `{"fields":["summaries"]}`} {
		if code, answer := post(t, gw, listAgents, fields); code != http.StatusOK {
			t.Errorf("list_agents %s = %d %s, want 200", fields, code, answer)
		}
		got, err := wire.EncodeRequest(listAgents, fake.last(t, listAgents.Name))
		if err != nil || !testutil.JSONEqual(t, string(got), fields) {
			t.Errorf("list_agents %s went upstream as %s (%v)", fields, got, err)
		}
	}

	// create_bot's table types groups[].id as int and update_bot's as uint: both are JSON numbers,
	// and group 0 must survive either way.
	createBot := testutil.Action(t, "create_bot")
	body := `{"name":"b","groups":[{"id":0,"priority":"normal"}]}`
	if code, answer := post(t, gw, createBot, body); code != http.StatusOK {
		t.Fatalf("create_bot = %d %s", code, answer)
	}
	req := fake.last(t, createBot.Name).(*configv1.CreateBotRequest)
	if g := req.GetGroups(); len(g) != 1 || g[0].Id == nil || *g[0].Id != 0 {
		t.Errorf("create_bot groups = %v, want group 0", g)
	}
	if got, _ := wire.EncodeRequest(createBot, req); !testutil.JSONEqual(t, string(got), body) {
		t.Errorf("create_bot went upstream as %s, want %s", got, body)
	}
}
