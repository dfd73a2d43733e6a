package procnet_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sharecast/sharecast/internal/procnet"
)

// The fuzz targets check that a parser never panics, that an error is a
// LineError naming a line of the text, and that what it returns is well
// formed: addresses of the family, and records that print back (as the
// kernel prints them) to a text that parses to the same records.

// seed adds each fixture for both families, and the seeds given.
func seed(f *testing.F, files []string, more ...string) {
	for _, name := range files {
		for _, v6 := range []bool{false, true} {
			f.Add(string(fixture(f, name)), v6)
		}
	}
	for _, s := range more {
		f.Add(s, false)
		f.Add(s, true)
	}
}

func family(v6 bool) procnet.Family {
	if v6 {
		return procnet.IPv6
	}
	return procnet.IPv4
}

// checkErr fails unless err is nil or a LineError for a line of text.
func checkErr(t *testing.T, text string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var le *procnet.LineError
	if !errors.As(err, &le) || !errors.Is(err, procnet.ErrMalformed) {
		t.Fatalf("error %v is not a LineError", err)
	}
	if le.Line < 1 || le.Line > strings.Count(text, "\n")+1 {
		t.Fatalf("error names line %d of a text of %d lines", le.Line, strings.Count(text, "\n")+1)
	}
}

// checkAddr fails unless a is an address of family f.
func checkAddr(t *testing.T, a netip.Addr, f procnet.Family, rec any) {
	t.Helper()
	if !a.IsValid() || a.Is4() == (f == procnet.IPv6) {
		t.Fatalf("%s record with address %v: %+v", f, a, rec)
	}
}

// kernelWords prints a as the kernel's udp and igmp do: its 32-bit words as
// the CPU's integers (IPv4 addresses of udp6 mapped back).
func kernelWords(a netip.Addr, f procnet.Family) string {
	b := a.AsSlice()
	if f == procnet.IPv6 {
		b16 := a.As16()
		b = b16[:]
	}
	var s strings.Builder
	for i := 0; i < len(b); i += 4 {
		fmt.Fprintf(&s, "%08X", binary.NativeEndian.Uint32(b[i:]))
	}
	return s.String()
}

// checkPrinted fails unless parse reads printed, the records printed back,
// as want.
func checkPrinted[T comparable](t *testing.T, printed string, want []T, parse func(io.Reader, procnet.Family) ([]T, error), f procnet.Family) {
	t.Helper()
	got, err := parse(strings.NewReader(printed), f)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("printed back:\n%s\nparsed as %+v, %v; want %+v", printed, got, err, want)
	}
}

func FuzzParseUDP(f *testing.F) {
	seed(f, []string{"udp", "udp6"},
		"h\n 1: 0100007F:1388 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 1 2 0 0\n")
	f.Fuzz(func(t *testing.T, text string, v6 bool) {
		fam := family(v6)
		ss, err := procnet.ParseUDP(strings.NewReader(text), fam)
		checkErr(t, text, err)
		var out strings.Builder
		out.WriteString("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n")
		for i, s := range ss {
			if !v6 {
				checkAddr(t, s.Local.Addr(), fam, s)
				checkAddr(t, s.Remote.Addr(), fam, s)
			} else if !s.Local.IsValid() || !s.Remote.IsValid() {
				t.Fatalf("invalid address: %+v", s)
			}
			fmt.Fprintf(&out, "%5d: %s:%04X %s:%04X %02X %08X:%08X 00:00000000 00000000 %5d %8d %d 2 0000000000000000 %d\n",
				i, kernelWords(s.Local.Addr(), fam), s.Local.Port(), kernelWords(s.Remote.Addr(), fam), s.Remote.Port(),
				s.State, s.TxQueue, s.RxQueue, s.UID, 0, s.Inode, s.Drops)
		}
		checkPrinted(t, out.String(), ss, procnet.ParseUDP, fam)
	})
}

func FuzzParseIGMP(f *testing.F) {
	seed(f, []string{"igmp", "igmp6"},
		"header\n\t\t\t\t010000E0     1 0:00000000\t\t0\n",
		"Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter\n12\tvethabcdef12: 1 V3\n\t\t\t\t010000E0     1 0:00000000\t\t0\n")
	f.Fuzz(func(t *testing.T, text string, v6 bool) {
		fam := family(v6)
		ms, err := procnet.ParseIGMP(strings.NewReader(text), fam)
		checkErr(t, text, err)
		var out strings.Builder
		if !v6 {
			out.WriteString("Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter\n")
		}
		var last procnet.Membership
		for _, m := range ms {
			checkAddr(t, m.Group, fam, m)
			if m.IfIndex < 1 || m.IfName == "" {
				t.Fatalf("no interface: %+v", m)
			}
			if (m.Version == 0) != v6 || m.Version > 3 {
				t.Fatalf("version %d in %s: %+v", m.Version, fam, m)
			}
			if v6 {
				fmt.Fprintf(&out, "%-4d %-15s %x %5d %08X %d\n", m.IfIndex, m.IfName, m.Group.AsSlice(), m.Users, 4, 0)
				continue
			}
			// A new interface line wherever the interface or its querier
			// version changes, as two lines of the input may say.
			if m.IfIndex != last.IfIndex || m.IfName != last.IfName || m.Version != last.Version {
				fmt.Fprintf(&out, "%d\t%-10s: %5d %7s\n", m.IfIndex, m.IfName, 1, fmt.Sprintf("V%d", m.Version))
				last = m
			}
			fmt.Fprintf(&out, "\t\t\t\t%s %5d %d:%08X\t\t%d\n", kernelWords(m.Group, fam), m.Users, 0, 0, 0)
		}
		checkPrinted(t, out.String(), ms, procnet.ParseIGMP, fam)
	})
}

func FuzzParseMcfilter(f *testing.F) {
	seed(f, []string{"mcfilter", "mcfilter6"})
	f.Fuzz(func(t *testing.T, text string, v6 bool) {
		fam := family(v6)
		fs, err := procnet.ParseMcfilter(strings.NewReader(text), fam)
		checkErr(t, text, err)
		var out strings.Builder
		out.WriteString("Idx Device        MCA        SRC    INC    EXC\n")
		for _, sf := range fs {
			checkAddr(t, sf.Group, fam, sf)
			checkAddr(t, sf.Source, fam, sf)
			if sf.IfIndex < 1 || sf.IfName == "" {
				t.Fatalf("no interface: %+v", sf)
			}
			format := "%3d %6s 0x%x 0x%x %6d %6d\n"
			if v6 {
				format = "%3d %6s %x %x %6d %6d\n"
			}
			fmt.Fprintf(&out, format, sf.IfIndex, sf.IfName, sf.Group.AsSlice(), sf.Source.AsSlice(), sf.Include, sf.Exclude)
		}
		checkPrinted(t, out.String(), fs, procnet.ParseMcfilter, fam)
	})
}

func FuzzSocketInode(f *testing.F) {
	for _, s := range []string{"socket:[82262]", "socket:[]", "pipe:[82214]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		inode, ok := procnet.SocketInode(target)
		if ok && target != fmt.Sprintf("socket:[%d]", inode) && !strings.HasPrefix(target, "socket:[0") {
			t.Fatalf("%q read as inode %d", target, inode)
		}
		if !ok && inode != 0 {
			t.Fatalf("%q: inode %d without ok", target, inode)
		}
	})
}

func FuzzParseCounters(f *testing.F) {
	for _, name := range []string{"snmp", "netstat"} {
		f.Add(string(fixture(f, name)))
	}
	f.Add("Udp: InDatagrams NoPorts\nUdp: 1 -2\n")
	f.Add("Udp: A\nTcp: 1\n")
	f.Fuzz(func(t *testing.T, text string) {
		cs, err := procnet.ParseCounters(strings.NewReader(text), "snmp")
		checkErr(t, text, err)
		// Print back one pair of lines per counter.
		var out strings.Builder
		for _, c := range cs {
			if c.Group == "" || c.Name == "" || strings.ContainsAny(c.Group+c.Name, " \t\n") {
				t.Fatalf("counter without a name: %+v", c)
			}
			fmt.Fprintf(&out, "%s: %s\n%s: %d\n", c.Group, c.Name, c.Group, c.Value)
		}
		checkPrinted(t, out.String(), cs, func(r io.Reader, _ procnet.Family) ([]procnet.Counter, error) {
			return procnet.ParseCounters(r, "snmp")
		}, procnet.IPv4)
	})
}

func FuzzParseSysctl(f *testing.F) {
	for _, s := range []string{"1\n", "-1", " 212992 \n\n", "1 2\n", "x\n", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		v, err := procnet.ParseSysctl(strings.NewReader(text), "net.core.rmem_max")
		if err != nil {
			if !errors.Is(err, procnet.ErrMalformed) {
				t.Fatalf("error %v is not a LineError", err)
			}
			return
		}
		if strings.TrimSpace(text) != strconv.FormatInt(v, 10) && !strings.HasPrefix(strings.TrimLeft(strings.TrimSpace(text), "+-"), "0") && !strings.HasPrefix(strings.TrimSpace(text), "+") {
			t.Fatalf("%q read as %d", text, v)
		}
	})
}
