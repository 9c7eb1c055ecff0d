// Package wire converts between the gateway's messages and the upstream's JSON bodies.
//
// The messages mirror the upstream's JSON (see proto/livechat/configuration/v1), so the
// conversion is protojson with the upstream's snake_case names, plus the three things protojson
// cannot do alone:
//   - an action whose HTTP body is one field of its message (register_properties) or whose answer
//     is one field of its response (list_agents, list_license_properties, ...) is unwrapped and
//     wrapped, as action.Action.Body and ResponseBody say;
//   - a request's update_mask is applied and never sent, so that a list or map the caller empties
//     reaches the upstream as [] or {};
//   - answers are read leniently and requests strictly (see the option functions).
package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/livechat-gateway/gateway/internal/action"
)

// MarshalOptions returns how messages become the upstream's JSON: the proto field names, which
// are the upstream's snake_case keys, and unset fields left out, as the upstream leaves them out.
func MarshalOptions() protojson.MarshalOptions {
	return protojson.MarshalOptions{UseProtoNames: true}
}

// StrictUnmarshalOptions returns how what clients send is read: an unknown field is an error, so
// that a misspelt field is refused instead of silently dropped.
func StrictUnmarshalOptions() protojson.UnmarshalOptions {
	return protojson.UnmarshalOptions{}
}

// LenientUnmarshalOptions returns how the upstream's answers are read: unknown fields are
// dropped, so that a field the upstream adds does not break the gateway.
func LenientUnmarshalOptions() protojson.UnmarshalOptions {
	return protojson.UnmarshalOptions{DiscardUnknown: true}
}

// updateMaskField is the name of the field that, in the update requests, names the fields to
// send (see UpdateAgentRequest.update_mask in the proto).
const updateMaskField protoreflect.Name = "update_mask"

// idField is the field that identifies the resource of an update request. The update mask never
// leaves it out.
const idField = "id"

// EncodeRequest returns the upstream's JSON body for req, a request of action a.
//
// When req has an update_mask with paths, only those fields (and id) are sent, and a list or map
// it names that is empty is sent as [] or {}. The update_mask itself is never sent. A path that
// names no field is an error, which starts with "update_mask: " and is meant for the client.
func EncodeRequest(a *action.Action, req proto.Message) ([]byte, error) {
	m := req.ProtoReflect()
	var paths []string
	if fd := m.Descriptor().Fields().ByName(updateMaskField); fd != nil && m.Has(fd) {
		if mask, ok := m.Get(fd).Message().Interface().(*fieldmaskpb.FieldMask); ok {
			paths = mask.GetPaths()
		}
		req = proto.Clone(req)
		m = req.ProtoReflect()
		m.Clear(fd)
	}
	b, err := MarshalOptions().Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode %s request: %w", a.Name, err)
	}
	if len(paths) > 0 {
		if b, err = applyMask(b, m.Descriptor(), paths); err != nil {
			return nil, err // the client's mistake, in words for the client
		}
	}
	if a.Body == "" {
		return b, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, fmt.Errorf("encode %s request: %w", a.Name, err)
	}
	if v, ok := obj[string(a.Body)]; ok {
		return v, nil
	}
	return emptyValue(m.Descriptor().Fields().ByName(a.Body)), nil
}

// DecodeResponse decodes body, the upstream's answer to action a, into resp, a new response
// message of a. An empty body is an empty answer: the upstream documents most writes as having
// no payload. opts chooses how unknown fields are treated; the gateway uses
// LenientUnmarshalOptions.
func DecodeResponse(a *action.Action, body []byte, resp proto.Message, opts protojson.UnmarshalOptions) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil
	}
	if a.ResponseBody != "" {
		// The answer is one field of the response: wrap it, so that protojson reads it with the
		// same rules as any other field (a null list is an empty list, and so on). It must be one
		// JSON value on its own first, or `[], "x": 1` would become a valid object.
		if !json.Valid(body) {
			return fmt.Errorf("decode %s answer: not a single JSON value", a.Name)
		}
		wrapped := make([]byte, 0, len(body)+len(a.ResponseBody)+5)
		wrapped = append(wrapped, `{"`...)
		wrapped = append(wrapped, a.ResponseBody...)
		wrapped = append(wrapped, `":`...)
		wrapped = append(wrapped, body...)
		body = append(wrapped, '}')
	}
	if err := opts.Unmarshal(body, resp); err != nil {
		return fmt.Errorf("decode %s answer: %w", a.Name, err)
	}
	return nil
}

// CheckAnswer reports whether body, a 200 answer to the read a, has the answer's documented
// shape at the top level: one JSON value, an array where the upstream answers one (list_agents,
// list_groups, list_registered_webhooks), else an object, holding a.AnswerKey when the action has
// one. An empty body, null, text that is not JSON or a value of the wrong shape is not an answer
// of the upstream's but a failure somewhere before it, such as a proxy's page.
func CheckAnswer(a *action.Action, body []byte) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return fmt.Errorf("%s answer: empty", a.Name)
	}
	if !json.Valid(body) {
		return fmt.Errorf("%s answer: not one JSON value", a.Name)
	}
	wantArray := false
	if a.ResponseBody != "" {
		fd := a.Method.Output().Fields().ByName(a.ResponseBody)
		wantArray = fd.IsList()
	}
	switch {
	case wantArray && body[0] != '[':
		return fmt.Errorf("%s answer: not an array", a.Name)
	case wantArray:
		return nil
	case body[0] != '{':
		return fmt.Errorf("%s answer: not an object", a.Name)
	case a.AnswerKey == "":
		return nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return fmt.Errorf("%s answer: %w", a.Name, err)
	}
	if v, ok := top[a.AnswerKey]; !ok || string(v) == "null" {
		return fmt.Errorf("%s answer: no %q", a.Name, a.AnswerKey)
	}
	return nil
}

// maskTree is a set of field mask paths as a tree: a leaf (an empty tree) takes the whole field.
type maskTree map[string]maskTree

// applyMask keeps, of the JSON object b of a message md, the fields that paths name, and adds
// [] or {} for a named list or map that protojson left out because it is empty.
func applyMask(b []byte, md protoreflect.MessageDescriptor, paths []string) ([]byte, error) {
	tree := maskTree{}
	for _, p := range paths {
		if err := tree.add(md, p); err != nil {
			return nil, err
		}
	}
	if md.Fields().ByName(idField) != nil {
		tree[idField] = maskTree{}
	}
	return tree.apply(b, md)
}

// add inserts path into t after checking it against md.
func (t maskTree) add(md protoreflect.MessageDescriptor, path string) error {
	segs := strings.Split(path, ".")
	node := t
	for i, seg := range segs {
		fd := md.Fields().ByName(protoreflect.Name(seg))
		if fd == nil || fd.Name() == updateMaskField {
			return fmt.Errorf("update_mask: %q names no field", path)
		}
		if i == len(segs)-1 {
			node[seg] = maskTree{} // the whole field, which covers any longer path into it
			return nil
		}
		if fd.IsList() || fd.IsMap() || fd.Message() == nil {
			return fmt.Errorf("update_mask: %q goes inside %s, which is sent whole", path, seg)
		}
		child, ok := node[seg]
		if ok && len(child) == 0 {
			return nil // a shorter path already takes the whole field
		}
		if !ok {
			child = maskTree{}
			node[seg] = child
		}
		node, md = child, fd.Message()
	}
	return nil
}

// apply returns the JSON object b of a message md with only the fields in t.
func (t maskTree) apply(b []byte, md protoreflect.MessageDescriptor) ([]byte, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, err
	}
	out := make(map[string]json.RawMessage, len(t))
	for name, sub := range t {
		fd := md.Fields().ByName(protoreflect.Name(name))
		v, ok := obj[name]
		switch {
		case !ok && len(sub) == 0 && (fd.IsList() || fd.IsMap()):
			out[name] = emptyValue(fd)
		case !ok:
			// An unset scalar or message has no JSON that means "clear", so nothing is sent.
		case len(sub) == 0:
			out[name] = v
		default:
			nested, err := sub.apply(v, fd.Message())
			if err != nil {
				return nil, err
			}
			out[name] = nested
		}
	}
	return marshalObject(out)
}

// emptyValue returns the JSON of an empty value of fd: [] for a list, {} for a map or message.
func emptyValue(fd protoreflect.FieldDescriptor) json.RawMessage {
	if fd.IsList() {
		return json.RawMessage("[]")
	}
	return json.RawMessage("{}")
}

// marshalObject writes obj as a JSON object without escaping HTML characters, which protojson
// does not escape either.
func marshalObject(obj map[string]json.RawMessage) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
