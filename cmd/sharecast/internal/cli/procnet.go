package cli

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// The parsers of Linux's /proc/net tables. They are pure functions of the
// text, so that they are tested on fixture files on any OS.

// udpEntry is one line of /proc/net/udp or /proc/net/udp6.
type udpEntry struct {
	Local, Remote    netip.AddrPort
	State            int
	TxQueue, RxQueue int
	UID              int
	Inode            uint64
	Drops            uint64
}

// parseProcUDP parses /proc/net/udp or /proc/net/udp6 (the format is the
// same but for the address width).
func parseProcUDP(r io.Reader) ([]udpEntry, error) {
	var out []udpEntry
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		fs := strings.Fields(sc.Text())
		if line == 1 || len(fs) == 0 {
			continue // header
		}
		if len(fs) < 13 {
			return nil, fmt.Errorf("line %d: %d fields, want 13", line, len(fs))
		}
		var e udpEntry
		var err error
		if e.Local, err = parseKernelAddrPort(fs[1]); err != nil {
			return nil, fmt.Errorf("line %d: local address: %w", line, err)
		}
		if e.Remote, err = parseKernelAddrPort(fs[2]); err != nil {
			return nil, fmt.Errorf("line %d: remote address: %w", line, err)
		}
		st, err1 := strconv.ParseUint(fs[3], 16, 8)
		tx, rx, _ := strings.Cut(fs[4], ":")
		txq, err2 := strconv.ParseUint(tx, 16, 32)
		rxq, err3 := strconv.ParseUint(rx, 16, 32)
		uid, err4 := strconv.ParseUint(fs[7], 10, 32)
		inode, err5 := strconv.ParseUint(fs[9], 10, 64)
		drops, err6 := strconv.ParseUint(fs[12], 10, 64)
		for _, err := range []error{err1, err2, err3, err4, err5, err6} {
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
		}
		e.State, e.TxQueue, e.RxQueue, e.UID, e.Inode, e.Drops = int(st), int(txq), int(rxq), int(uid), inode, drops
		out = append(out, e)
	}
	return out, sc.Err()
}

// parseKernelAddrPort parses "0100007F:1388": the address as the kernel's
// 32-bit words, each printed as a host-order integer (so little-endian
// machines print each word's bytes reversed), and the port in hex.
func parseKernelAddrPort(s string) (netip.AddrPort, error) {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("%q: no port", s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: bad port", s)
	}
	a, err := parseKernelWords(h)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(a, uint16(port)), nil
}

// parseKernelWords parses 8 or 32 hex digits of 32-bit host-order words.
func parseKernelWords(h string) (netip.Addr, error) {
	if len(h) != 8 && len(h) != 32 {
		return netip.Addr{}, fmt.Errorf("%q: want 8 or 32 hex digits", h)
	}
	var b []byte
	for i := 0; i < len(h); i += 8 {
		w, err := strconv.ParseUint(h[i:i+8], 16, 32)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("%q: %w", h, err)
		}
		b = binary.NativeEndian.AppendUint32(b, uint32(w))
	}
	a, _ := netip.AddrFromSlice(b)
	return a.Unmap(), nil
}

// parseHexAddr parses an address printed as its bytes in network order:
// 32 hex digits (IPv6, as /proc/net/igmp6 and mcfilter6 print them) or
// "0x" and 8 hex digits (IPv4 in /proc/net/mcfilter).
func parseHexAddr(s string) (netip.Addr, error) {
	s = strings.TrimPrefix(s, "0x")
	b, err := hex.DecodeString(s)
	if err != nil || (len(b) != 4 && len(b) != 16) {
		return netip.Addr{}, fmt.Errorf("%q: not an address in hex", s)
	}
	a, _ := netip.AddrFromSlice(b)
	return a, nil
}

// membership is a group joined on an interface, from /proc/net/igmp or
// igmp6, with its source filter from /proc/net/mcfilter or mcfilter6.
type membership struct {
	IfIndex int          `json:"ifindex"`
	IfName  string       `json:"interface"`
	Group   netip.Addr   `json:"group"`
	Users   int          `json:"users"`
	Include []netip.Addr `json:"include,omitempty"`
	Exclude []netip.Addr `json:"exclude,omitempty"`
}

// parseProcIGMP parses /proc/net/igmp: a line per interface ("1\tlo :
// 3 V3"), then a line per group ("\t\t\t\t010000E0 1 0:00000000\t\t0"),
// the group as a host-order word.
func parseProcIGMP(r io.Reader) ([]membership, error) {
	var out []membership
	sc := bufio.NewScanner(r)
	var idx int
	var name string
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		fs := strings.Fields(text)
		if line == 1 || len(fs) == 0 {
			continue
		}
		if !strings.HasPrefix(text, "\t") {
			if len(fs) < 2 {
				return nil, fmt.Errorf("line %d: bad interface line %q", line, text)
			}
			i, err := strconv.Atoi(fs[0])
			if err != nil {
				return nil, fmt.Errorf("line %d: interface index: %w", line, err)
			}
			idx, name = i, strings.TrimSuffix(fs[1], ":")
			continue
		}
		if idx == 0 || len(fs) < 2 {
			return nil, fmt.Errorf("line %d: group line %q without an interface", line, text)
		}
		g, err := parseKernelWords(fs[0])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		users, err := strconv.Atoi(fs[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: users: %w", line, err)
		}
		out = append(out, membership{IfIndex: idx, IfName: name, Group: g, Users: users})
	}
	return out, sc.Err()
}

// parseProcIGMP6 parses /proc/net/igmp6: "1 lo ff020000000000000000000000000001 1 0000000C 0".
func parseProcIGMP6(r io.Reader) ([]membership, error) {
	var out []membership
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 {
			continue
		}
		if len(fs) < 4 {
			return nil, fmt.Errorf("line %d: %d fields, want 6", line, len(fs))
		}
		idx, err := strconv.Atoi(fs[0])
		if err != nil {
			return nil, fmt.Errorf("line %d: interface index: %w", line, err)
		}
		g, err := parseHexAddr(fs[2])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		users, err := strconv.Atoi(fs[3])
		if err != nil {
			return nil, fmt.Errorf("line %d: users: %w", line, err)
		}
		out = append(out, membership{IfIndex: idx, IfName: fs[1], Group: g, Users: users})
	}
	return out, sc.Err()
}

// sourceFilter is a line of /proc/net/mcfilter or mcfilter6: a source of a
// group on an interface, and how many sockets include or exclude it.
type sourceFilter struct {
	IfIndex          int
	Group, Source    netip.Addr
	Include, Exclude int
}

// parseProcMcfilter parses /proc/net/mcfilter ("1 lo 0xe8010101 0x0a000001
// 1 0", addresses as numbers, that is in network order) and mcfilter6
// (the same with 32 hex digits); the first line is a header.
func parseProcMcfilter(r io.Reader) ([]sourceFilter, error) {
	var out []sourceFilter
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		fs := strings.Fields(sc.Text())
		if line == 1 || len(fs) == 0 {
			continue
		}
		if len(fs) < 6 {
			return nil, fmt.Errorf("line %d: %d fields, want 6", line, len(fs))
		}
		idx, err1 := strconv.Atoi(fs[0])
		g, err2 := parseHexAddr(fs[2])
		src, err3 := parseHexAddr(fs[3])
		inc, err4 := strconv.Atoi(fs[4])
		exc, err5 := strconv.Atoi(fs[5])
		for _, err := range []error{err1, err2, err3, err4, err5} {
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
		}
		out = append(out, sourceFilter{IfIndex: idx, Group: g, Source: src, Include: inc, Exclude: exc})
	}
	return out, sc.Err()
}

// addFilters puts the source filters into the memberships they belong to.
func addFilters(ms []membership, fs []sourceFilter) {
	for _, f := range fs {
		for i := range ms {
			if ms[i].IfIndex == f.IfIndex && ms[i].Group == f.Group {
				if f.Include > 0 {
					ms[i].Include = append(ms[i].Include, f.Source)
				}
				if f.Exclude > 0 {
					ms[i].Exclude = append(ms[i].Exclude, f.Source)
				}
			}
		}
	}
}

// parseSocketLink parses the target of a /proc/PID/fd link to a socket,
// "socket:[12345]", and returns the inode.
func parseSocketLink(target string) (uint64, bool) {
	s, ok := strings.CutPrefix(target, "socket:[")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, "]")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}
