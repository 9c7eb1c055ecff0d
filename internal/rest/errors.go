package rest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/textproto"
	"strconv"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/livechat-gateway/gateway/internal/requestid"
	"github.com/livechat-gateway/gateway/internal/service"
)

// errorBody is the upstream's error body, which LiveChat clients parse.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Type    string            `json:"type"`
	Message string            `json:"message"`
	Data    map[string]string `json:"data,omitempty"`
}

// errorHandler returns the handler that writes err in the upstream's shape,
// {"error":{"type","message"}}, with the HTTP status of grpc-gateway's standard table for its
// code, and the lifecycle headers the call carried. A malformed body, which grpc-gateway reports
// as INVALID_ARGUMENT, becomes the upstream's validation error; a body over the size limit is
// 413. A call that never reached the gRPC server is reported to o.Refused.
func errorHandler(o Options) runtime.ErrorHandlerFunc {
	return func(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
		c := callOf(ctx)
		refused := c != nil && !c.reached.Load()
		if refused {
			SetLifecycle(w, r, o.Lifecycle)
		}
		httpStatus := writeStatus(ctx, w, err, c != nil && c.tooLarge.Load())
		if refused && o.Refused != nil {
			method, _ := runtime.RPCMethod(ctx)
			o.Refused(ctx, method, fmt.Errorf("HTTP %d: %w", httpStatus, err), time.Since(c.start))
		}
	}
}

// SetLifecycle sets the Legacy and Deprecation headers that lifecycle (Options.Lifecycle, nil for
// none) gives for r on w.
func SetLifecycle(w http.ResponseWriter, r *http.Request, lifecycle func(*http.Request) (string, string)) {
	if lifecycle == nil {
		return
	}
	legacy, deprecation := lifecycle(r)
	if legacy != "" {
		w.Header().Set("Legacy", legacy)
	}
	if deprecation != "" {
		w.Header().Set("Deprecation", deprecation)
	}
}

// WriteError answers err, a gRPC status, as the REST surface answers the errors of calls: the
// upstream's error body with the status's HTTP status, and Retry-After for a RetryInfo. It is
// for refusals made before a request reaches the ServeMux.
func WriteError(ctx context.Context, w http.ResponseWriter, err error) {
	writeStatus(ctx, w, err, false)
}

// writeStatus writes the error answer of err, 413 if the body was too large, and returns its
// HTTP status.
func writeStatus(ctx context.Context, w http.ResponseWriter, err error, tooLarge bool) int {
	st := status.Convert(err)
	if md, ok := runtime.ServerMetadataFromContext(ctx); ok {
		for _, k := range []string{service.MDLegacy, service.MDDeprecation, service.MDCache} {
			if v := md.HeaderMD.Get(k); len(v) > 0 {
				w.Header().Set(textproto.CanonicalMIMEHeaderKey(k), v[0])
			}
		}
	}
	if d := service.RetryDelay(st); d > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((d+999_999_999)/1_000_000_000)))
	}
	detail := errorDetail{Type: service.TypeOf(st), Message: st.Message()}
	if region := service.ErrorData(st)["region"]; region != "" && detail.Type == "misdirected_request" {
		detail.Data = map[string]string{"region": region}
	}
	httpStatus := statusOf(st, detail.Type)
	if tooLarge {
		httpStatus = http.StatusRequestEntityTooLarge
	}
	writeError(w, httpStatus, detail)
	return httpStatus
}

// typeStatuses are the HTTP statuses the upstream answers each error type with, as observed of
// the real API (validation 422) and served by the emulator.
var typeStatuses = map[string]int{
	"validation":          http.StatusUnprocessableEntity,
	"authentication":      http.StatusUnauthorized,
	"authorization":       http.StatusForbidden,
	"limit_reached":       http.StatusForbidden,
	"license_expired":     http.StatusPaymentRequired,
	"not_found":           http.StatusNotFound,
	"group_not_found":     http.StatusNotFound,
	"already_exist":       http.StatusConflict,
	"already_exists":      http.StatusConflict,
	"transfer_ownership":  http.StatusConflict,
	"misdirected_request": http.StatusMisdirectedRequest,
	"too_many_requests":   http.StatusTooManyRequests,
	"unsupported_version": http.StatusBadRequest,
	"internal":            http.StatusInternalServerError,
}

// statusOf returns the REST status of st, whose upstream error type is typ: the status the
// upstream answered with when it answered (ErrorInfo metadata http_status); else the status the
// upstream uses for typ, when st is an error of that type (its code is the type's); else, for
// what no upstream type describes (a deadline, an upstream out of reach), grpc-gateway's status
// for the code.
func statusOf(st *status.Status, typ string) int {
	if s, err := strconv.Atoi(service.ErrorData(st)["http_status"]); err == nil && s >= 400 && s <= 599 {
		return s
	}
	if s, ok := typeStatuses[typ]; ok && service.CodeOf(typ) == st.Code() {
		return s
	}
	return runtime.HTTPStatusFromCode(st.Code())
}

// routingErrorHandler answers a path or method the API does not have, in the upstream's shape.
func routingErrorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	switch httpStatus {
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, httpStatus, errorDetail{Type: "validation", Message: fmt.Sprintf("method %s is not allowed; actions take POST", r.Method)})
	case http.StatusNotFound:
		writeError(w, httpStatus, errorDetail{Type: "not_found", Message: "no such action: " + r.URL.Path})
	default:
		writeStatus(ctx, w, status.Error(codes.Internal, http.StatusText(httpStatus)), false)
	}
}

// ErrorBody returns the upstream's error body of type typ with message msg.
func ErrorBody(typ, msg string) []byte {
	b, _ := json.Marshal(errorBody{errorDetail{Type: typ, Message: msg}})
	return b
}

// WriteErrorBody answers with httpStatus and the upstream's error body of type typ and message
// msg: for the gateway's own endpoints, which answer in the API's shape.
func WriteErrorBody(w http.ResponseWriter, httpStatus int, typ, msg string) {
	writeError(w, httpStatus, errorDetail{Type: typ, Message: msg})
}

func writeError(w http.ResponseWriter, httpStatus int, d errorDetail) {
	b, _ := json.Marshal(errorBody{d})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Del("Content-Length")
	w.WriteHeader(httpStatus)
	w.Write(b)
}

// incomingHeader forwards X-Region and Cache-Control (and the defaults: Authorization,
// Grpc-Metadata-*) to the service as metadata.
func incomingHeader(key string) (string, bool) {
	switch textproto.CanonicalMIMEHeaderKey(key) {
	case "X-Region":
		return service.MDRegion, true
	case "Cache-Control":
		return service.MDCacheControl, true
	case "X-Request-Id":
		return requestid.Key, true
	}
	return runtime.DefaultHeaderMatcher(key)
}

// outgoingHeader sends the upstream's lifecycle headers back as the plain HTTP headers the
// upstream uses, not grpc-gateway's Grpc-Metadata- form, and the cache's X-Cache. Other header metadata, such as a
// gRPC connection's content-type, is not the upstream's surface and stays inside.
func outgoingHeader(key string) (string, bool) {
	switch key {
	case service.MDLegacy, service.MDDeprecation, service.MDCache:
		return textproto.CanonicalMIMEHeaderKey(key), true
	}
	return "", false
}
