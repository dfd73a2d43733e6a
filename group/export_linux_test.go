package group

import "net/netip"

// KernelGroups returns the groups that each interface holds, by index, as
// /proc/net/igmp or igmp6 list them.
func KernelGroups(v6 bool) (map[int][]netip.Addr, error) { return kernelGroups(v6) }
