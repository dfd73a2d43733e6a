package mcast

import (
	"net/netip"
	"time"
)

// Datagram is one received datagram and what the kernel said about it.
//
// Ownership: Payload aliases a buffer that the caller of [Conn.ReadBatch]
// supplied. mcast keeps no reference to it after ReadBatch returns, so it
// stays valid until the caller reuses the buffer; code that hands a
// Datagram to others (such as package dispatch) documents how long they may
// use it. Whoever keeps the bytes past that point copies them.
type Datagram struct {
	// Payload holds the datagram's bytes. On input to ReadBatch its whole
	// capacity is the receive buffer; on output it is resliced to the
	// datagram's length. A datagram longer than the buffer is never
	// returned: it is counted in Stats.Truncated. Outside Linux, where
	// the OS does not say that it cut a datagram short, ReadBatch keeps
	// the buffer's last byte spare, so a buffer holds datagrams one byte
	// shorter than its capacity ([ReadSlack]; [NewBatch] adds that byte).
	Payload []byte

	// Source is the sender's address and port.
	Source netip.AddrPort

	// Group is the datagram's destination address: the multicast group it
	// was sent to (or the unicast address, with Config.AcceptUnicast). It
	// is the zero Addr where the OS does not report destinations.
	Group netip.Addr

	// IfIndex is the index of the interface on which the datagram arrived,
	// or 0 where the OS does not report it.
	IfIndex int

	// TTL is the IPv4 TTL or IPv6 hop limit that the datagram arrived with
	// (IP_RECVTTL, IPV6_RECVHOPLIMIT on Linux), or -1 where the OS does
	// not report it.
	TTL int

	// Time is the kernel's receive timestamp (SO_TIMESTAMPNS on Linux), or,
	// where the kernel gives none, the time ReadBatch returned.
	Time time.Time

	// Tag is never read or written by mcast. It moves with Payload when
	// ReadBatch reorders the batch (it drops rejected datagrams in place),
	// so a caller that pools buffers can find its own record of each.
	Tag int
}

// NewBatch returns n Datagrams, each with a receive buffer for datagrams of
// up to size bytes, ready for [Conn.ReadBatch]. A size of 0 means 65,535
// bytes, enough for any UDP datagram over IPv4. Outside Linux each buffer
// has one byte more than size, which ReadBatch keeps spare.
func NewBatch(n, size int) []Datagram { return newBatch(n, size, ReadSlack) }

func newBatch(n, size, slack int) []Datagram {
	if size <= 0 {
		size = MaxDatagramSize
	}
	size += slack
	buf := make([]byte, n*size)
	ds := make([]Datagram, n)
	for i := range ds {
		ds[i].Payload = buf[i*size : (i+1)*size : (i+1)*size]
		ds[i].Tag = i
	}
	return ds
}

// MaxDatagramSize is the largest UDP payload that IPv4 and (without jumbo
// grams) IPv6 can carry, rounded up to a 16-bit length.
const MaxDatagramSize = 65535
