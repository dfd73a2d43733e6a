package mcast

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by this package wrap one of these (or a
// syscall error) so that callers can match them with errors.Is. Their texts
// carry no "mcast:" prefix (but for ErrNotSupported, which some errors
// return as it is): the error that wraps one names the package and the
// operation, so that a message says "mcast:" once.
var (
	// ErrPortInUse reports that the kernel refused the bind because another
	// socket holds the port in a way that the requested [Share] mode cannot
	// share with.
	ErrPortInUse = errors.New("port in use")

	// ErrAccessDenied reports that the kernel refused the bind for lack of
	// permission (EACCES; on Windows WSAEACCES, as when the holder set
	// SO_EXCLUSIVEADDRUSE).
	ErrAccessDenied = errors.New("access denied")

	// ErrPrivilegedPort reports a bind refused because the port is
	// privileged (below 1024, or Linux's net.ipv4.ip_unprivileged_port_start)
	// and the process lacks the right to bind it (root, or
	// CAP_NET_BIND_SERVICE). Such an error wraps ErrAccessDenied too.
	ErrPrivilegedPort = errors.New("privileged port")

	// ErrNotSupported reports that the running OS has no way to do what was
	// asked (for example the same-user sharing mode outside Linux).
	ErrNotSupported = errors.New("mcast: not supported on this platform")

	// ErrInvalidConfig reports a bad argument or configuration value; the
	// wrapping error names the value.
	ErrInvalidConfig = errors.New("invalid configuration")

	// ErrNotMulticast reports a group address that is not a multicast address.
	ErrNotMulticast = errors.New("not a multicast address")
)

// notSupported returns an error wrapping ErrNotSupported that names the
// option and the platform.
func notSupported(what string) error {
	return fmt.Errorf("%s on %s: %w", what, platform, ErrNotSupported)
}

// sentinelError is an error that matches sentinels without naming them in
// its message, where the message says the same in its own words.
type sentinelError struct {
	err error
	is  []error
}

func (e *sentinelError) Error() string { return e.err.Error() }
func (e *sentinelError) Unwrap() error { return e.err }

func (e *sentinelError) Is(target error) bool {
	for _, s := range e.is {
		if s == target {
			return true
		}
	}
	return false
}

// errBadControl reports a control message that could not be parsed; the
// read paths count it in Stats.BadControl and pass the datagram on.
var errBadControl = errors.New("mcast: malformed control message")
