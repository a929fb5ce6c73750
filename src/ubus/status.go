package ubus

import (
	"context"
	"errors"
	"fmt"
)

// Status is a ubus status code (UBUS_STATUS_*). It is an error, so a
// handler can return one, wrap one (fmt.Errorf("...: %w", ErrNotFound)),
// and a caller can test for one with errors.Is.
type Status int32

// The status codes of libubus, in its order.
const (
	StatusOK               Status = 0
	StatusInvalidCommand   Status = 1
	StatusInvalidArgument  Status = 2
	StatusMethodNotFound   Status = 3
	StatusNotFound         Status = 4
	StatusNoData           Status = 5
	StatusPermissionDenied Status = 6
	StatusTimeout          Status = 7
	StatusNotSupported     Status = 8
	StatusUnknownError     Status = 9
	StatusConnectionFailed Status = 10
	StatusNoMemory         Status = 11
	StatusParseError       Status = 12
	StatusSystemError      Status = 13
)

// The same codes under the names Go code usually gives errors.
var (
	ErrInvalidCommand   error = StatusInvalidCommand
	ErrInvalidArgument  error = StatusInvalidArgument
	ErrMethodNotFound   error = StatusMethodNotFound
	ErrNotFound         error = StatusNotFound
	ErrNoData           error = StatusNoData
	ErrPermissionDenied error = StatusPermissionDenied
	ErrTimeout          error = StatusTimeout
	ErrNotSupported     error = StatusNotSupported
	ErrUnknownError     error = StatusUnknownError
	ErrConnectionFailed error = StatusConnectionFailed
	ErrNoMemory         error = StatusNoMemory
	ErrParseError       error = StatusParseError
	ErrSystemError      error = StatusSystemError
)

// The texts of ubus_strerror, which is what the ubus CLI prints.
var statusText = [...]string{
	"Success", "Invalid command", "Invalid argument", "Method not found",
	"Not found", "No response", "Permission denied", "Request timed out",
	"Operation not supported", "Unknown error", "Connection failed",
	"Out of memory", "Parsing message data failed", "System error",
}

func (s Status) Error() string {
	if s >= 0 && int(s) < len(statusText) {
		return statusText[s]
	}
	return fmt.Sprintf("Unknown error: %d", int32(s))
}

var statusNames = [...]string{
	"OK", "INVALID_COMMAND", "INVALID_ARGUMENT", "METHOD_NOT_FOUND",
	"NOT_FOUND", "NO_DATA", "PERMISSION_DENIED", "TIMEOUT",
	"NOT_SUPPORTED", "UNKNOWN_ERROR", "CONNECTION_FAILED", "NO_MEMORY",
	"PARSE_ERROR", "SYSTEM_ERROR",
}

// Name returns the constant's name without the UBUS_STATUS_ prefix, e.g.
// "NOT_FOUND", as the control socket's JSON errors spell it.
func (s Status) Name() string {
	if s >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("STATUS_%d", int32(s))
}

// StatusByName is the inverse of Name; ok is false for an unknown name.
func StatusByName(name string) (Status, bool) {
	for i, n := range statusNames {
		if n == name {
			return Status(i), true
		}
	}
	return 0, false
}

// StatusOf returns the status an error carries: StatusOK for nil, the
// wrapped Status if there is one, StatusTimeout for a context deadline and
// StatusUnknownError otherwise.
func StatusOf(err error) Status {
	if err == nil {
		return StatusOK
	}
	var s Status
	if errors.As(err, &s) {
		return s
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return StatusTimeout
	}
	return StatusUnknownError
}

// CallError is what a failed call returns: where, and the status that the
// peer or ubusd replied with.
type CallError struct {
	Object, Method string
	Status         Status
}

func (e *CallError) Error() string {
	return fmt.Sprintf("ubus call %s %s: %v", e.Object, e.Method, e.Status)
}

func (e *CallError) Unwrap() error { return e.Status }
