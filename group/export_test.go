package group

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// FakeKernel is a backend that records what a Set asks of the kernel.
type FakeKernel struct {
	V6   bool
	Port uint16
	// Calls lists the calls, as "join 239.1.2.3%2" or
	// "block 239.1.2.3%2 10.0.0.9".
	Calls []string
	// Fail makes the call whose text is the key fail with the error.
	Fail map[string]error
	// Dropped lists "group%index" memberships that the interface no
	// longer holds, for held.
	Dropped map[string]bool
	// Groups and Sources are what memberships reports.
	Groups, Sources int
}

func call(op string, ifi *net.Interface, group, source netip.Addr) string {
	idx := 0
	if ifi != nil {
		idx = ifi.Index
	}
	s := fmt.Sprintf("%s %s", op, group)
	if op != "block" && op != "unblock" && source.IsValid() {
		s += "@" + source.String()
	}
	s += fmt.Sprintf("%%%d", idx)
	if op == "block" || op == "unblock" {
		s += " " + source.String()
	}
	return s
}

func (k *FakeKernel) do(c string) error {
	k.Calls = append(k.Calls, c)
	return k.Fail[c]
}

func (k *FakeKernel) join(ifi *net.Interface, g, s netip.Addr) error {
	return k.do(call("join", ifi, g, s))
}

func (k *FakeKernel) leave(ifi *net.Interface, g, s netip.Addr) error {
	return k.do(call("leave", ifi, g, s))
}

func (k *FakeKernel) block(ifi *net.Interface, g, s netip.Addr, on bool) error {
	op := "unblock"
	if on {
		op = "block"
	}
	return k.do(call(op, ifi, g, s))
}

func (k *FakeKernel) rejoin(ifi *net.Interface, g, s netip.Addr) error {
	return k.do(call("rejoin", ifi, g, s))
}

func (k *FakeKernel) purge(ifi *net.Interface, g netip.Addr) error {
	return k.do(call("purge", ifi, g, netip.Addr{}))
}

func (k *FakeKernel) held(index int, g netip.Addr) (bool, bool) {
	return !k.Dropped[fmt.Sprintf("%s%%%d", g, index)], true
}

func (k *FakeKernel) memberships(netip.Addr, int) (int, int) { return k.Groups, k.Sources }
func (k *FakeKernel) ipv6() bool                             { return k.V6 }
func (k *FakeKernel) port() uint16                           { return k.Port }

// FakeInterfaces gives a Set its interfaces and their addresses.
type FakeInterfaces struct {
	List  []net.Interface
	Addrs map[int][]netip.Addr
	Err   error
}

func (f *FakeInterfaces) list() ([]net.Interface, error) {
	return append([]net.Interface(nil), f.List...), f.Err
}

func (f *FakeInterfaces) addrs(ifi *net.Interface) ([]netip.Addr, error) {
	return f.Addrs[ifi.Index], nil
}

// NewFake returns a Set over fakes, without a watcher.
func NewFake(k *FakeKernel, ifs *FakeInterfaces) *Set {
	s, err := newSet(k, ifs, &Config{NoWatch: true})
	if err != nil {
		panic(err)
	}
	return s
}

// Mark is what the watcher saw happen to an interface.
type Mark struct{ Up, Deleted, Addr, Resync bool }

// Reconcile runs what the watcher runs after a burst of events.
func (s *Set) Reconcile(ifs []net.Interface, marks map[int]Mark) {
	ms := make(map[int]mark, len(marks))
	for i, m := range marks {
		ms[i] = mark{up: m.Up, deleted: m.Deleted, addr: m.Addr, resync: m.Resync}
	}
	s.reconcile(ifs, ms)
}

// ENOBUFS is the errno of a join past the limit.
var ENOBUFS error = syscall.ENOBUFS
