package mcast

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// SenderConfig configures [NewSender]. The zero value sends out of the
// loopback interface with TTL 1 and loopback on, so that a sender that
// names no interface never sends anything off the host.
type SenderConfig struct {
	// Interface is the interface to send out of (IP_MULTICAST_IF,
	// IPV6_MULTICAST_IF); nil means the loopback interface.
	Interface *net.Interface
	// TTL is the multicast TTL (IPv6 hop limit); 0 means 1, which keeps
	// the datagrams on the link.
	TTL int
	// NoLoopback turns IP_MULTICAST_LOOP off. By default it is on, so that
	// receivers on the sending host get the datagrams too.
	NoLoopback bool
	// Source is the address to send from; the zero value lets the kernel
	// choose the interface's.
	Source netip.Addr
	// WriteBuffer is SO_SNDBUF in bytes; 0 means 4 MiB.
	WriteBuffer int
}

// Sender sends datagrams to one multicast group out of one interface. It is
// safe for concurrent use.
type Sender struct {
	uc     *net.UDPConn
	dst    *net.UDPAddr
	ifi    *net.Interface
	closed atomic.Bool
}

// NewSender returns a Sender to group, a multicast address and port.
func NewSender(group netip.AddrPort, cfg *SenderConfig) (*Sender, error) {
	if cfg == nil {
		cfg = &SenderConfig{}
	}
	if !group.Addr().IsMulticast() {
		return nil, fmt.Errorf("mcast: sender to %s: %w", group.Addr(), ErrNotMulticast)
	}
	if group.Port() == 0 {
		return nil, fmt.Errorf("mcast: sender to %s: port 0: %w", group, ErrInvalidConfig)
	}
	ifi := cfg.Interface
	if ifi == nil {
		lo, err := LoopbackInterface()
		if err != nil {
			return nil, fmt.Errorf("mcast: sender to %s: %w", group, err)
		}
		ifi = lo
	}
	ttl := cfg.TTL
	if ttl == 0 {
		ttl = 1
	}
	network := "udp4"
	if group.Addr().Is6() {
		network = "udp6"
	}
	laddr := &net.UDPAddr{}
	if cfg.Source.IsValid() {
		laddr.IP = cfg.Source.AsSlice()
	}
	uc, err := net.ListenUDP(network, laddr)
	if err != nil {
		return nil, fmt.Errorf("mcast: sender to %s from %s: %w", group, laddr, err)
	}
	if group.Addr().Is6() {
		p := ipv6.NewPacketConn(uc)
		err = errors.Join(p.SetMulticastInterface(ifi), p.SetMulticastHopLimit(ttl), p.SetMulticastLoopback(!cfg.NoLoopback))
	} else {
		p := ipv4.NewPacketConn(uc)
		err = errors.Join(p.SetMulticastInterface(ifi), p.SetMulticastTTL(ttl), p.SetMulticastLoopback(!cfg.NoLoopback))
	}
	if err != nil {
		uc.Close()
		return nil, fmt.Errorf("mcast: sender to %s on %s: %w", group, ifi.Name, err)
	}
	wb := cfg.WriteBuffer
	if wb == 0 {
		wb = 4 << 20
	}
	// Best effort: a smaller send buffer only makes Send block sooner.
	_ = uc.SetWriteBuffer(wb)
	return &Sender{uc: uc, dst: net.UDPAddrFromAddrPort(group), ifi: ifi}, nil
}

// LoopbackInterface returns the host's loopback interface (the first with
// the loopback flag): where a Sender sends when told no interface.
func LoopbackInterface() (*net.Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	for i := range ifs {
		if ifs[i].Flags&net.FlagLoopback != 0 {
			return &ifs[i], nil
		}
	}
	return nil, errors.New("no loopback interface")
}

// Send sends b as one datagram.
func (s *Sender) Send(b []byte) error {
	_, err := s.uc.WriteToUDP(b, s.dst)
	return err
}

// LocalAddr returns the address the Sender sends from.
func (s *Sender) LocalAddr() netip.AddrPort {
	return s.uc.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Group returns the group and port the Sender sends to.
func (s *Sender) Group() netip.AddrPort { return s.dst.AddrPort() }

// Interface returns the interface the Sender sends out of.
func (s *Sender) Interface() *net.Interface { return s.ifi }

// UDPConn returns the underlying socket, for batch writes (x/net's
// WriteBatch) or options that Sender does not set.
func (s *Sender) UDPConn() *net.UDPConn { return s.uc }

// Close closes the socket and returns its error. It is idempotent: later
// calls do nothing and return nil. Send after Close returns an error for
// which errors.Is(err, net.ErrClosed) holds.
func (s *Sender) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.uc.Close()
}
