package wire_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	configv1 "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
	"github.com/livechat-gateway/gateway/internal/action"
	"github.com/livechat-gateway/gateway/internal/spec"
	"github.com/livechat-gateway/gateway/internal/testutil"
	"github.com/livechat-gateway/gateway/internal/wire"
)

func TestExplainJSON(t *testing.T) {
	uninterpreted := (&descriptorpb.UninterpretedOption{}).ProtoReflect().Descriptor()
	field := (&descriptorpb.FieldDescriptorProto{}).ProtoReflect().Descriptor()
	tests := []struct {
		msg  proto.Message
		md   protoreflect.MessageDescriptor // when msg is nil
		body string
		want string // "" when the body decodes
	}{
		{msg: &configv1.GetAgentRequest{}, body: `{"id":"a"}`},
		{msg: &configv1.GetAgentRequest{}, body: `{"id":5}`, want: "id: must be a string"},
		{msg: &configv1.GetAgentRequest{}, body: `{"id":"a","nope":1}`, want: "nope: unknown field"},
		{msg: &configv1.GetAgentRequest{}, body: `{"id":"a","id":"b"}`, want: "id: given twice"},
		{msg: &configv1.GetAgentRequest{}, body: `{"id":"a"`, want: "the body is not valid JSON"},
		{msg: &configv1.GetAgentRequest{}, body: ``, want: "the body is not valid JSON"},
		{msg: &configv1.GetAgentRequest{}, body: `[`, want: "the body is not valid JSON"},
		{msg: &configv1.GetAgentRequest{}, body: `{"id":"a"} {}`, want: "the body must be a single JSON value"},
		{msg: &configv1.GetAgentRequest{}, body: `{"id":"a"} x`, want: "the body is not valid JSON"},
		{msg: &configv1.GetAgentRequest{}, body: `[{"id":"a"}]`, want: "the body must be a JSON object"},
		{msg: &configv1.GetAgentRequest{}, body: `"a"`, want: "the body must be a JSON object"},
		{msg: &configv1.GetAgentRequest{}, body: "{\"id\":\"\xff\"}", want: "the body is not valid UTF-8"},
		{msg: &configv1.GetAgentRequest{}, body: `{"id":null}`},
		{msg: &configv1.GetAgentRequest{}, body: `{"fields":"x"}`, want: "fields: must be an array"},
		{msg: &configv1.GetAgentRequest{}, body: `{"fields":["x",1]}`, want: "fields[1]: must be a string"},
		{msg: &configv1.ListAgentsRequest{}, body: `{"filters":{"group_ids":[0,4294967295]}}`},
		{msg: &configv1.ListAgentsRequest{}, body: `{"filters":{"group_ids":["1",2.0]}}`},
		{msg: &configv1.ListAgentsRequest{}, body: `{"filters":{"group_ids":[-1]}}`, want: "filters.group_ids[0]: must be an integer from 0 to 4294967295"},
		{msg: &configv1.ListAgentsRequest{}, body: `{"filters":{"group_ids":[1.5]}}`, want: "filters.group_ids[0]: must be an integer from 0 to 4294967295"},
		{msg: &configv1.ListAgentsRequest{}, body: `{"filters":{"group_ids":[null]}}`, want: "filters.group_ids[0]: must be an integer from 0 to 4294967295"},
		{msg: &configv1.ListAgentsRequest{}, body: `{"filters":{"group_ids":[1e99999]}}`, want: "filters.group_ids[0]: must be an integer from 0 to 4294967295"},
		{msg: &configv1.ListAgentsRequest{}, body: `{"filters":{"group_ids":[" 1"]}}`, want: "filters.group_ids[0]: must be an integer from 0 to 4294967295"},
		{msg: &configv1.ListAgentsRequest{}, body: `{"filters":{"groupIds":[1],"group_ids":[2]}}`, want: "filters.group_ids: given twice"},
		{msg: &configv1.ListAgentsRequest{}, body: `{"filters":[]}`, want: "filters: must be an object"},
		{msg: &configv1.ListAgentsRequest{}, body: `{"filters":{"nope":1}}`, want: "filters.nope: unknown field"},
		{msg: &configv1.UpdateAgentRequest{}, body: `{"id":"a","max_chats_count":"x"}`, want: "max_chats_count: must be an integer from -2147483648 to 2147483647"},
		{msg: &configv1.UpdateAgentRequest{}, body: `{"id":"a","maxChatsCount":true}`, want: "max_chats_count: must be an integer from -2147483648 to 2147483647"},
		{msg: &configv1.UpdateAgentRequest{}, body: `{"id":"a","max_chats_count":"7"}`},
		{msg: &configv1.UpdateAgentRequest{}, body: `{"id":"a","update_mask":"maxChatsCount,name"}`},
		{msg: &configv1.UpdateAgentRequest{}, body: `{"id":"a","update_mask":1}`, want: "update_mask: must be a string of comma-separated field paths"},
		{msg: &configv1.UpdateAgentRequest{}, body: `{"id":"a","update_mask":"max_chats_count"}`, want: `update_mask: "max_chats_count": a path is written without underscores, each word after the first capitalised`},
		{msg: &configv1.UpdateAgentRequest{}, body: `{"id":"a","update_mask":"a..b"}`, want: `update_mask: "a..b" is not a field path`},
		{msg: &configv1.UpdateLicensePropertiesRequest{}, body: `{"properties":{"ns":{"p":[1,{"a":null}],"q":null}}}`},
		{msg: &configv1.UpdateLicensePropertiesRequest{}, body: `{"properties":{"ns":{"p":{"a":1,"a":2}}}}`, want: "properties.ns.p.a: given twice"},
		{msg: &configv1.UpdateLicensePropertiesRequest{}, body: `{"properties":{"ns":1}}`, want: "properties.ns: must be an object"},
		{msg: &configv1.UpdateLicensePropertiesRequest{}, body: `{"properties":{"ns":{},"ns":{}}}`, want: "properties.ns: given twice"},
		{msg: &configv1.UpdateLicensePropertiesRequest{}, body: `{"properties":[]}`, want: "properties: must be an object"},
		// Kinds and well-known types the gateway's messages do not use yet.
		{md: field, body: `{"type":"TYPE_STRING","label":1,"number":"3","json_name":"x"}`},
		{md: field, body: `{"label":"OPTIONAL"}`, want: "label: must be one of LABEL_OPTIONAL, LABEL_REPEATED, LABEL_REQUIRED"},
		{md: field, body: `{"proto3_optional":"true"}`, want: "proto3_optional: must be true or false"},
		{md: field, body: `{"options":{"ctype":"STRING","uninterpreted_option":[{"positive_int_value":"18446744073709551615"}]}}`},
		{md: field, body: `{"options":{"uninterpreted_option":[{},{"positive_int_value":18446744073709551616}]}}`, want: "options.uninterpreted_option[1].positive_int_value: must be an integer from 0 to 18446744073709551615"},
		{md: uninterpreted, body: `{"double_value":"NaN","string_value":"aGk=","negative_int_value":"-9223372036854775808"}`},
		{md: uninterpreted, body: `{"double_value":"x"}`, want: "double_value: must be a number"},
		{md: uninterpreted, body: `{"double_value":1e400}`, want: "double_value: must be a number"},
		{md: uninterpreted, body: `{"string_value":"a b"}`, want: "string_value: must be a base64 string"},
		{md: uninterpreted, body: `{"negative_int_value":-9223372036854775809}`, want: "negative_int_value: must be an integer from -9223372036854775808 to 9223372036854775807"},
	}
	for _, tt := range tests {
		md := tt.md
		if tt.msg != nil {
			md = tt.msg.ProtoReflect().Descriptor()
		}
		got := ""
		if e := wire.ExplainJSON(md, []byte(tt.body)); e != nil {
			got = e.Error()
		}
		if got != tt.want {
			t.Errorf("ExplainJSON(%s, %s) = %q, want %q", md.Name(), tt.body, got, tt.want)
		}
		// protojson agrees that the body is (not) a request.
		err := wire.StrictUnmarshalOptions().Unmarshal([]byte(tt.body), dynamicNew(md))
		if (err == nil) != (tt.want == "") {
			t.Errorf("protojson on %s, %s: %v, but the explainer says %q", md.Name(), tt.body, err, got)
		}
	}
}

func TestExplainFieldJSON(t *testing.T) {
	fd := (&configv1.RegisterPropertiesRequest{}).ProtoReflect().Descriptor().Fields().ByName("properties")
	for body, want := range map[string]string{
		`{"p":{"type":"int","domain":[1,"2",{"a":[]}]}}`: "",
		`[]`:                           "the body must be a JSON object",
		`{"p":1}`:                      "p: must be an object",
		`{"p":{"tpye":"int"}}`:         "p.tpye: unknown field",
		`{"p":{},"p":{}}`:              "p: given twice",
		`{"p":{"range":{"from":"x"}}}`: "p.range.from: must be an integer from -2147483648 to 2147483647",
	} {
		got := ""
		if e := wire.ExplainFieldJSON(fd, []byte(body)); e != nil {
			got = e.Error()
		}
		if got != want {
			t.Errorf("ExplainFieldJSON(properties, %s) = %q, want %q", body, got, want)
		}
	}
}

// TestExplainAgreesWithProtojson tries every malformed body of every action (see
// testutil.MalformedBodies): the explainer finds a problem exactly when protojson does, names
// the field the body broke, and says it in words without protojson's or a lowerCamel name.
func TestExplainAgreesWithProtojson(t *testing.T) {
	refused := 0
	for _, a := range action.All() {
		md := a.Method.Input()
		for _, m := range testutil.MalformedBodies(a) {
			body := spec.DropNulls([]byte(m.Body))
			var (
				err error
				e   *wire.DecodeError
			)
			if a.Body == "" {
				err = wire.StrictUnmarshalOptions().Unmarshal(body, dynamicNew(md))
				e = wire.ExplainJSON(md, body)
			} else {
				wrapped := `{"` + string(a.Body) + `":` + string(body) + `}`
				err = wire.StrictUnmarshalOptions().Unmarshal([]byte(wrapped), dynamicNew(md))
				e = wire.ExplainFieldJSON(md.Fields().ByName(a.Body), body)
			}
			switch {
			case err == nil && e != nil:
				t.Errorf("%s %s: protojson decodes it, the explainer says %q", a.Name, m.Body, e)
			case err != nil && e == nil:
				t.Errorf("%s %s: protojson refuses it (%v), the explainer finds nothing", a.Name, m.Body, err)
			case e != nil:
				refused++
				if m.Path != "?" && !hasPathPrefix(e.Path, m.Path) {
					t.Errorf("%s %s: the explainer names %q, want %q or below it", a.Name, m.Body, e.Path, m.Path)
				}
				if leak := testutil.LeakInRefusal(e.Error()); leak != "" {
					t.Errorf("%s %s: %q holds %q", a.Name, m.Body, e, leak)
				}
			}
		}
	}
	if refused < 1000 {
		t.Errorf("only %d malformed bodies were refused", refused)
	}
}

func hasPathPrefix(path, prefix string) bool {
	if prefix == "" || path == prefix {
		return true
	}
	return strings.HasPrefix(path, prefix) && (path[len(prefix)] == '.' || path[len(prefix)] == '[')
}

// dynamicNew returns a new message of md's generated type.
func dynamicNew(md protoreflect.MessageDescriptor) proto.Message {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName())
	if err != nil {
		panic(err)
	}
	return mt.New().Interface()
}
