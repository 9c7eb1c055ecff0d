// Package requestid carries a call's request id: taken from the caller (X-Request-Id over REST,
// x-request-id metadata over gRPC) when it is a sane one, else generated; put on every log line of
// the call, returned to the caller, and sent upstream, so that one id follows a call through the
// caller's logs, the gateway's and the upstream's.
package requestid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
)

// Key is the gRPC metadata key and, canonicalised, the HTTP header of request ids.
const Key = "x-request-id"

// maxLen bounds an id taken from a caller: it goes into every log line and upstream header.
const maxLen = 128

type ctxKey struct{}

// With returns ctx carrying id.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// From returns the id ctx carries, or "".
func From(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// New returns a random id: 16 bytes in hex.
func New() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Valid reports whether id, from a caller, may be used as is: not empty, at most 128 bytes of
// letters, digits and -_.:/+=, which keeps logs and headers clean.
func Valid(id string) bool {
	if id == "" || len(id) > maxLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '_' || c == '.' || c == ':' || c == '/' || c == '+' || c == '=':
		default:
			return false
		}
	}
	return true
}

// Or returns id when it is Valid, else a New one.
func Or(id string) string {
	if Valid(id) {
		return id
	}
	return New()
}

// Logger returns log with every record logged with a context that carries an id given a
// request_id attribute.
func Logger(log *slog.Logger) *slog.Logger { return slog.New(handler{log.Handler()}) }

type handler struct{ slog.Handler }

func (h handler) Handle(ctx context.Context, r slog.Record) error {
	if id := From(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return handler{h.Handler.WithAttrs(attrs)}
}
func (h handler) WithGroup(name string) slog.Handler { return handler{h.Handler.WithGroup(name)} }
