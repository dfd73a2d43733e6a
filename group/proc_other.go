//go:build !linux

package group

import "net/netip"

// kernelHolds reports that it does not know: only Linux lists the groups
// of each interface in a file.
func kernelHolds(v6 bool, index int, group netip.Addr) (held, known bool) { return false, false }
