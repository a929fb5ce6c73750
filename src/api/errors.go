// Package api is nuvol's method table: one list of methods, each with its
// argument policy and handler, served the same way on ubus (object "nuvol")
// and on the unix control socket the CLI uses.
package api

import (
	"context"
	"errors"
	"fmt"

	"github.com/nuvol-project/nuvol/src/ubus"
)

// Status is a ubus status code. The table reports every failure with one, so
// that `ubus call`, rpcd/LuCI and the CLI all see the same kind of error.
// It is the ubus package's own type: one list of codes and names for both.
type Status = ubus.Status

// The ubus status codes (libubus's UBUS_STATUS_*).
const (
	StatusOK               = ubus.StatusOK
	StatusInvalidCommand   = ubus.StatusInvalidCommand
	StatusInvalidArgument  = ubus.StatusInvalidArgument
	StatusMethodNotFound   = ubus.StatusMethodNotFound
	StatusNotFound         = ubus.StatusNotFound
	StatusNoData           = ubus.StatusNoData
	StatusPermissionDenied = ubus.StatusPermissionDenied
	StatusTimeout          = ubus.StatusTimeout
	StatusNotSupported     = ubus.StatusNotSupported
	StatusUnknownError     = ubus.StatusUnknownError
	StatusConnectionFailed = ubus.StatusConnectionFailed
	StatusNoMemory         = ubus.StatusNoMemory
	StatusParseError       = ubus.StatusParseError
	StatusSystemError      = ubus.StatusSystemError
)

// Error is a failed method call: a ubus status and a message in words.
type Error struct {
	Code    Status
	Message string
}

func (e *Error) Error() string { return e.Message }

// Is lets errors.Is(err, &Error{Code: StatusNotFound}) test the code alone.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Code == e.Code
}

// Errorf makes an *Error with a formatted message.
func Errorf(code Status, format string, a ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, a...)}
}

// Sentinels for errors.Is: they match any *Error with the same code.
var (
	ErrInvalidArgument = &Error{Code: StatusInvalidArgument}
	ErrNotFound        = &Error{Code: StatusNotFound}
	ErrNotSupported    = &Error{Code: StatusNotSupported}
	ErrTimeout         = &Error{Code: StatusTimeout}
)

// AsError turns any error a handler returned into an *Error. Errors that
// already carry a status keep it; context errors become TIMEOUT; everything
// else is UNKNOWN_ERROR with the error's text, so nothing is lost in words.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Message == "" {
			return &Error{Code: e.Code, Message: err.Error()}
		}
		// Keep the outer context ("install web: ...") when there is any.
		return &Error{Code: e.Code, Message: err.Error()}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Code: StatusTimeout, Message: err.Error()}
	}
	if errors.Is(err, context.Canceled) {
		return &Error{Code: StatusTimeout, Message: err.Error()}
	}
	var s interface{ UbusStatus() int }
	if errors.As(err, &s) {
		return &Error{Code: Status(s.UbusStatus()), Message: err.Error()}
	}
	return &Error{Code: StatusUnknownError, Message: err.Error()}
}
