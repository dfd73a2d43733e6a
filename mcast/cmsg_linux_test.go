package mcast

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// cmsg builds one control message as the kernel lays it out.
func cmsg(level, typ int32, data []byte) []byte {
	b := make([]byte, unix.CmsgSpace(len(data)))
	l := unix.CmsgLen(len(data))
	if cmsgLenSize == 8 {
		binary.NativeEndian.PutUint64(b, uint64(l))
	} else {
		binary.NativeEndian.PutUint32(b, uint32(l))
	}
	binary.NativeEndian.PutUint32(b[cmsgLenSize:], uint32(level))
	binary.NativeEndian.PutUint32(b[cmsgLenSize+4:], uint32(typ))
	copy(b[unix.CmsgLen(0):], data)
	return b
}

func pktinfo4(ifindex uint32, dst [4]byte) []byte {
	d := make([]byte, 12)
	binary.NativeEndian.PutUint32(d, ifindex)
	copy(d[8:], dst[:])
	return cmsg(unix.IPPROTO_IP, unix.IP_PKTINFO, d)
}

func timestamp(sec, nsec int64) []byte {
	d := make([]byte, 16)
	binary.NativeEndian.PutUint64(d, uint64(sec))
	binary.NativeEndian.PutUint64(d[8:], uint64(nsec))
	return cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, d)
}

func ovfl(n uint32) []byte {
	d := make([]byte, 4)
	binary.NativeEndian.PutUint32(d, n)
	return cmsg(unix.SOL_SOCKET, unix.SO_RXQ_OVFL, d)
}

func TestParseControl(t *testing.T) {
	var all []byte
	all = append(all, pktinfo4(7, [4]byte{239, 1, 2, 3})...)
	all = append(all, timestamp(1700000000, 5)...)
	all = append(all, cmsg(unix.SOL_SOCKET, 99, []byte{1, 2, 3})...) // unknown: skipped
	all = append(all, ovfl(42)...)
	all = append(all, cmsg(unix.IPPROTO_IP, unix.IP_TTL, []byte{7, 0, 0, 0})...)
	var m rxMeta
	if err := parseControl(all, &m); err != nil {
		t.Fatal(err)
	}
	if m.dst != netip.MustParseAddr("239.1.2.3") || m.ifindex != 7 || !m.hasTime ||
		!m.time.Equal(time.Unix(1700000000, 5)) || !m.hasOvfl || m.ovfl != 42 || !m.hasTTL || m.ttl != 7 {
		t.Fatalf("parsed %+v", m)
	}
	d6 := make([]byte, 20)
	copy(d6, netip.MustParseAddr("ff15::1").AsSlice())
	binary.NativeEndian.PutUint32(d6[16:], 3)
	m = rxMeta{}
	hop := make([]byte, 4)
	binary.NativeEndian.PutUint32(hop, 64)
	if err := parseControl(append(cmsg(unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, d6), cmsg(unix.IPPROTO_IPV6, unix.IPV6_HOPLIMIT, hop)...), &m); err != nil ||
		m.dst != netip.MustParseAddr("ff15::1") || m.ifindex != 3 || m.ttl != 64 {
		t.Fatalf("IPv6: %+v, %v", m, err)
	}
	for name, bad := range map[string][]byte{
		"short header":     all[:5],
		"length too big":   append(pktinfo4(1, [4]byte{})[:unix.CmsgLen(12)-1:unix.CmsgLen(12)-1], 0)[:unix.CmsgLen(12)-1],
		"short pktinfo":    cmsg(unix.IPPROTO_IP, unix.IP_PKTINFO, make([]byte, 8)),
		"short timestamp":  cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, make([]byte, 8)),
		"short rxq_ovfl":   cmsg(unix.SOL_SOCKET, unix.SO_RXQ_OVFL, make([]byte, 2)),
		"short ttl":        cmsg(unix.IPPROTO_IP, unix.IP_TTL, make([]byte, 1)),
		"length under hdr": func() []byte { b := ovfl(1); b[0] = 3; return b }(),
	} {
		if err := parseControl(bad, &rxMeta{}); err != errBadControl {
			t.Errorf("%s: %v, want errBadControl", name, err)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { parseControl(all, &m) }); allocs != 0 {
		t.Errorf("parseControl allocates %v times", allocs)
	}
}

// FuzzParseControl: any bytes as control messages never panic or read
// past the slice, and parsing composes: a valid IP_PKTINFO in front of b
// changes nothing that b says, and stands where b says nothing of it.
func FuzzParseControl(f *testing.F) {
	f.Add(pktinfo4(1, [4]byte{239, 0, 0, 1}))
	f.Add(append(timestamp(1, 2), ovfl(3)...))
	f.Add([]byte{})
	f.Add(make([]byte, unix.SizeofCmsghdr))
	f.Fuzz(func(t *testing.T, b []byte) {
		var alone, both rxMeta
		errAlone := parseControl(b, &alone)
		errBoth := parseControl(append(pktinfo4(9, [4]byte{239, 9, 9, 9}), b...), &both)
		if errAlone != errBoth {
			t.Fatalf("error %v alone, %v behind a valid message", errAlone, errBoth)
		}
		want := alone
		if !alone.dst.IsValid() {
			want.dst, want.ifindex = netip.AddrFrom4([4]byte{239, 9, 9, 9}), 9
		}
		if both != want {
			t.Fatalf("%x: alone %+v, behind a valid pktinfo %+v", b, alone, both)
		}
	})
}
