package emulator

import (
	"fmt"
	"strings"
	"testing"
)

// Tokens of license A with other client ids, hence other property namespaces.
var propertyTokens = []TokenConfig{
	// app2 is the owner with every scope, through another application: it shows that access to
	// a namespace follows the client id, not the requester's role or scopes.
	{Token: propsApp2, License: "A", Agent: idOwnerA, ClientID: nsApp2, Scopes: []string{"*"}},
	{Token: propsMyRO, License: "A", Agent: idAgentA, ClientID: "client-props-my-ro", Scopes: []string{"properties--my:ro"}},
	{Token: noProps, License: "A", Agent: idAgentA, ClientID: "client-no-props", Scopes: []string{"agents--my:ro"}},
}

const (
	propsApp2 = "dal:props-app2"
	nsApp2    = "client-app-2"
	propsMyRO = "dal:props-my-ro"
	noProps   = "dal:no-props"
)

// propDef returns a register_properties definition of type typ. access maps each location to
// the agent's access there: "rw", "r", "w" or "" for neither. extra, when set, is more members
// of the definition, such as `"domain":[1,2]`.
func propDef(typ string, access map[string]string, extra string) string {
	var locs []string
	for _, loc := range sortedKeys(access) {
		a := access[loc]
		locs = append(locs, fmt.Sprintf(`%q:{"access":{"agent":{"read":%t,"write":%t}}}`,
			loc, strings.Contains(a, "r"), strings.Contains(a, "w")))
	}
	s := fmt.Sprintf(`{"type":%q,"locations":{%s}`, typ, strings.Join(locs, ","))
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}

// propsBody returns a register_properties body of the definitions, by name.
func propsBody(defs map[string]string) string {
	var parts []string
	for _, name := range sortedKeys(defs) {
		parts = append(parts, fmt.Sprintf("%q:%s", name, defs[name]))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// everywhere gives agents read and write access at license and group, the locations of the
// Configuration API's values.
var everywhere = map[string]string{"license": "rw", "group": "rw"}

// specStringProperty is register_properties' example.
const specStringProperty = `{"string_property":{"type":"string","locations":{"chat":{"access":{
	"agent":{"read":true,"write":true},"customer":{"read":true,"write":true}}}}}}`

// testNamespaceDefs returns the spec's four test properties as list_registered_properties answers
// them: one of each type, read and write for everyone in every location.
func testNamespaceDefs() map[string]any {
	rw := map[string]any{"read": true, "write": true}
	locs := map[string]any{}
	for _, l := range []string{"chat", "thread", "event", "license", "group"} {
		locs[l] = map[string]any{"access": map[string]any{"agent": rw, "customer": rw}}
	}
	out := map[string]any{}
	for _, typ := range []string{"bool", "int", "string", "tokenized_string"} {
		out[typ+"_property"] = map[string]any{"type": typ, "description": "", "locations": locs}
	}
	return out
}

// TestPropertiesRegister covers register_properties' successes and that
// list_registered_properties shows them: the spec's example, several definitions at once with a
// description, a domain of each type and ranges, an empty request, and the same name in another
// namespace and in another license.
func TestPropertiesRegister(t *testing.T) {
	env := envWithTokens(t, propertyTokens...)
	env.callOK(ownerA, "register_properties", specStringProperty, `{}`)
	specDef := `{"type":"string","description":"","locations":{"chat":{"access":{
		"agent":{"read":true,"write":true},"customer":{"read":true,"write":true}}}}}`
	specListed := `{"string_property":` + specDef + `}`
	env.callOK(ownerA, "list_registered_properties", `{}`, `{"`+nsA+`":`+specListed+`}`)

	env.callOK(ownerA, "register_properties", propsBody(map[string]string{
		"count": propDef("int", everywhere, `"description":"How many","range":{"from":1,"to":3}`),
		"min10": propDef("int", map[string]string{"group": "r"}, `"range":{"from":10}`),
		"level": propDef("int", map[string]string{"license": "w"}, `"domain":[1,2,3]`),
		"color": propDef("tokenized_string", map[string]string{"license": ""}, `"domain":["red","green"]`),
		"yes":   propDef("bool", everywhere, `"domain":[true]`),
	}), `{}`)
	agent := func(r, w bool) string {
		return fmt.Sprintf(`{"access":{"agent":{"read":%t,"write":%t}}}`, r, w)
	}
	rw := `"license":` + agent(true, true) + `,"group":` + agent(true, true)
	env.callOK(ownerA, "list_registered_properties", `{}`, `{"`+nsA+`":{
		"string_property":`+specDef+`,
		"count":{"type":"int","description":"How many","locations":{`+rw+`},"range":{"from":1,"to":3}},
		"min10":{"type":"int","description":"","locations":{"group":`+agent(true, false)+`},"range":{"from":10}},
		"level":{"type":"int","description":"","locations":{"license":`+agent(false, true)+`},"domain":[1,2,3]},
		"color":{"type":"tokenized_string","description":"","locations":{"license":`+agent(false, false)+`},"domain":["red","green"]},
		"yes":{"type":"bool","description":"","locations":{`+rw+`},"domain":[true]}}}`)

	// Registering nothing is refused: a required map must have a key (see internal/spec).
	before := env.e.Snapshot()
	env.fails(ownerA, "register_properties", `{}`, "validation")
	if after := env.e.Snapshot(); string(before) != string(after) {
		t.Errorf("register_properties({}) changed the state")
	}

	// The same name in the namespace of another application, and in another license.
	env.callOK(propsApp2, "register_properties", specStringProperty, `{}`)
	env.callOK(propsApp2, "list_registered_properties", `{}`, `{"`+nsApp2+`":`+specListed+`}`)
	env.callOK(ownerB, "register_properties", specStringProperty, `{}`)
	env.callOK(ownerB, "list_registered_properties", `{}`, `{"client-owner-b":`+specListed+`}`)
	got := env.ok(readonlyA, "list_registered_properties", `{"all":true}`).(map[string]any)
	if len(got) != 3 || got[nsA] == nil || got[nsApp2] == nil || got["test"] == nil {
		t.Errorf("list_registered_properties(all) namespaces = %v, want %s, %s and test", sortedKeys(got), nsA, nsApp2)
	}
}

// TestPropertiesRegisterRefused covers register_properties' refusals: the definition's required
// members (type, locations, a location, a user, read, write), their JSON types and allowed
// values, unknown members, the domain and range rules (one or the other, a domain of the
// property's type and not empty, a range for int only with from ≤ to, int32 bounds), a name
// already registered in the requester's namespace (already_exist, also within a batch, which
// then registers nothing) and a requester without properties--my:rw (authorization).
func TestPropertiesRegisterRefused(t *testing.T) {
	env := newEnv(t)
	env.ok(ownerA, "register_properties", `{"taken":`+propDef("string", everywhere, "")+`}`)
	loc := `"locations":{"license":{"access":{"agent":{"read":true,"write":true}}}}`
	def := func(members string) string { return `{"p":{` + members + `}}` }
	runCases(t, env, "register_properties", []apiCase{
		{name: "body an array", token: ownerA, body: `[]`, wantErr: errValidation},
		{name: "definition a string", token: ownerA, body: `{"p":"string"}`, wantErr: errValidation, msg: "p"},
		{name: "empty name", token: ownerA, body: `{"":{"type":"int",` + loc + `}}`, wantErr: errValidation},
		{name: "type missing", token: ownerA, body: def(loc), wantErr: errValidation, msg: "p.type"},
		{name: "type unknown", token: ownerA, body: def(`"type":"float",` + loc), wantErr: errValidation, msg: "p.type"},
		{name: "type a number", token: ownerA, body: def(`"type":1,` + loc), wantErr: errValidation, msg: "p.type"},
		{name: "locations missing", token: ownerA, body: def(`"type":"int"`), wantErr: errValidation, msg: "p.locations"},
		{name: "locations empty", token: ownerA, body: def(`"type":"int","locations":{}`), wantErr: errValidation, msg: "p.locations"},
		{name: "locations an array", token: ownerA, body: def(`"type":"int","locations":["license"]`), wantErr: errValidation, msg: "p.locations"},
		{name: "location unknown", token: ownerA, body: def(`"type":"int","locations":{"profile":{"access":{"agent":{"read":true,"write":true}}}}`), wantErr: errValidation, msg: "p.locations.profile"},
		{name: "access missing", token: ownerA, body: def(`"type":"int","locations":{"license":{}}`), wantErr: errValidation, msg: "p.locations.license.access"},
		{name: "access empty", token: ownerA, body: def(`"type":"int","locations":{"license":{"access":{}}}`), wantErr: errValidation, msg: "p.locations.license.access"},
		{name: "user unknown", token: ownerA, body: def(`"type":"int","locations":{"license":{"access":{"bot":{"read":true,"write":true}}}}`), wantErr: errValidation, msg: "access.bot"},
		{name: "read missing", token: ownerA, body: def(`"type":"int","locations":{"license":{"access":{"agent":{"write":true}}}}`), wantErr: errValidation, msg: "agent.read"},
		{name: "write missing", token: ownerA, body: def(`"type":"int","locations":{"license":{"access":{"customer":{"read":true}}}}`), wantErr: errValidation, msg: "customer.write"},
		{name: "read a string", token: ownerA, body: def(`"type":"int","locations":{"license":{"access":{"agent":{"read":"true","write":true}}}}`), wantErr: errValidation, msg: "agent.read"},
		{name: "unknown access member", token: ownerA, body: def(`"type":"int","locations":{"license":{"access":{"agent":{"read":true,"write":true,"delete":true}}}}`), wantErr: errValidation, msg: "delete"},
		{name: "unknown location member", token: ownerA, body: def(`"type":"int","locations":{"license":{"access":{"agent":{"read":true,"write":true}},"visible":true}}`), wantErr: errValidation, msg: "visible"},
		{name: "unknown definition member", token: ownerA, body: def(`"type":"int",` + loc + `,"default":1`), wantErr: errValidation, msg: "p.default"},
		{name: "description a number", token: ownerA, body: def(`"type":"int",` + loc + `,"description":5`), wantErr: errValidation, msg: "p.description"},
		{name: "domain not an array", token: ownerA, body: def(`"type":"int",` + loc + `,"domain":1`), wantErr: errValidation, msg: "p.domain"},
		{name: "domain empty", token: ownerA, body: def(`"type":"int",` + loc + `,"domain":[]`), wantErr: errValidation, msg: "p.domain"},
		{name: "domain with null", token: ownerA, body: def(`"type":"string",` + loc + `,"domain":[null]`), wantErr: errValidation, msg: "p.domain[0]"},
		{name: "int domain with a string", token: ownerA, body: def(`"type":"int",` + loc + `,"domain":[1,"2"]`), wantErr: errValidation, msg: "p.domain[1]"},
		{name: "int domain with a fraction", token: ownerA, body: def(`"type":"int",` + loc + `,"domain":[1.5]`), wantErr: errValidation, msg: "p.domain[0]"},
		{name: "int domain beyond int32", token: ownerA, body: def(`"type":"int",` + loc + `,"domain":[2147483648]`), wantErr: errValidation, msg: "p.domain[0]"},
		{name: "string domain with a number", token: ownerA, body: def(`"type":"string",` + loc + `,"domain":["a",1]`), wantErr: errValidation, msg: "p.domain[1]"},
		{name: "tokenized_string domain with a bool", token: ownerA, body: def(`"type":"tokenized_string",` + loc + `,"domain":[true]`), wantErr: errValidation, msg: "p.domain[0]"},
		{name: "bool domain with a string", token: ownerA, body: def(`"type":"bool",` + loc + `,"domain":["yes"]`), wantErr: errValidation, msg: "p.domain[0]"},
		{name: "range on a string", token: ownerA, body: def(`"type":"string",` + loc + `,"range":{"from":1}`), wantErr: errValidation, msg: "p.range"},
		{name: "range on a bool", token: ownerA, body: def(`"type":"bool",` + loc + `,"range":{"to":1}`), wantErr: errValidation, msg: "p.range"},
		{name: "range from above to", token: ownerA, body: def(`"type":"int",` + loc + `,"range":{"from":3,"to":1}`), wantErr: errValidation, msg: "p.range"},
		{name: "range not an object", token: ownerA, body: def(`"type":"int",` + loc + `,"range":[1,3]`), wantErr: errValidation, msg: "p.range"},
		{name: "range from a string", token: ownerA, body: def(`"type":"int",` + loc + `,"range":{"from":"1"}`), wantErr: errValidation, msg: "p.range.from"},
		{name: "range to beyond int32", token: ownerA, body: def(`"type":"int",` + loc + `,"range":{"to":2147483648}`), wantErr: errValidation, msg: "p.range.to"},
		{name: "range unknown member", token: ownerA, body: def(`"type":"int",` + loc + `,"range":{"step":1}`), wantErr: errValidation, msg: "p.range.step"},
		{name: "domain and range", token: ownerA, body: def(`"type":"int",` + loc + `,"domain":[1,2],"range":{"from":1,"to":2}`), wantErr: errValidation, msg: "p"},
		{name: "name taken", token: ownerA, body: `{"taken":` + propDef("int", everywhere, "") + `}`, wantErr: errAlreadyExist, msg: "taken"},
		{name: "name taken within a batch", token: ownerA, body: `{"fresh":` + propDef("int", everywhere, "") + `,"taken":` + propDef("int", everywhere, "") + `}`, wantErr: errAlreadyExist},
		{name: "read-only token", token: readonlyA, body: `{"mine":` + propDef("int", everywhere, "") + `}`, wantErr: errAuthorization},
	})
	env.callOK(ownerA, "list_registered_properties", `{}`, `{"`+nsA+`":{"taken":{"type":"string","description":"","locations":{
		"license":{"access":{"agent":{"read":true,"write":true}}},"group":{"access":{"agent":{"read":true,"write":true}}}}}}}`)
}

// TestPropertiesListRegistered covers list_registered_properties: the requester's own namespace
// by default (empty when it registered nothing), every namespace with all, the scopes
// (properties--my:ro, properties--all:ro for all; authorization without), and validation.
func TestPropertiesListRegistered(t *testing.T) {
	env := envWithTokens(t, propertyTokens...)
	test := testNamespaceDefs()
	env.callOK(ownerA, "list_registered_properties", `{}`, `{}`)
	env.callOK(ownerA, "list_registered_properties", ``, `{}`)
	env.callOK(ownerA, "list_registered_properties", `{"all":true}`, map[string]any{"test": test})

	env.ok(ownerA, "register_properties", `{"p":`+propDef("int", everywhere, "")+`}`)
	env.ok(propsApp2, "register_properties", `{"q":`+propDef("bool", map[string]string{"group": "r"}, "")+`}`)
	p := jsonValue(t, `{"p":{"type":"int","description":"","locations":{
		"license":{"access":{"agent":{"read":true,"write":true}}},"group":{"access":{"agent":{"read":true,"write":true}}}}}}`)
	q := jsonValue(t, `{"q":{"type":"bool","description":"","locations":{"group":{"access":{"agent":{"read":true,"write":false}}}}}}`)
	all := map[string]any{"test": test, nsA: p, nsApp2: q}

	cases := []struct {
		name, token, body string
		want              any
	}{
		{"owner, own namespace", ownerA, `{}`, map[string]any{nsA: p}},
		{"owner, all false", ownerA, `{"all":false}`, map[string]any{nsA: p}},
		{"owner, all", ownerA, `{"all":true}`, all},
		{"other application, own namespace", propsApp2, `{}`, map[string]any{nsApp2: q}},
		{"read-only, own namespace is empty", readonlyA, `{}`, `{}`},
		{"read-only, all", readonlyA, `{"all":true}`, all},
		{"properties--my:ro only, own namespace", propsMyRO, `{}`, `{}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env.in(t).callOK(tc.token, "list_registered_properties", tc.body, tc.want)
		})
	}
	runCases(t, env, "list_registered_properties", []apiCase{
		{name: "all a string", token: ownerA, body: `{"all":"yes"}`, wantErr: errValidation, msg: "all"},
		{name: "unknown field", token: ownerA, body: `{"namespace":"test"}`, wantErr: errValidation, msg: "namespace"},
		{name: "properties--my:ro asks for all", token: propsMyRO, body: `{"all":true}`, wantErr: errAuthorization},
		{name: "no property scope", token: noProps, body: `{}`, wantErr: errAuthorization},
		{name: "no property scope, all", token: noProps, body: `{"all":true}`, wantErr: errAuthorization},
	})
}

// TestPropertiesTestNamespace covers the spec's four test properties: every license has them
// (A, B and F, the latter in region fra), as the spec describes them, and anyone can write,
// read and delete them, at license and group, whatever the requester's scopes or client id.
func TestPropertiesTestNamespace(t *testing.T) {
	env := envWithTokens(t, propertyTokens...)
	values := `{"test":{"bool_property":true,"int_property":7,"string_property":"s","tokenized_string_property":"a b c"}}`
	for _, tok := range []string{ownerA, readonlyA, noProps, propsApp2, ownerB, ownerF} {
		t.Run(tok, func(t *testing.T) {
			env := env.in(t)
			call := func(action, body string) any {
				t.Helper()
				var r result
				if tok == ownerF {
					r = env.call(tok, action, body, "X-Region", "fra")
				} else {
					r = env.call(tok, action, body)
				}
				if r.status != 200 {
					t.Fatalf("%s(%s) = %d %s, want 200", action, body, r.status, r.body)
				}
				return r.json(t)
			}
			if tok != noProps { // it may not list registered properties at all
				got := call("list_registered_properties", `{"all":true}`).(map[string]any)["test"]
				checkJSON(t, "list_registered_properties(all).test", got, testNamespaceDefs())
			}
			for _, loc := range []struct{ update, list, del, group string }{
				{"update_license_properties", "list_license_properties", "delete_license_properties", ""},
				{"update_group_properties", "list_group_properties", "delete_group_properties", `"group_id":0,`},
			} {
				checkJSON(t, loc.update, call(loc.update, `{`+loc.group+`"properties":`+values+`}`), `{}`)
				checkJSON(t, loc.list, call(loc.list, `{`+loc.group+`"namespace_prefix":"test"}`), values)
				checkJSON(t, loc.del, call(loc.del, `{`+loc.group+`"properties":{"test":["bool_property","int_property","string_property","tokenized_string_property"]}}`), `{}`)
				checkJSON(t, loc.list, call(loc.list, `{`+loc.group+`"namespace_prefix":"test"}`), `{}`)
			}
		})
	}
}

// propertyLocations are the two locations the Configuration API sets values in, with their
// actions. group is the body's group_id member, with its comma, or "".
var propertyLocations = []struct {
	name, update, list, del, group string
}{
	{"license", "update_license_properties", "list_license_properties", "delete_license_properties", ""},
	{"group", "update_group_properties", "list_group_properties", "delete_group_properties", `"group_id":1,`},
}

// TestPropertiesValues covers update_*_properties, list_*_properties and delete_*_properties at
// license and at group: values are set and answered, an update merges into what is there and
// overwrites only the names it sets, the namespace_prefix and name_prefix filters (the spec's
// example among them), deleting values (a value never set is no error), a namespace with no
// values left is not listed, and values of the license and of each group are separate.
func TestPropertiesValues(t *testing.T) {
	for _, loc := range propertyLocations {
		t.Run(loc.name, func(t *testing.T) {
			env := newEnv(t)
			env.ok(ownerA, "create_group", `{"name":"Shoes","agent_priorities":{"owner-a@example.com":"normal"}}`)
			env.ok(ownerA, "register_properties", propsBody(map[string]string{
				"string_property": propDef("string", everywhere, ""),
				"int_property":    propDef("int", everywhere, ""),
				"flag":            propDef("bool", everywhere, ""),
			}))
			g := loc.group
			// list checks the whole listing, as a reader who may read every property sees it.
			list := func(want string) {
				t.Helper()
				env.callOK(readonlyA, loc.list, `{`+strings.TrimSuffix(g, ",")+`}`, want)
			}
			list(`{}`)

			env.callOK(ownerA, loc.update, `{`+g+`"properties":{"`+nsA+`":{"string_property":"string value"}}}`, `{}`)
			list(`{"` + nsA + `":{"string_property":"string value"}}`)

			env.callOK(readonlyA, loc.update, `{`+g+`"properties":{"`+nsA+`":{"int_property":5},"test":{"string_property":"t","int_property":1}}}`, `{}`)
			all := `{"` + nsA + `":{"string_property":"string value","int_property":5},"test":{"string_property":"t","int_property":1}}`
			list(all)

			env.callOK(ownerA, loc.update, `{`+g+`"properties":{"`+nsA+`":{"string_property":"new"}}}`, `{}`)
			all = `{"` + nsA + `":{"string_property":"new","int_property":5},"test":{"string_property":"t","int_property":1}}`
			list(all)
			env.fails(ownerA, loc.update, `{`+g+`"properties":{}}`, "validation")
			list(all)

			prefixes := []struct{ name, filter, want string }{
				{"spec example", `"namespace_prefix":"0","name_prefix":"string"`, `{"` + nsA + `":{"string_property":"new"}}`},
				{"whole namespace", `"namespace_prefix":"` + nsA + `"`, `{"` + nsA + `":{"string_property":"new","int_property":5}}`},
				{"namespace test", `"namespace_prefix":"te"`, `{"test":{"string_property":"t","int_property":1}}`},
				{"name in both namespaces", `"name_prefix":"int"`, `{"` + nsA + `":{"int_property":5},"test":{"int_property":1}}`},
				{"whole name", `"name_prefix":"string_property"`, `{"` + nsA + `":{"string_property":"new"},"test":{"string_property":"t"}}`},
				{"empty prefixes", `"namespace_prefix":"","name_prefix":""`, all},
				{"no namespace matches", `"namespace_prefix":"x"`, `{}`},
				{"a prefix, not a substring", `"name_prefix":"property"`, `{}`},
				{"namespace longer than any", `"namespace_prefix":"` + nsA + `0"`, `{}`},
			}
			for _, p := range prefixes {
				t.Run(p.name, func(t *testing.T) {
					env.in(t).callOK(readonlyA, loc.list, `{`+g+p.filter+`}`, p.want)
				})
			}

			env.callOK(ownerA, loc.del, `{`+g+`"properties":{"`+nsA+`":["string_property"]}}`, `{}`)
			list(`{"` + nsA + `":{"int_property":5},"test":{"string_property":"t","int_property":1}}`)
			env.callOK(ownerA, loc.del, `{`+g+`"properties":{"`+nsA+`":["string_property","flag"]}}`, `{}`)
			list(`{"` + nsA + `":{"int_property":5},"test":{"string_property":"t","int_property":1}}`)
			env.callOK(readonlyA, loc.del, `{`+g+`"properties":{"test":["string_property","int_property"]}}`, `{}`)
			list(`{"` + nsA + `":{"int_property":5}}`)
			env.fails(ownerA, loc.del, `{`+g+`"properties":{}}`, "validation")
			env.callOK(ownerA, loc.del, `{`+g+`"properties":{"`+nsA+`":["int_property"]}}`, `{}`)
			list(`{}`)
		})
	}

	t.Run("license and groups are separate", func(t *testing.T) {
		env := newEnv(t)
		env.ok(ownerA, "create_group", `{"name":"Shoes","agent_priorities":{"owner-a@example.com":"normal"}}`)
		env.ok(ownerA, "update_license_properties", `{"properties":{"test":{"int_property":1}}}`)
		env.ok(ownerA, "update_group_properties", `{"group_id":0,"properties":{"test":{"int_property":2}}}`)
		env.ok(ownerA, "update_group_properties", `{"group_id":1,"properties":{"test":{"int_property":3,"bool_property":false}}}`)
		env.ok(ownerA, "delete_group_properties", `{"group_id":1,"properties":{"test":["int_property"]}}`)
		env.callOK(ownerA, "list_license_properties", `{}`, `{"test":{"int_property":1}}`)
		env.callOK(ownerA, "list_group_properties", `{"group_id":0}`, `{"test":{"int_property":2}}`)
		env.callOK(ownerA, "list_group_properties", `{"group_id":1}`, `{"test":{"bool_property":false}}`)
		env.ok(ownerA, "delete_license_properties", `{"properties":{"test":["int_property"]}}`)
		env.callOK(ownerA, "list_license_properties", `{}`, `{}`)
		env.callOK(ownerA, "list_group_properties", `{"group_id":0}`, `{"test":{"int_property":2}}`)
	})
}

// TestPropertiesValuesRefused covers the refusals of the six value actions that do not depend
// on a property's definition: required fields and their JSON types, unknown fields (group_id
// in a license action among them), a property or namespace that is not registered (not_found,
// also when other values of the request are fine, which are then not set) and an unknown
// group_id (group_not_found).
func TestPropertiesValuesRefused(t *testing.T) {
	env := newEnv(t)
	env.ok(ownerA, "create_group", `{"name":"Shoes","agent_priorities":{"owner-a@example.com":"normal"}}`)
	env.ok(ownerA, "register_properties", `{"string_property":`+propDef("string", everywhere, "")+`}`)
	ok := `{"` + nsA + `":{"string_property":"v"}}`
	unregistered := `{"` + nsA + `":{"string_property":"v","nope":"v"}}`
	names := `{"` + nsA + `":["string_property"]}`
	runCases(t, env, "", []apiCase{
		{name: "update license: properties missing", token: ownerA, action: "update_license_properties", body: `{}`, wantErr: errValidation, msg: "properties"},
		{name: "update license: properties an array", token: ownerA, action: "update_license_properties", body: `{"properties":[]}`, wantErr: errValidation, msg: "properties"},
		{name: "update license: namespace not an object", token: ownerA, action: "update_license_properties", body: `{"properties":{"test":"v"}}`, wantErr: errValidation, msg: "properties.test"},
		{name: "update license: empty namespace", token: ownerA, action: "update_license_properties", body: `{"properties":{"":{"x":1}}}`, wantErr: errValidation, msg: "properties"},
		{name: "update license: group_id", token: ownerA, action: "update_license_properties", body: `{"group_id":0,"properties":` + ok + `}`, wantErr: errValidation, msg: "group_id"},
		{name: "update license: unregistered property", token: ownerA, action: "update_license_properties", body: `{"properties":` + unregistered + `}`, wantErr: errNotFound, msg: "nope"},
		{name: "update license: unregistered namespace", token: ownerA, action: "update_license_properties", body: `{"properties":{"nobody":{"string_property":"v"}}}`, wantErr: errNotFound, msg: "nobody"},
		{name: "update license: property of another namespace", token: ownerA, action: "update_license_properties", body: `{"properties":{"test":{"count":1}}}`, wantErr: errNotFound},

		{name: "list license: namespace_prefix a number", token: ownerA, action: "list_license_properties", body: `{"namespace_prefix":0}`, wantErr: errValidation, msg: "namespace_prefix"},
		{name: "list license: group_id", token: ownerA, action: "list_license_properties", body: `{"group_id":0}`, wantErr: errValidation, msg: "group_id"},

		{name: "delete license: properties missing", token: ownerA, action: "delete_license_properties", body: `{}`, wantErr: errValidation, msg: "properties"},
		{name: "delete license: names not an array", token: ownerA, action: "delete_license_properties", body: `{"properties":{"test":"int_property"}}`, wantErr: errValidation, msg: "properties.test"},
		{name: "delete license: name empty", token: ownerA, action: "delete_license_properties", body: `{"properties":{"test":[""]}}`, wantErr: errValidation, msg: "properties.test[0]"},
		{name: "delete license: name a number", token: ownerA, action: "delete_license_properties", body: `{"properties":{"test":[1]}}`, wantErr: errValidation, msg: "properties.test[0]"},
		{name: "delete license: name twice", token: ownerA, action: "delete_license_properties", body: `{"properties":{"test":["int_property","int_property"]}}`, wantErr: errValidation, msg: "properties.test[1]"},
		{name: "delete license: values instead of names", token: ownerA, action: "delete_license_properties", body: `{"properties":` + ok + `}`, wantErr: errValidation},
		{name: "delete license: unregistered property", token: ownerA, action: "delete_license_properties", body: `{"properties":{"test":["int_property","nope"]}}`, wantErr: errNotFound, msg: "nope"},
		{name: "delete license: group_id", token: ownerA, action: "delete_license_properties", body: `{"group_id":0,"properties":` + names + `}`, wantErr: errValidation, msg: "group_id"},

		{name: "update group: group_id missing", token: ownerA, action: "update_group_properties", body: `{"properties":` + ok + `}`, wantErr: errValidation, msg: "group_id"},
		{name: "update group: group_id a string", token: ownerA, action: "update_group_properties", body: `{"group_id":"1","properties":` + ok + `}`, wantErr: errValidation, msg: "group_id"},
		{name: "update group: group_id negative", token: ownerA, action: "update_group_properties", body: `{"group_id":-1,"properties":` + ok + `}`, wantErr: errValidation, msg: "group_id"},
		{name: "update group: properties missing", token: ownerA, action: "update_group_properties", body: `{"group_id":1}`, wantErr: errValidation, msg: "properties"},
		{name: "update group: unknown field", token: ownerA, action: "update_group_properties", body: `{"group_id":1,"properties":` + ok + `,"name_prefix":"s"}`, wantErr: errValidation, msg: "name_prefix"},
		{name: "update group: unknown group", token: ownerA, action: "update_group_properties", body: `{"group_id":9,"properties":` + ok + `}`, wantErr: errGroupNotFound},
		{name: "update group: unregistered property", token: ownerA, action: "update_group_properties", body: `{"group_id":1,"properties":` + unregistered + `}`, wantErr: errNotFound, msg: "nope"},

		{name: "list group: group_id missing", token: ownerA, action: "list_group_properties", body: `{}`, wantErr: errValidation, msg: "group_id"},
		{name: "list group: group_id a fraction", token: ownerA, action: "list_group_properties", body: `{"group_id":0.5}`, wantErr: errValidation, msg: "group_id"},
		{name: "list group: name_prefix a bool", token: ownerA, action: "list_group_properties", body: `{"group_id":1,"name_prefix":true}`, wantErr: errValidation, msg: "name_prefix"},
		{name: "list group: unknown field", token: ownerA, action: "list_group_properties", body: `{"group_id":1,"properties":{}}`, wantErr: errValidation, msg: "properties"},
		{name: "list group: unknown group", token: readonlyA, action: "list_group_properties", body: `{"group_id":9}`, wantErr: errGroupNotFound},

		{name: "delete group: group_id missing", token: ownerA, action: "delete_group_properties", body: `{"properties":` + names + `}`, wantErr: errValidation, msg: "group_id"},
		{name: "delete group: properties missing", token: ownerA, action: "delete_group_properties", body: `{"group_id":1}`, wantErr: errValidation, msg: "properties"},
		{name: "delete group: unknown group", token: ownerA, action: "delete_group_properties", body: `{"group_id":9,"properties":` + names + `}`, wantErr: errGroupNotFound},
		{name: "delete group: unregistered property", token: ownerA, action: "delete_group_properties", body: `{"group_id":1,"properties":{"test":["nope"]}}`, wantErr: errNotFound, msg: "nope"},
	})
	env.callOK(ownerA, "list_license_properties", `{}`, `{}`)
	env.callOK(ownerA, "list_group_properties", `{"group_id":1}`, `{}`)
}

// TestPropertiesValueRules covers the checks of a value against its property's definition, at
// license and at group: the type (int32, bool, string, tokenized_string), the domain (int and
// string) and the range (both bounds, from only, to only). A refused value is validation naming
// the property; an accepted one is listed as it was sent.
func TestPropertiesValueRules(t *testing.T) {
	cases := []struct {
		name     string
		ns, prop string
		value    string // JSON
		wantErr  string
	}{
		{"int", "test", "int_property", `5`, ""},
		{"int, int32 max", "test", "int_property", `2147483647`, ""},
		{"int, int32 min", "test", "int_property", `-2147483648`, ""},
		{"int above int32", "test", "int_property", `2147483648`, errValidation},
		{"int below int32", "test", "int_property", `-2147483649`, errValidation},
		{"int as a string", "test", "int_property", `"5"`, errValidation},
		{"int as a fraction", "test", "int_property", `1.5`, errValidation},
		{"int with an exponent", "test", "int_property", `1e3`, errValidation},
		{"int as a bool", "test", "int_property", `true`, errValidation},
		{"bool", "test", "bool_property", `false`, ""},
		{"bool as a string", "test", "bool_property", `"true"`, errValidation},
		{"bool as a number", "test", "bool_property", `1`, errValidation},
		{"string", "test", "string_property", `"x"`, ""},
		{"string, empty", "test", "string_property", `""`, ""},
		{"string as a number", "test", "string_property", `1`, errValidation},
		{"string as an object", "test", "string_property", `{"a":"b"}`, errValidation},
		{"string as an array", "test", "string_property", `["x"]`, errValidation},
		{"tokenized_string", "test", "tokenized_string_property", `"a few words"`, ""},
		{"tokenized_string as a bool", "test", "tokenized_string_property", `false`, errValidation},
		{"int domain, in", nsA, "level", `2`, ""},
		{"int domain, out", nsA, "level", `4`, errValidation},
		{"int domain, wrong type", nsA, "level", `"2"`, errValidation},
		{"string domain, in", nsA, "color", `"green"`, ""},
		{"string domain, out", nsA, "color", `"blue"`, errValidation},
		{"string domain, case differs", nsA, "color", `"Red"`, errValidation},
		{"bool domain, out", nsA, "yes", `false`, errValidation},
		{"bool domain, in", nsA, "yes", `true`, ""},
		{"range, from", nsA, "count", `1`, ""},
		{"range, to", nsA, "count", `3`, ""},
		{"range, below", nsA, "count", `0`, errValidation},
		{"range, above", nsA, "count", `4`, errValidation},
		{"range, wrong type", nsA, "count", `"2"`, errValidation},
		{"from only, at it", nsA, "min10", `10`, ""},
		{"from only, far above", nsA, "min10", `2147483647`, ""},
		{"from only, below", nsA, "min10", `9`, errValidation},
		{"to only, below", nsA, "max0", `-5`, ""},
		{"to only, above", nsA, "max0", `1`, errValidation},
	}
	for _, loc := range propertyLocations {
		t.Run(loc.name, func(t *testing.T) {
			env := newEnv(t)
			env.ok(ownerA, "create_group", `{"name":"Shoes","agent_priorities":{"owner-a@example.com":"normal"}}`)
			env.ok(ownerA, "register_properties", propsBody(map[string]string{
				"level": propDef("int", everywhere, `"domain":[1,2,3]`),
				"color": propDef("string", everywhere, `"domain":["red","green"]`),
				"yes":   propDef("bool", everywhere, `"domain":[true]`),
				"count": propDef("int", everywhere, `"range":{"from":1,"to":3}`),
				"min10": propDef("int", everywhere, `"range":{"from":10}`),
				"max0":  propDef("int", everywhere, `"range":{"to":0}`),
			}))
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					env := env.in(t)
					body := fmt.Sprintf(`{%s"properties":{%q:{%q:%s}}}`, loc.group, tc.ns, tc.prop, tc.value)
					// The requester is not the owner of nsA, so that the check does not depend on
					// the namespace being the requester's own.
					if tc.wantErr != "" {
						env.expect(loc.update, apiCase{token: readonlyA, body: body, wantErr: tc.wantErr, msg: "properties." + tc.ns + "." + tc.prop})
						return
					}
					env.callOK(readonlyA, loc.update, body, `{}`)
					env.callOK(readonlyA, loc.list, fmt.Sprintf(`{%s"namespace_prefix":%q,"name_prefix":%q}`, loc.group, tc.ns, tc.prop),
						fmt.Sprintf(`{%q:{%q:%s}}`, tc.ns, tc.prop, tc.value))
				})
			}
		})
	}
}

// TestPropertiesAccess covers the access rules of the value actions, at license and at group:
// the requester whose client id is the namespace may always write, read and delete; anyone else
// (another application of the owner with every scope, or a read-only agent) follows the
// registered access of "agent" at that location: a write or delete without write access is
// authorization (and a request with one such property sets nothing), and a listing silently
// leaves out what may not be read. Customer access and access at other locations do not count.
func TestPropertiesAccess(t *testing.T) {
	// access is each property's agent access at license and at group, as registered.
	access := map[string]struct{ license, group string }{
		"open":          {"rw", "rw"},
		"readonly":      {"r", "r"},
		"writeonly":     {"w", "w"},
		"none":          {"", ""},
		"license_only":  {"rw", "-"},
		"customer_only": {"-", "-"},
		"chat_only":     {"-", "-"},
	}
	defs := map[string]string{}
	for name, a := range access {
		locs := map[string]string{}
		for loc, x := range map[string]string{"license": a.license, "group": a.group} {
			if x != "-" {
				locs[loc] = x
			}
		}
		defs[name] = propDef("string", locs, "")
	}
	defs["customer_only"] = `{"type":"string","locations":{"license":{"access":{"customer":{"read":true,"write":true}}},"group":{"access":{"customer":{"read":true,"write":true}}}}}`
	defs["chat_only"] = propDef("string", map[string]string{"chat": "rw"}, "")
	names := sortedKeys(access)

	for _, loc := range propertyLocations {
		t.Run(loc.name, func(t *testing.T) {
			env := envWithTokens(t, propertyTokens...)
			env.ok(ownerA, "create_group", `{"name":"Shoes","agent_priorities":{"owner-a@example.com":"normal","agent-a@example.com":"normal"}}`)
			env.ok(ownerA, "register_properties", propsBody(defs))
			can := func(name string) string {
				if loc.name == "license" {
					return access[name].license
				}
				return access[name].group
			}
			set := func(name, v string) string {
				return fmt.Sprintf(`{%s"properties":{%q:{%q:%q}}}`, loc.group, nsA, name, v)
			}
			del := func(name string) string {
				return fmt.Sprintf(`{%s"properties":{%q:[%q]}}`, loc.group, nsA, name)
			}
			listBody := `{` + strings.TrimSuffix(loc.group, ",") + `}`

			// The namespace's owner may do anything with its own properties.
			owned := map[string]any{}
			for _, name := range names {
				env.callOK(ownerA, loc.update, set(name, "owner"), `{}`)
				owned[name] = "owner"
			}
			env.callOK(ownerA, loc.list, listBody, map[string]any{nsA: owned})

			// Others write what they may write.
			for _, tok := range []string{readonlyA, propsApp2} {
				for _, name := range names {
					t.Run("write "+name+" as "+tok, func(t *testing.T) {
						tc := apiCase{token: tok, body: set(name, tok)}
						if !strings.Contains(can(name), "w") {
							tc.wantErr, tc.msg = errAuthorization, nsA+"."+name
						} else {
							owned[name] = tok
						}
						env.in(t).expect(loc.update, tc)
					})
				}
			}
			env.fails(readonlyA, loc.update, fmt.Sprintf(`{%s"properties":{%q:{"open":"x","readonly":"x"}}}`, loc.group, nsA), errAuthorization)

			// Others read what they may read; the owner reads everything.
			readable := map[string]any{}
			for _, name := range names {
				if strings.Contains(can(name), "r") {
					readable[name] = owned[name]
				}
			}
			for _, tok := range []string{readonlyA, propsApp2} {
				env.callOK(tok, loc.list, listBody, map[string]any{nsA: readable})
			}
			env.callOK(ownerA, loc.list, listBody, map[string]any{nsA: owned})

			// Others delete what they may write.
			for _, name := range names {
				t.Run("delete "+name, func(t *testing.T) {
					tc := apiCase{token: readonlyA, body: del(name)}
					if !strings.Contains(can(name), "w") {
						tc.wantErr, tc.msg = errAuthorization, nsA+"."+name
					} else {
						delete(owned, name)
					}
					env.in(t).expect(loc.del, tc)
				})
			}
			env.callOK(ownerA, loc.list, listBody, map[string]any{nsA: owned})
			for _, name := range sortedKeys(owned) {
				env.callOK(ownerA, loc.del, del(name), `{}`)
			}
			env.callOK(ownerA, loc.list, listBody, `{}`)

			// Another application's namespace is its own: it may use a property that agents may
			// neither read nor write, and the license's owner, through its own application, may not.
			env.ok(propsApp2, "register_properties", `{"secret":`+propDef("string", map[string]string{"license": "", "group": ""}, "")+`}`)
			secret := fmt.Sprintf(`{%s"properties":{%q:{"secret":"s"}}}`, loc.group, nsApp2)
			env.callOK(propsApp2, loc.update, secret, `{}`)
			env.callOK(propsApp2, loc.list, listBody, map[string]any{nsApp2: map[string]any{"secret": "s"}})
			env.fails(ownerA, loc.update, secret, errAuthorization)
			env.fails(ownerA, loc.del, fmt.Sprintf(`{%s"properties":{%q:["secret"]}}`, loc.group, nsApp2), errAuthorization)
			env.callOK(ownerA, loc.list, listBody, `{}`)
			env.callOK(propsApp2, loc.del, fmt.Sprintf(`{%s"properties":{%q:["secret"]}}`, loc.group, nsApp2), `{}`)
			env.callOK(propsApp2, loc.list, listBody, `{}`)
		})
	}
}

// TestPropertiesOtherLicense covers the separation of licenses: dal:owner-b sees none of license
// A's registered properties or values, cannot set A's properties (not_found) or reach A's groups
// (group_not_found), and its own test values and registrations leave A's alone.
func TestPropertiesOtherLicense(t *testing.T) {
	env := newEnv(t)
	env.ok(ownerA, "create_group", `{"name":"Shoes","agent_priorities":{"owner-a@example.com":"normal"}}`)
	env.ok(ownerA, "register_properties", `{"string_property":`+propDef("string", everywhere, "")+`}`)
	env.ok(ownerA, "update_license_properties", `{"properties":{"`+nsA+`":{"string_property":"a"},"test":{"int_property":1}}}`)
	env.ok(ownerA, "update_group_properties", `{"group_id":0,"properties":{"`+nsA+`":{"string_property":"a0"},"test":{"int_property":2}}}`)
	env.ok(ownerA, "update_group_properties", `{"group_id":1,"properties":{"test":{"int_property":3}}}`)

	env.callOK(ownerB, "list_registered_properties", `{"all":true}`, map[string]any{"test": testNamespaceDefs()})
	env.callOK(ownerB, "list_license_properties", `{}`, `{}`)
	env.callOK(ownerB, "list_group_properties", `{"group_id":0}`, `{}`)
	runCases(t, env, "", []apiCase{
		{name: "set A's property", token: ownerB, action: "update_license_properties", body: `{"properties":{"` + nsA + `":{"string_property":"b"}}}`, wantErr: errNotFound},
		{name: "delete A's property", token: ownerB, action: "delete_license_properties", body: `{"properties":{"` + nsA + `":["string_property"]}}`, wantErr: errNotFound},
		{name: "set in A's group", token: ownerB, action: "update_group_properties", body: `{"group_id":1,"properties":{"test":{"int_property":9}}}`, wantErr: errGroupNotFound},
		{name: "list A's group", token: ownerB, action: "list_group_properties", body: `{"group_id":1}`, wantErr: errGroupNotFound},
		{name: "delete in A's group", token: ownerB, action: "delete_group_properties", body: `{"group_id":1,"properties":{"test":["int_property"]}}`, wantErr: errGroupNotFound},
	})

	env.ok(ownerB, "register_properties", `{"string_property":`+propDef("string", everywhere, "")+`}`)
	env.ok(ownerB, "update_license_properties", `{"properties":{"client-owner-b":{"string_property":"b"},"test":{"int_property":99}}}`)
	env.ok(ownerB, "update_group_properties", `{"group_id":0,"properties":{"test":{"int_property":98}}}`)
	env.ok(ownerB, "delete_group_properties", `{"group_id":0,"properties":{"test":["int_property"]}}`)
	env.callOK(ownerB, "list_license_properties", `{}`, `{"client-owner-b":{"string_property":"b"},"test":{"int_property":99}}`)

	env.callOK(ownerA, "list_license_properties", `{}`, `{"`+nsA+`":{"string_property":"a"},"test":{"int_property":1}}`)
	env.callOK(ownerA, "list_group_properties", `{"group_id":0}`, `{"`+nsA+`":{"string_property":"a0"},"test":{"int_property":2}}`)
	env.callOK(ownerA, "list_group_properties", `{"group_id":1}`, `{"test":{"int_property":3}}`)
	if got := env.ok(readonlyA, "list_registered_properties", `{"all":true}`).(map[string]any); got["client-owner-b"] != nil {
		t.Errorf("license A lists license B's namespace: %v", sortedKeys(got))
	}
}

// TestEmptyPropertyNamespaceRefused checks that a namespace that sets no value is refused, as no
// namespace at all is, and leaves the state exactly as it was: such a request would do nothing,
// and is what a gRPC client sends when its library could not encode the Struct it was given.
func TestEmptyPropertyNamespaceRefused(t *testing.T) {
	v := newEnv(t)
	for _, c := range []struct{ action, body, field string }{
		{"update_license_properties", `{"properties":{"unregistered":{}}}`, "properties.unregistered:"},
		{"update_group_properties", `{"group_id":0,"properties":{"test":{}}}`, "properties.test:"},
	} {
		// fails also checks that the state did not change.
		if r := v.fails(ownerA, c.action, c.body, "validation"); !strings.Contains(string(r.body), c.field) {
			t.Errorf("%s(%s) = %s, want a message naming %s", c.action, c.body, r.body, c.field)
		}
	}
}
