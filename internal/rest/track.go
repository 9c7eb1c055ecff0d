package rest

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/livechat-gateway/gateway/internal/requestid"
	"github.com/livechat-gateway/gateway/internal/service"
)

// call is what Handler tracks of one REST call.
type call struct {
	start    time.Time
	reached  atomic.Bool // the call reached the gRPC server (ClientInterceptor saw it)
	tooLarge atomic.Bool // the body passed the size limit
}

type callKey struct{}

func callOf(ctx context.Context) *call {
	c, _ := ctx.Value(callKey{}).(*call)
	return c
}

// Handler serves the REST surface of mux: it caps each request body at o.MaxBodyBytes and
// tracks each call, so that the error handler of ServeMuxOptions(o) can answer 413 for a body
// over the cap and report calls refused before they reached the gRPC server to o.Refused.
//
// A body whose Content-Length says it is too large is refused without reading it.
func Handler(mux http.Handler, o Options) http.Handler {
	limit := int64(o.maxBodyBytes())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{start: time.Now()}
		// The request id: the caller's when sane, else a new one. It reaches the service as
		// x-request-id metadata, and the caller in the answer, refusals included.
		id := requestid.Or(r.Header.Get("X-Request-Id"))
		r.Header.Set("X-Request-Id", id)
		w.Header().Set("X-Request-Id", id)
		if r.ContentLength > limit {
			r.Body = tooLargeBody{c, limit}
		} else {
			r.Body = &limitedBody{http.MaxBytesReader(w, r.Body, limit), c}
		}
		ctx := requestid.With(context.WithValue(r.Context(), callKey{}, c), id)
		mux.ServeHTTP(w, r.WithContext(ctx))
	})
}

// ClientInterceptor marks each call as having reached the gRPC server, for Handler's tracking,
// and tells the service that the call is the REST surface's, which asks it for the empty lists
// and maps of the upstream's answer (service.MDEmpties). Install it on the connection that the
// ServeMux calls the server through.
func ClientInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if c := callOf(ctx); c != nil {
			c.reached.Store(true)
		}
		ctx = metadata.AppendToOutgoingContext(ctx, service.MDSurface, "rest")
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

// limitedBody is a body capped by http.MaxBytesReader, which notes when the cap is passed.
type limitedBody struct {
	io.ReadCloser
	c *call
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if _, ok := err.(*http.MaxBytesError); ok {
		b.c.tooLarge.Store(true)
	}
	return n, err
}

// tooLargeBody stands for a body that Content-Length announced over the cap: its first read
// fails, so nothing of it is read.
type tooLargeBody struct {
	c     *call
	limit int64
}

func (b tooLargeBody) Read([]byte) (int, error) {
	b.c.tooLarge.Store(true)
	return 0, &http.MaxBytesError{Limit: b.limit}
}

func (tooLargeBody) Close() error { return nil }
