package group_test

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/sharecast/sharecast/group"
)

// TestWindowsSourceOptions checks the constants that x/sys/windows lacks
// against the Windows SDK (ws2ipdef.h: IP_ADD_SOURCE_MEMBERSHIP 15,
// IP_DROP_SOURCE_MEMBERSHIP 16, IP_BLOCK_SOURCE 17, IP_UNBLOCK_SOURCE 18;
// IP_ADD_MEMBERSHIP is 12 there and in x/sys/windows) and the layout of
// IP_MREQ_SOURCE: group, source, interface, 4 bytes each.
func TestWindowsSourceOptions(t *testing.T) {
	if group.WinIPAddSourceMembership != 15 || group.WinIPDropSourceMembership != 16 ||
		group.WinIPBlockSource != 17 || group.WinIPUnblockSource != 18 {
		t.Fatalf("Windows source options %d %d %d %d, want 15 16 17 18", group.WinIPAddSourceMembership,
			group.WinIPDropSourceMembership, group.WinIPBlockSource, group.WinIPUnblockSource)
	}
	if got := group.WinSourceOptions(); got != [4]int{15, 16, 17, 18} {
		t.Fatalf("options of join, leave, block, unblock = %v", got)
	}
	b, size := group.WinIPMreqSource(netip.MustParseAddr("232.1.1.1"), netip.MustParseAddr("10.0.0.1"), 0x0102)
	if size != 12 {
		t.Fatalf("sizeof(IP_MREQ_SOURCE) = %d, want 12", size)
	}
	want := []byte{232, 1, 1, 1, 10, 0, 0, 1, 0, 0, 1, 2}
	if !bytes.Equal(b, want) {
		t.Fatalf("IP_MREQ_SOURCE = % x, want % x", b, want)
	}
}
