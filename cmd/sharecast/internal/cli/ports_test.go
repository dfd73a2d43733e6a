package cli_test

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/sharecast/sharecast/cmd/sharecast/internal/cli"
	"github.com/sharecast/sharecast/internal/procnet"
)

// addFilters puts each source into the membership of its group and
// interface, in the list of its mode.
func TestAddFilters(t *testing.T) {
	fs := []procnet.SourceFilter{
		{IfIndex: 1, IfName: "lo", Group: netip.MustParseAddr("232.1.1.1"), Source: netip.MustParseAddr("10.0.0.1"), Include: 1},
		{IfIndex: 1, IfName: "lo", Group: netip.MustParseAddr("239.1.2.3"), Source: netip.MustParseAddr("10.0.0.99"), Exclude: 1},
		{IfIndex: 1, IfName: "lo", Group: netip.MustParseAddr("ff3e::1"), Source: netip.MustParseAddr("2001:db8::1"), Include: 1},
	}
	ms := []cli.Membership{
		{IfIndex: 1, IfName: "lo", Group: netip.MustParseAddr("232.1.1.1")},
		{IfIndex: 1, IfName: "lo", Group: netip.MustParseAddr("239.1.2.3")},
		{IfIndex: 2, IfName: "eth0", Group: netip.MustParseAddr("232.1.1.1")},
	}
	cli.AddFilters(ms, fs)
	if !slices.Equal(ms[0].Include, []netip.Addr{netip.MustParseAddr("10.0.0.1")}) || len(ms[0].Exclude) != 0 ||
		!slices.Equal(ms[1].Exclude, []netip.Addr{netip.MustParseAddr("10.0.0.99")}) || ms[2].Include != nil {
		t.Fatalf("filters: %+v", ms)
	}
}

// The report flags the socket of another user on a shared port, and only
// on a port that sockets of several users share.
func TestPortsReportFlagsOtherUser(t *testing.T) {
	any4 := netip.MustParseAddrPort("0.0.0.0:0")
	udp4 := []procnet.UDPSocket{ // as internal/procnet/testdata/udp
		{Local: netip.MustParseAddrPort("127.0.0.1:5000"), Remote: any4, State: 7, RxQueue: 0x340, Inode: 82263},
		{Local: netip.MustParseAddrPort("0.0.0.0:5000"), Remote: any4, State: 7, Inode: 82262},
		{Local: netip.MustParseAddrPort("0.0.0.0:5000"), Remote: any4, State: 7, RxQueue: 0x1a00, UID: 65534, Inode: 82270, Drops: 17},
		{Local: netip.MustParseAddrPort("127.0.0.1:55463"), Remote: netip.MustParseAddrPort("127.0.0.2:53"), State: 1, UID: 1000, Inode: 90001},
	}
	procs := map[uint64][]cli.ProcInfo{
		82262: {{PID: 100, Program: "feed"}},
		82263: {{PID: 100, Program: "feed"}, {PID: 101, Program: "feed"}},
		82270: {{PID: 200, Program: "intruder"}},
	}
	groups := []cli.Membership{ // as internal/procnet/testdata/igmp
		{IfIndex: 1, IfName: "lo", Group: netip.MustParseAddr("232.1.1.1"), Users: 1},
		{IfIndex: 1, IfName: "lo", Group: netip.MustParseAddr("239.1.2.3"), Users: 3},
		{IfIndex: 1, IfName: "lo", Group: netip.MustParseAddr("224.0.0.1"), Users: 1},
		{IfIndex: 2, IfName: "eth0", Group: netip.MustParseAddr("224.0.0.1"), Users: 1},
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
