package testutil

import (
	"sort"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/livechat-gateway/gateway/internal/action"
)

// Malformed is a request body that does not have its action's JSON shape, and the field that a
// refusal of it should name ("" for the whole body; "?" when the test does not say).
type Malformed struct {
	Body string
	Path string
}

// wholeBody are bodies that are not a request of any action, whatever its fields.
var wholeBody = []Malformed{
	{`{`, ""},
	{`{"a":1,}`, ""},
	{`[]`, ""},
	{`[{}]`, ""},
	{`"x"`, ""},
	{`1`, ""},
	{`true`, ""},
	{`{} {}`, ""},
	{`{}]`, ""},
	{"{\"\xff\":1}", ""},
	{`{"nope":1}`, "nope"},
}

// wrongValues are JSON values of every type, and a few that are of no field's type or range.
var wrongValues = []string{
	`true`, `"x"`, `1`, `-1`, `1.5`, `4294967296`, `1e400`, `{}`, `[]`, `[1]`, `["x"]`, `[{}]`,
	`[null]`, `{"k":1}`, `{"k":"x"}`, `{"k":{}}`, `""`, `"a_b"`, `"1"`, `"a,b.c"`,
}

// MalformedBodies returns bodies of action a that break its request's JSON shape in each way a
// client can: not JSON, not an object, unknown keys, and, for every field at every depth (to
// three levels of messages), each value of wrongValues in its place, and the field given twice.
// Some of them are well-formed for some fields ("x" for a string); the caller tells them apart
// by trying them. For an action whose body is one field (register_properties' map), the bodies
// are of that field.
func MalformedBodies(a *action.Action) []Malformed {
	md := a.Method.Input()
	out := append([]Malformed(nil), wholeBody...)
	if a.Body != "" {
		fd := md.Fields().ByName(a.Body)
		out = out[:len(out)-1]
		for _, b := range fieldBodies(fd, 3) {
			out = append(out, Malformed{b.Body, b.Path})
		}
		return out
	}
	return append(out, messageBodies(md, 3)...)
}

// messageBodies returns objects of md that have one wrong value, at depth levels at most.
func messageBodies(md protoreflect.MessageDescriptor, depth int) []Malformed {
	var out []Malformed
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		name := string(fd.Name())
		for _, b := range fieldBodies(fd, depth) {
			out = append(out, Malformed{`{"` + name + `":` + b.Body + `}`, join(name, b.Path)})
		}
		out = append(out, Malformed{`{"` + name + `":{},"` + name + `":{}}`, name})
		if json := fd.JSONName(); json != name {
			// protojson takes the lowerCamel name too; a refusal names the field as the
			// upstream does.
			out = append(out, Malformed{`{"` + name + `":{},"` + json + `":{}}`, name})
			for _, v := range wrongValues {
				out = append(out, Malformed{`{"` + json + `":` + v + `}`, name})
			}
		}
	}
	return out
}

// fieldBodies returns values of fd that are wrong at their top or below it, with the path of the
// wrong value under fd ("" for fd itself).
func fieldBodies(fd protoreflect.FieldDescriptor, depth int) []Malformed {
	var out []Malformed
	for _, v := range wrongValues {
		out = append(out, Malformed{v, ""})
	}
	if depth == 0 {
		return out
	}
	switch {
	case fd.IsMap() && fd.MapValue().Message() != nil && !wellKnown(fd.MapValue().Message()):
		for _, b := range messageBodies(fd.MapValue().Message(), depth-1) {
			out = append(out, Malformed{`{"k":` + b.Body + `}`, join("k", b.Path)})
		}
	case fd.IsMap():
		for _, v := range wrongValues {
			out = append(out, Malformed{`{"k":` + v + `}`, "k"})
		}
	case fd.IsList() && fd.Message() != nil && !wellKnown(fd.Message()):
		for _, b := range messageBodies(fd.Message(), depth-1) {
			out = append(out, Malformed{`[` + b.Body + `]`, "[0]" + dotted(b.Path)})
		}
	case fd.IsList():
		for _, v := range wrongValues {
			out = append(out, Malformed{`[` + v + `]`, "[0]"})
		}
	case fd.IsMap(), fd.IsList():
	case fd.Message() != nil && !wellKnown(fd.Message()):
		out = append(out, messageBodies(fd.Message(), depth-1)...)
	}
	return out
}

// wellKnown reports whether md is one of protobuf's well-known types, whose JSON is their own.
func wellKnown(md protoreflect.MessageDescriptor) bool {
	return strings.HasPrefix(string(md.FullName()), "google.protobuf.")
}

func join(a, b string) string {
	switch {
	case b == "":
		return a
	case strings.HasPrefix(b, "["):
		return a + b
	}
	return a + "." + b
}

func dotted(p string) string {
	if p == "" {
		return ""
	}
	return "." + p
}

// LowerCamelNames returns the JSON names of the fields of every action's request and response,
// at any depth, that differ from their snake_case names, such as maxChatsCount: the names no
// refusal should use.
func LowerCamelNames() []string {
	seen := map[string]bool{}
	var visit func(md protoreflect.MessageDescriptor)
	visited := map[protoreflect.FullName]bool{}
	visit = func(md protoreflect.MessageDescriptor) {
		if visited[md.FullName()] {
			return
		}
		visited[md.FullName()] = true
		for i := 0; i < md.Fields().Len(); i++ {
			fd := md.Fields().Get(i)
			if fd.JSONName() != string(fd.Name()) {
				seen[fd.JSONName()] = true
			}
			if fd.Message() != nil {
				visit(fd.Message())
			}
		}
	}
	for _, a := range action.All() {
		visit(a.Method.Input())
		visit(a.Method.Output())
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LeakInRefusal returns what of the JSON decoder's own words or a lowerCamel field name (see
// LowerCamelNames) the error body body holds, or "" if none.
func LeakInRefusal(body string) string {
	for _, s := range []string{"proto:", "(line", "json:"} {
		if strings.Contains(body, s) {
			return s
		}
	}
	for _, n := range LowerCamelNames() {
		if strings.Contains(body, n) {
			return n
		}
	}
	return ""
}
