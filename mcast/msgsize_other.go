//go:build !windows

package mcast

// isMsgSize reports whether err says that a datagram was longer than the
// buffer. Outside Windows a read never fails for that: the kernel cuts the
// datagram short and says so in MSG_TRUNC (which x/net does not pass on).
func isMsgSize(err error) bool { return false }
