package cli_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sharecast/sharecast/cmd/sharecast/internal/cli"
)

// The fixtures in testdata/proc are /proc/net files of a little-endian
// Linux (x86-64), where the kernel prints each 32-bit word of an address
// as a host-order integer.
func requireLittleEndian(t *testing.T) {
	t.Helper()
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the fixtures are of a little-endian kernel")
	}
}

func fixture(t *testing.T, name string) *bytes.Reader {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "proc", name))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}

func TestParseProcUDP(t *testing.T) {
	requireLittleEndian(t)
	es, err := cli.ParseProcUDP(fixture(t, "udp"))
	if err != nil {
		t.Fatal(err)
	}
	want := []cli.UDPEntry{
		{Local: netip.MustParseAddrPort("127.0.0.1:5000"), Remote: netip.MustParseAddrPort("0.0.0.0:0"), State: 7, RxQueue: 0x340, Inode: 82263},
		{Local: netip.MustParseAddrPort("0.0.0.0:5000"), Remote: netip.MustParseAddrPort("0.0.0.0:0"), State: 7, Inode: 82262},
		{Local: netip.MustParseAddrPort("0.0.0.0:5000"), Remote: netip.MustParseAddrPort("0.0.0.0:0"), State: 7, RxQueue: 0x1a00, UID: 65534, Inode: 82270, Drops: 17},
		{Local: netip.MustParseAddrPort("127.0.0.1:55463"), Remote: netip.MustParseAddrPort("127.0.0.2:53"), State: 1, UID: 1000, Inode: 90001},
	}
	if !slices.Equal(es, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", es, want)
	}

	es, err = cli.ParseProcUDP(fixture(t, "udp6"))
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].Local != netip.MustParseAddrPort("[::]:5000") || es[0].Inode != 82264 ||
		es[1].Local != netip.MustParseAddrPort("[fe80::200:ff:c0a8:1]:5353") || es[1].UID != 104 || es[1].Drops != 3 {
		t.Fatalf("udp6: %+v", es)
	}
}

func TestParseProcUDPErrors(t *testing.T) {
	header := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
	for _, line := range []string{
		" 1: 0100007F:1388 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 82263 2",            // short
		" 1: 0100007F 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 82263 2 0000 0",          // no port
		" 1: 0100007G:1388 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 82263 2 0000 0",     // bad hex
		" 1: 0100007F:1388 00000000:0000 07 00000000:00000000 00:00000000 00000000     x        0 82263 2 0000 0",     // bad uid
		" 1: 0100007F:13881 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 82263 2 0000 0",    // port too big
		" 1: 0100007F00:1388 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 82263 2 0000 0",   // odd width
		" 1: 0100007F:1388 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 82263 2 0000 drops", // bad drops
	} {
		if _, err := cli.ParseProcUDP(strings.NewReader(header + line + "\n")); err == nil {
			t.Errorf("no error for %q", line)
		}
	}
}

func TestParseProcIGMP(t *testing.T) {
	requireLittleEndian(t)
	ms, err := cli.ParseProcIGMP(fixture(t, "igmp"))
	if err != nil {
		t.Fatal(err)
	}
	want := []cli.Membership{
		{IfIndex: 1, IfName: "lo", Group: netip.MustParseAddr("232.1.1.1"), Users: 1},
		{IfIndex: 1, IfName: "lo", Group: netip.MustParseAddr("239.1.2.3"), Users: 3},
		{IfIndex: 1, IfName: "lo", Group: netip.MustParseAddr("224.0.0.1"), Users: 1},
		{IfIndex: 2, IfName: "eth0", Group: netip.MustParseAddr("224.0.0.1"), Users: 1},
	}
	if !slices.EqualFunc(ms, want, equalMembership) {
		t.Fatalf("got\n%+v\nwant\n%+v", ms, want)
	}
	if _, err := cli.ParseProcIGMP(strings.NewReader("header\n\t\t\t\t010000E0     1 0:00000000\t\t0\n")); err == nil {
		t.Error("no error for a group before any interface")
	}
}

func TestParseProcIGMP6(t *testing.T) {
	ms, err := cli.ParseProcIGMP6(fixture(t, "igmp6"))
	if err != nil {
		t.Fatal(err)
	}
	want := []cli.Membership{
		{IfIndex: 1, IfName: "lo", Group: netip.MustParseAddr("ff3e::1"), Users: 1},
		{IfIndex: 1, IfName: "lo", Group: netip.MustParseAddr("ff15::1"), Users: 1},
		{IfIndex: 1, IfName: "lo", Group: netip.MustParseAddr("ff02::1"), Users: 1},
		{IfIndex: 2, IfName: "eth0", Group: netip.MustParseAddr("ff02::1:ffa8:c001"), Users: 1},
	}
	if !slices.EqualFunc(ms, want, equalMembership) {
		t.Fatalf("got\n%+v\nwant\n%+v", ms, want)
	}
	if _, err := cli.ParseProcIGMP6(strings.NewReader("1 lo ff02zz 1 0 0\n")); err == nil {
		t.Error("no error for a bad group")
	}
}

func TestParseProcMcfilter(t *testing.T) {
	fs, err := cli.ParseProcMcfilter(fixture(t, "mcfilter"))
	if err != nil {
		t.Fatal(err)
	}
	fs6, err := cli.ParseProcMcfilter(fixture(t, "mcfilter6"))
	if err != nil {
		t.Fatal(err)
	}
	want := []cli.SourceFilter{
		{IfIndex: 1, Group: netip.MustParseAddr("232.1.1.1"), Source: netip.MustParseAddr("10.0.0.1"), Include: 1},
		{IfIndex: 1, Group: netip.MustParseAddr("239.1.2.3"), Source: netip.MustParseAddr("10.0.0.99"), Exclude: 1},
		{IfIndex: 1, Group: netip.MustParseAddr("ff3e::1"), Source: netip.MustParseAddr("2001:db8::1"), Include: 1},
	}
	if got := append(fs, fs6...); !slices.Equal(got, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", got, want)
	}
	ms := []cli.Membership{
		{IfIndex: 1, IfName: "lo", Group: netip.MustParseAddr("232.1.1.1")},
		{IfIndex: 1, IfName: "lo", Group: netip.MustParseAddr("239.1.2.3")},
		{IfIndex: 2, IfName: "eth0", Group: netip.MustParseAddr("232.1.1.1")},
	}
	cli.AddFilters(ms, want)
	if !slices.Equal(ms[0].Include, []netip.Addr{netip.MustParseAddr("10.0.0.1")}) || len(ms[0].Exclude) != 0 ||
		!slices.Equal(ms[1].Exclude, []netip.Addr{netip.MustParseAddr("10.0.0.99")}) || ms[2].Include != nil {
		t.Fatalf("filters: %+v", ms)
	}
}

func TestParseSocketLink(t *testing.T) {
	for _, c := range []struct {
		in    string
		inode uint64
		ok    bool
	}{
		{"socket:[82262]", 82262, true},
		{"socket:[]", 0, false},
		{"socket:[12", 0, false},
		{"pipe:[82214]", 0, false},
		{"/dev/null", 0, false},
	} {
		if inode, ok := cli.ParseSocketLink(c.in); inode != c.inode || ok != c.ok {
			t.Errorf("%q: %d, %v", c.in, inode, ok)
		}
	}
}

func equalMembership(a, b cli.Membership) bool {
	return a.IfIndex == b.IfIndex && a.IfName == b.IfName && a.Group == b.Group && a.Users == b.Users
}

// The report flags the socket of another user on a shared port, and only
// on a port that sockets of several users share.
func TestPortsReportFlagsOtherUser(t *testing.T) {
	requireLittleEndian(t)
	udp4, err := cli.ParseProcUDP(fixture(t, "udp"))
	if err != nil {
		t.Fatal(err)
	}
	procs := map[uint64][]cli.ProcInfo{
		82262: {{PID: 100, Program: "feed"}},
		82263: {{PID: 100, Program: "feed"}, {PID: 101, Program: "feed"}},
		82270: {{PID: 200, Program: "intruder"}},
	}
	groups, err := cli.ParseProcIGMP(fixture(t, "igmp"))
	if err != nil {
		t.Fatal(err)
	}
	tables := cli.NewHostTables(udp4, nil, procs, groups)
	for _, me := range []int{0, 1000} {
		r := cli.BuildPortsReport(tables, []uint16{5000, 6000}, me)
		if len(r.Ports) != 2 || r.Ports[0].Port != 5000 || r.Ports[1].Port != 6000 || len(r.Ports[1].Sockets) != 0 {
			t.Fatalf("ports: %+v", r.Ports)
		}
		p := r.Ports[0]
		if len(p.Sockets) != 3 || !slices.Equal(p.UIDs, []int{0, 65534}) || !strings.Contains(p.Warning, "65534") {
			t.Fatalf("port 5000: %+v", p)
		}
		for _, s := range p.Sockets {
			if s.OtherUser != (s.UID == 65534) {
				t.Errorf("me=%d: socket %+v flagged %v", me, s, s.OtherUser)
			}
		}
		if s := p.Sockets[1]; s.Inode != 82263 || len(s.Procs) != 2 || s.Procs[1].PID != 101 {
			t.Errorf("socket of two processes: %+v", s)
		}
	}
	// Run by the other user, the report flags root's sockets instead.
	r := cli.BuildPortsReport(tables, []uint16{5000}, 65534)
	for _, s := range r.Ports[0].Sockets {
		if s.OtherUser != (s.UID == 0) {
			t.Errorf("me=65534: socket %+v flagged %v", s, s.OtherUser)
		}
	}
	// A port of one user is not flagged; no port asked means every port.
	r = cli.BuildPortsReport(tables, nil, 0)
	if len(r.Ports) != 2 || r.Ports[1].Port != 55463 || r.Ports[1].Warning != "" || r.Ports[1].Sockets[0].OtherUser {
		t.Errorf("all ports: %+v", r.Ports)
	}
	var out bytes.Buffer
	if err := cli.WritePortsText(&out, cli.BuildPortsReport(tables, []uint16{5000}, 0)); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"UDP port 5000: 3 sockets, 2 users", "100,101", "intruder", "<- another user", "warning: port 5000 is shared with another user", "239.1.2.3"} {
		if !strings.Contains(text, want) {
			t.Errorf("text output lacks %q:\n%s", want, text)
		}
	}
}

// FuzzProcParsers checks that the /proc parsers never panic on any text,
// and that what they return is well formed.
func FuzzProcParsers(f *testing.F) {
	for _, name := range []string{"udp", "udp6", "igmp", "igmp6", "mcfilter", "mcfilter6"} {
		b, err := os.ReadFile(filepath.Join("testdata", "proc", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("h\n 1: 0100007F:1388 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 1 2 0 0\n")
	f.Fuzz(func(t *testing.T, text string) {
		if es, err := cli.ParseProcUDP(strings.NewReader(text)); err == nil {
			for _, e := range es {
				if !e.Local.IsValid() || !e.Remote.IsValid() {
					t.Fatalf("invalid address in %+v", e)
				}
			}
		}
		for _, parse := range []func(r *strings.Reader) ([]cli.Membership, error){
			func(r *strings.Reader) ([]cli.Membership, error) { return cli.ParseProcIGMP(r) },
			func(r *strings.Reader) ([]cli.Membership, error) { return cli.ParseProcIGMP6(r) },
		} {
			if ms, err := parse(strings.NewReader(text)); err == nil {
				for _, m := range ms {
					if !m.Group.IsValid() {
						t.Fatalf("invalid group in %+v", m)
					}
				}
			}
		}
		if fs, err := cli.ParseProcMcfilter(strings.NewReader(text)); err == nil {
			for _, sf := range fs {
				if !sf.Group.IsValid() || !sf.Source.IsValid() {
					t.Fatalf("invalid address in %+v", sf)
				}
			}
		}
		cli.ParseSocketLink(text)
	})
}
