package dispatch

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by this package wrap one of these (or
// the error of a Source or a context) so that callers can match them with
// errors.Is.
var (
	// ErrServerClosed is returned by [Server.Serve] and [Server.AddSource]
	// once the Server has been shut down or closed, and by a second Serve.
	ErrServerClosed = errors.New("dispatch: server closed")

	// ErrInvalidConfig reports a bad argument or configuration value; the
	// wrapping error names the value.
	ErrInvalidConfig = errors.New("dispatch: invalid configuration")

	// ErrMuxInUse reported a Mux given to a second Server, when a Mux's
	// handlers and their queues belonged to one Server.
	//
	// Deprecated: It is no longer returned: the queues, workers and
	// counters are each Server's own, so one Mux may serve several Servers.
	ErrMuxInUse = errors.New("dispatch: mux already used by another server")

	// ErrNoSource is returned by Serve when no Source was added.
	ErrNoSource = errors.New("dispatch: no source to read from")
)

// ShutdownError is what [Server.Shutdown] returns when its context ends
// before the queues are drained: the Server then drops what is still
// queued, and the error says exactly how many datagrams that was. It wraps
// the context's error, so errors.Is(err, context.DeadlineExceeded) holds
// for a deadline.
type ShutdownError struct {
	// Dropped counts the datagrams dropped by the shutdown, over all
	// handlers: those still queued and those read but not yet queued. A
	// datagram queued for three handlers and dropped by all three counts
	// three times, as in each handler's Drops.Shutdown.
	Dropped uint64
	// InFlight counts handler calls still running when Shutdown gave up.
	// Their datagrams are neither dropped nor yet delivered; they count as
	// delivered if the calls return.
	InFlight int
	// Err is the context's error.
	Err error
}

// Error says how many datagrams were dropped and why.
func (e *ShutdownError) Error() string {
	return fmt.Sprintf("dispatch: shutdown: dropped %d queued datagrams, %d handler calls still running: %s",
		e.Dropped, e.InFlight, e.Err)
}

// Unwrap returns the context's error.
func (e *ShutdownError) Unwrap() error { return e.Err }
