package mcast

import (
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// readXNet reads one datagram through x/net: the read path of every OS but
// Linux (read_other.go), built everywhere so that its tests run on Linux
// too. It allocates the control message that x/net returns.
//
// x/net reports no MSG_TRUNC, so readXNet reads into the buffer's whole
// capacity and takes a read that fills it as cut short: the last byte is
// the spare that tells a datagram that fits from one that does not (see
// ReadSlack). Windows reports a datagram longer than the buffer as the
// error WSAEMSGSIZE, which counts as truncated too.
func (c *Conn) readXNet(ds []Datagram) (int, error) {
	d := &ds[0]
	p := d.Payload[:cap(d.Payload)]
	var (
		n   int
		src net.Addr
		dst net.IP
		ifx int
		ttl = -1
		err error
	)
	if c.ipv6 {
		var cm *ipv6.ControlMessage
		n, cm, src, err = c.p6.ReadFrom(p)
		if cm != nil {
			dst, ifx = cm.Dst, cm.IfIndex
			if cm.HopLimit > 0 { // x/net leaves 0 where the OS did not say
				ttl = cm.HopLimit
			}
		}
	} else {
		var cm *ipv4.ControlMessage
		n, cm, src, err = c.p4.ReadFrom(p)
		if cm != nil {
			dst, ifx = cm.Dst, cm.IfIndex
			if cm.TTL > 0 { // x/net leaves 0 where the OS did not say
				ttl = cm.TTL
			}
		}
	}
	var sap netip.AddrPort
	if u, ok := src.(*net.UDPAddr); ok {
		sap = srcUnmap(u.AddrPort())
	}
	if err != nil {
		if isMsgSize(err) {
			c.countTruncated(sap, len(p)-1)
			return 0, nil
		}
		return 0, err
	}
	if n == len(p) {
		c.countTruncated(sap, len(p)-1)
		return 0, nil
	}
	d.Payload = p[:n]
	d.Source = sap
	d.Group = netip.Addr{}
	if a, ok := netip.AddrFromSlice(dst); ok {
		d.Group = a.Unmap()
	}
	d.IfIndex = ifx
	d.TTL = ttl
	d.Time = time.Now()
	if !c.accept(d) {
		return 0, nil
	}
	return 1, nil
}

// srcUnmap returns a source with an IPv4-mapped IPv6 address as IPv4.
func srcUnmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
