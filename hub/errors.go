package hub

import (
	"errors"
	"fmt"
	"runtime"
)

// Sentinel errors. Errors returned by this package wrap one of these (or a
// syscall error) so that callers can match them with errors.Is.
var (
	// ErrNotSupported is returned by [Listen] and [Attach] outside Linux:
	// the hub needs memfd, futexes and SCM_RIGHTS over unix sockets.
	ErrNotSupported = errors.New("hub: not supported on " + runtime.GOOS + "/" + runtime.GOARCH)

	// ErrNoHub reports that no hub listens under the name asked for.
	ErrNoHub = errors.New("hub: no hub under that name")

	// ErrHubGone is returned by a consumer's reads once the hub has
	// exited (closed, killed or crashed) and every datagram it wrote
	// before has been read. Attach again to find a new hub under the
	// same name.
	ErrHubGone = errors.New("hub: the hub is gone")

	// ErrAccessDenied reports that the hub refused the consumer: another
	// user, not in the group the hub allows.
	ErrAccessDenied = errors.New("hub: access denied")

	// ErrUntrustedHub reports that the process listening under the name
	// runs as a user the consumer does not trust (see
	// AttachConfig.TrustUIDs): it could feed anything.
	ErrUntrustedHub = errors.New("hub: hub runs as an untrusted user")

	// ErrHubFull reports that the hub has as many consumers as
	// Config.MaxConsumers allows.
	ErrHubFull = errors.New("hub: no free consumer slot")

	// ErrProtocol reports an attach answer or a shared ring that is not
	// what this version of the package expects.
	ErrProtocol = errors.New("hub: protocol error")

	// ErrInvalidConfig reports a bad configuration value; the wrapping
	// error names it.
	ErrInvalidConfig = errors.New("hub: invalid configuration")
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("hub: "+format+": %w", append(args, ErrInvalidConfig)...)
}
