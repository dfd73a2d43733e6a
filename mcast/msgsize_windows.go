package mcast

import "github.com/sharecast/sharecast/internal/sockerr"

// isMsgSize reports whether err says that a datagram was longer than the
// buffer: Windows fails the read with WSAEMSGSIZE.
func isMsgSize(err error) bool { return sockerr.Is(err, sockerr.MsgSize) }
