package mcast

import (
	"os"
	"strconv"
	"strings"
)

// unprivilegedPortStart returns the lowest port that any process may bind:
// net.ipv4.ip_unprivileged_port_start of the calling thread's network
// namespace (for IPv6 too), or 1024 where it cannot be read.
func unprivilegedPortStart() uint16 {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if err != nil {
		return 1024
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 16)
	if err != nil {
		return 1024
	}
	return uint16(n)
}
