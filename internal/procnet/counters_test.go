package procnet_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/sharecast/sharecast/internal/procnet"
)

func TestParseCountersFixtures(t *testing.T) {
	for _, c := range []struct{ file, group, name string }{
		{"snmp", "Udp", "RcvbufErrors"},
		{"snmp", "Udp", "NoPorts"},
		{"snmp", "Tcp", "MaxConn"},
		{"netstat", "TcpExt", "IPReversePathFilter"},
	} {
		cs, err := procnet.ParseCounters(bytes.NewReader(fixture(t, c.file)), c.file)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := procnet.Lookup(cs, c.group, c.name); !ok {
			t.Errorf("%s: no %s %s in %d counters", c.file, c.group, c.name, len(cs))
		}
	}
	cs, err := procnet.ParseCounters(strings.NewReader("Tcp: RtoMin MaxConn\nTcp: 200 -1\n\nUdp: InDatagrams NoPorts\nUdp: 7 3 99\n"), "snmp")
	if err != nil {
		t.Fatal(err)
	}
	want := []procnet.Counter{{"Tcp", "RtoMin", 200}, {"Tcp", "MaxConn", -1}, {"Udp", "InDatagrams", 7}, {"Udp", "NoPorts", 3}}
	if len(cs) != len(want) {
		t.Fatalf("got %+v, want %+v", cs, want)
	}
	for i := range want {
		if cs[i] != want[i] {
			t.Fatalf("got %+v, want %+v", cs, want)
		}
	}
}

func TestParseCountersMalformed(t *testing.T) {
	for _, c := range []struct {
		text string
		line int
	}{
		{"Udp InDatagrams\nUdp: 1\n", 1},                  // no prefix
		{"Udp: InDatagrams\nTcp: 1\n", 2},                 // values of another group
		{"Udp: InDatagrams NoPorts\nUdp: 1\n", 2},         // too few values
		{"Udp: InDatagrams\nUdp: x\n", 2},                 // not a number
		{"Udp: InDatagrams\nUdp: 1\nIp: Forwarding\n", 3}, // names without values
		{":\n", 1},
	} {
		cs, err := procnet.ParseCounters(strings.NewReader(c.text), "snmp")
		var le *procnet.LineError
		if cs != nil || !errors.As(err, &le) || !errors.Is(err, procnet.ErrMalformed) || le.Line != c.line || le.File != "snmp" {
			t.Errorf("%q: %+v, %v; want a LineError for line %d", c.text, cs, err, c.line)
		}
	}
}

func TestParseSysctl(t *testing.T) {
	if v, err := procnet.ParseSysctl(strings.NewReader("212992\n"), "net.core.rmem_max"); v != 212992 || err != nil {
		t.Fatalf("got %d, %v", v, err)
	}
	for _, text := range []string{"", "\n", "1 2\n", "4096 87380 6291456\n", "1\n2\n", "x\n"} {
		if _, err := procnet.ParseSysctl(strings.NewReader(text), "net.core.rmem_max"); !errors.Is(err, procnet.ErrMalformed) {
			t.Errorf("%q: %v, want ErrMalformed", text, err)
		}
	}
}
