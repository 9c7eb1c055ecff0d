package service

import (
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
// Without it, s's methods work as well, but a request that does not decode answers grpc's
// INTERNAL.
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
		r.err = err
		return nil
	}
	return err
}
