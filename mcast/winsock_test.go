package mcast

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
)

// TestWindowsSourceRequests checks the options that x/sys/windows lacks
// against the Windows SDK (ws2ipdef.h: IP_ADD_SOURCE_MEMBERSHIP 15,
// IP_DROP_SOURCE_MEMBERSHIP 16, IP_BLOCK_SOURCE 17, IP_UNBLOCK_SOURCE 18 at
// IPPROTO_IP; MCAST_BLOCK_SOURCE 43, MCAST_UNBLOCK_SOURCE 44,
// MCAST_JOIN_SOURCE_GROUP 45, MCAST_LEAVE_SOURCE_GROUP 46; AF_INET6 23) and
// the layouts of IP_MREQ_SOURCE (group, source, interface, 4 bytes each)
// and GROUP_SOURCE_REQ (264 bytes: the index, 4 bytes of padding, two
// SOCKADDR_STORAGEs of 128 bytes holding SOCKADDR_IN6s).
func TestWindowsSourceRequests(t *testing.T) {
	g4, s4 := netip.MustParseAddr("232.1.1.1"), netip.MustParseAddr("10.0.0.1")
	g6, s6 := netip.MustParseAddr("ff35::8000:1"), netip.MustParseAddr("2001:db8::1")
	for op, want := range map[srcOp][2]int{srcJoin: {15, 45}, srcLeave: {16, 46}, srcBlock: {17, 43}, srcUnblock: {18, 44}} {
		level, name, req := winSourceRequest(op, g4, s4, 0x0102)
		if level != 0 || name != want[0] {
			t.Errorf("IPv4 %s: level %d option %d, want 0 %d", op, level, name, want[0])
		}
		if w := []byte{232, 1, 1, 1, 10, 0, 0, 1, 0, 0, 1, 2}; !bytes.Equal(req, w) {
			t.Errorf("IPv4 %s: IP_MREQ_SOURCE % x, want % x", op, req, w)
		}
		level, name, req = winSourceRequest(op, g6, s6, 0x01020304)
		if level != 41 || name != want[1] {
			t.Errorf("IPv6 %s: level %d option %d, want 41 %d", op, level, name, want[1])
		}
		w := make([]byte, 264)
		copy(w, []byte{4, 3, 2, 1})
		for off, a := range map[int]netip.Addr{8: g6, 136: s6} {
			binary.LittleEndian.PutUint16(w[off:], 23)
			a16 := a.As16()
			copy(w[off+8:], a16[:])
		}
		if !bytes.Equal(req, w) {
			t.Errorf("IPv6 %s: GROUP_SOURCE_REQ\n% x\nwant\n% x", op, req, w)
		}
	}
}

// The source path of each OS: x/net where it has the options, mcast's own
// on Windows, and ErrNotSupported (errors.Is-able, not x/net's "not
// implemented") elsewhere, without a system call.
func TestSourcePaths(t *testing.T) {
	for goos, want := range map[string]srcPath{"linux": srcXNet, "darwin": srcXNet, "freebsd": srcXNet,
		"windows": srcWinsock, "netbsd": srcNone, "openbsd": srcNone} {
		if got := sourcePaths[goos]; got != want {
			t.Errorf("%s: source path %d, want %d", goos, got, want)
		}
	}
	c := &Conn{}
	g, s := netip.MustParseAddr("232.1.1.1"), netip.MustParseAddr("10.0.0.1")
	for _, op := range []srcOp{srcJoin, srcLeave, srcBlock, srcUnblock} {
		if err := c.sourceOpOn("openbsd", op, nil, g, s); !errors.Is(err, ErrNotSupported) {
			t.Errorf("%s on openbsd: %v, want ErrNotSupported", op, err)
		}
	}
}
