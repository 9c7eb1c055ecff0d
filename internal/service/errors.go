package service

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/livechat-gateway/gateway/internal/action"
	"github.com/livechat-gateway/gateway/internal/flight"
	"github.com/livechat-gateway/gateway/internal/upstream"
)

// ErrorDomain is the domain of every ErrorInfo the gateway sends: the reasons are the
// upstream's error types.
const ErrorDomain = "livechatinc.com"

// The upstream's error types the gateway itself raises.
const (
	errAuthentication  = "authentication"
	errValidation      = "validation"
	errInternal        = "internal"
	errTooManyRequests = "too_many_requests"
)

// codes maps each documented upstream error type to its gRPC code (README.md's error table). A type
// not here is INTERNAL.
var typeCodes = map[string]codes.Code{
	"authentication":      codes.Unauthenticated,
	"authorization":       codes.PermissionDenied,
	"already_exist":       codes.AlreadyExists,
	"already_exists":      codes.AlreadyExists,
	"group_not_found":     codes.NotFound,
	"not_found":           codes.NotFound,
	"validation":          codes.InvalidArgument,
	"limit_reached":       codes.ResourceExhausted,
	"too_many_requests":   codes.ResourceExhausted,
	"license_expired":     codes.FailedPrecondition,
	"transfer_ownership":  codes.FailedPrecondition,
	"misdirected_request": codes.FailedPrecondition, // the upstream client already retried once
	"unsupported_version": codes.Unimplemented,
	"internal":            codes.Internal,
}

// CodeOf returns the gRPC code of an upstream error type.
func CodeOf(errorType string) codes.Code {
	if c, ok := typeCodes[errorType]; ok {
		return c
	}
	return codes.Internal
}

// TypeOf returns the upstream error type that stands for a status: its ErrorInfo reason when it
// has one, else the type of its code, for statuses that grpc or grpc-gateway raise themselves
// (a malformed body, a message too large, a deadline).
func TypeOf(st *status.Status) string {
	if info := errorInfo(st); info != nil && info.GetReason() != "" {
		return info.GetReason()
	}
	switch st.Code() {
	case codes.InvalidArgument, codes.OutOfRange, codes.FailedPrecondition:
		return "validation"
	case codes.Unauthenticated:
		return "authentication"
	case codes.PermissionDenied:
		return "authorization"
	case codes.NotFound:
		return "not_found"
	case codes.AlreadyExists:
		return "already_exist"
	case codes.ResourceExhausted:
		return "limit_reached"
	case codes.Unimplemented:
		return "unsupported_version"
	}
	return "internal"
}

// errorInfo returns the status's ErrorInfo, or nil.
func errorInfo(st *status.Status) *errdetails.ErrorInfo {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

// ErrorData returns the metadata of the status's ErrorInfo, or nil.
func ErrorData(st *status.Status) map[string]string {
	return errorInfo(st).GetMetadata()
}

// RetryDelay returns the delay of the status's RetryInfo, or 0.
func RetryDelay(st *status.Status) time.Duration {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	return 0
}

// withDetails returns a status of code with msg and the details; a detail that cannot be
// attached is dropped rather than losing the status.
func withDetails(code codes.Code, msg string, details ...protoadapt.MessageV1) error {
	st := status.New(code, msg)
	if withD, err := st.WithDetails(details...); err == nil {
		st = withD
	}
	return st.Err()
}

// GatewayError is an error the gateway raises itself, with upstream type typ: the status of the
// type's code, with an ErrorInfo whose reason is typ, which the REST surface answers as the
// upstream's error body of that type.
func GatewayError(typ, msg string) error {
	return withDetails(CodeOf(typ), msg, &errdetails.ErrorInfo{Reason: typ, Domain: ErrorDomain})
}

// InvalidArgument refuses a request that breaks the spec's rules at field: INVALID_ARGUMENT naming
// the field (ErrorInfo metadata "field" and a BadRequest violation), a validation error over REST.
func InvalidArgument(field, msg string) error {
	return withDetails(codes.InvalidArgument, msg,
		&errdetails.ErrorInfo{Reason: errValidation, Domain: ErrorDomain, Metadata: map[string]string{"field": field}},
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: msg}}},
	)
}

// decodeError turns the error of decoding a gRPC request into the status the call answers: a
// message that Codec could not decode is the client's doing, INVALID_ARGUMENT, as a REST body
// that does not decode is. grpc's own errors keep their code: an oversized message is
// RESOURCE_EXHAUSTED (grpc has answered it already; this is what the interceptors log). Neither
// quotes the decoder.
func decodeError(err error, maxDepth int) error {
	st, isStatus := status.FromError(err)
	switch {
	case isStatus && st.Code() == codes.ResourceExhausted:
		return withDetails(codes.ResourceExhausted, "the request message is larger than the gateway's limit",
			&errdetails.ErrorInfo{Reason: errValidation, Domain: ErrorDomain})
	case isStatus:
		return err // the caller went away, or the deadline passed, while it was being read
	case strings.Contains(err.Error(), "recursion depth"):
		// The codec's recursion limit bounds the decoder's work, a few times the JSON depth
		// limit; the client needs to hear of the JSON depth.
		return InvalidArgument("body", fmt.Sprintf("the request nests objects and arrays deeper than %d levels", maxDepth))
	}
	return InvalidArgument("body", "the request is not a valid protobuf message of this RPC's request type")
}

// Shed returns the status of a call that the gateway refused, without doing anything of it,
// because it was at a limit of calls in flight: RESOURCE_EXHAUSTED with ErrorInfo reason
// too_many_requests (REST: 429 with the upstream's too_many_requests body) and a RetryInfo of
// upstream.ShedRetryAfter (REST: Retry-After). Retrying it later is safe, writes included.
func Shed(msg string) error {
	return withDetails(codes.ResourceExhausted, msg,
		&errdetails.ErrorInfo{Reason: errTooManyRequests, Domain: ErrorDomain},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(upstream.ShedRetryAfter)})
}

// errBadAnswer is wrapped by the error of a 200 answer that is not an answer of the upstream's:
// empty, null, not JSON, of the wrong shape, or not decodable.
var errBadAnswer = errors.New("upstream answered 200 without a valid answer")

// badAnswer logs a 200 that is no answer, with its size and what is wrong with it but not its
// body, which may echo the request and its token, and returns an error wrapping errBadAnswer.
// why must not quote the body: wire.CheckAnswer's errors do not, a decoder's do.
func (s *Service) badAnswer(ctx context.Context, a *action.Action, resp *upstream.Response, why string) error {
	s.log.WarnContext(ctx, "upstream answered 200 without a valid answer", "action", a.Name,
		"http_status", 200, "body_bytes", len(resp.Body), "region", resp.Region, "why", why)
	return fmt.Errorf("%w: %s", errBadAnswer, why)
}

// outcomeUnknown reports whether a write that failed with err may have been applied: it may have
// reached the upstream and no answer says it was not (upstream.ErrMaybeApplied), the upstream
// failed while handling it (5xx), or it answered 200 with something that is no answer.
func outcomeUnknown(err error) bool {
	var ue *upstream.Error
	if errors.As(err, &ue) {
		return ue.Status >= 500
	}
	return errors.Is(err, upstream.ErrMaybeApplied) || errors.Is(err, errBadAnswer)
}

// writeOutcomeNote ends the message of a write whose outcome is unknown.
const writeOutcomeNote = "; the write may have been applied: check before retrying it"

// status turns an error of the upstream client into the call's status (README.md's error table).
// unknown marks a write whose outcome is unknown: its status keeps its code and carries
// ErrorInfo metadata write_outcome=unknown, and its message says so, so that a client does not
// blindly send a create again. Internal causes are logged and never returned.
func (s *Service) status(ctx context.Context, a *action.Action, err error, unknown bool) error {
	var (
		code    codes.Code
		msg     string
		info    = &errdetails.ErrorInfo{Reason: errInternal, Domain: ErrorDomain, Metadata: map[string]string{"action": a.Name}}
		details []protoadapt.MessageV1
		ue      *upstream.Error
		shed    *upstream.ShedError
	)
	switch {
	case errors.As(err, &ue) && ue.Type != "":
		info.Reason = ue.Type
		info.Metadata["http_status"] = strconv.Itoa(ue.Status)
		for k, v := range ue.Data {
			if str, ok := v.(string); ok && k != "action" && k != "write_outcome" {
				info.Metadata[k] = str // such as misdirected_request's region
			}
		}
		if ue.Type == "too_many_requests" && ue.RetryAfter > 0 {
			details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(ue.RetryAfter)})
		}
		code, msg = CodeOf(ue.Type), cmp.Or(ue.Message, ue.Type)
	case errors.As(err, &ue) && ue.Status >= 500:
		// An answer that is not the upstream's error shape: a proxy's page, a crash.
		s.log.WarnContext(ctx, "upstream answered without an error body", "action", a.Name, "http_status", ue.Status)
		info.Metadata["http_status"] = strconv.Itoa(ue.Status)
		code, msg = codes.Unavailable, fmt.Sprintf("upstream unavailable (HTTP %d)", ue.Status)
	case errors.As(err, &shed) && shed.PerCredential:
		return Shed("too many calls of this credential to the upstream in flight at the gateway; retry later")
	case errors.As(err, &shed):
		return Shed("too many calls to the upstream in flight at the gateway; retry later")
	case errors.Is(err, upstream.ErrAnswerTooLarge):
		// Not RESOURCE_EXHAUSTED, which clients retry: the same call would get the same answer.
		s.log.WarnContext(ctx, "upstream answer larger than the gateway's limit", "action", a.Name, "err", err)
		code, msg = codes.Internal, "the upstream's answer is larger than the gateway's limit (UPSTREAM_MAX_ANSWER_BYTES); retrying will not help: narrow the request"
	case errors.Is(err, errBadAnswer):
		code, msg = codes.Unavailable, "upstream unavailable (it answered without a valid answer)"
	case errors.Is(err, context.DeadlineExceeded):
		code, msg = codes.DeadlineExceeded, "deadline exceeded before the upstream answered"
	case errors.Is(err, context.Canceled) && ctx.Err() == nil:
		// Not the caller's doing: the gateway cancelled a shared call as it shut down.
		code, msg = codes.Unavailable, "the gateway is shutting down"
	case errors.Is(err, context.Canceled):
		code, msg = codes.Canceled, "call canceled"
	case errors.Is(err, upstream.ErrUnavailable):
		s.log.WarnContext(ctx, "upstream unreachable", "action", a.Name, "err", err)
		code, msg = codes.Unavailable, "upstream unavailable"
	case errors.Is(err, flight.ErrClosed):
		code, msg = codes.Unavailable, "the gateway is shutting down"
	default:
		if !unknown {
			return s.internal(ctx, a, err)
		}
		s.log.ErrorContext(ctx, "internal error", "action", a.Name, "err", err)
		code, msg = codes.Internal, "internal error"
	}
	if unknown {
		info.Metadata["write_outcome"] = "unknown"
		msg += writeOutcomeNote
	}
	return withDetails(code, msg, append([]protoadapt.MessageV1{info}, details...)...)
}

// internal logs err and returns a plain INTERNAL status.
func (s *Service) internal(ctx context.Context, a *action.Action, err error) error {
	s.log.ErrorContext(ctx, "internal error", "action", a.Name, "err", err)
	return withDetails(codes.Internal, "internal error", &errdetails.ErrorInfo{Reason: errInternal, Domain: ErrorDomain})
}
