package directory

import (
	"context"
	"errors"
	"io"
	"net"
)

// ErrUnavailable reports that the store cannot answer right now: it is
// unreachable, restarting, overloaded, or the request's deadline passed.
// A retry later may succeed, so adapters answer 503 with Retry-After
// rather than 500.
var ErrUnavailable = errors.New("unavailable")

// Unavailable reports whether err means the store could not answer in
// time or at all, rather than that the request or the code is wrong: an
// ErrUnavailable, the request's deadline, a network error, the connection
// ending mid-answer, or a server error whose SQLSTATE class is 08
// (connection exception), 53 (insufficient resources) or 57 (operator
// intervention: statement_timeout, shutdown, starting up). The SQLSTATE is
// read through the SQLState method that PostgreSQL drivers' errors carry,
// so that this package needs no driver. A request whose client went away
// (context.Canceled) is not: the driver may report it as a network error
// too, and nobody waits for the answer.
func Unavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var se interface{ SQLState() string }
	if errors.As(err, &se) {
		if s := se.SQLState(); len(s) == 5 {
			switch s[:2] {
			case "08", "53", "57":
				return true
			}
		}
	}
	return false
}
