package group

import (
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/sharecast/sharecast/internal/procnet"
)

// limitReason says which limit a join or block that the kernel refused
// hit, naming its sysctl and current value, or returns "" when err is not
// a limit. Linux refuses with ENOBUFS an IPv4 membership past
// net.ipv4.igmp_max_memberships per socket (20 by default) and a source
// past net.ipv4.igmp_max_msf per group (10), and an IPv6 source past
// net.ipv6.mld_max_msf (64). IPv6 has no count of memberships: each takes
// socket option memory, and a join fails with ENOMEM when the socket's
// share, net.core.optmem_max (128 KiB, some 2,300 memberships), runs out;
// IPv4 memberships take it too, so it can bite first when
// igmp_max_memberships is raised.
func limitReason(err error, v6, source bool, groups, sources int) string {
	optmem := func() string {
		return fmt.Sprintf("the socket's option memory, net.core.optmem_max = %s bytes, is used up (it holds %d memberships)",
			sysctl("net.core.optmem_max"), groups)
	}
	switch {
	case !v6 && errors.Is(err, unix.ENOBUFS):
		maxGroups, okG := sysctlInt("net.ipv4.igmp_max_memberships")
		if okG && groups >= maxGroups {
			return fmt.Sprintf("the socket holds %d memberships, the most that net.ipv4.igmp_max_memberships = %d allows", groups, maxGroups)
		}
		if maxSrc, ok := sysctlInt("net.ipv4.igmp_max_msf"); ok && source && sources >= maxSrc {
			return fmt.Sprintf("the group has %d sources on this socket and interface, the most that net.ipv4.igmp_max_msf = %d allows", sources, maxSrc)
		}
		return fmt.Sprintf("the kernel refused another membership; the socket holds %d that group knows of, "+
			"net.ipv4.igmp_max_memberships = %s and net.core.optmem_max = %s bytes",
			groups, sysctl("net.ipv4.igmp_max_memberships"), sysctl("net.core.optmem_max"))
	case v6 && errors.Is(err, unix.ENOBUFS) && source:
		return fmt.Sprintf("the group has %d sources on this socket and interface, the most that net.ipv6.mld_max_msf = %s allows", sources, sysctl("net.ipv6.mld_max_msf"))
	case errors.Is(err, unix.ENOMEM), errors.Is(err, unix.ENOBUFS):
		return optmem()
	}
	return ""
}

// sysctl reads a sysctl of the calling thread's network namespace, or
// returns "?" where it cannot (net.ipv6.mld_max_msf exists only in the
// initial namespace).
func sysctl(name string) string {
	n, ok := sysctlInt(name)
	if !ok {
		return "?"
	}
	return strconv.Itoa(n)
}

// sysctlInt reads an integer sysctl through procnet, the one reader of
// /proc/sys/net.
func sysctlInt(name string) (int, bool) {
	n, err := procnet.ReadSysctl(name)
	return int(n), err == nil
}
