package mcast

import "github.com/sharecast/sharecast/internal/procnet"

// unprivilegedPortStart returns the lowest port that any process may bind:
// net.ipv4.ip_unprivileged_port_start of the calling thread's network
// namespace (for IPv6 too), read through procnet, the one reader of
// /proc/sys/net; or 1024 where it cannot be read.
func unprivilegedPortStart() uint16 {
	n, err := procnet.ReadSysctl("net.ipv4.ip_unprivileged_port_start")
	if err != nil || n < 0 || n > 65535 {
		return 1024
	}
	return uint16(n)
}
