package natsrelay

import (
	"errors"
	"net"
)

// Sentinel errors of package natsrelay, wrapped with context by the
// functions that return them: match them with errors.Is. The texts of the
// two that are always wrapped carry no "natsrelay:" prefix, since the error
// that wraps them names the package, so that a message says it once.
var (
	// ErrInvalidConfig is returned for a configuration that cannot work:
	// no URL, no subject, a negative limit.
	ErrInvalidConfig = errors.New("invalid configuration")

	// ErrNoStream is returned by [EnsureStream] when the stream does not
	// exist and StreamConfig.NoCreate forbids creating it.
	ErrNoStream = errors.New("stream does not exist")

	// ErrClosed is returned by a Publisher or Source used after Close.
	// errors.Is(ErrClosed, net.ErrClosed) holds, as for a closed socket.
	ErrClosed error = closedError{}
)

type closedError struct{}

func (closedError) Error() string { return "natsrelay: closed" }
func (closedError) Unwrap() error { return net.ErrClosed }
