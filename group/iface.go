package group

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// selKind says how a spec selects its interfaces.
type selKind uint8

const (
	selDefault selKind = iota // the kernel's choice (index 0)
	selName                   // by name; follows the name
	selIndex                  // by index; follows the index
	selAddr                   // by address, resolved once to an index
	selAll                    // every interface up and multicast-capable
)

// selector is the parsed interface text of a spec. It is comparable, and
// part of the key of a request.
type selector struct {
	kind  selKind
	name  string
	index int
	addr  netip.Addr
}

// parseSelector reads interface text that checkInterface accepted.
func parseSelector(s string) selector {
	switch {
	case s == "":
		return selector{}
	case s == "*":
		return selector{kind: selAll}
	case isDigits(s):
		n, _ := strconv.Atoi(s)
		return selector{kind: selIndex, index: n}
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return selector{kind: selAddr, addr: a.Unmap()}
	}
	return selector{kind: selName, name: s}
}

func (sel selector) String() string {
	switch sel.kind {
	case selName:
		return sel.name
	case selIndex:
		return strconv.Itoa(sel.index)
	case selAddr:
		return sel.addr.String()
	case selAll:
		return "*"
	}
	return ""
}

// interfaces lists the interfaces of the namespace and the addresses of
// one; *Set reads them through it so that tests can give their own.
type interfaces interface {
	list() ([]net.Interface, error)
	addrs(ifi *net.Interface) ([]netip.Addr, error)
}

// sysInterfaces reads the interfaces through package net.
type sysInterfaces struct{}

func (sysInterfaces) list() ([]net.Interface, error) { return net.Interfaces() }

func (sysInterfaces) addrs(ifi *net.Interface) ([]netip.Addr, error) {
	as, err := ifi.Addrs()
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(as))
	for _, a := range as {
		var ip net.IP
		switch a := a.(type) {
		case *net.IPNet:
			ip = a.IP
		case *net.IPAddr:
			ip = a.IP
		}
		if ad, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, ad.Unmap())
		}
	}
	return out, nil
}

// usable reports whether a membership can be joined on ifi.
func usable(ifi *net.Interface) bool {
	return ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagMulticast != 0
}

// checkUsable returns why ifi cannot carry a membership, or nil.
func checkUsable(ifi *net.Interface) error {
	if ifi.Flags&net.FlagUp == 0 {
		return fmt.Errorf("interface %s (index %d): %w", ifi.Name, ifi.Index, ErrInterfaceDown)
	}
	if ifi.Flags&net.FlagMulticast == 0 {
		return fmt.Errorf("interface %s (index %d) has no MULTICAST flag: %w", ifi.Name, ifi.Index, ErrNotMulticastCapable)
	}
	return nil
}

// resolve returns the interfaces that sel selects now, each checked for
// use. The default selector gives one nil interface: the kernel's choice.
func resolve(sel selector, ifs []net.Interface, src interfaces) ([]*net.Interface, error) {
	pick := func(match func(*net.Interface) bool) *net.Interface {
		for i := range ifs {
			if match(&ifs[i]) {
				return &ifs[i]
			}
		}
		return nil
	}
	one := func(ifi *net.Interface, what string) ([]*net.Interface, error) {
		if ifi == nil {
			return nil, fmt.Errorf("interface %s: %w (have %s)", what, ErrNoInterface, names(ifs))
		}
		if err := checkUsable(ifi); err != nil {
			return nil, err
		}
		return []*net.Interface{ifi}, nil
	}
	switch sel.kind {
	case selName:
		return one(pick(func(ifi *net.Interface) bool { return ifi.Name == sel.name }), strconv.Quote(sel.name))
	case selIndex:
		return one(pick(func(ifi *net.Interface) bool { return ifi.Index == sel.index }), "index "+strconv.Itoa(sel.index))
	case selAddr:
		var found []*net.Interface
		for i := range ifs {
			as, err := src.addrs(&ifs[i])
			if err != nil {
				return nil, fmt.Errorf("addresses of %s: %w", ifs[i].Name, err)
			}
			for _, a := range as {
				if a == sel.addr {
					found = append(found, &ifs[i])
					break
				}
			}
		}
		if len(found) > 1 {
			var ns []string
			for _, ifi := range found {
				ns = append(ns, ifi.Name)
			}
			return nil, fmt.Errorf("interface with address %s: several have it (%s); name one: %w",
				sel.addr, strings.Join(ns, ", "), ErrNoInterface)
		}
		var ifi *net.Interface
		if len(found) == 1 {
			ifi = found[0]
		}
		return one(ifi, "with address "+sel.addr.String())
	case selAll:
		var out []*net.Interface
		for i := range ifs {
			if usable(&ifs[i]) {
				out = append(out, &ifs[i])
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("interface *: none is up and multicast-capable (have %s): %w", names(ifs), ErrNoInterface)
		}
		return out, nil
	}
	return []*net.Interface{nil}, nil
}

// names lists interface names for error messages.
func names(ifs []net.Interface) string {
	if len(ifs) == 0 {
		return "none"
	}
	ns := make([]string, len(ifs))
	for i := range ifs {
		ns[i] = ifs[i].Name
	}
	return strings.Join(ns, ", ")
}

// Interfaces returns the interfaces that the spec's interface text selects
// now, each up and multicast-capable, by the rules that Set.Join uses: one
// for a name, an index or an address, every usable one for "*", and a single
// nil (the kernel's choice) for no interface. A sender uses it to pick the
// interface to send out of.
func (s Spec) Interfaces() ([]*net.Interface, error) {
	return lookup(s.Interface)
}

// LookupInterfaces returns the interfaces that text selects, as the part of
// a spec after "%" does: a name ("eth0"), an index ("2"), an address of the
// interface ("192.0.2.1"), "*" for every interface that is up and
// multicast-capable, or "" for a single nil (the kernel's choice). Each
// interface returned is up and multicast-capable. It is the lookup that
// Set.Join and Spec.Interfaces use, exported for programs that take an
// interface apart from a spec (a command line's -i flag), so that "-i IFACE"
// and "GROUP%IFACE" mean the same. Errors wrap ErrBadSpec (text that names no
// interface), ErrNoInterface, ErrInterfaceDown or ErrNotMulticastCapable.
func LookupInterfaces(text string) ([]*net.Interface, error) {
	if reason := checkInterface(text); reason != "" {
		return nil, &SpecError{Spec: text, Part: "interface", Value: text, Reason: reason}
	}
	return lookup(text)
}

// lookup resolves interface text that checkInterface accepted.
func lookup(text string) ([]*net.Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("group: interfaces: %w", err)
	}
	out, err := resolve(parseSelector(text), ifs, sysInterfaces{})
	if err != nil {
		return nil, fmt.Errorf("group: %w", err)
	}
	return out, nil
}

// SendInterface returns the one interface that the spec selects to send
// out of, or nil where it names none (mcast.NewSender then uses the
// loopback interface). "*" is refused when it selects more than one.
func (s Spec) SendInterface() (*net.Interface, error) {
	ifs, err := s.Interfaces()
	if err != nil {
		return nil, err
	}
	if len(ifs) > 1 {
		return nil, fmt.Errorf("group: %s selects %d interfaces (%s); name the one to send out of: %w",
			s, len(ifs), ifs[0].Name+", ...", ErrBadSpec)
	}
	return ifs[0], nil
}
