// Package openapi turns the Swagger 2.0 document that protoc-gen-openapiv2 generates from the
// protos into the OpenAPI 3.1 document the gateway serves at /openapi.json. Nothing in the 3.1
// document is written by hand: kin-openapi's openapi2conv converts the paths and schemas, and
// Convert then adds what protoc-gen-openapiv2 cannot say, each from the source that knows it:
//
//   - OpenAPI 3.1's JSON Schema: google.protobuf.Struct fields (a bare {"type":"object"}) become
//     free-form objects (additionalProperties: true); google.protobuf.Value fields have no type.
//   - required lists, from the spec's request rules (internal/spec): each documented request
//     example is checked without each of its keys in turn, and a key whose absence the rules
//     refuse as "is required" is required in the schema it belongs to.
//   - the request header X-Region and the response headers Deprecation, Legacy, X-Cache and
//     Retry-After.
//   - the upstream's error body as one response per HTTP status, each listing its error types.
//   - no update_mask in REST bodies: over REST the mask is filled from the body's keys.
//   - the token as an HTTP bearer security scheme.
package openapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"

	"github.com/livechat-gateway/gateway/internal/action"
	"github.com/livechat-gateway/gateway/internal/spec"
)

// Version is the OpenAPI version of the converted document.
const Version = "3.1.0"

// restNote ends the document's description, which is the protos' and speaks of gRPC.
const restNote = `Over REST (this document), the update requests carry no update_mask: the gateway fills it ` +
	`from the body's keys, so a list sent empty ("notifications": []) is cleared, as upstream. ` +
	`Errors are the upstream's error body with the upstream's HTTP status for each error type; ` +
	`every answer carries the upstream's Deprecation or Legacy header.`

// errorStatus is one HTTP status an error answer can have, with the error types the upstream (or
// the gateway, for what no upstream type describes) answers with it.
type errorStatus struct {
	status      int
	description string
	retryAfter  bool
}

// errorStatuses are the statuses of error answers: the upstream's per error type (the emulator's
// table in internal/emulator/errors.go), and the gateway's own for what no upstream type
// describes.
var errorStatuses = []errorStatus{
	{400, `"unsupported_version".`, false},
	{401, `"authentication": no token, or one the upstream does not accept.`, false},
	{402, `"license_expired".`, false},
	{403, `"authorization" (the token lacks a scope) or "limit_reached".`, false},
	{404, `"not_found" or "group_not_found".`, false},
	{409, `"already_exist" or "transfer_ownership".`, false},
	{413, `The request body is over the gateway's GATEWAY_MAX_REQUEST_BYTES.`, false},
	{421, `"misdirected_request": error.data.region names the region to send the request to (X-Region).`, false},
	{422, `"validation": the request breaks a documented rule; the message names the field by its JSON path.`, false},
	{429, `"too_many_requests", from the upstream or the gateway's own load shedding; Retry-After says when to retry.`, true},
	{500, `"internal".`, false},
	{503, `The upstream could not be reached.`, false},
	{504, `The deadline passed before the upstream answered.`, false},
}

// Convert converts swagger, the Swagger 2.0 document, into the OpenAPI 3.1 document, indented
// JSON. examples maps an action's name to valid requests of it (the spec's documented example,
// and probes that reach the optional objects it leaves out), from which the required lists are
// derived; an action without one gets none.
func Convert(swagger []byte, examples map[string][][]byte) ([]byte, error) {
	var doc2 openapi2.T
	if err := json.Unmarshal(swagger, &doc2); err != nil {
		return nil, fmt.Errorf("openapi: reading the Swagger 2.0 document: %w", err)
	}
	doc3, err := openapi2conv.ToV3(&doc2)
	if err != nil {
		return nil, fmt.Errorf("openapi: converting to OpenAPI 3.0: %w", err)
	}
	if err := doc3.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi: the converted OpenAPI 3.0 document is invalid: %w", err)
	}
	b, err := json.Marshal(doc3)
	if err != nil {
		return nil, err
	}
	// The rest works on the document as plain JSON values, which carry every 3.1 form.
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	doc["openapi"] = Version
	schemas := obj(obj(doc, "components"), "schemas")

	freeForm(doc)
	for _, s := range schemas {
		if props, ok := s.(map[string]any)["properties"].(map[string]any); ok {
			delete(props, "update_mask")
		}
	}
	info := obj(doc, "info")
	info["description"] = fmt.Sprint(info["description"]) + "\n\n" + restNote
	errorBody(schemas)
	security(doc)
	headers(doc)

	for _, a := range action.All() {
		op := obj(obj(obj(doc, "paths"), a.Path()), "post")
		body := obj(obj(obj(obj(op, "requestBody"), "content"), "application/json"), "schema")
		for _, ex := range examples[a.Name] {
			if err := required(schemas, a.Name, body, ex); err != nil {
				return nil, err
			}
		}
	}

	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// obj returns m[k] as an object, creating it when it is missing.
func obj(m map[string]any, k string) map[string]any {
	if v, ok := m[k].(map[string]any); ok {
		return v
	}
	v := map[string]any{}
	m[k] = v
	return v
}

// freeForm walks every schema of the document. protoc-gen-openapiv2 writes google.protobuf.Struct
// as a bare {"type":"object"}, which generators read as an object with no keys
// (Record<string, never> in TypeScript); it is a free-form object. Component schemas are messages
// (an empty one is an empty answer, {}) and keep their shape.
func freeForm(doc map[string]any) {
	var walk func(v any, component bool)
	walk = func(v any, component bool) {
		switch v := v.(type) {
		case map[string]any:
			if v["type"] == "object" && v["properties"] == nil && v["additionalProperties"] == nil && !component {
				v["additionalProperties"] = true
			}
			for _, sub := range v {
				walk(sub, false)
			}
		case []any:
			for _, sub := range v {
				walk(sub, false)
			}
		}
	}
	for k, v := range doc {
		if k != "components" {
			walk(v, false)
		}
	}
	for _, s := range obj(obj(doc, "components"), "schemas") {
		for _, sub := range s.(map[string]any) {
			walk(sub, false)
		}
	}
}

// errorBody completes the upstream's error body: type and message are always there, error is the
// whole body, and data, free-form, names the region of a misdirected_request.
func errorBody(schemas map[string]any) {
	resp := obj(schemas, "v1ErrorResponse")
	resp["required"] = []any{"error"}
	detail := obj(schemas, "v1ErrorDetail")
	detail["required"] = []any{"type", "message"}
	data := obj(obj(detail, "properties"), "data")
	data["type"] = "object"
	data["additionalProperties"] = true
	obj(data, "properties")["region"] = map[string]any{
		"type":        "string",
		"description": `For "misdirected_request": the region to send the request to, as X-Region.`,
		"enum":        []any{"dal", "fra"},
	}
}

// security describes the token as what it is, an HTTP bearer token.
func security(doc map[string]any) {
	obj(obj(doc, "components"), "securitySchemes")["BearerToken"] = map[string]any{
		"type":        "http",
		"scheme":      "bearer",
		"description": "A LiveChat access token, passed to the upstream unchanged.",
	}
}

// headers adds X-Region to every operation, the lifecycle and cache headers to every answer, and
// one error response per status.
func headers(doc map[string]any) {
	comp := obj(doc, "components")
	obj(comp, "parameters")["XRegion"] = map[string]any{
		"name":     "X-Region",
		"in":       "header",
		"required": false,
		"description": "The upstream region to send the request to. Without it the region is the token's " +
			`prefix ("fra:" is fra), else dal. A "misdirected_request" answer names the right one.`,
		"schema": map[string]any{"type": "string", "enum": []any{"dal", "fra"}},
	}
	hs := obj(comp, "headers")
	hs["Deprecation"] = map[string]any{
		"description": "The upstream's Deprecation header: the date from which API v3.2 is deprecated. " +
			"It is on every answer of an API version in that stage, the gateway's own refusals included.",
		"schema": map[string]any{"type": "string"},
	}
	hs["Legacy"] = map[string]any{
		"description": "The upstream's Legacy header, sent instead of Deprecation for an API version in its legacy stage.",
		"schema":      map[string]any{"type": "string"},
	}
	hs["X-Cache"] = map[string]any{
		"description": "How the gateway's cache served a read: hit, miss, stale (the refresh failed) or bypass.",
		"schema":      map[string]any{"type": "string", "enum": []any{"hit", "miss", "stale", "bypass"}},
	}
	hs["Retry-After"] = map[string]any{
		"description": "Seconds to wait before retrying.",
		"schema":      map[string]any{"type": "integer", "minimum": 0},
	}
	lifecycle := func(extra ...string) map[string]any {
		m := map[string]any{}
		for _, h := range append([]string{"Deprecation", "Legacy"}, extra...) {
			m[h] = map[string]any{"$ref": "#/components/headers/" + h}
		}
		return m
	}
	errRef := map[string]any{"$ref": "#/components/schemas/v1ErrorResponse"}
	rs := obj(comp, "responses")
	for _, e := range errorStatuses {
		r := map[string]any{
			"description": e.description,
			"content":     map[string]any{"application/json": map[string]any{"schema": errRef}},
		}
		if e.retryAfter {
			r["headers"] = lifecycle("Retry-After")
		} else {
			r["headers"] = lifecycle()
		}
		rs["Error"+strconv.Itoa(e.status)] = r
	}
	for _, item := range obj(doc, "paths") {
		for _, op := range item.(map[string]any) {
			op := op.(map[string]any)
			params, _ := op["parameters"].([]any)
			op["parameters"] = append(params, map[string]any{"$ref": "#/components/parameters/XRegion"})
			responses := obj(op, "responses")
			obj(responses, "200")["headers"] = lifecycle("X-Cache")
			if d, ok := responses["default"].(map[string]any); ok {
				d["headers"] = lifecycle()
			}
			for _, e := range errorStatuses {
				responses[strconv.Itoa(e.status)] = map[string]any{"$ref": "#/components/responses/Error" + strconv.Itoa(e.status)}
			}
		}
	}
}

// required derives the required lists of an action's request schemas from the spec's rules: the
// example is valid, and each key whose removal the rules refuse as "is required" is required in
// the schema of the object that holds it.
func required(schemas map[string]any, name string, body map[string]any, example []byte) error {
	v, err := spec.Parse(example)
	if err != nil {
		return fmt.Errorf("openapi: %s's example: %w", name, err)
	}
	if err := spec.Check(name, v); err != nil {
		return fmt.Errorf("openapi: %s's example breaks the spec's rules: %w", name, err)
	}
	root := v
	var walk func(v any, path string, schema map[string]any) error
	walk = func(v any, path string, schema map[string]any) error {
		if schema == nil {
			return nil
		}
		schema = resolve(schemas, schema)
		switch v := v.(type) {
		case map[string]any:
			props, _ := schema["properties"].(map[string]any)
			for _, k := range slices.Sorted(maps.Keys(v)) {
				p := k
				if path != "" {
					p = path + "." + k
				}
				var sub map[string]any
				if props != nil {
					sub, _ = props[k].(map[string]any)
				} else {
					sub, _ = schema["additionalProperties"].(map[string]any)
				}
				if sub == nil && props == nil {
					continue // a free-form object: nothing in it is described
				}
				if sub == nil {
					return fmt.Errorf("openapi: %s: %s is in the example but not in the schema", name, p)
				}
				if props != nil {
					old := v[k]
					delete(v, k)
					err := spec.Check(name, root)
					v[k] = old
					var viol *spec.Violation
					if errors.As(err, &viol) && viol.Path == p && viol.Message == "is required" {
						addRequired(schema, k)
					}
				}
				if err := walk(v[k], p, sub); err != nil {
					return err
				}
			}
		case []any:
			items, _ := schema["items"].(map[string]any)
			if items == nil {
				return nil
			}
			for i, e := range v {
				if err := walk(e, fmt.Sprintf("%s[%d]", path, i), items); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(root, "", body)
}

// resolve follows a schema's $ref to its component.
func resolve(schemas map[string]any, s map[string]any) map[string]any {
	if ref, ok := s["$ref"].(string); ok {
		if c, ok := schemas[strings.TrimPrefix(ref, "#/components/schemas/")].(map[string]any); ok {
			return c
		}
	}
	return s
}

func addRequired(schema map[string]any, k string) {
	var names []string
	if r, ok := schema["required"].([]any); ok {
		for _, n := range r {
			names = append(names, n.(string))
		}
	}
	if !slices.Contains(names, k) {
		names = append(names, k)
	}
	slices.Sort(names)
	out := make([]any, len(names))
	for i, n := range names {
		out[i] = n
	}
	schema["required"] = out
}
