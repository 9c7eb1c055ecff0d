package gateway_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"testing"

	gateway "github.com/livechat-gateway/gateway"
	"github.com/livechat-gateway/gateway/internal/action"
)

// schema is the part of an OpenAPI 2 schema object that TestSwaggerDocument reads.
type schema struct {
	Ref                  string             `json:"$ref"`
	Type                 string             `json:"type"`
	Items                *schema            `json:"items"`
	Properties           map[string]*schema `json:"properties"`
	AdditionalProperties *schema            `json:"additionalProperties"`
}

type document struct {
	Swagger string `json:"swagger"`
	Paths   map[string]map[string]struct {
		OperationID string `json:"operationId"`
		Parameters  []struct {
			In     string  `json:"in"`
			Schema *schema `json:"schema"`
		} `json:"parameters"`
		Responses map[string]struct {
			Schema *schema `json:"schema"`
		} `json:"responses"`
	} `json:"paths"`
	Definitions map[string]*schema `json:"definitions"`
}

// TestSwaggerDocument checks the Swagger 2.0 document, served at /swagger.json and converted into
// the OpenAPI 3.1 one (openapi31_test.go).
func TestSwaggerDocument(t *testing.T) {
	var doc document
	if err := json.Unmarshal(gateway.Swagger(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Swagger != "2.0" {
		t.Errorf("swagger = %q, want 2.0", doc.Swagger)
	}
	var want []string
	for _, a := range action.All() {
		want = append(want, a.Path())
		ops, ok := doc.Paths[a.Path()]
		if !ok {
			continue
		}
		op, ok := ops["post"]
		if len(ops) != 1 || !ok {
			t.Errorf("%s has operations %v, want post only", a.Path(), ops)
			continue
		}
		if wantID := string(a.Method.Parent().Name()) + "_" + string(a.Method.Name()); op.OperationID != wantID {
			t.Errorf("%s: operationId %q, want %q", a.Path(), op.OperationID, wantID)
		}
		if len(op.Parameters) != 1 || op.Parameters[0].In != "body" {
			t.Errorf("%s: parameters %+v, want one body", a.Path(), op.Parameters)
		}
		if r, ok := op.Responses["default"]; !ok || r.Schema == nil || r.Schema.Ref != "#/definitions/v1ErrorResponse" {
			t.Errorf("%s: the default response is not the upstream's error body", a.Path())
		}
	}
	got := make([]string, 0, len(doc.Paths))
	for p := range doc.Paths {
		got = append(got, p)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("paths = %q\nwant the 30 actions' %q", got, want)
	}

	// Top-level arrays and maps, and the register_properties body, as the upstream has them.
	ok200 := func(path string) *schema { return doc.Paths[path]["post"].Responses["200"].Schema }
	if s := ok200(action.PathPrefix + "list_agents"); s == nil || s.Type != "array" || s.Items == nil || s.Items.Ref != "#/definitions/v1Agent" {
		t.Errorf("list_agents answers %+v, want an array of v1Agent", s)
	}
	if s := ok200(action.PathPrefix + "list_license_properties"); s == nil || s.Type != "object" || s.AdditionalProperties == nil {
		t.Errorf("list_license_properties answers %+v, want a map", s)
	}
	if s := doc.Paths[action.PathPrefix+"register_properties"]["post"].Parameters[0].Schema; s == nil || s.AdditionalProperties == nil ||
		s.AdditionalProperties.Ref != "#/definitions/v1PropertyDefinition" {
		t.Errorf("register_properties takes %+v, want a map of v1PropertyDefinition", s)
	}

	// Field names are the upstream's snake_case keys.
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	for name, def := range doc.Definitions {
		for field := range def.Properties {
			if !snake.MatchString(field) {
				t.Errorf("%s.%s is not snake_case", name, field)
			}
		}
	}
	if _, ok := doc.Definitions["v1Agent"].Properties["avatar_path"]; !ok {
		t.Error("v1Agent has no avatar_path")
	}
}
