package mcast

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"testing"
)

// winCmsg encodes one control message as Windows lays it out for a pointer
// size of word bytes, by the SDK's macros: cmsg_len = WSA_CMSG_LEN(len) =
// WSA_CMSGDATA_ALIGN(sizeof(WSACMSGHDR)) + len, and the next header at
// WSA_CMSGHDR_ALIGN(cmsg_len) (WSA_CMSG_SPACE).
func winCmsg(word int, level, typ int32, data []byte) []byte {
	align := func(n int) int { return (n + word - 1) &^ (word - 1) }
	hdr := align(word + 8)
	l := hdr + len(data)
	b := make([]byte, align(l))
	if word == 8 {
		binary.LittleEndian.PutUint64(b, uint64(l))
	} else {
		binary.LittleEndian.PutUint32(b, uint32(l))
	}
	binary.LittleEndian.PutUint32(b[word:], uint32(level))
	binary.LittleEndian.PutUint32(b[word+4:], uint32(typ))
	copy(b[hdr:], data)
	return b
}

// inPktInfo is IN_PKTINFO: the address, then the index as a ULONG.
func inPktInfo(a string, index uint32) []byte {
	b := netip.MustParseAddr(a).As4()
	return binary.LittleEndian.AppendUint32(b[:], index)
}

// in6PktInfo is IN6_PKTINFO: the address, then the index as a ULONG.
func in6PktInfo(a string, index uint32) []byte {
	b := netip.MustParseAddr(a).As16()
	return binary.LittleEndian.AppendUint32(b[:], index)
}

// The Windows SDK's values (ws2def.h, ws2ipdef.h) and sizes, which
// x/sys/windows has too (sockopt_windows.go checks them against it when
// built for Windows).
func TestWinControlConstants(t *testing.T) {
	if winIPProtoIP != 0 || winIPProtoIPv6 != 41 || winIPPktInfo != 19 || winIPv6PktInfo != 19 {
		t.Fatalf("IPPROTO_IP %d IPPROTO_IPV6 %d IP_PKTINFO %d IPV6_PKTINFO %d, want 0 41 19 19",
			winIPProtoIP, winIPProtoIPv6, winIPPktInfo, winIPv6PktInfo)
	}
	if winInPktInfoSize != 8 || winIn6PktInfoSize != 20 {
		t.Fatalf("sizeof IN_PKTINFO %d, IN6_PKTINFO %d, want 8 and 20", winInPktInfoSize, winIn6PktInfoSize)
	}
	// WSA_CMSG_SPACE(sizeof(IN6_PKTINFO)) on 64-bit Windows: 16 + 24.
	if n := len(winCmsg(8, winIPProtoIPv6, winIPv6PktInfo, in6PktInfo("ff02::1", 1))); n != 40 || n > winOOBSize {
		t.Fatalf("IPV6_PKTINFO takes %d bytes, want 40 (within winOOBSize %d)", n, winOOBSize)
	}
	// Windows asks for them in its receive options, required.
	for v6, id := range map[bool]optID{false: optPktInfo4, true: optPktInfo6} {
		opts, err := options("windows", ShareAnyUser, v6)
		if err != nil || !slices.Contains(opts, sockopt{id, 1, true}) {
			t.Errorf("windows v6=%v options %v (%v) lack %s=1 required", v6, opts, err, id)
		}
	}
}

// Windows' IP_PKTINFO and IPV6_PKTINFO, laid out for 64-bit and 32-bit
// Windows, give the destination and the interface; other messages are
// skipped; malformed ones are reported and never read past.
func TestParseWinControl(t *testing.T) {
	for _, word := range []int{8, 4} {
		v4 := winCmsg(word, winIPProtoIP, winIPPktInfo, inPktInfo("239.1.2.3", 7))
		v6 := winCmsg(word, winIPProtoIPv6, winIPv6PktInfo, in6PktInfo("ff15::1:2", 0x01020304))
		mapped := winCmsg(word, winIPProtoIPv6, winIPv6PktInfo, in6PktInfo("::ffff:239.9.9.9", 3))
		other := winCmsg(word, winIPProtoIP, 21, []byte{64, 0, 0, 0}) // IP_HOPLIMIT
		wrongLevel := winCmsg(word, 0xffff, winIPPktInfo, inPktInfo("10.0.0.1", 1))
		for _, c := range []struct {
			name string
			b    []byte
			want pktInfo
			err  error
		}{
			{"empty", nil, pktInfo{}, nil},
			{"IP_PKTINFO", v4, pktInfo{netip.MustParseAddr("239.1.2.3"), 7}, nil},
			{"IPV6_PKTINFO", v6, pktInfo{netip.MustParseAddr("ff15::1:2"), 0x01020304}, nil},
			{"mapped", mapped, pktInfo{netip.MustParseAddr("239.9.9.9"), 3}, nil},
			{"after another", slices.Concat(other, wrongLevel, v4), pktInfo{netip.MustParseAddr("239.1.2.3"), 7}, nil},
			{"before another", slices.Concat(v6, other), pktInfo{netip.MustParseAddr("ff15::1:2"), 0x01020304}, nil},
			{"short header", v4[:word+7], pktInfo{}, errBadControl},
			{"length past the buffer", v4[:len(v4)-1], pktInfo{}, errBadControl},
			{"kept before a bad one", slices.Concat(v4, v6[:word]), pktInfo{netip.MustParseAddr("239.1.2.3"), 7}, errBadControl},
			{"short IN_PKTINFO", winCmsg(word, winIPProtoIP, winIPPktInfo, make([]byte, 7)), pktInfo{}, errBadControl},
			{"short IN6_PKTINFO", winCmsg(word, winIPProtoIPv6, winIPv6PktInfo, make([]byte, 19)), pktInfo{}, errBadControl},
			{"length below the header", func() []byte {
				b := slices.Clone(v4)
				b[0] = byte(word + 7)
				return b
			}(), pktInfo{}, errBadControl},
		} {
			var m pktInfo
			err := parseWinControl(c.b, word, &m)
			if !errors.Is(err, c.err) || (c.err == nil && err != nil) || m != c.want {
				t.Errorf("word %d, %s: %+v, %v; want %+v, %v", word, c.name, m, err, c.want, c.err)
			}
		}
	}
}

// parseWinControl never panics nor reads past its input, whatever Windows
// (or a corrupted buffer) leaves there.
func FuzzParseWinControl(f *testing.F) {
	f.Add(winCmsg(8, winIPProtoIP, winIPPktInfo, inPktInfo("239.1.2.3", 7)), true)
	f.Add(winCmsg(4, winIPProtoIPv6, winIPv6PktInfo, in6PktInfo("ff15::1", 2)), false)
	f.Fuzz(func(t *testing.T, b []byte, wide bool) {
		word := 4
		if wide {
			word = 8
		}
		var m pktInfo
		if err := parseWinControl(b, word, &m); err != nil && !errors.Is(err, errBadControl) {
			t.Fatal(err)
		}
		if m.dst.IsValid() && !m.dst.Is4() && !m.dst.Is6() {
			t.Fatalf("destination %v", m.dst)
		}
	})
}
