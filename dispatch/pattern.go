package dispatch

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Pattern says which datagrams a handler takes. A zero field matches
// anything: the zero Pattern matches every datagram.
type Pattern struct {
	// Group is the destination address (normally a multicast group); the
	// zero Addr matches any.
	Group netip.Addr
	// Port is the destination port, that is the local port of the socket
	// that received the datagram (see [Datagram].Port); 0 matches any.
	Port uint16
	// Source is the sender's address; the zero Addr matches any.
	Source netip.Addr
}

// Match reports whether d matches p.
func (p Pattern) Match(d *Datagram) bool {
	return (!p.Group.IsValid() || p.Group == d.Group) &&
		(p.Port == 0 || p.Port == d.Port) &&
		(!p.Source.IsValid() || p.Source == d.Source.Addr())
}

// String formats p as ParsePattern reads it: group[:port][@source], with
// "*" for any group and brackets around an IPv6 group that has a port, as
// in "239.1.2.3:5000", "*:5000", "[ff3e::1]:5000@2001:db8::1" or "*".
func (p Pattern) String() string {
	var b strings.Builder
	switch {
	case !p.Group.IsValid():
		b.WriteByte('*')
	case p.Group.Is6() && p.Port != 0:
		b.WriteByte('[')
		b.WriteString(p.Group.String())
		b.WriteByte(']')
	default:
		b.WriteString(p.Group.String())
	}
	if p.Port != 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(int(p.Port)))
	}
	if p.Source.IsValid() {
		b.WriteByte('@')
		b.WriteString(p.Source.String())
	}
	return b.String()
}

// ParsePattern parses a pattern in the form that [Pattern.String] writes:
// group[:port][@source], where group is an address, "*" or empty for any
// group, and an IPv6 group with a port is written in brackets. IPv4-mapped
// IPv6 addresses are unmapped. An error wraps [ErrInvalidConfig].
func ParsePattern(s string) (Pattern, error) {
	var p Pattern
	left, src, hasSrc := strings.Cut(s, "@")
	if hasSrc {
		a, err := netip.ParseAddr(src)
		if err != nil || a.Zone() != "" {
			return Pattern{}, fmt.Errorf("dispatch: pattern %q: source %q: %w", s, src, ErrInvalidConfig)
		}
		p.Source = a.Unmap()
	}
	host, port := left, ""
	switch {
	case strings.HasPrefix(left, "["):
		end := strings.IndexByte(left, ']')
		if end < 0 {
			return Pattern{}, fmt.Errorf("dispatch: pattern %q: missing ']': %w", s, ErrInvalidConfig)
		}
		host, port = left[1:end], left[end+1:]
		if port != "" && !strings.HasPrefix(port, ":") {
			return Pattern{}, fmt.Errorf("dispatch: pattern %q: junk after ']': %w", s, ErrInvalidConfig)
		}
		if !strings.Contains(host, ":") {
			return Pattern{}, fmt.Errorf("dispatch: pattern %q: brackets around a non-IPv6 group: %w", s, ErrInvalidConfig)
		}
	case strings.Count(left, ":") == 1:
		i := strings.IndexByte(left, ':')
		host, port = left[:i], left[i:]
	}
	if port != "" {
		n, err := strconv.ParseUint(port[1:], 10, 16)
		if err != nil || n == 0 {
			return Pattern{}, fmt.Errorf("dispatch: pattern %q: port %q (want 1-65535): %w", s, port[1:], ErrInvalidConfig)
		}
		p.Port = uint16(n)
	}
	if host != "" && host != "*" {
		a, err := netip.ParseAddr(host)
		if err != nil || a.Zone() != "" {
			return Pattern{}, fmt.Errorf("dispatch: pattern %q: group %q: %w", s, host, ErrInvalidConfig)
		}
		p.Group = a.Unmap()
	}
	return p, nil
}

// MarshalText implements encoding.TextMarshaler with [Pattern.String].
func (p Pattern) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with [ParsePattern].
func (p *Pattern) UnmarshalText(b []byte) error {
	v, err := ParsePattern(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}
