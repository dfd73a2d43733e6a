package group

import (
	"errors"

	"github.com/sharecast/sharecast/mcast"
)

// Sentinel errors. Errors returned by this package wrap one of these (or an
// error of package mcast, or a syscall error) so that callers can match them
// with errors.Is. Their texts carry no "group:" prefix: the error that wraps
// one names the package and the operation, so that a message says "group:"
// once.
var (
	// ErrBadSpec reports a group spec that cannot be used: text that does
	// not parse, or a value that is refused (a group that is not multicast,
	// a port out of range, a source on an any-source group). Such errors
	// are of type *SpecError, which names the bad part.
	ErrBadSpec = errors.New("bad spec")

	// ErrNoInterface reports that no interface matches a spec's interface:
	// no interface has that name, index or address, or, for "*", no
	// interface is up and multicast-capable.
	ErrNoInterface = errors.New("no such interface")

	// ErrInterfaceDown reports an interface that exists but is not up.
	ErrInterfaceDown = errors.New("interface is down")

	// ErrNotMulticastCapable reports an interface without the MULTICAST
	// flag.
	ErrNotMulticastCapable = errors.New("interface cannot do multicast")

	// ErrMembershipLimit reports that the kernel refused a join because the
	// socket holds as many memberships (or sources of one group) as it
	// allows. The wrapping error names the limit's sysctl and its current
	// value where the OS has one.
	ErrMembershipLimit = errors.New("membership limit reached")

	// ErrNotSupported reports that the running OS cannot do what was asked
	// (for example an IPv6 source-specific join on Windows). It is
	// mcast.ErrNotSupported, so either name matches.
	ErrNotSupported = mcast.ErrNotSupported
)
