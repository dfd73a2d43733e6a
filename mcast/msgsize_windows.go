package mcast

import (
	"errors"

	"golang.org/x/sys/windows"
)

// isMsgSize reports whether err says that a datagram was longer than the
// buffer: Windows fails the read with WSAEMSGSIZE.
func isMsgSize(err error) bool { return errors.Is(err, windows.WSAEMSGSIZE) }
