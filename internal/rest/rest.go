// Package rest makes grpc-gateway's REST surface the upstream's own: the same paths (bound in
// proto/livechat/configuration/v1/http.yaml) and the same JSON, so that a LiveChat client works
// against the gateway by changing only its base URL.
package rest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/livechat-gateway/gateway/internal/action"
	"github.com/livechat-gateway/gateway/internal/service"
	"github.com/livechat-gateway/gateway/internal/spec"
	"github.com/livechat-gateway/gateway/internal/wire"
)

// DefaultMaxBodyBytes is the default cap of a REST request body (GATEWAY_MAX_REQUEST_BYTES).
// The largest documented requests (a bot with webhooks, a batch of properties) are a few
// kilobytes.
const DefaultMaxBodyBytes = 1 << 20

// Options configure the REST surface. The zero value of each field stands for its default.
type Options struct {
	// MaxBodyBytes caps a request body; a larger one is refused with 413 and the upstream's
	// validation body. Default DefaultMaxBodyBytes.
	MaxBodyBytes int
	// MaxDepth caps the nesting of a request body's JSON, checked before any decoding that
	// recurses. Default wire.DefaultMaxDepth.
	MaxDepth int
	// Refused, when set, is told of each call that the REST surface refused itself, before it
	// reached the gRPC server: a body too large, too deep, or not the request's JSON. method is
	// the RPC's full name. The gRPC server's interceptors see every other call; this is how
	// these ones are logged and counted too. Calls are tracked only through Handler, and reach
	// the server through a connection with ClientInterceptor.
	Refused func(ctx context.Context, method string, err error, elapsed time.Duration)
	// Lifecycle, when set, gives the Legacy and Deprecation headers that a call the REST
	// surface refused itself answers with, as every upstream answer carries them: those of the
	// upstream's last answer to a call like r.
	Lifecycle func(r *http.Request) (legacy, deprecation string)
}

func (o Options) maxBodyBytes() int { return cmp.Or(o.MaxBodyBytes, DefaultMaxBodyBytes) }
func (o Options) maxDepth() int     { return cmp.Or(o.MaxDepth, wire.DefaultMaxDepth) }

// ServeMuxOptions returns the options of a runtime.ServeMux that serves the upstream's JSON, with
// the upstream's error body and headers.
func ServeMuxOptions(o Options) []runtime.ServeMuxOption {
	m := NewMarshaler()
	m.MaxDepth = o.maxDepth()
	return []runtime.ServeMuxOption{
		runtime.WithMarshalerOption(runtime.MIMEWildcard, m),
		runtime.WithErrorHandler(errorHandler(o)),
		runtime.WithForwardResponseRewriter(restoreEmpties(m)),
		runtime.WithRoutingErrorHandler(routingErrorHandler),
		runtime.WithIncomingHeaderMatcher(incomingHeader),
		runtime.WithOutgoingHeaderMatcher(outgoingHeader),
		// X-HTTP-Method-Override would let a form POST reach another method's binding; every
		// action is a POST, so nothing needs it.
		runtime.WithDisablePathLengthFallback(),
	}
}

// Marshaler is the JSON marshaler of the REST surface. It is grpc-gateway's JSONPb with the
// upstream's conventions (wire.MarshalOptions, wire.StrictUnmarshalOptions) and these
// differences:
//   - an empty list or map that is a whole answer (a response_body such as list_agents') is
//     written as [] or {}, where JSONPb writes null, which breaks clients that expect an array;
//   - a body must be a single JSON value: JSONPb ignores what follows the first one;
//   - an empty body, or one that is only null, is an empty request, as {} is, and an object
//     member that is null is "not given" at any depth (spec.DropNulls), as it is to the upstream
//     and its official SDK, which sends null for an action without a payload and for the fields
//     it leaves out. protojson alone refuses a null body and would take a null list or map in an
//     update as one to empty, through the inferred update_mask;
//   - a request with an update_mask field that the client left unset gets one naming the keys of
//     the body, so that `"notifications": []` reaches the upstream as written (see wire);
//   - a body nested deeper than MaxDepth is refused before it is decoded;
//   - a body that does not decode is refused in the upstream's style, naming the field by its
//     snake_case JSON path (wire.ExplainJSON), never with protojson's message.
type Marshaler struct {
	runtime.JSONPb
	// MaxDepth caps a body's nesting; 0 stands for wire.DefaultMaxDepth.
	MaxDepth int
}

var _ runtime.Marshaler = (*Marshaler)(nil)

// NewMarshaler returns the REST surface's marshaler.
func NewMarshaler() *Marshaler {
	return &Marshaler{JSONPb: runtime.JSONPb{
		MarshalOptions:   wire.MarshalOptions(),
		UnmarshalOptions: wire.StrictUnmarshalOptions(),
	}}
}

// rawJSON is an answer already written as JSON, which Marshal writes as it is.
type rawJSON []byte

// restoreEmpties returns the rewriter of answers that puts back the empty lists and maps of the
// upstream's answer, which the service sends as service.MDEmpties and protobuf cannot carry, so
// that a REST answer has the upstream's keys: "notifications": [], "agent_priorities": {}.
// An answer without empties is left to grpc-gateway to write, as usual.
func restoreEmpties(m *Marshaler) runtime.ForwardResponseRewriter {
	return func(ctx context.Context, resp proto.Message) (any, error) {
		md, ok := runtime.ServerMetadataFromContext(ctx)
		if !ok {
			return resp, nil
		}
		empties := md.HeaderMD.Get(service.MDEmpties)
		if len(empties) == 0 {
			return resp, nil
		}
		var body any = resp
		if rb, ok := resp.(interface{ XXX_ResponseBody() any }); ok {
			body = rb.XXX_ResponseBody()
		}
		b, err := m.Marshal(body)
		if err != nil {
			return nil, err
		}
		if b, err = wire.RestoreEmpties(b, empties[0]); err != nil {
			return resp, nil // the answer without its empties: still the right values
		}
		return rawJSON(b), nil
	}
}

// Marshal writes v, a message or the value of a response_body field, as JSON.
func (m *Marshaler) Marshal(v any) ([]byte, error) {
	if raw, ok := v.(rawJSON); ok {
		return raw, nil
	}
	switch rv := reflect.ValueOf(v); {
	case rv.Kind() == reflect.Slice && rv.IsNil():
		return []byte("[]"), nil
	case rv.Kind() == reflect.Map && rv.IsNil():
		return []byte("{}"), nil
	}
	return m.JSONPb.Marshal(v)
}

// NewEncoder returns an encoder that writes with Marshal.
func (m *Marshaler) NewEncoder(w io.Writer) runtime.Encoder {
	return runtime.EncoderFunc(func(v any) error {
		b, err := m.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	})
}

// NewDecoder returns a decoder that reads all of r and decodes it with Unmarshal. It returns
// io.EOF for an empty body, which grpc-gateway treats as an empty request.
func (m *Marshaler) NewDecoder(r io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(v any) error {
		data, err := io.ReadAll(r)
		if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
			return fmt.Errorf("the request body is larger than %d bytes", tooLarge.Limit)
		}
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(data)) == 0 {
			return io.EOF
		}
		// A body that is only null is an empty request too: Unmarshal, which drops the nulls
		// once, leaves v as it is.
		return m.Unmarshal(data, v)
	})
}

// Unmarshal decodes data, which must be exactly one JSON value, into v: a request message, or a
// pointer to the field that is the whole body (register_properties' map). Object members that
// are null are dropped first, and a body that is only null leaves v as it is: null is "not
// given".
func (m *Marshaler) Unmarshal(data []byte, v any) error {
	if err := wire.CheckDepth(data, cmp.Or(m.MaxDepth, wire.DefaultMaxDepth)); err != nil {
		// The key as the client wrote it, unless it is a field's lowerCamel name, which
		// protojson takes: refusals name fields in snake_case.
		var deep *wire.DepthError
		if msg, ok := v.(proto.Message); ok && errors.As(err, &deep) {
			if fd := msg.ProtoReflect().Descriptor().Fields().ByJSONName(deep.Field); fd != nil {
				deep.Field = string(fd.Name())
			}
		}
		return err
	}
	if len(bytes.TrimSpace(data)) > 0 {
		if data = spec.DropNulls(data); len(bytes.TrimSpace(data)) == 0 {
			return nil // the body was null
		}
	}
	msg, ok := v.(proto.Message)
	if !ok {
		fd := bodyField(v)
		if fd == nil {
			if !json.Valid(data) {
				return errors.New("the body is not a single valid JSON value")
			}
			return m.JSONPb.Unmarshal(data, v)
		}
		if e := wire.ExplainFieldJSON(fd, data); e != nil {
			return e
		}
		if err := m.JSONPb.Unmarshal(data, v); err != nil {
			return errors.New("the body does not decode as this action's request")
		}
		return nil
	}
	if hasTopKey(data, "update_mask", "updateMask") {
		// The upstream has no update_mask: over REST the body is the client's whole intent, and
		// the gateway infers the mask from its keys (inferUpdateMask).
		return &wire.DecodeError{Path: "update_mask", Problem: "unknown field"}
	}
	if err := wire.UnmarshalRequest(m.UnmarshalOptions, data, msg); err != nil {
		return err
	}
	if err := inferUpdateMask(data, msg); err != nil {
		return errors.New("the body does not decode as this action's request")
	}
	return nil
}

// bodyFields are the fields that are a whole REST body (register_properties' property map), by
// the type of a pointer to them, which is what grpc-gateway decodes such a body into.
var bodyFields = sync.OnceValue(func() map[reflect.Type]protoreflect.FieldDescriptor {
	fields := map[reflect.Type]protoreflect.FieldDescriptor{}
	for _, a := range action.All() {
		if a.Body == "" {
			continue
		}
		req := a.NewRequest()
		fd := req.ProtoReflect().Descriptor().Fields().ByName(a.Body)
		rv := reflect.ValueOf(req).Elem()
		for i := 0; i < rv.NumField(); i++ {
			tag := rv.Type().Field(i).Tag.Get("protobuf")
			if fd != nil && strings.Contains(","+tag+",", ",name="+string(fd.Name())+",") {
				fields[reflect.PointerTo(rv.Type().Field(i).Type)] = fd
			}
		}
	}
	return fields
})

// bodyField returns the field that v, a pointer to a field of a request, is, or nil.
func bodyField(v any) protoreflect.FieldDescriptor {
	return bodyFields()[reflect.TypeOf(v)]
}

// hasTopKey reports whether data, a JSON object, has one of keys at its top level.
func hasTopKey(data []byte, keys ...string) bool {
	found := false
	for _, k := range keys {
		found = found || bytes.Contains(data, []byte(k))
	}
	if !found {
		return false // the common case, cheaply
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil {
		return false // left to the decoder to refuse
	}
	for _, k := range keys {
		if _, ok := top[k]; ok {
			return true
		}
	}
	return false
}

// inferUpdateMask sets an update_mask that the client left unset to the keys of the JSON body,
// as grpc-gateway does for PATCH bindings. Over REST the body is the client's whole intent; the
// mask carries what proto3 loses of it, the lists and maps it sets to empty.
func inferUpdateMask(data []byte, msg proto.Message) error {
	m := msg.ProtoReflect()
	fd := m.Descriptor().Fields().ByName("update_mask")
	if fd == nil || fd.Message() == nil || fd.Message().FullName() != "google.protobuf.FieldMask" || m.Has(fd) {
		return nil
	}
	mask, err := runtime.FieldMaskFromRequestBody(bytes.NewReader(data), msg)
	if err != nil {
		return err
	}
	if len(mask.GetPaths()) > 0 {
		m.Set(fd, protoreflect.ValueOfMessage(mask.ProtoReflect()))
	}
	return nil
}
