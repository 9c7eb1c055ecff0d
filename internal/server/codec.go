package server

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// codec is grpc's protobuf codec with a recursion limit on decoding, derived from the JSON
// depth limit: a request's Struct and Value fields nest up to 3 messages per JSON level, and
// the request message itself a few more. protobuf's own limit (10,000) would let a small message
// make the decoder, and then the JSON encoder, recurse thousands of levels deep before the
// service could refuse it. The service checks the exact JSON depth after decoding.
type codec struct {
	encoding.CodecV2
	opts proto.UnmarshalOptions
}

func newCodec(maxJSONDepth int) codec {
	return codec{
		CodecV2: encoding.GetCodecV2("proto"),
		opts:    proto.UnmarshalOptions{RecursionLimit: 3*maxJSONDepth + 16},
	}
}

// Unmarshal decodes data into v, a protobuf message, within the recursion limit.
func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("codec: %T is not a protobuf message", v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	return c.opts.Unmarshal(buf.ReadOnlyData(), m)
}
