package group

import (
	"net/netip"

	"github.com/sharecast/sharecast/internal/procnet"
)

// kernelHolds reports whether interface index holds group, as
// /proc/net/igmp (IPv4) or /proc/net/igmp6 (IPv6) of the calling thread's
// network namespace list it.
func kernelHolds(v6 bool, index int, group netip.Addr) (held, known bool) {
	gs, err := kernelGroups(v6)
	if err != nil {
		return false, false
	}
	for _, g := range gs[index] {
		if g == group {
			return true, true
		}
	}
	return false, true
}

// kernelGroups returns the groups that each interface holds, by index. It
// reads the files of the calling thread's namespace, which the watcher may
// have moved to the namespace of its Set.
func kernelGroups(v6 bool) (map[int][]netip.Addr, error) {
	f := procnet.IPv4
	if v6 {
		f = procnet.IPv6
	}
	ms, err := procnet.ReadIGMP(f)
	if err != nil {
		return nil, err
	}
	out := make(map[int][]netip.Addr)
	for _, m := range ms {
		out[m.IfIndex] = append(out[m.IfIndex], m.Group)
	}
	return out, nil
}
