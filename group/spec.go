package group

import (
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Spec names a membership in text form: a group and port, a source for a
// source-specific group, and the interfaces to join it on. It is what
// flags and configuration files hold. The text forms are
//
//	239.1.2.3:5000               any-source group, IPv4
//	[ff15::1]:5000               any-source group, IPv6 (brackets required)
//	232.1.1.1:5000@10.0.0.1      source-specific group and its source
//	[ff3e::1]:5000@2001:db8::1   the same for IPv6 (the source may be bracketed)
//	239.1.2.3:5000%eth0          on the interface named eth0
//	239.1.2.3:5000%2             on the interface of index 2
//	239.1.2.3:5000%10.0.0.1      on the interface that has address 10.0.0.1
//	239.1.2.3:5000%*             on every interface that is up and multicast-capable
//
// with "@source" before "%interface" when both are given. Without
// "%interface" the kernel picks the interface by its routing table for
// the group.
//
// The rules, checked by [ParseSpec] and again by [Set.Join]:
//
//   - The group is a multicast address, without an IPv6 zone (the interface
//     says where); an IPv4-mapped IPv6 address is taken as IPv4.
//   - The port is 1-65535. (Set.Join also accepts 0 in a Spec built in code,
//     meaning the socket's port.)
//   - A source goes with a source-specific group and only with one:
//     232.0.0.0/8 and ff3x::/32 (RFC 4607) need "@source", every other group
//     refuses it. A source is a unicast address of the group's family.
//     (To drop a few sources from an any-source group, use
//     [Set.ExcludeSource].)
//   - The interface text is everything after the first '%'. "*" means every
//     interface; text made only of decimal digits is an index (1 or more,
//     no leading zero); text that parses as an IP address selects the
//     interface that has that address; anything else is a name (so an
//     interface whose name is all digits or an IP address cannot be named).
//     A name is valid UTF-8 without control characters or surrounding
//     spaces, up to 256 bytes.
//
// The zero Spec is no membership; it formats as "". Spec values are
// comparable: two specs that parse from different texts of one membership
// (such as "[::ffff:239.1.2.3]:05000" and "239.1.2.3:5000") are equal.
type Spec struct {
	// Group is the multicast group.
	Group netip.Addr
	// Port is the UDP port.
	Port uint16
	// Source is the one sender of a source-specific group; the zero Addr
	// for an any-source group.
	Source netip.Addr
	// Interface selects the interfaces, as written after '%': a name, an
	// index, an address, "*", or "" for the kernel's choice.
	Interface string
}

// maxIfName bounds an interface name (Linux allows 15 bytes, Windows
// friendly names 256 characters).
const maxIfName = 256

// ParseSpec parses the text form of a Spec (see [Spec]). An error is a
// *SpecError that names the bad part and wraps ErrBadSpec.
func ParseSpec(text string) (Spec, error) {
	var sp Spec
	bad := func(part, value, reason string) (Spec, error) {
		return Spec{}, &SpecError{Spec: text, Part: part, Value: value, Reason: reason}
	}
	if text == "" {
		return bad("spec", "", "empty")
	}
	rest := text

	// Group.
	if rest[0] != '[' {
		head := rest
		if i := strings.IndexAny(head, "@%"); i >= 0 {
			head = head[:i]
		}
		if strings.Count(head, ":") > 1 {
			return bad("group", head, "an IPv6 group goes in brackets, as [ff15::1]:5000")
		}
	}
	host, after, ok := field(rest, ":@%")
	if !ok {
		return bad("group", rest, "missing ']'")
	}
	rest = after
	g, reason := parseAddrPart(host, "missing", "give the interface after the port, as %eth0")
	if reason != "" {
		return bad("group", host, reason)
	}
	sp.Group = g

	// Port.
	if rest == "" || rest[0] != ':' {
		return bad("port", "", "missing; write group:port")
	}
	rest = rest[1:]
	end := strings.IndexAny(rest, "@%")
	if end < 0 {
		end = len(rest)
	}
	portText := rest[:end]
	rest = rest[end:]
	if portText == "" {
		return bad("port", "", "missing; write group:port")
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || port == 0 {
		if strings.Trim(portText, "0123456789") == "" {
			return bad("port", portText, "out of range 1-65535")
		}
		return bad("port", portText, "not a decimal number")
	}
	sp.Port = uint16(port)

	// Source.
	if rest != "" && rest[0] == '@' {
		src, after, ok := field(rest[1:], "%")
		if !ok {
			return bad("source", rest[1:], "missing ']'")
		}
		rest = after
		s, reason := parseAddrPart(src, "missing after '@'", "give the interface after the source, as %eth0")
		if reason != "" {
			return bad("source", src, reason)
		}
		sp.Source = s
	}

	// Interface.
	if rest != "" && rest[0] == '%' {
		sp.Interface, rest = rest[1:], ""
		if sp.Interface == "" {
			return bad("interface", "", "missing after '%'")
		}
	}
	if rest != "" {
		return bad("spec", rest, "unexpected text; the form is group:port[@source][%interface]")
	}
	if err := sp.check(text, true); err != nil {
		return Spec{}, err
	}
	return sp, nil
}

// field cuts the next address off rest: up to the closing bracket when it
// starts with '[' (ok is false without one), or else up to the first byte
// of stops.
func field(rest, stops string) (f, after string, ok bool) {
	if rest != "" && rest[0] == '[' {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return "", rest, false
		}
		return rest[1:end], rest[end+1:], true
	}
	end := strings.IndexAny(rest, stops)
	if end < 0 {
		end = len(rest)
	}
	return rest[:end], rest[end:], true
}

// parseAddrPart parses the address of a spec's part, unmapped, or returns
// why not.
func parseAddrPart(text, missing, zoneHint string) (netip.Addr, string) {
	a, err := netip.ParseAddr(text)
	switch {
	case text == "":
		return a, missing
	case err != nil:
		return a, "not an IP address"
	case a.Zone() != "":
		return a, "an IPv6 zone is not allowed; " + zoneHint
	}
	return a.Unmap(), ""
}

// MustParseSpec is ParseSpec for specs known to be good, as in tests and
// examples; it panics on an error.
func MustParseSpec(text string) Spec {
	sp, err := ParseSpec(text)
	if err != nil {
		panic(err)
	}
	return sp
}

// check applies the rules of Spec to a parsed or built value. text is what
// the errors quote.
func (s Spec) check(text string, requirePort bool) error {
	bad := func(part string, value any, reason string) error {
		v := ""
		switch x := value.(type) {
		case string:
			v = x
		case netip.Addr:
			if x.IsValid() {
				v = x.String()
			}
		}
		return &SpecError{Spec: text, Part: part, Value: v, Reason: reason}
	}
	g := s.Group
	switch {
	case !g.IsValid():
		return bad("group", "", "missing")
	case g.Zone() != "":
		return bad("group", g, "an IPv6 zone is not allowed; the interface says where")
	case g.Is4In6():
		return bad("group", g, "IPv4-mapped; write it as an IPv4 address")
	case !g.IsMulticast():
		return bad("group", g, "not a multicast address")
	}
	if requirePort && s.Port == 0 {
		return bad("port", "0", "out of range 1-65535")
	}
	ssm := IsSourceSpecific(g)
	if src := s.Source; src.IsValid() {
		switch {
		case src.Zone() != "":
			return bad("source", src, "an IPv6 zone is not allowed; the interface says where")
		case src.Is4In6():
			return bad("source", src, "IPv4-mapped; write it as an IPv4 address")
		case src.Is4() != g.Is4():
			return bad("source", src, "not of the group's address family")
		case src.IsMulticast() || src.IsUnspecified() || src == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
			return bad("source", src, "not a unicast address")
		case !ssm:
			return bad("source", src, "an any-source group takes no source (sources go with 232.0.0.0/8 and ff3x::/32; to drop a sender use ExcludeSource)")
		}
	} else if ssm {
		return bad("group", g, "a source-specific group needs its source, as @10.0.0.1")
	}
	if reason := checkInterface(s.Interface); reason != "" {
		return bad("interface", s.Interface, reason)
	}
	return nil
}

// checkInterface returns why the interface text of a spec is refused, or
// "" when it is good. The empty text (the kernel's choice) is good.
func checkInterface(s string) string {
	if s == "" || s == "*" {
		return ""
	}
	if isDigits(s) {
		if s[0] == '0' {
			return "an index has no leading zero (and index 0 is no interface)"
		}
		if n, err := strconv.ParseInt(s, 10, 32); err != nil || n <= 0 {
			return "index out of range"
		}
		return ""
	}
	if a, err := netip.ParseAddr(s); err == nil {
		switch {
		case a.Zone() != "":
			return "an interface address takes no zone"
		case a.IsMulticast() || a.IsUnspecified():
			return "not a unicast address of an interface"
		}
		return ""
	}
	switch {
	case len(s) > maxIfName:
		return "name longer than 256 bytes"
	case !utf8.ValidString(s):
		return "name is not valid UTF-8"
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return "name has a control character"
	case strings.TrimSpace(s) != s:
		return "name starts or ends with a space"
	}
	return ""
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// IsSourceSpecific reports whether a is in a source-specific multicast
// range (RFC 4607): 232.0.0.0/8 for IPv4, ff3x::/32 for IPv6.
func IsSourceSpecific(a netip.Addr) bool {
	a = a.Unmap()
	if a.Is4() {
		return a.As4()[0] == 232
	}
	if !a.Is6() {
		return false
	}
	b := a.As16()
	return b[0] == 0xff && b[1]&0xf0 == 0x30 && b[2] == 0 && b[3] == 0
}

// String formats s in the text form that ParseSpec reads, so that
// ParseSpec(s.String()) == s for every valid s. The zero Spec formats as "".
func (s Spec) String() string {
	if s == (Spec{}) {
		return ""
	}
	var b strings.Builder
	if s.Group.Is6() {
		b.WriteByte('[')
		b.WriteString(s.Group.String())
		b.WriteByte(']')
	} else {
		b.WriteString(s.Group.String())
	}
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(int(s.Port)))
	if s.Source.IsValid() {
		b.WriteByte('@')
		b.WriteString(s.Source.String())
	}
	if s.Interface != "" {
		b.WriteByte('%')
		b.WriteString(s.Interface)
	}
	return b.String()
}

// IsSourceSpecific reports whether s names a source-specific membership.
func (s Spec) IsSourceSpecific() bool { return s.Source.IsValid() }

// AddrPort returns the group and port.
func (s Spec) AddrPort() netip.AddrPort { return netip.AddrPortFrom(s.Group, s.Port) }

// Validate checks s against the rules of Spec, as ParseSpec does; a Port
// of 0 is refused.
func (s Spec) Validate() error { return s.check(s.String(), true) }

// MarshalText implements encoding.TextMarshaler. The zero Spec marshals to
// empty text; an invalid one is an error, so that no configuration is
// written that would not read back.
func (s Spec) MarshalText() ([]byte, error) {
	if s == (Spec{}) {
		return []byte{}, nil
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return []byte(s.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseSpec. Empty
// text sets the zero Spec.
func (s *Spec) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		*s = Spec{}
		return nil
	}
	sp, err := ParseSpec(string(text))
	if err != nil {
		return err
	}
	*s = sp
	return nil
}

// SpecError is the error of a spec that does not parse or is refused. It
// wraps ErrBadSpec.
type SpecError struct {
	Spec   string // the spec as given
	Part   string // "group", "port", "source", "interface" or "spec"
	Value  string // the bad part's text, where there is one
	Reason string
}

func (e *SpecError) Error() string {
	if e.Value == "" {
		return "group: spec " + strconv.Quote(e.Spec) + ": " + e.Part + ": " + e.Reason
	}
	return "group: spec " + strconv.Quote(e.Spec) + ": " + e.Part + " " + strconv.Quote(e.Value) + ": " + e.Reason
}

// Unwrap returns ErrBadSpec.
func (e *SpecError) Unwrap() error { return ErrBadSpec }
