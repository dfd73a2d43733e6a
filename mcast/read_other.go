//go:build !linux

package mcast

import (
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// DefaultBatchSize is the batch size when Config.BatchSize is 0. Outside
// Linux there is no batch read: one datagram a call.
const DefaultBatchSize = 1

// MaxBatchSize caps Config.BatchSize.
const MaxBatchSize = 1

// reader is empty outside Linux: x/net reads one datagram a call.
type reader struct{}

// initReader asks x/net for the destination address and interface of each
// datagram. Where the OS cannot say (Windows), the destination check is
// skipped: see the package doc's BUG note.
func (c *Conn) initReader() error {
	var err error
	if c.ipv6 {
		err = c.p6.SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true)
	} else {
		err = c.p4.SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true)
	}
	if err != nil {
		c.log.Debug().Err(err).Msg("no destination control messages on this OS")
	}
	return nil
}

// readOS reads one datagram. It allocates the control message that x/net
// returns.
func (c *Conn) readOS(ds []Datagram) (int, error) {
	d := &ds[0]
	p := d.Payload[:cap(d.Payload)]
	var (
		n    int
		src  net.Addr
		dst  net.IP
		ifx  int
		err  error
		full = len(p)
	)
	// Read one byte more than the buffer where possible, to see truncation:
	// x/net does not report MSG_TRUNC, so a datagram that fills the buffer
	// exactly is taken as cut short only if the buffer is the largest size.
	if c.ipv6 {
		var cm *ipv6.ControlMessage
		n, cm, src, err = c.p6.ReadFrom(p)
		if cm != nil {
			dst, ifx = cm.Dst, cm.IfIndex
		}
	} else {
		var cm *ipv4.ControlMessage
		n, cm, src, err = c.p4.ReadFrom(p)
		if cm != nil {
			dst, ifx = cm.Dst, cm.IfIndex
		}
	}
	if err != nil {
		return 0, err
	}
	var sap netip.AddrPort
	if u, ok := src.(*net.UDPAddr); ok {
		sap = u.AddrPort()
		sap = netip.AddrPortFrom(sap.Addr().Unmap(), sap.Port())
	}
	if n == full && full < MaxDatagramSize {
		c.countTruncated(sap, full)
		return 0, nil
	}
	d.Payload = p[:n]
	d.Source = sap
	d.Group = netip.Addr{}
	if a, ok := netip.AddrFromSlice(dst); ok {
		d.Group = a.Unmap()
	}
	d.IfIndex = ifx
	d.Time = time.Now()
	if !c.accept(d) {
		return 0, nil
	}
	return 1, nil
}
