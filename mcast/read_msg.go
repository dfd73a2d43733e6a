//go:build linux || windows

package mcast

import (
	"time"
)

// readMsg reads one datagram with ReadMsgUDPAddrPort into the buffer's
// whole capacity and its control messages into oob, which parse decodes:
// the read path of Windows (read_windows.go, with parseWinControl), where
// x/net parses no control messages. It is built on every OS so that a test
// on Linux runs it over real sockets with Linux's parser.
//
// As in readXNet, a read that fills the buffer is taken as cut short (the
// last byte is the spare, ReadSlack), and WSAEMSGSIZE counts as truncated.
func (c *Conn) readMsg(ds []Datagram, oob []byte, parse func([]byte) (pktInfo, error)) (int, error) {
	d := &ds[0]
	p := d.Payload[:cap(d.Payload)]
	n, oobn, _, src, err := c.uc.ReadMsgUDPAddrPort(p, oob)
	src = srcUnmap(src)
	if err != nil {
		if isMsgSize(err) {
			c.countTruncated(src, len(p)-1)
			return 0, nil
		}
		return 0, err
	}
	if n == len(p) {
		c.countTruncated(src, len(p)-1)
		return 0, nil
	}
	m, err := parse(oob[:oobn])
	if err != nil {
		c.badControl.Add(1)
	}
	d.Payload = p[:n]
	d.Source = src
	d.Group, d.IfIndex = m.dst, m.ifindex
	d.TTL = -1
	d.Time = time.Now()
	if !c.accept(d) {
		return 0, nil
	}
	return 1, nil
}
