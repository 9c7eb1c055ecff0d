package testutil

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// RawGRPCCall makes one unary gRPC call of method (such as
// "/livechat.configuration.v1.AgentService/GetAgent") with the encoded request msg and the
// metadata md (lowercase names) over a bare HTTP/2 connection to addr. Unlike grpc-go's client,
// it ignores the settings the server announces, so it sends what a hostile client may: a header
// list over the server's limit, say. It reports whether the server answered the call (with
// response headers, an error status included) or refused it, and how: RST_STREAM, GOAWAY, or a
// closed connection. err is for a call that got no outcome within timeout.
func RawGRPCCall(addr, method string, md [][2]string, msg []byte, timeout time.Duration) (served bool, how string, err error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return false, "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		return false, "connection closed while sending (" + err.Error() + ")", nil
	}
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = nil // the answer's headers are not decoded: their arrival is the answer

	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	enc.SetMaxDynamicTableSizeLimit(0) // every field a literal: nothing depends on the server's table
	fields := append([][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":path", method}, {":authority", addr},
		{"content-type", "application/grpc"}, {"te", "trailers"},
	}, md...)
	for _, f := range fields {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	const maxFrame = 16 << 10 // HTTP/2's default SETTINGS_MAX_FRAME_SIZE
	data := make([]byte, 5+len(msg))
	binary.BigEndian.PutUint32(data[1:], uint32(len(msg)))
	copy(data[5:], msg)
	err = fr.WriteSettings()
	for b, first := block.Bytes(), true; err == nil && (first || len(b) > 0); first = false {
		n := min(len(b), maxFrame)
		if first {
			err = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:n], EndHeaders: n == len(b)})
		} else {
			err = fr.WriteContinuation(1, n == len(b), b[:n])
		}
		b = b[n:]
	}
	if err == nil {
		err = fr.WriteData(1, true, data)
	}
	if err != nil {
		// The server closed the connection while the call was still going out.
		return false, "connection closed while sending (" + err.Error() + ")", nil
	}

	for {
		f, err := fr.ReadFrame()
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			return false, "", fmt.Errorf("no outcome within %v: %w", timeout, err)
		case err != nil:
			return false, "connection closed (" + err.Error() + ")", nil
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				fr.WritePing(true, f.Data)
			}
		case *http2.HeadersFrame:
			if f.StreamID == 1 {
				return true, "answered", nil
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == 1 {
				return false, "RST_STREAM " + f.ErrCode.String(), nil
			}
		case *http2.GoAwayFrame:
			if f.ErrCode != http2.ErrCodeNo || f.LastStreamID < 1 {
				return false, fmt.Sprintf("GOAWAY %v (last stream %d)", f.ErrCode, f.LastStreamID), nil
			}
			// A graceful GOAWAY that the call is within: it is still answered, or not.
		}
	}
}
