package procnet_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sharecast/sharecast/internal/procnet"
)

// The fixtures in testdata are /proc/net files of a little-endian Linux
// (x86-64), where the kernel prints each 32-bit word of an address in udp,
// udp6 and igmp as the CPU's integer.
func requireLittleEndian(t *testing.T) {
	t.Helper()
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the fixtures are of a little-endian kernel")
	}
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseUDP(t *testing.T) {
	requireLittleEndian(t)
	ss, err := procnet.ParseUDP(bytes.NewReader(fixture(t, "udp")), procnet.IPv4)
	if err != nil {
		t.Fatal(err)
	}
	any4 := netip.MustParseAddrPort("0.0.0.0:0")
	want := []procnet.UDPSocket{
		{Local: netip.MustParseAddrPort("127.0.0.1:5000"), Remote: any4, State: 7, RxQueue: 0x340, Inode: 82263},
		{Local: netip.MustParseAddrPort("0.0.0.0:5000"), Remote: any4, State: 7, Inode: 82262},
		{Local: netip.MustParseAddrPort("0.0.0.0:5000"), Remote: any4, State: 7, RxQueue: 0x1a00, UID: 65534, Inode: 82270, Drops: 17},
		{Local: netip.MustParseAddrPort("127.0.0.1:55463"), Remote: netip.MustParseAddrPort("127.0.0.2:53"), State: 1, UID: 1000, Inode: 90001},
	}
	if !slices.Equal(ss, want) {
		t.Fatalf("udp: got\n%+v\nwant\n%+v", ss, want)
	}

	ss, err = procnet.ParseUDP(bytes.NewReader(fixture(t, "udp6")), procnet.IPv6)
	if err != nil {
		t.Fatal(err)
	}
	any6 := netip.MustParseAddrPort("[::]:0")
	want = []procnet.UDPSocket{
		{Local: netip.MustParseAddrPort("[::]:5000"), Remote: any6, State: 7, Inode: 82264},
		{Local: netip.MustParseAddrPort("[fe80::200:ff:c0a8:1]:5353"), Remote: any6, State: 7, UID: 104, Inode: 1234, Drops: 3},
	}
	if !slices.Equal(ss, want) {
		t.Fatalf("udp6: got\n%+v\nwant\n%+v", ss, want)
	}
}

// A socket of the IPv6 family bound to a v4-mapped address reads as the
// IPv4 address.
func TestParseUDP6Unmaps(t *testing.T) {
	requireLittleEndian(t)
	const text = "header\n 1: 0000000000000000FFFF00000100007F:1388 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 7 2 0 0\n"
	ss, err := procnet.ParseUDP(strings.NewReader(text), procnet.IPv6)
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 1 || ss[0].Local != netip.MustParseAddrPort("127.0.0.1:5000") {
		t.Fatalf("got %+v, want 127.0.0.1:5000", ss)
	}
}

// Every malformed line is an error that names it, with no records.
func TestParseMalformed(t *testing.T) {
	const (
		udpHeader = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
		udpGood   = " 1: 0100007F:1388 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 82263 2 0000 0\n"
		v6Zero    = "00000000000000000000000000000000"
		igmpHead  = "Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter\n1\tlo        :     1      V3\n"
		mcfHead   = "Idx Device        MCA        SRC    INC    EXC\n"
	)
	type parser func(text string) (int, error)
	udp := func(f procnet.Family) parser {
		return func(text string) (int, error) {
			ss, err := procnet.ParseUDP(strings.NewReader(text), f)
			return len(ss), err
		}
	}
	igmp := func(f procnet.Family) parser {
		return func(text string) (int, error) {
			ms, err := procnet.ParseIGMP(strings.NewReader(text), f)
			return len(ms), err
		}
	}
	mcf := func(f procnet.Family) parser {
		return func(text string) (int, error) {
			fs, err := procnet.ParseMcfilter(strings.NewReader(text), f)
			return len(fs), err
		}
	}
	for _, c := range []struct {
		name  string
		parse parser
		text  string
		line  int
	}{
		{"udp short", udp(procnet.IPv4), udpHeader + udpGood + " 1: 0100007F:1388 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 82263 2\n", 3},
		{"udp no port", udp(procnet.IPv4), udpHeader + " 1: 0100007F 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 82263 2 0000 0\n", 2},
		{"udp bad hex", udp(procnet.IPv4), udpHeader + " 1: 0100007G:1388 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 82263 2 0000 0\n", 2},
		{"udp bad uid", udp(procnet.IPv4), udpHeader + " 1: 0100007F:1388 00000000:0000 07 00000000:00000000 00:00000000 00000000     x        0 82263 2 0000 0\n", 2},
		{"udp port too big", udp(procnet.IPv4), udpHeader + " 1: 0100007F:13881 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 82263 2 0000 0\n", 2},
		{"udp odd width", udp(procnet.IPv4), udpHeader + " 1: 0100007F00:1388 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 82263 2 0000 0\n", 2},
		{"udp bad drops", udp(procnet.IPv4), udpHeader + udpGood + "\n" + " 1: 0100007F:1388 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 82263 2 0000 drops\n", 4},
		{"udp no queue colon", udp(procnet.IPv4), udpHeader + " 1: 0100007F:1388 00000000:0000 07 0000000000000000 00:00000000 00000000     0        0 82263 2 0000 0\n", 2},
		{"udp6 line in udp", udp(procnet.IPv4), udpHeader + " 1: " + v6Zero + ":1388 " + v6Zero + ":0000 07 00000000:00000000 00:00000000 00000000 0 0 1 2 0 0\n", 2},
		{"udp line in udp6", udp(procnet.IPv6), udpHeader + udpGood, 2},
		{"igmp group first", igmp(procnet.IPv4), "header\n\t\t\t\t010000E0     1 0:00000000\t\t0\n", 2},
		{"igmp bad group", igmp(procnet.IPv4), igmpHead + "\t\t\t\t010000E     1 0:00000000\t\t0\n", 3},
		{"igmp bad users", igmp(procnet.IPv4), igmpHead + "\t\t\t\t010000E0     -1 0:00000000\t\t0\n", 3},
		{"igmp bad index", igmp(procnet.IPv4), igmpHead + "x\teth0      :     1      V3\n", 3},
		{"igmp index 0", igmp(procnet.IPv4), igmpHead + "0\teth0      :     1      V3\n", 3},
		{"igmp bad querier", igmp(procnet.IPv4), igmpHead + "2\teth0      :     1      V4\n", 3},
		{"igmp no querier", igmp(procnet.IPv4), igmpHead + "2\teth0      :     1\n", 3},
		{"igmp no colon", igmp(procnet.IPv4), igmpHead + "2\teth0 1 V3\n", 3},
		{"igmp6 bad group", igmp(procnet.IPv6), "1 lo ff02zz 1 0 0\n", 1},
		{"igmp6 IPv4 group", igmp(procnet.IPv6), "1 lo e0000001 1 0 0\n", 1},
		{"igmp6 short", igmp(procnet.IPv6), "1 lo ff020000000000000000000000000001 1 0000000C 0\n\n3 lo\n", 3},
		{"mcfilter short", mcf(procnet.IPv4), mcfHead + "  1     lo 0xe8010101 0x0a000001      1\n", 2},
		{"mcfilter no 0x", mcf(procnet.IPv4), mcfHead + "  1     lo e8010101 0x0a000001      1      0\n", 2},
		{"mcfilter bad exclude", mcf(procnet.IPv4), mcfHead + "  1     lo 0xe8010101 0x0a000001      1      x\n", 2},
		{"mcfilter6 IPv4", mcf(procnet.IPv6), mcfHead + "  1     lo 0xe8010101 0x0a000001      1      0\n", 2},
		{"long line", udp(procnet.IPv4), udpHeader + udpGood + strings.Repeat("x", 70000) + "\n", 3},
	} {
		n, err := c.parse(c.text)
		var le *procnet.LineError
		if !errors.Is(err, procnet.ErrMalformed) || !errors.As(err, &le) || le.Line != c.line || n != 0 {
			t.Errorf("%s: %d records, %v; want none and a LineError for line %d", c.name, n, err, c.line)
		}
	}
}

func TestParseIGMP(t *testing.T) {
	requireLittleEndian(t)
	ms, err := procnet.ParseIGMP(bytes.NewReader(fixture(t, "igmp")), procnet.IPv4)
	if err != nil {
		t.Fatal(err)
	}
	want := []procnet.Membership{
		{IfIndex: 1, IfName: "lo", Group: netip.MustParseAddr("232.1.1.1"), Users: 1, Version: 3},
		{IfIndex: 1, IfName: "lo", Group: netip.MustParseAddr("239.1.2.3"), Users: 3, Version: 3},
		{IfIndex: 1, IfName: "lo", Group: netip.MustParseAddr("224.0.0.1"), Users: 1, Version: 3},
		{IfIndex: 2, IfName: "eth0", Group: netip.MustParseAddr("224.0.0.1"), Users: 1, Version: 3},
	}
	if !slices.Equal(ms, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", ms, want)
	}
	// A name of 10 characters or more runs into the colon.
	const long = "Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter\n12\tvethabcdef12: 1 V3\n\t\t\t\t010000E0     1 0:00000000\t\t0\n"
	ms, err = procnet.ParseIGMP(strings.NewReader(long), procnet.IPv4)
	if err != nil || len(ms) != 1 || ms[0].IfIndex != 12 || ms[0].IfName != "vethabcdef12" || ms[0].Version != 3 {
		t.Fatalf("long name: %+v, %v", ms, err)
	}
}

func TestParseIGMP6(t *testing.T) {
	ms, err := procnet.ParseIGMP(bytes.NewReader(fixture(t, "igmp6")), procnet.IPv6)
	if err != nil {
		t.Fatal(err)
	}
	want := []procnet.Membership{
		{IfIndex: 1, IfName: "lo", Group: netip.MustParseAddr("ff3e::1"), Users: 1},
		{IfIndex: 1, IfName: "lo", Group: netip.MustParseAddr("ff15::1"), Users: 1},
		{IfIndex: 1, IfName: "lo", Group: netip.MustParseAddr("ff02::1"), Users: 1},
		{IfIndex: 2, IfName: "eth0", Group: netip.MustParseAddr("ff02::1:ffa8:c001"), Users: 1},
	}
	if !slices.Equal(ms, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", ms, want)
	}
}

func TestParseMcfilter(t *testing.T) {
	fs, err := procnet.ParseMcfilter(bytes.NewReader(fixture(t, "mcfilter")), procnet.IPv4)
	if err != nil {
		t.Fatal(err)
	}
	want := []procnet.SourceFilter{
		{IfIndex: 1, IfName: "lo", Group: netip.MustParseAddr("232.1.1.1"), Source: netip.MustParseAddr("10.0.0.1"), Include: 1},
		{IfIndex: 1, IfName: "lo", Group: netip.MustParseAddr("239.1.2.3"), Source: netip.MustParseAddr("10.0.0.99"), Exclude: 1},
	}
	if !slices.Equal(fs, want) {
		t.Fatalf("mcfilter: got\n%+v\nwant\n%+v", fs, want)
	}
	fs, err = procnet.ParseMcfilter(bytes.NewReader(fixture(t, "mcfilter6")), procnet.IPv6)
	if err != nil {
		t.Fatal(err)
	}
	want = []procnet.SourceFilter{
		{IfIndex: 1, IfName: "lo", Group: netip.MustParseAddr("ff3e::1"), Source: netip.MustParseAddr("2001:db8::1"), Include: 1},
	}
	if !slices.Equal(fs, want) {
		t.Fatalf("mcfilter6: got\n%+v\nwant\n%+v", fs, want)
	}
}

func TestSocketInode(t *testing.T) {
	for _, c := range []struct {
		in    string
		inode uint64
		ok    bool
	}{
		{"socket:[82262]", 82262, true},
		{"socket:[]", 0, false},
		{"socket:[12", 0, false},
		{"socket:[-1]", 0, false},
		{"pipe:[82214]", 0, false},
		{"/dev/null", 0, false},
	} {
		if inode, ok := procnet.SocketInode(c.in); inode != c.inode || ok != c.ok {
			t.Errorf("%q: %d, %v", c.in, inode, ok)
		}
	}
}

func TestLineError(t *testing.T) {
	_, err := procnet.ParseIGMP(strings.NewReader("1 lo ff02zz 1 0 0\n"), procnet.IPv6)
	if err == nil || !strings.Contains(err.Error(), "igmp6 line 1") || !strings.Contains(err.Error(), "ff02zz") {
		t.Fatalf("error %v does not name the file, the line and its text", err)
	}
}
