package directory

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
)

type sqlStateErr string

func (e sqlStateErr) Error() string    { return "server error " + string(e) }
func (e sqlStateErr) SQLState() string { return string(e) }

func TestUnavailableTellsOutagesFromMistakes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"domain unavailable", fmt.Errorf("list users: %w", ErrUnavailable), true},
		{"request deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), true},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, true},
		{"connection cut mid-answer", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"statement_timeout", sqlStateErr("57014"), true},
		{"admin shutdown", fmt.Errorf("x: %w", sqlStateErr("57P01")), true},
		{"starting up", sqlStateErr("57P03"), true},
		{"too many connections", sqlStateErr("53300"), true},
		{"connection failure", sqlStateErr("08006"), true},
		{"unique violation", sqlStateErr("23505"), false},
		{"syntax error", sqlStateErr("42601"), false},
		{"bad state", sqlStateErr("5"), false},
		{"client went away", context.Canceled, false},
		{"client went away, seen by the driver as a network error", errors.Join(context.Canceled, &net.OpError{Op: "read", Net: "tcp", Err: errors.New("i/o timeout")}), false},
		{"not found", NotFoundf("user x not found"), false},
		{"plain bug", errors.New("nil map"), false},
	} {
		if got := Unavailable(c.err); got != c.want {
			t.Errorf("%s: Unavailable(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}
