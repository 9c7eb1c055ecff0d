package wire

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// DecodeError is a client's JSON body that does not decode as its request. It says what is wrong
// in the upstream's style: the field by its snake_case JSON path (filters.group_ids[0],
// max_chats_count), and the problem in plain words, never in the decoder's.
type DecodeError struct {
	// Path names the field, as in filters.group_ids[0]; "" is the whole body.
	Path string
	// Problem is what is wrong with it, such as "must be a string".
	Problem string
}

func (e *DecodeError) Error() string {
	if e.Path == "" {
		return e.Problem
	}
	return e.Path + ": " + e.Problem
}

// errUndecodable is what a client hears when ExplainJSON finds nothing to say about a body that
// protojson refused: a plain message rather than protojson's.
var errUndecodable = &DecodeError{Problem: "the body does not decode as this action's request"}

// UnmarshalRequest decodes data, a client's JSON body, into msg with opts. Its error is a
// *DecodeError that names the field by its snake_case path (see ExplainJSON), never protojson's
// message, which names fields in lowerCamelCase and quotes lines and columns.
func UnmarshalRequest(opts protojson.UnmarshalOptions, data []byte, msg proto.Message) error {
	if err := opts.Unmarshal(data, msg); err != nil {
		if e := ExplainJSON(msg.ProtoReflect().Descriptor(), data); e != nil {
			return e
		}
		return errUndecodable
	}
	return nil
}

// ExplainJSON returns why data is not the JSON of a message md as protojson reads a request
// (StrictUnmarshalOptions), or nil if it finds nothing wrong. It is generic over md: wrong JSON
// types for each field, integers out of range, unknown and repeated keys, enum names, map keys,
// and the well-known types (Struct, Value and ListValue take any JSON of their shape, FieldMask a
// string of paths). The first problem in the body's order is reported.
func ExplainJSON(md protoreflect.MessageDescriptor, data []byte) *DecodeError {
	n, e := parseBody(data)
	if e != nil {
		return e
	}
	if n.kind != '{' {
		return &DecodeError{Problem: "the body must be a JSON object"}
	}
	return explainMessage("", md, n)
}

// ExplainFieldJSON is ExplainJSON for a body that is the value of one field fd of the request,
// such as register_properties' property map. Paths start at the body: the map's keys.
func ExplainFieldJSON(fd protoreflect.FieldDescriptor, data []byte) *DecodeError {
	n, e := parseBody(data)
	if e != nil {
		return e
	}
	switch {
	case fd.IsMap() && n.kind != '{', fd.Message() != nil && !fd.IsList() && n.kind != '{':
		return &DecodeError{Problem: "the body must be a JSON object"}
	case fd.IsList() && n.kind != '[':
		return &DecodeError{Problem: "the body must be a JSON array"}
	}
	return explainField("", fd, n)
}

// node is a JSON value, with an object's members in their order, duplicates kept.
type node struct {
	kind    byte // '{', '[', '"', '0' (a number), 't' (true or false), 'n' (null)
	members []member
	elems   []*node
	str     string // a string's value, or a number's text
}

type member struct {
	key   string
	value *node
}

// parseBody parses data, which must be exactly one JSON value in valid UTF-8.
func parseBody(data []byte) (*node, *DecodeError) {
	if !utf8.Valid(data) {
		return nil, &DecodeError{Problem: "the body is not valid UTF-8"}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := parseValue(dec)
	if err != nil {
		return nil, &DecodeError{Problem: "the body is not valid JSON"}
	}
	rest := data[dec.InputOffset():]
	if _, err := dec.Token(); err != io.EOF {
		// What follows is a second value only if all of it is JSON.
		dec := json.NewDecoder(bytes.NewReader(rest))
		for {
			if _, err := parseValue(dec); err == io.EOF {
				return nil, &DecodeError{Problem: "the body must be a single JSON value"}
			} else if err != nil {
				return nil, &DecodeError{Problem: "the body is not valid JSON"}
			}
		}
	}
	return n, nil
}

// parseValue reads one value from dec. Its recursion is bounded by the depth check that every
// request body passes first (CheckDepth).
func parseValue(dec *json.Decoder) (*node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &node{kind: '{'}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, ok := k.(string)
				if !ok {
					return nil, errors.New("object key is not a string")
				}
				v, err := parseValue(dec)
				if err != nil {
					return nil, err
				}
				n.members = append(n.members, member{key, v})
			}
			_, err := dec.Token() // }
			return n, err
		case '[':
			n := &node{kind: '['}
			for dec.More() {
				v, err := parseValue(dec)
				if err != nil {
					return nil, err
				}
				n.elems = append(n.elems, v)
			}
			_, err := dec.Token() // ]
			return n, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case string:
		return &node{kind: '"', str: t}, nil
	case json.Number:
		return &node{kind: '0', str: t.String()}, nil
	case bool:
		return &node{kind: 't', str: strconv.FormatBool(t)}, nil
	case nil:
		return &node{kind: 'n'}, nil
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func joinIndex(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// explainMessage explains n, the JSON of a message md at path.
func explainMessage(path string, md protoreflect.MessageDescriptor, n *node) *DecodeError {
	if n.kind != '{' {
		return &DecodeError{Path: path, Problem: "must be an object"}
	}
	seen := map[protoreflect.FieldNumber]bool{}
	oneofs := map[protoreflect.FullName]protoreflect.FieldDescriptor{}
	for _, m := range n.members {
		fd := md.Fields().ByName(protoreflect.Name(m.key))
		if fd == nil {
			fd = md.Fields().ByJSONName(m.key)
		}
		if fd == nil {
			return &DecodeError{Path: joinKey(path, m.key), Problem: "unknown field"}
		}
		fpath := joinKey(path, string(fd.Name()))
		if seen[fd.Number()] {
			return &DecodeError{Path: fpath, Problem: "given twice"}
		}
		seen[fd.Number()] = true
		if m.value.kind == 'n' && !isValue(fd) {
			continue // null is "not given"
		}
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
			if other, ok := oneofs[od.FullName()]; ok {
				return &DecodeError{Path: fpath, Problem: fmt.Sprintf("cannot be given with %s", joinKey(path, string(other.Name())))}
			}
			oneofs[od.FullName()] = fd
		}
		if e := explainField(fpath, fd, m.value); e != nil {
			return e
		}
	}
	return nil
}

// isValue reports whether fd is a singular google.protobuf.Value, for which null is a value.
func isValue(fd protoreflect.FieldDescriptor) bool {
	return !fd.IsList() && !fd.IsMap() && fd.Message() != nil && fd.Message().FullName() == "google.protobuf.Value"
}

// explainField explains n, the JSON of field fd at path: a list, a map or a single value.
func explainField(path string, fd protoreflect.FieldDescriptor, n *node) *DecodeError {
	switch {
	case fd.IsList():
		if n.kind != '[' {
			return &DecodeError{Path: path, Problem: "must be an array"}
		}
		for i, el := range n.elems {
			if e := explainSingular(joinIndex(path, i), fd, el); e != nil {
				return e
			}
		}
		return nil
	case fd.IsMap():
		if n.kind != '{' {
			return &DecodeError{Path: path, Problem: "must be an object"}
		}
		return eachMember(path, n, func(kpath string, m member) *DecodeError {
			if e := explainMapKey(kpath, fd.MapKey(), m.key); e != nil {
				return e
			}
			return explainSingular(kpath, fd.MapValue(), m.value)
		})
	}
	return explainSingular(path, fd, n)
}

// eachMember calls fn with each member of the object n and its path, in order, refusing a key
// given twice; it returns the first problem found.
func eachMember(path string, n *node, fn func(kpath string, m member) *DecodeError) *DecodeError {
	seen := map[string]bool{}
	for _, m := range n.members {
		kpath := joinKey(path, m.key)
		if seen[m.key] {
			return &DecodeError{Path: kpath, Problem: "given twice"}
		}
		seen[m.key] = true
		if e := fn(kpath, m); e != nil {
			return e
		}
	}
	return nil
}

// explainMapKey explains key, a key of a map whose keys are fd.
func explainMapKey(path string, fd protoreflect.FieldDescriptor, key string) *DecodeError {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return nil
	case protoreflect.BoolKind:
		if key == "true" || key == "false" {
			return nil
		}
		return &DecodeError{Path: path, Problem: "the key must be true or false"}
	}
	if e := explainInteger(path, fd.Kind(), &node{kind: '0', str: key}); e != nil {
		e.Problem = "the key " + e.Problem
		return e
	}
	return nil
}

// jsonNumber is the syntax of a JSON number, which protojson also takes inside a string for the
// number kinds.
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// explainSingular explains n, one value of fd (an element of a list, a map's value, or a
// singular field's value).
func explainSingular(path string, fd protoreflect.FieldDescriptor, n *node) *DecodeError {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return explainMessageValue(path, fd.Message(), n)
	case protoreflect.StringKind:
		if n.kind != '"' {
			return &DecodeError{Path: path, Problem: "must be a string"}
		}
	case protoreflect.BoolKind:
		if n.kind != 't' {
			return &DecodeError{Path: path, Problem: "must be true or false"}
		}
	case protoreflect.BytesKind:
		if n.kind != '"' || !isBase64(n.str) {
			return &DecodeError{Path: path, Problem: "must be a base64 string"}
		}
	case protoreflect.EnumKind:
		return explainEnum(path, fd.Enum(), n)
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return explainFloat(path, fd.Kind(), n)
	default:
		return explainInteger(path, fd.Kind(), n)
	}
	return nil
}

// explainMessageValue explains n, the JSON of a message md, which may be a well-known type with
// a JSON form of its own.
func explainMessageValue(path string, md protoreflect.MessageDescriptor, n *node) *DecodeError {
	switch md.FullName() {
	case "google.protobuf.Value":
		return explainAny(path, n)
	case "google.protobuf.Struct":
		if n.kind != '{' {
			return &DecodeError{Path: path, Problem: "must be an object"}
		}
		return explainAny(path, n)
	case "google.protobuf.ListValue":
		if n.kind != '[' {
			return &DecodeError{Path: path, Problem: "must be an array"}
		}
		return explainAny(path, n)
	case "google.protobuf.FieldMask":
		return explainFieldMask(path, n)
	case "google.protobuf.Timestamp":
		if n.kind != '"' {
			return &DecodeError{Path: path, Problem: "must be an RFC 3339 date and time, as a string"}
		}
		return nil
	case "google.protobuf.Duration":
		if n.kind != '"' {
			return &DecodeError{Path: path, Problem: `must be a duration in seconds, as a string such as "1.5s"`}
		}
		return nil
	case "google.protobuf.Empty":
		if n.kind != '{' || len(n.members) > 0 {
			return &DecodeError{Path: path, Problem: "must be an empty object"}
		}
		return nil
	case "google.protobuf.Any":
		if n.kind != '{' {
			return &DecodeError{Path: path, Problem: "must be an object"}
		}
		return nil
	case "google.protobuf.DoubleValue", "google.protobuf.FloatValue", "google.protobuf.Int64Value",
		"google.protobuf.UInt64Value", "google.protobuf.Int32Value", "google.protobuf.UInt32Value",
		"google.protobuf.BoolValue", "google.protobuf.StringValue", "google.protobuf.BytesValue":
		return explainSingular(path, md.Fields().ByName("value"), n)
	}
	if n.kind == 'n' {
		return &DecodeError{Path: path, Problem: "must be an object"}
	}
	return explainMessage(path, md, n)
}

// explainAny explains n, any JSON that a Value holds: only an object with a key given twice and
// a number too large for a double are refused.
func explainAny(path string, n *node) *DecodeError {
	switch n.kind {
	case '0':
		if _, err := strconv.ParseFloat(n.str, 64); err != nil {
			return &DecodeError{Path: path, Problem: "is a number too large to hold"}
		}
	case '{':
		if e := eachMember(path, n, func(kpath string, m member) *DecodeError { return explainAny(kpath, m.value) }); e != nil {
			return e
		}
	case '[':
		for i, el := range n.elems {
			if e := explainAny(joinIndex(path, i), el); e != nil {
				return e
			}
		}
	}
	return nil
}

// explainFieldMask explains n, the JSON of a FieldMask: a string of comma-separated paths, each
// of dot-separated names written without underscores, each word after the first capitalised.
func explainFieldMask(path string, n *node) *DecodeError {
	if n.kind != '"' {
		return &DecodeError{Path: path, Problem: "must be a string of comma-separated field paths"}
	}
	if n.str == "" {
		return nil
	}
	for _, p := range strings.Split(n.str, ",") {
		if strings.Contains(p, "_") {
			return &DecodeError{Path: path, Problem: fmt.Sprintf("%q: a path is written without underscores, each word after the first capitalised", p)}
		}
		for _, name := range strings.Split(p, ".") {
			if !validMaskName(name) {
				return &DecodeError{Path: path, Problem: fmt.Sprintf("%q is not a field path", p)}
			}
		}
	}
	return nil
}

// validMaskName reports whether name is a path segment as a FieldMask's JSON writes it.
func validMaskName(name string) bool {
	if name == "" || !isASCIILetter(name[0]) {
		return false
	}
	for i := 1; i < len(name); i++ {
		if c := name[i]; !isASCIILetter(c) && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isBase64(s string) bool {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if _, err := enc.DecodeString(s); err == nil {
			return true
		}
	}
	return false
}

// explainEnum explains n, a value of the enum ed: one of its names, or a number.
func explainEnum(path string, ed protoreflect.EnumDescriptor, n *node) *DecodeError {
	if n.kind == 'n' && ed.FullName() == "google.protobuf.NullValue" {
		return nil
	}
	if n.kind == '"' && ed.Values().ByName(protoreflect.Name(n.str)) != nil {
		return nil
	}
	if n.kind == '0' && explainInteger(path, protoreflect.Int32Kind, n) == nil {
		return nil
	}
	names := make([]string, ed.Values().Len())
	for i := range names {
		names[i] = string(ed.Values().Get(i).Name())
	}
	return &DecodeError{Path: path, Problem: "must be one of " + strings.Join(names, ", ")}
}

// explainFloat explains n, a value of a float or double field: a number, a string holding one,
// or "NaN", "Infinity" or "-Infinity".
func explainFloat(path string, kind protoreflect.Kind, n *node) *DecodeError {
	bits, problem := 64, "must be a number"
	if kind == protoreflect.FloatKind {
		bits, problem = 32, "must be a number within the range of a 32-bit float"
	}
	s := n.str
	switch {
	case n.kind == '"' && (s == "NaN" || s == "Infinity" || s == "-Infinity"):
		return nil
	case n.kind != '0' && n.kind != '"', !jsonNumber.MatchString(s):
		return &DecodeError{Path: path, Problem: problem}
	}
	if f, err := strconv.ParseFloat(s, bits); err != nil || math.IsInf(f, 0) {
		return &DecodeError{Path: path, Problem: problem}
	}
	return nil
}

// explainInteger explains n, a value of an integer field of kind: a whole number in the kind's
// range, written as a number or in a string.
func explainInteger(path string, kind protoreflect.Kind, n *node) *DecodeError {
	var lo, hi *big.Int
	switch kind {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		lo, hi = big.NewInt(math.MinInt32), big.NewInt(math.MaxInt32)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		lo, hi = big.NewInt(0), big.NewInt(math.MaxUint32)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		lo, hi = big.NewInt(math.MinInt64), big.NewInt(math.MaxInt64)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		lo, hi = big.NewInt(0), new(big.Int).SetUint64(math.MaxUint64)
	default:
		return &DecodeError{Path: path, Problem: "has a type the gateway cannot read"}
	}
	e := &DecodeError{Path: path, Problem: fmt.Sprintf("must be an integer from %v to %v", lo, hi)}
	if (n.kind != '0' && n.kind != '"') || !jsonNumber.MatchString(n.str) {
		return e
	}
	if m := jsonNumber.FindStringSubmatch(n.str); len(strings.TrimLeft(m[3], "eE+-")) > 3 {
		return e // an exponent this large makes no integer in range (and is costly to expand)
	}
	r, ok := new(big.Rat).SetString(n.str)
	if !ok || !r.IsInt() || r.Num().Cmp(lo) < 0 || r.Num().Cmp(hi) > 0 {
		return e
	}
	return nil
}
