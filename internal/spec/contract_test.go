package spec

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/livechat-gateway/gateway/internal/action"
)

// TestSchemasMatchContract compares the emulator's request schemas with the gateway's request
// messages, field by field and level by level. Both were written from the spec independently, so
// a difference is a misreading of the spec in one of them.
func TestSchemasMatchContract(t *testing.T) {
	for _, a := range action.All() {
		n := requests[a.Name]
		md := a.Method.Input()
		if a.Body != "" {
			// The body is one field of the message (register_properties' property map).
			if _, ok := n.(*mapping); !ok {
				t.Errorf("%s: the body is a map in the contract but not in the emulator", a.Name)
			}
			continue
		}
		for _, d := range compareSchema(a.Name, md, n) {
			t.Error(d)
		}
	}
}

// compareSchema lists the differences between message md and schema node n at path.
func compareSchema(path string, md protoreflect.MessageDescriptor, n node) []string {
	if mp, ok := n.(*mapping); ok && mp.keys != nil {
		// An object of a few known keys with one shape of value, such as chat_member_ids.
		var names []string
		for i := range md.Fields().Len() {
			names = append(names, string(md.Fields().Get(i).Name()))
		}
		if !slices.Equal(slices.Sorted(slices.Values(names)), slices.Sorted(slices.Values(mp.keys))) {
			return []string{path + ": fields " + strings.Join(names, ",") + " in the contract, " + strings.Join(mp.keys, ",") + " in the emulator"}
		}
		return nil
	}
	o, ok := n.(*object)
	if !ok {
		return []string{path + ": a message in the contract, not an object in the emulator"}
	}
	var diffs []string
	var names []string
	for i := range md.Fields().Len() {
		f := md.Fields().Get(i)
		if f.Name() == "update_mask" { // the gateway's own, never sent upstream
			continue
		}
		names = append(names, string(f.Name()))
		idx := slices.IndexFunc(o.fields, func(x field) bool { return x.name == string(f.Name()) })
		if idx < 0 {
			diffs = append(diffs, join(path, string(f.Name()))+": in the contract, not in the emulator")
			continue
		}
		sub := o.fields[idx].node
		if f.Kind() != protoreflect.MessageKind || (!f.IsMap() && strings.HasPrefix(string(f.Message().FullName()), "google.protobuf.")) {
			continue
		}
		switch {
		case f.IsMap():
			v := f.MapValue()
			if mp, ok := sub.(*mapping); ok && v.Kind() == protoreflect.MessageKind && !strings.HasPrefix(string(v.Message().FullName()), "google.protobuf.") {
				diffs = append(diffs, compareSchema(join(path, string(f.Name()))+".*", f.MapValue().Message(), mp.values)...)
			}
		case f.IsList():
			if arr, ok := sub.(*array); ok {
				diffs = append(diffs, compareSchema(join(path, string(f.Name()))+"[]", f.Message(), arr.elem)...)
			} else {
				diffs = append(diffs, join(path, string(f.Name()))+": a list in the contract, not in the emulator")
			}
		default:
			diffs = append(diffs, compareSchema(join(path, string(f.Name())), f.Message(), sub)...)
		}
	}
	for _, x := range o.fields {
		if !slices.Contains(names, x.name) {
			diffs = append(diffs, join(path, x.name)+": in the emulator, not in the contract")
		}
	}
	return diffs
}
