package emulator

import (
	"fmt"
	"net/http"
)

// The 13 error types the Configuration API documents ("Possible errors").
const (
	errAuthentication     = "authentication"
	errAuthorization      = "authorization"
	errAlreadyExist       = "already_exist"
	errGroupNotFound      = "group_not_found"
	errInternal           = "internal"
	errLicenseExpired     = "license_expired"
	errLimitReached       = "limit_reached"
	errMisdirectedRequest = "misdirected_request"
	errNotFound           = "not_found"
	errTooManyRequests    = "too_many_requests"
	errTransferOwnership  = "transfer_ownership"
	errUnsupportedVersion = "unsupported_version"
	errValidation         = "validation"
)

// errorKind is what the emulator knows about one error type: the spec's default message and the
// HTTP status it answers with.
type errorKind struct {
	message string
	status  int
}

// errorKinds holds every documented error type. The messages are the spec's "Default message"
// column. The spec gives no HTTP statuses; these are the plausible ones listed in the package doc.
var errorKinds = map[string]errorKind{
	errAuthentication:     {"Authentication error", http.StatusUnauthorized},
	errAuthorization:      {"Authorization error", http.StatusForbidden},
	errAlreadyExist:       {"Already exist", http.StatusConflict},
	errGroupNotFound:      {"Group not found", http.StatusNotFound},
	errInternal:           {"Internal server error", http.StatusInternalServerError},
	errLicenseExpired:     {"License expired", http.StatusPaymentRequired},
	errLimitReached:       {"Resource limit reached", http.StatusForbidden},
	errMisdirectedRequest: {"Wrong region", http.StatusMisdirectedRequest},
	errNotFound:           {"Not found", http.StatusNotFound},
	errTooManyRequests:    {"Too many requests", http.StatusTooManyRequests},
	errTransferOwnership:  {"Transfer ownership", http.StatusConflict},
	errUnsupportedVersion: {"Unsupported version", http.StatusBadRequest},
	errValidation:         {"Wrong format of request", http.StatusUnprocessableEntity},
}

// ErrorTypes returns the 13 documented error types, in the spec's order.
func ErrorTypes() []string {
	return []string{
		errAuthentication, errAuthorization, errAlreadyExist, errGroupNotFound, errInternal,
		errLicenseExpired, errLimitReached, errMisdirectedRequest, errNotFound, errTooManyRequests,
		errTransferOwnership, errUnsupportedVersion, errValidation,
	}
}

// apiError is an error the emulator answers with, in the upstream's body shape.
type apiError struct {
	Type    string         `json:"type"`
	Message string         `json:"message"`
	Data    map[string]any `json:"data,omitempty"`
}

func (e *apiError) Error() string { return e.Type + ": " + e.Message }

// status returns the HTTP status the error is answered with.
func (e *apiError) status() int {
	if k, ok := errorKinds[e.Type]; ok {
		return k.status
	}
	return http.StatusInternalServerError
}

// newError returns an error of type typ. An empty format gives the spec's default message.
func newError(typ, format string, args ...any) *apiError {
	msg := errorKinds[typ].message
	if format != "" {
		msg = fmt.Sprintf(format, args...)
	}
	return &apiError{Type: typ, Message: msg}
}

// invalid returns a validation error naming the field at path.
func invalid(path, format string, args ...any) *apiError {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	return &apiError{Type: errValidation, Message: msg}
}

// denied returns an authorization error naming the scopes the requester lacks.
func denied(scopes ...string) *apiError {
	return newError(errAuthorization, "Authorization error: missing scope %v", scopes)
}
