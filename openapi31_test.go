package gateway_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"google.golang.org/protobuf/reflect/protoreflect"

	gateway "github.com/livechat-gateway/gateway"
	"github.com/livechat-gateway/gateway/internal/action"
)

// TestOpenAPI31Valid validates the OpenAPI 3.1 document with kin-openapi's loader and validator,
// which apply the 3.1 rules (JSON Schema 2020-12 forms such as additionalProperties: true) to a
// document whose openapi field is 3.1.x. clients/openapi-check validates it against the
// specification's own JSON schema too, and generates a TypeScript client from it.
func TestOpenAPI31Valid(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(gateway.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" || !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the OpenAPI 3.1 document is invalid: %v", err)
	}
}

// TestOpenAPI31Document checks what the conversion adds to the Swagger 2.0 document.
func TestOpenAPI31Document(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(gateway.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	get := func(v any, keys ...string) any {
		for _, k := range keys {
			m, _ := v.(map[string]any)
			v = m[k]
		}
		return v
	}
	schemas := get(doc, "components", "schemas").(map[string]any)

	// Every action: X-Region, the lifecycle and cache headers, and the error body per status.
	for _, a := range action.All() {
		op := get(doc, "paths", a.Path(), "post")
		if op == nil {
			t.Errorf("%s: no POST operation", a.Path())
			continue
		}
		params, _ := json.Marshal(get(op, "parameters"))
		if !strings.Contains(string(params), "#/components/parameters/XRegion") {
			t.Errorf("%s: no X-Region parameter", a.Name)
		}
		for _, h := range []string{"Deprecation", "Legacy", "X-Cache"} {
			if get(op, "responses", "200", "headers", h) == nil {
				t.Errorf("%s: the 200 answer has no %s header", a.Name, h)
			}
		}
		for _, status := range []string{"401", "403", "404", "409", "421", "422", "429", "500"} {
			if ref := get(op, "responses", status, "$ref"); ref != "#/components/responses/Error"+status {
				t.Errorf("%s: response %s is %v, want the error body", a.Name, status, ref)
			}
		}
	}
	for _, status := range []string{"421", "422", "429"} {
		r := get(doc, "components", "responses", "Error"+status)
		if ref := get(r, "content", "application/json", "schema", "$ref"); ref != "#/components/schemas/v1ErrorResponse" {
			t.Errorf("Error%s's body is %v, want v1ErrorResponse", status, ref)
		}
		if get(r, "headers", "Deprecation") == nil {
			t.Errorf("Error%s has no Deprecation header", status)
		}
	}
	if get(doc, "components", "responses", "Error429", "headers", "Retry-After") == nil {
		t.Error("429 has no Retry-After header")
	}
	if get(schemas, "v1ErrorDetail", "properties", "data", "properties", "region") == nil {
		t.Error("error.data has no region")
	}

	// Struct fields are free-form objects, Value fields have no type, found from the protos.
	for _, a := range action.All() {
		for _, md := range []protoreflect.MessageDescriptor{a.Method.Input(), a.Method.Output()} {
			checkOpenFields(t, schemas, md, map[protoreflect.FullName]bool{})
		}
	}

	// Required lists from the spec's rules; no update_mask in REST bodies.
	for name, want := range map[string][]any{
		"v1UpdateAgentRequest":     {"id"},
		"v1CreateAgentRequest":     {"id", "name"},
		"v1GroupMembership":        {"id", "priority"},
		"v1RegisterWebhookRequest": {"action", "secret_key", "url"},
		"v1BotWebhooks":            {"actions", "secret_key", "url"},
		"v1PropertyAccess":         {"read", "write"},
	} {
		if got, _ := get(schemas, name, "required").([]any); !slices.Equal(got, want) {
			t.Errorf("%s.required = %v, want %v", name, got, want)
		}
	}
	for name, s := range schemas {
		if get(s, "properties", "update_mask") != nil {
			t.Errorf("%s has update_mask, which REST bodies do not carry", name)
		}
	}
}

// checkOpenFields checks the schema of every Struct and Value field of md and the messages it
// holds.
func checkOpenFields(t *testing.T, schemas map[string]any, md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) {
	t.Helper()
	if seen[md.FullName()] || md.ParentFile().Package() != "livechat.configuration.v1" {
		return
	}
	seen[md.FullName()] = true
	def, _ := schemas["v1"+strings.ReplaceAll(strings.TrimPrefix(string(md.FullName()), "livechat.configuration.v1."), ".", "")].(map[string]any)
	props, _ := def["properties"].(map[string]any)
	for i := range md.Fields().Len() {
		f := md.Fields().Get(i)
		if f.Name() == "update_mask" {
			continue
		}
		s, _ := props[string(f.Name())].(map[string]any)
		if def != nil && s == nil {
			t.Errorf("%s.%s: not in the document", md.FullName(), f.Name())
			continue
		}
		if f.IsMap() {
			f = f.MapValue()
			s, _ = s["additionalProperties"].(map[string]any)
		} else if f.IsList() {
			s, _ = s["items"].(map[string]any)
		}
		if f.Kind() != protoreflect.MessageKind {
			continue
		}
		switch f.Message().FullName() {
		case "google.protobuf.Struct":
			if s != nil && (s["type"] != "object" || s["additionalProperties"] != true) {
				t.Errorf("%s.%s: a Struct is %v, want a free-form object", md.FullName(), f.Name(), s)
			}
		case "google.protobuf.Value":
			if _, ok := s["type"]; ok {
				t.Errorf("%s.%s: a Value has type %v, want none", md.FullName(), f.Name(), s["type"])
			}
		default:
			checkOpenFields(t, schemas, f.Message(), seen)
		}
	}
}
