// Package spec holds the request rules of the LiveChat Configuration API v3.2, as its
// documentation states them: for every action, the fields, which are required, their JSON types,
// allowed values, limits and formats, and the rules between fields (a new group needs a normal
// priority, a webhook's filters must suit its action, a property takes a domain or a range).
//
// Both sides of the gateway's tests use them: the gateway refuses a bad request before any
// upstream call, and the emulator refuses it as the upstream would. The rules are written once,
// as data (requests.go), and one walk applies them, so that every refusal names the field.
//
// Rules that depend on state (does the group exist, may this token write that property) are the
// emulator's and the upstream's, not these.
package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Violation is a request that breaks a rule. Path names the field, as in groups[1].priority;
// it is empty when the request as a whole is wrong.
type Violation struct {
	Path    string
	Message string
}

// Error returns "path: message".
func (v *Violation) Error() string {
	if v.Path == "" {
		return v.Message
	}
	return v.Path + ": " + v.Message
}

// invalid returns a violation at path.
func invalid(path, format string, args ...any) *Violation {
	return &Violation{Path: path, Message: fmt.Sprintf(format, args...)}
}

// Actions returns the names of the 30 actions the rules cover, sorted.
func Actions() []string { return sortedKeys(requests) }

// Parse decodes a request body as the rules read it: one JSON value, numbers kept as
// json.Number. null is "not given", as it is to the upstream and its official SDK (which sends
// null for an action without a payload, and null for a field it leaves out): an empty body, or
// one that is only null, is {}, and an object member whose value is null is dropped at any depth
// (DropNulls) before the rules see it. A body that is not one JSON value is a *Violation.
func Parse(body []byte) (any, error) {
	body = bytes.TrimSpace(DropNulls(body))
	if len(body) == 0 {
		return map[string]any{}, nil
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, invalid("", "request body is not valid JSON: %v", err)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, invalid("", "request body has data after the JSON value")
	}
	return v, nil
}

// Check checks v, a request of action as Parse returns it, against the action's rules. It
// returns a *Violation, or nil. An unknown action is an error too.
func Check(action string, v any) error {
	n, ok := requests[action]
	if !ok {
		return fmt.Errorf("spec: unknown action %q", action)
	}
	if err := n.check("", v); err != nil {
		return err
	}
	return nil
}

// CheckBody is Parse and then Check.
func CheckBody(action string, body []byte) error {
	v, err := Parse(body)
	if err != nil {
		return err
	}
	return Check(action, v)
}

// CheckValue checks that v, as Parse returns it, is a value of property type typ (one of
// PropertyTypes): an int32, a bool, or a string for string and tokenized_string. It returns a
// *Violation at path, or nil.
func CheckValue(typ, path string, v any) error {
	if err := checkValue(typ, path, v); err != nil {
		return err
	}
	return nil
}

func checkValue(typ, path string, v any) *Violation {
	switch typ {
	case "int":
		return int32Value.check(path, v)
	case "bool":
		return boolValue.check(path, v)
	case "string", "tokenized_string":
		return anyString.check(path, v)
	}
	return invalid(path, "unknown property type %q, want one of %v", typ, PropertyTypes)
}
