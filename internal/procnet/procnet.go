package procnet

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// Family selects the IPv4 or the IPv6 file of a pair: udp or udp6, igmp or
// igmp6, mcfilter or mcfilter6. Its zero value is IPv4.
type Family uint8

const (
	// IPv4 selects udp, igmp and mcfilter.
	IPv4 Family = iota
	// IPv6 selects udp6, igmp6 and mcfilter6.
	IPv6
)

// String returns "IPv4" or "IPv6".
func (f Family) String() string {
	if f == IPv6 {
		return "IPv6"
	}
	return "IPv4"
}

// file returns the name of the family's file of base ("udp": "udp" or
// "udp6").
func (f Family) file(base string) string {
	if f == IPv6 {
		return base + "6"
	}
	return base
}

// ErrMalformed is matched, with errors.Is, by every error that a parser
// returns for a line that it cannot read.
var ErrMalformed = errors.New("procnet: malformed line")

// LineError is the error for the first line that a parser cannot read.
type LineError struct {
	File string // the file's name: "udp", "igmp6", ...
	Line int    // the line's number, from 1
	Text string // the line
	Err  error  // why it cannot be read
}

// Error names the file, the line and the reason.
func (e *LineError) Error() string {
	return fmt.Sprintf("procnet: %s line %d: %v: %q", e.File, e.Line, e.Err, e.Text)
}

// Unwrap returns the reason.
func (e *LineError) Unwrap() error { return e.Err }

// Is reports whether target is ErrMalformed.
func (e *LineError) Is(target error) bool { return target == ErrMalformed }

// UDPSocket is a line of udp or udp6: a UDP socket of the namespace.
type UDPSocket struct {
	Local, Remote netip.AddrPort // the remote address is unspecified, port 0, unless connected
	State         int            // 7 (TCP_CLOSE) unconnected, 1 (TCP_ESTABLISHED) connected
	TxQueue       int            // bytes waiting in the send queue
	RxQueue       int            // bytes waiting in the receive queue
	UID           int            // the owner, as the reader's user namespace sees it
	Inode         uint64         // the socket's inode, as /proc/<pid>/fd links name it
	Drops         uint64         // datagrams dropped (receive buffer full, bad checksum, ...)
}

// Membership is a line of igmp or igmp6: a group that an interface holds.
type Membership struct {
	IfIndex int
	IfName  string
	Group   netip.Addr
	Users   int // how many sockets (and the kernel itself) joined
	// Version is the IGMP version in force on the interface (igmp's
	// Querier column: 1, 2 or 3): 3 unless force_igmp_version says
	// otherwise or an older querier was heard lately. 0 in igmp6, which
	// does not say.
	Version int
}

// SourceFilter is a line of mcfilter or mcfilter6: a source of a group on
// an interface, and how many sockets list it in include mode and in
// exclude mode (RFC 3376, RFC 3810).
type SourceFilter struct {
	IfIndex          int
	IfName           string // at most 6 characters: the file cuts it
	Group, Source    netip.Addr
	Include, Exclude int
}

// ParseUDP parses udp (IPv4) or udp6 (IPv6).
func ParseUDP(r io.Reader, f Family) ([]UDPSocket, error) {
	words := 1
	if f == IPv6 {
		words = 4
	}
	return parseLines(r, f.file("udp"), true, func(_ string, fs []string) (UDPSocket, bool, error) {
		var s UDPSocket
		if len(fs) < 13 {
			return s, false, fmt.Errorf("%d fields, want 13", len(fs))
		}
		var err error
		if s.Local, err = kernelAddrPort(fs[1], words); err != nil {
			return s, false, fmt.Errorf("local address: %w", err)
		}
		if s.Remote, err = kernelAddrPort(fs[2], words); err != nil {
			return s, false, fmt.Errorf("remote address: %w", err)
		}
		tx, rx, ok := strings.Cut(fs[4], ":")
		if !ok {
			return s, false, fmt.Errorf("queues %q: want tx:rx", fs[4])
		}
		for _, n := range []struct {
			dst  *int
			s    string
			base int
			bits int
			what string
		}{
			{&s.State, fs[3], 16, 8, "state"},
			{&s.TxQueue, tx, 16, 31, "tx queue"},
			{&s.RxQueue, rx, 16, 31, "rx queue"},
			{&s.UID, fs[7], 10, 32, "uid"},
		} {
			v, err := strconv.ParseUint(n.s, n.base, n.bits)
			if err != nil {
				return s, false, fmt.Errorf("%s: %w", n.what, err)
			}
			*n.dst = int(v)
		}
		if s.Inode, err = strconv.ParseUint(fs[9], 10, 64); err != nil {
			return s, false, fmt.Errorf("inode: %w", err)
		}
		if s.Drops, err = strconv.ParseUint(fs[12], 10, 64); err != nil {
			return s, false, fmt.Errorf("drops: %w", err)
		}
		return s, true, nil
	})
}

// ParseIGMP parses igmp (IPv4): a line per interface, then a tab-indented
// line per group it holds; or igmp6 (IPv6): a line per group.
func ParseIGMP(r io.Reader, f Family) ([]Membership, error) {
	if f == IPv6 {
		return parseLines(r, "igmp6", false, func(_ string, fs []string) (Membership, bool, error) {
			var m Membership
			if len(fs) < 4 {
				return m, false, fmt.Errorf("%d fields, want 6", len(fs))
			}
			var err error
			if m.IfIndex, err = ifIndex(fs[0]); err != nil {
				return m, false, err
			}
			m.IfName = fs[1]
			if m.Group, err = hexAddr(fs[2], 16); err != nil {
				return m, false, fmt.Errorf("group: %w", err)
			}
			if m.Users, err = count(fs[3]); err != nil {
				return m, false, fmt.Errorf("users: %w", err)
			}
			return m, true, nil
		})
	}
	var ifi Membership // the interface of the group lines that follow
	return parseLines(r, "igmp", true, func(text string, fs []string) (Membership, bool, error) {
		if text[0] != '\t' {
			if len(fs) < 2 {
				return ifi, false, fmt.Errorf("interface line of %d fields, want 4", len(fs))
			}
			idx, err := ifIndex(fs[0])
			if err != nil {
				return ifi, false, err
			}
			// "%-10s:": the colon is a field of its own after a short name.
			// Linux allows no colon in a name (dev_valid_name).
			name := strings.TrimSuffix(fs[1], ":")
			if name == "" || strings.Contains(name, ":") {
				return ifi, false, fmt.Errorf("interface name %q", fs[1])
			}
			rest := fs[2:]
			if !strings.HasSuffix(fs[1], ":") {
				if len(rest) == 0 || rest[0] != ":" {
					return ifi, false, fmt.Errorf("no colon after interface name %q", fs[1])
				}
				rest = rest[1:]
			}
			if len(rest) < 2 {
				return ifi, false, fmt.Errorf("interface line of %d fields, want 4", len(fs))
			}
			v := rest[1]
			if len(v) != 2 || v[0] != 'V' || v[1] < '1' || v[1] > '3' {
				return ifi, false, fmt.Errorf("querier %q, want V1, V2 or V3", v)
			}
			ifi = Membership{IfIndex: idx, IfName: name, Version: int(v[1] - '0')}
			return ifi, false, nil
		}
		if ifi.IfIndex == 0 {
			return ifi, false, errors.New("a group before any interface")
		}
		if len(fs) < 2 {
			return ifi, false, fmt.Errorf("group line of %d fields, want 4", len(fs))
		}
		m := ifi
		var err error
		if m.Group, err = kernelWords(fs[0], 1); err != nil {
			return m, false, fmt.Errorf("group: %w", err)
		}
		if m.Users, err = count(fs[1]); err != nil {
			return m, false, fmt.Errorf("users: %w", err)
		}
		return m, true, nil
	})
}

// ParseMcfilter parses mcfilter (IPv4) or mcfilter6 (IPv6).
func ParseMcfilter(r io.Reader, f Family) ([]SourceFilter, error) {
	size, prefix := 4, "0x"
	if f == IPv6 {
		size, prefix = 16, ""
	}
	return parseLines(r, f.file("mcfilter"), true, func(_ string, fs []string) (SourceFilter, bool, error) {
		var sf SourceFilter
		if len(fs) < 6 {
			return sf, false, fmt.Errorf("%d fields, want 6", len(fs))
		}
		var err error
		if sf.IfIndex, err = ifIndex(fs[0]); err != nil {
			return sf, false, err
		}
		sf.IfName = fs[1]
		for i, a := range []*netip.Addr{&sf.Group, &sf.Source} {
			h, ok := strings.CutPrefix(fs[2+i], prefix)
			if !ok {
				return sf, false, fmt.Errorf("address %q: want %q and hex digits", fs[2+i], prefix)
			}
			if *a, err = hexAddr(h, size); err != nil {
				return sf, false, err
			}
		}
		if sf.Include, err = count(fs[4]); err != nil {
			return sf, false, fmt.Errorf("include: %w", err)
		}
		if sf.Exclude, err = count(fs[5]); err != nil {
			return sf, false, fmt.Errorf("exclude: %w", err)
		}
		return sf, true, nil
	})
}

// SocketInode parses the target of a /proc/<pid>/fd link to a socket,
// "socket:[12345]", and returns the inode.
func SocketInode(target string) (inode uint64, ok bool) {
	s, ok := strings.CutPrefix(target, "socket:[")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, "]")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, false // ParseUint returns its range's end with a range error
	}
	return n, true
}

// parseLines calls line for each line of r but blank ones and, if header,
// the first, and collects the records that it returns with ok. The first
// error ends the parse, as the package doc says.
func parseLines[T any](r io.Reader, file string, header bool, line func(text string, fields []string) (rec T, ok bool, err error)) ([]T, error) {
	var out []T
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		text := sc.Text()
		fs := strings.Fields(text)
		if (header && n == 1) || len(fs) == 0 {
			continue
		}
		rec, ok, err := line(text, fs)
		if err != nil {
			return nil, &LineError{File: file, Line: n, Text: text, Err: err}
		}
		if ok {
			out = append(out, rec)
		}
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return nil, &LineError{File: file, Line: n + 1, Err: err}
	} else if err != nil {
		return nil, fmt.Errorf("procnet: reading %s: %w", file, err)
	}
	return out, nil
}

// kernelAddrPort parses "0100007F:1388": an address of words 32-bit words
// (kernelWords), a colon and the port in hex.
func kernelAddrPort(s string, words int) (netip.AddrPort, error) {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("%q: no port", s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: bad port", s)
	}
	a, err := kernelWords(h, words)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(a, uint16(port)), nil
}

// kernelWords parses an address of words 32-bit words (1 for IPv4, 4 for
// IPv6), each printed as the CPU's integer in 8 hex digits; an IPv6
// address that maps an IPv4 one is returned unmapped.
func kernelWords(h string, words int) (netip.Addr, error) {
	if len(h) != 8*words {
		return netip.Addr{}, fmt.Errorf("address %q: want %d hex digits", h, 8*words)
	}
	var b [16]byte
	for i := range words {
		w, err := strconv.ParseUint(h[8*i:8*i+8], 16, 32)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("address %q: not hex", h)
		}
		binary.NativeEndian.PutUint32(b[4*i:], uint32(w))
	}
	if words == 1 {
		return netip.AddrFrom4([4]byte(b[:4])), nil
	}
	return netip.AddrFrom16(b).Unmap(), nil
}

// hexAddr parses an address of size bytes printed in network order, 2 hex
// digits a byte.
func hexAddr(h string, size int) (netip.Addr, error) {
	var b [16]byte
	if len(h) != 2*size {
		return netip.Addr{}, fmt.Errorf("address %q: want %d hex digits", h, 2*size)
	}
	if _, err := hex.Decode(b[:size], []byte(h)); err != nil {
		return netip.Addr{}, fmt.Errorf("address %q: not hex", h)
	}
	if size == 4 {
		return netip.AddrFrom4([4]byte(b[:4])), nil
	}
	return netip.AddrFrom16(b), nil
}

// ifIndex parses an interface index: a decimal number from 1.
func ifIndex(s string) (int, error) {
	v, err := strconv.ParseUint(s, 10, 31)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("interface index %q: want a number from 1", s)
	}
	return int(v), nil
}

// count parses a decimal count.
func count(s string) (int, error) {
	v, err := strconv.ParseUint(s, 10, 31)
	return int(v), err
}
