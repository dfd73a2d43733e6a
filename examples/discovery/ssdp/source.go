package ssdp

import (
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/sharecast/sharecast/mcast"
)

// unicastSource is a dispatch.Source over a plain unicast UDP socket: the
// agent's search socket, on a port the kernel chose, which package mcast
// (made for shared, named ports) does not open. It reads one datagram a
// call.
type unicastSource struct {
	uc        *net.UDPConn
	local     netip.AddrPort
	truncated atomic.Uint64
}

func listenUnicast(network string) (*unicastSource, error) {
	uc, err := net.ListenUDP(network, nil)
	if err != nil {
		return nil, err
	}
	return &unicastSource{uc: uc, local: uc.LocalAddr().(*net.UDPAddr).AddrPort()}, nil
}

// ReadBatch reads one datagram into ds[0]. A datagram that fills the
// buffer may have been cut short: it is dropped and counted.
func (s *unicastSource) ReadBatch(ds []mcast.Datagram) (int, error) {
	d := &ds[0]
	p := d.Payload[:cap(d.Payload)]
	n, src, err := s.uc.ReadFromUDPAddrPort(p)
	if err != nil {
		return 0, err
	}
	if n == len(p) {
		s.truncated.Add(1)
		return 0, nil
	}
	d.Payload, d.Source = p[:n], netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	d.Group, d.IfIndex, d.TTL, d.Time = s.local.Addr(), 0, -1, time.Now()
	return 1, nil
}

func (s *unicastSource) SetReadDeadline(t time.Time) error { return s.uc.SetReadDeadline(t) }
func (s *unicastSource) LocalAddr() netip.AddrPort         { return s.local }
func (s *unicastSource) BatchSize() int                    { return 1 }
