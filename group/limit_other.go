//go:build !linux

package group

// limitReason returns "" outside Linux: the BSDs and macOS cap
// memberships per socket at compile time (IP_MAX_MEMBERSHIPS, refused with
// ETOOMANYREFS) and Windows documents no cap, so there is no sysctl to
// name, and the kernel's error is returned as it is.
func limitReason(err error, v6, source bool, groups, sources int) string { return "" }
