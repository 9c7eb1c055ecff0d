package service

import (
	"fmt"

	"github.com/fullstorydev/grpchan/inprocgrpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// Codec returns the gRPC codec that servers of s's methods use (grpc.ForceServerCodecV2): grpc's
// protobuf codec with two differences for the requests of s's methods.
//
//   - A request that does not decode does not fail inside grpc, which would answer INTERNAL
//     before any interceptor ran: the method answers INVALID_ARGUMENT through the interceptors,
//     logged and counted like any other call.
//   - Decoding has a recursion limit derived from the JSON depth limit: a request's Struct and
//     Value fields nest up to 3 messages per JSON level, and the request message itself a few
//     more. protobuf's own limit (10,000) would let a small message make the decoder, and then
//     the JSON encoder, recurse thousands of levels deep before the call could refuse it. The
//     exact JSON depth is checked after decoding.
//
// It also writes a cached answer as the bytes the cache holds (a response in protobuf's wire
// format, what grpc's codec would write), instead of decoding them into a message only to encode
// it again.
//
// Without it, s's methods work as well, but a request that does not decode answers grpc's
// INTERNAL, and cached answers are decoded.
func (s *Service) Codec() encoding.CodecV2 {
	return codec{
		CodecV2: encoding.GetCodecV2("proto"),
		opts:    proto.UnmarshalOptions{RecursionLimit: 3*s.maxDepth + 16},
	}
}

type codec struct {
	encoding.CodecV2 // grpc's protobuf codec, which encodes
	opts             proto.UnmarshalOptions
}

// request is what s's methods decode a request into: the message, which it embeds so that any
// protobuf codec decodes into it, and the decoding's error, which codec records here instead of
// returning it.
type request struct {
	proto.Message
	err error
	// encoded is set by codec and cloner, which carry an encoded reply: the service may then
	// answer with one. Any other codec leaves it unset, and gets messages.
	encoded bool
}

// encoded is a response in protobuf's wire format: a cached answer, served as the cache stores
// it. codec writes it as it is, and cloner decodes it into the in-process caller's message.
type encoded []byte

// Marshal encodes v, a protobuf message or an encoded, which is written as it is.
func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if e, ok := v.(encoded); ok {
		return mem.BufferSlice{mem.SliceBuffer(e)}, nil
	}
	return c.CodecV2.Marshal(v)
}

// Cloner returns the cloner of the in-process channel that serves s's methods to the REST
// surface (inprocgrpc.Channel.WithCloner): grpchan's protobuf cloner, except that a cached answer
// the service serves as its bytes is decoded straight into the caller's message, once, where a
// message would be decoded and then copied. Without it, cached answers are decoded by the
// service and copied.
func (s *Service) Cloner() inprocgrpc.Cloner { return cloner{} }

type cloner struct{ inprocgrpc.ProtoCloner }

// Copy copies in into out: a request into the message of a *request, which it marks as able to
// take an encoded reply, or a reply, decoding an encoded one.
func (c cloner) Copy(out, in any) error {
	if e, ok := in.(encoded); ok {
		m, ok := out.(proto.Message)
		if !ok {
			return fmt.Errorf("service: an encoded answer copied into %T, not a message", out)
		}
		return proto.Unmarshal(e, m)
	}
	if r, ok := out.(*request); ok {
		r.encoded = true
		return c.ProtoCloner.Copy(r.Message, in)
	}
	return c.ProtoCloner.Copy(out, in)
}

// Clone returns a copy of in. An encoded is never changed, so it is its own copy.
func (c cloner) Clone(in any) (any, error) {
	if e, ok := in.(encoded); ok {
		return e, nil
	}
	return c.ProtoCloner.Clone(in)
}

// Unmarshal decodes data into v, a protobuf message or a *request, within the recursion limit.
func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	r, isRequest := v.(*request)
	m, ok := v.(proto.Message)
	if isRequest {
		m, ok = r.Message, true
	}
	if !ok {
		return c.CodecV2.Unmarshal(data, v) // its error names the type
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	err := c.opts.Unmarshal(buf.ReadOnlyData(), m)
	if isRequest {
		r.err, r.encoded = err, true
		return nil
	}
	return err
}
