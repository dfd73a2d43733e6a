// Package sender sends UDP multicast for the example programs: to one
// group, out of one interface, with a TTL and loopback chosen by the
// caller. It is the sending half that the examples share (the market-data
// feed generator, the fan-out forwarder); receivers use package mcast.
package sender

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Config configures [Open]. The zero value sends out of the loopback
// interface with TTL 1 and loopback on, so that nothing leaves the host.
type Config struct {
	// Interface is the interface to send out of; nil means the loopback
	// interface ("lo" on Linux).
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

// Sender sends datagrams to one multicast group. It is safe for concurrent
// use.
type Sender struct {
	uc  *net.UDPConn
	dst *net.UDPAddr
}

// Open returns a Sender to group, a multicast address and port.
func Open(group netip.AddrPort, cfg *Config) (*Sender, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	if !group.Addr().IsMulticast() {
		return nil, fmt.Errorf("sender: %s is not a multicast group", group)
	}
	ifi := cfg.Interface
	if ifi == nil {
		lo, err := loopback()
		if err != nil {
			return nil, fmt.Errorf("sender: %w", err)
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
		return nil, fmt.Errorf("sender: %w", err)
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
		return nil, fmt.Errorf("sender: to %s on %s: %w", group, ifi.Name, err)
	}
	wb := cfg.WriteBuffer
	if wb == 0 {
		wb = 4 << 20
	}
	// Best effort: a smaller send buffer only makes Send block sooner.
	_ = uc.SetWriteBuffer(wb)
	return &Sender{uc: uc, dst: net.UDPAddrFromAddrPort(group)}, nil
}

func loopback() (*net.Interface, error) {
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

// Close closes the socket.
func (s *Sender) Close() error { return s.uc.Close() }

// InterfaceOf returns the interface that spec's interface text names (a
// name, an index or an address, as package group reads it), or nil for an
// empty text, which means the loopback interface to Open.
func InterfaceOf(text string) (*net.Interface, error) {
	if text == "" {
		return nil, nil
	}
	if ifi, err := net.InterfaceByName(text); err == nil {
		return ifi, nil
	}
	var idx int
	if _, err := fmt.Sscanf(text, "%d", &idx); err == nil && fmt.Sprint(idx) == text {
		return net.InterfaceByIndex(idx)
	}
	if a, err := netip.ParseAddr(text); err == nil {
		ifs, err := net.Interfaces()
		if err != nil {
			return nil, err
		}
		for i := range ifs {
			addrs, _ := ifs[i].Addrs()
			for _, ad := range addrs {
				if p, err := netip.ParsePrefix(ad.String()); err == nil && p.Addr() == a {
					return &ifs[i], nil
				}
			}
		}
	}
	return nil, fmt.Errorf("sender: no interface %q", text)
}
