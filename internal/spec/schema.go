package spec

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A node is the schema of one JSON value. The request of every action is described as a tree of
// nodes (see requests.go), and one walk checks any request against its tree, so that the rules
// are written once as data and every refusal names the field that broke them.
//
// Values are those of encoding/json decoding into any with UseNumber: map[string]any, []any,
// string, json.Number, bool and nil. Parse has dropped every object member that was null (it
// means "not given"), so a null left is an array's element, and it is refused wherever a value
// is expected.
type node interface {
	check(path string, v any) *Violation
}

// field is one key of an object.
type field struct {
	name     string
	node     node
	required bool
}

func req(name string, n node) field { return field{name, n, true} }
func opt(name string, n node) field { return field{name, n, false} }

// object is a JSON object with known keys. Unknown keys are refused: the real API's treatment of
// them is undocumented, and refusing them catches a client that sends a field the spec doesn't
// have, such as a misspelt name or an internal field that should never leave the gateway.
type object struct {
	fields []field
	// rule, when set, checks what the fields cannot say alone, such as one field's allowed
	// values depending on another's. It runs after the fields passed.
	rule func(path string, m map[string]any) *Violation
}

func obj(fields ...field) *object { return &object{fields: fields} }

// withRule returns o with rule r.
func (o *object) withRule(r func(path string, m map[string]any) *Violation) *object {
	o.rule = r
	return o
}

func (o *object) check(path string, v any) *Violation {
	m, ok := v.(map[string]any)
	if !ok {
		return invalid(path, "must be an object")
	}
	for _, f := range o.fields {
		fv, ok := m[f.name]
		if !ok {
			if f.required {
				return invalid(join(path, f.name), "is required")
			}
			continue
		}
		if err := f.node.check(join(path, f.name), fv); err != nil {
			return err
		}
	}
	for _, k := range sortedKeys(m) {
		if !slices.ContainsFunc(o.fields, func(f field) bool { return f.name == k }) {
			return invalid(join(path, k), "unknown field")
		}
	}
	if o.rule != nil {
		return o.rule(path, m)
	}
	return nil
}

// mapping is a JSON object used as a map: any key (or, with keys set, one of those), each value
// checked by values.
type mapping struct {
	keys    []string
	values  node
	minKeys int
	maxKeys int
}

func mapOf(values node) *mapping { return &mapping{values: values} }

func (mp *mapping) check(path string, v any) *Violation {
	m, ok := v.(map[string]any)
	if !ok {
		return invalid(path, "must be an object")
	}
	if len(m) < mp.minKeys {
		if path == "" {
			return invalid(path, "the body must have at least %d key(s)", mp.minKeys)
		}
		return invalid(path, "must have at least %d key(s)", mp.minKeys)
	}
	if mp.maxKeys > 0 && len(m) > mp.maxKeys {
		return invalid(path, "must have at most %d key(s)", mp.maxKeys)
	}
	for _, k := range sortedKeys(m) {
		if k == "" {
			return invalid(path, "keys must not be empty")
		}
		if mp.keys != nil && !slices.Contains(mp.keys, k) {
			return invalid(join(path, k), "unknown key, must be one of %s", strings.Join(mp.keys, ", "))
		}
		if err := mp.values.check(join(path, k), m[k]); err != nil {
			return err
		}
	}
	return nil
}

// array is a JSON array whose elements are checked by elem.
type array struct {
	elem   node
	unique bool // no two elements may be equal (strings and integers)
	// uniqueBy, when set, names a key of the object elements that no two may share.
	uniqueBy string
}

func arr(elem node) *array { return &array{elem: elem} }

func set(elem node) *array { return &array{elem: elem, unique: true} }

func (a *array) check(path string, v any) *Violation {
	s, ok := v.([]any)
	if !ok {
		return invalid(path, "must be an array")
	}
	seen := map[string]bool{}
	for i, e := range s {
		p := fmt.Sprintf("%s[%d]", path, i)
		if err := a.elem.check(p, e); err != nil {
			return err
		}
		switch {
		case a.unique:
			k := fmt.Sprint(e)
			if seen[k] {
				return invalid(p, "duplicate value %q", k)
			}
			seen[k] = true
		case a.uniqueBy != "":
			k := fmt.Sprint(e.(map[string]any)[a.uniqueBy])
			if seen[k] {
				return invalid(join(p, a.uniqueBy), "%s is listed twice", k)
			}
			seen[k] = true
		}
	}
	return nil
}

// str is a JSON string. enum, when set, lists the allowed values; format, when set, checks the
// value further.
type str struct {
	enum     []string
	nonEmpty bool
	maxRunes int
	format   func(string) string // returns what is wrong, or ""
}

var (
	anyString = &str{}
	nonEmpty  = &str{nonEmpty: true}
)

func oneOf(values ...string) *str { return &str{enum: values} }

func (s *str) check(path string, v any) *Violation {
	x, ok := v.(string)
	if !ok {
		return invalid(path, "must be a string")
	}
	switch {
	case s.enum != nil && !slices.Contains(s.enum, x):
		return invalid(path, "%q is not one of %s", x, strings.Join(s.enum, ", "))
	case s.nonEmpty && x == "":
		return invalid(path, "must not be empty")
	case s.maxRunes > 0 && utf8.RuneCountInString(x) > s.maxRunes:
		return invalid(path, "must be at most %d characters", s.maxRunes)
	}
	if s.format != nil {
		if msg := s.format(x); msg != "" {
			return invalid(path, "%s", msg)
		}
	}
	return nil
}

// integer is a JSON number without a fraction or exponent, within [min, max].
type integer struct {
	min, max int64
}

var (
	int32Value = &integer{math.MinInt32, math.MaxInt32}
	uintValue  = &integer{0, math.MaxInt32}
)

func (n *integer) check(path string, v any) *Violation {
	x, ok := v.(json.Number)
	if !ok {
		return invalid(path, "must be an integer")
	}
	i, err := strconv.ParseInt(string(x), 10, 64)
	if err != nil {
		return invalid(path, "must be an integer")
	}
	if i < n.min {
		return invalid(path, "must be at least %d", n.min)
	}
	if i > n.max {
		return invalid(path, "must be at most %d", n.max)
	}
	return nil
}

// boolean is a JSON true or false.
type boolean struct{}

var boolValue = boolean{}

func (boolean) check(path string, v any) *Violation {
	if _, ok := v.(bool); !ok {
		return invalid(path, "must be a boolean")
	}
	return nil
}

// anyValue is any JSON value but null; the action's handler checks it further.
type anyValue struct{}

func (anyValue) check(path string, v any) *Violation {
	if v == nil {
		return invalid(path, "must not be null")
	}
	return nil
}

// join returns the path of key k inside path.
func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
