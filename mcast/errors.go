package mcast

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by this package wrap one of these (or a
// syscall error) so that callers can match them with errors.Is.
var (
	// ErrPortInUse reports that the kernel refused the bind because another
	// socket holds the port in a way that the requested [Share] mode cannot
	// share with.
	ErrPortInUse = errors.New("mcast: port in use")

	// ErrAccessDenied reports that the kernel refused the bind for lack of
	// permission (EACCES; on Windows WSAEACCES, as when the holder set
	// SO_EXCLUSIVEADDRUSE).
	ErrAccessDenied = errors.New("mcast: access denied")

	// ErrNotSupported reports that the running OS has no way to do what was
	// asked (for example the same-user sharing mode outside Linux).
	ErrNotSupported = errors.New("mcast: not supported on this platform")

	// ErrInvalidConfig reports a bad argument or configuration value; the
	// wrapping error names the value.
	ErrInvalidConfig = errors.New("mcast: invalid configuration")

	// ErrNotMulticast reports a group address that is not a multicast address.
	ErrNotMulticast = errors.New("mcast: not a multicast address")
)

// notSupported returns an error wrapping ErrNotSupported that names the
// option and the platform.
func notSupported(what string) error {
	return fmt.Errorf("%s on %s: %w", what, platform, ErrNotSupported)
}
