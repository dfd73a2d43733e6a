package mcast

import (
	"fmt"
	"strings"
)

// Share says with whom a socket shares its port. The zero value is
// [ShareAnyUser].
//
// The socket options behind each mode, per OS:
//
//	mode        Linux                        BSD, macOS                   Windows
//	any-user    SO_REUSEADDR                 SO_REUSEADDR + SO_REUSEPORT  SO_REUSEADDR
//	same-user   SO_REUSEPORT                  ErrNotSupported              ErrNotSupported
//	exclusive   (no reuse option)             (no reuse option)            SO_EXCLUSIVEADDRUSE
//
// On Linux the kernel lets two UDP sockets share a port when both set
// SO_REUSEADDR (whatever their owners), or when both set SO_REUSEPORT and
// belong to the same effective uid. Any-user sets SO_REUSEADDR alone: with
// SO_REUSEPORT too, the kernel's UDP early demux can hand a datagram of a
// group that only one socket of the reuseport group joined to another
// member (see the package doc's BUG note), so it shares with every stack
// that sets SO_REUSEADDR (avahi, the standard library) but not with one that
// sets only SO_REUSEPORT. Same-user sets only SO_REUSEPORT, so that a
// process of another user is refused, and is subject to that kernel
// behaviour. Exclusive sets neither, so every later bind on the port fails,
// and it fails itself if the port is held.
type Share int

const (
	// ShareAnyUser shares the port with any socket that also asks to share
	// it, whichever user owns it. This is the default, and what multicast
	// receivers on one host normally need; see the package doc for the
	// hijacking risk.
	ShareAnyUser Share = iota
	// ShareSameUser shares the port only with sockets of the same user
	// (Linux only).
	ShareSameUser
	// ShareExclusive refuses to share the port.
	ShareExclusive
)

var shareNames = [...]string{"any", "user", "exclusive"}

// String returns "any", "user" or "exclusive".
func (s Share) String() string {
	if s >= 0 && int(s) < len(shareNames) {
		return shareNames[s]
	}
	return fmt.Sprintf("Share(%d)", int(s))
}

// ParseShare parses the names that String returns (and "any-user",
// "same-user" as synonyms).
func ParseShare(s string) (Share, error) {
	switch strings.ToLower(s) {
	case "any", "any-user", "":
		return ShareAnyUser, nil
	case "user", "same-user":
		return ShareSameUser, nil
	case "exclusive":
		return ShareExclusive, nil
	}
	return 0, fmt.Errorf("mcast: share mode %q (want any, user or exclusive): %w", s, ErrInvalidConfig)
}

// MarshalText implements encoding.TextMarshaler.
func (s Share) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Share) UnmarshalText(b []byte) error {
	v, err := ParseShare(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
