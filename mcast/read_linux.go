package mcast

import (
	"encoding/binary"
	"net/netip"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DefaultBatchSize is the batch size when Config.BatchSize is 0: on Linux,
// 64 datagrams a recvmmsg call.
const DefaultBatchSize = 64

// MaxBatchSize caps Config.BatchSize (Linux's UIO_MAXIOV is 1024).
const MaxBatchSize = 1024

// oobSize is the control-message space per datagram: IPV6_PKTINFO (20 bytes
// of data) or IP_PKTINFO (12), SO_TIMESTAMPNS (16), SO_RXQ_OVFL (4) and
// IPV6_HOPLIMIT or IP_TTL (4), each behind a 16-byte header and padded to 8
// bytes (120 bytes at most), with room to spare.
const oobSize = 160

// mmsghdr is struct mmsghdr; Go's layout rules pad it as C does.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

// reader is the recvmmsg state of a Conn, allocated once. The system call
// runs in fn, a method value made once, so that a read allocates nothing.
type reader struct {
	hdrs  []mmsghdr
	names []unix.RawSockaddrInet6
	iovs  []unix.Iovec
	oob   []byte

	k, n    int // in: datagrams to read; out: datagrams read
	errno   syscall.Errno
	fn      func(fd uintptr) bool
	rxqLast uint32 // the last SO_RXQ_OVFL value seen
}

// countRxqOvfl folds one SO_RXQ_OVFL value (the socket's drop count, a
// wrapping 32-bit counter, as of the datagram it came with) into the
// total. readMu is held.
func (c *Conn) countRxqOvfl(v uint32) {
	if d := v - c.rd.rxqLast; d != 0 && d < 1<<31 {
		c.rxqDrops.Add(uint64(d))
		c.rd.rxqLast = v
	}
}

func (c *Conn) initReader() error {
	r := &c.rd
	r.hdrs = make([]mmsghdr, c.batch)
	r.names = make([]unix.RawSockaddrInet6, c.batch)
	r.iovs = make([]unix.Iovec, c.batch)
	r.oob = make([]byte, c.batch*oobSize)
	for i := range r.hdrs {
		h := &r.hdrs[i].hdr
		h.Iov = &r.iovs[i]
		h.SetIovlen(1)
	}
	r.fn = r.recvmmsg
	return nil
}

func (r *reader) recvmmsg(fd uintptr) bool {
	n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[0])), uintptr(r.k), 0, 0, 0)
	if e == unix.EAGAIN || e == unix.EWOULDBLOCK {
		return false // wait for the poller
	}
	if e == unix.EINTR {
		return false
	}
	r.n, r.errno = int(n), e
	return true
}

// ReadSlack is how many bytes ReadBatch keeps spare at the end of each
// buffer: a buffer of capacity size+ReadSlack holds datagrams of up to size
// bytes. None on Linux, where recvmmsg reports truncation (MSG_TRUNC); one
// elsewhere. Code that makes its own buffers for ReadBatch (package dispatch
// does) adds it, as NewBatch does.
const ReadSlack = 0

// readOS reads one batch with one recvmmsg call per wake-up.
func (c *Conn) readOS(ds []Datagram) (int, error) {
	r := &c.rd
	for i := range ds {
		p := ds[i].Payload[:cap(ds[i].Payload)]
		h := &r.hdrs[i].hdr
		r.iovs[i].Base = &p[0]
		r.iovs[i].SetLen(len(p))
		h.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		h.Namelen = unix.SizeofSockaddrInet6
		h.Control = &r.oob[i*oobSize]
		h.SetControllen(oobSize)
		h.Flags = 0
	}
	r.k, r.n, r.errno = len(ds), 0, 0
	if err := c.rc.Read(r.fn); err != nil {
		return 0, err
	}
	if r.errno != 0 {
		return 0, &readError{r.errno}
	}
	var now time.Time
	accepted := 0
	for i := 0; i < r.n; i++ {
		h := &r.hdrs[i]
		d := &ds[i]
		src := sockaddrToAddrPort(&r.names[i], h.hdr.Namelen)
		if h.hdr.Flags&unix.MSG_TRUNC != 0 {
			c.countTruncated(src, cap(d.Payload))
			continue
		}
		d.Payload = d.Payload[:h.len]
		d.Source = src
		var m rxMeta
		if err := parseControl(r.oob[i*oobSize:i*oobSize+int(h.hdr.Controllen)], &m); err != nil {
			c.badControl.Add(1)
		}
		if m.hasOvfl {
			c.countRxqOvfl(m.ovfl)
		}
		d.Group, d.IfIndex = m.dst, m.ifindex
		d.TTL = -1
		if m.hasTTL {
			d.TTL = m.ttl
		}
		if m.hasTime {
			d.Time = m.time
		} else {
			if now.IsZero() {
				now = time.Now()
			}
			d.Time = now
		}
		if !c.accept(d) {
			continue
		}
		if i != accepted {
			ds[i], ds[accepted] = ds[accepted], ds[i]
		}
		accepted++
	}
	return accepted, nil
}

// readError wraps an errno from recvmmsg as the os package would, without
// allocating on the (rare) path that creates it more than needed.
type readError struct{ errno syscall.Errno }

func (e *readError) Error() string { return "mcast: recvmmsg: " + e.errno.Error() }
func (e *readError) Unwrap() error { return e.errno }

func sockaddrToAddrPort(sa *unix.RawSockaddrInet6, l uint32) netip.AddrPort {
	switch sa.Family {
	case unix.AF_INET:
		if l < unix.SizeofSockaddrInet4 {
			return netip.AddrPort{}
		}
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa4.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port)
	case unix.AF_INET6:
		if l < unix.SizeofSockaddrInet6 {
			return netip.AddrPort{}
		}
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		a := netip.AddrFrom16(sa.Addr).Unmap()
		return netip.AddrPortFrom(a, port)
	}
	return netip.AddrPort{}
}

// rxMeta is what the control messages of one datagram say.
type rxMeta struct {
	dst     netip.Addr
	ifindex int
	time    time.Time
	hasTime bool
	ovfl    uint32
	hasOvfl bool
	ttl     int
	hasTTL  bool
}

// cmsgLenSize is the size of cmsghdr.cmsg_len (a size_t on Linux).
const cmsgLenSize = int(unsafe.Sizeof(unix.Cmsghdr{}.Len))

// parseControl reads the control messages in b (as recvmsg leaves them)
// into m. It knows IP_PKTINFO, IPV6_PKTINFO, SO_TIMESTAMPNS, SO_RXQ_OVFL,
// IP_TTL and IPV6_HOPLIMIT and skips the others. It never reads past b and allocates nothing; a
// malformed message stops the parse with errBadControl, keeping what was
// read before it.
func parseControl(b []byte, m *rxMeta) error {
	const hdr = unix.SizeofCmsghdr
	for len(b) > 0 {
		if len(b) < hdr {
			return errBadControl
		}
		var l uint64
		if cmsgLenSize == 8 {
			l = binary.NativeEndian.Uint64(b)
		} else {
			l = uint64(binary.NativeEndian.Uint32(b))
		}
		if l < hdr || l > uint64(len(b)) {
			return errBadControl
		}
		level := int32(binary.NativeEndian.Uint32(b[cmsgLenSize:]))
		typ := int32(binary.NativeEndian.Uint32(b[cmsgLenSize+4:]))
		data := b[hdr:l]
		switch {
		case level == unix.IPPROTO_IP && typ == unix.IP_PKTINFO:
			// struct in_pktinfo { int ipi_ifindex; in_addr ipi_spec_dst; in_addr ipi_addr; }
			if len(data) < 12 {
				return errBadControl
			}
			m.ifindex = int(binary.NativeEndian.Uint32(data))
			m.dst = netip.AddrFrom4([4]byte(data[8:12]))
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_PKTINFO:
			// struct in6_pktinfo { in6_addr ipi6_addr; int ipi6_ifindex; }
			if len(data) < 20 {
				return errBadControl
			}
			m.dst = netip.AddrFrom16([16]byte(data[:16])).Unmap()
			m.ifindex = int(binary.NativeEndian.Uint32(data[16:]))
		case level == unix.SOL_SOCKET && typ == unix.SO_TIMESTAMPNS:
			// struct timespec, two longs
			w := cmsgLenSize
			if len(data) < 2*w {
				return errBadControl
			}
			var sec, nsec int64
			if w == 8 {
				sec = int64(binary.NativeEndian.Uint64(data))
				nsec = int64(binary.NativeEndian.Uint64(data[8:]))
			} else {
				sec = int64(int32(binary.NativeEndian.Uint32(data)))
				nsec = int64(int32(binary.NativeEndian.Uint32(data[4:])))
			}
			m.time, m.hasTime = time.Unix(sec, nsec), true
		case level == unix.IPPROTO_IP && typ == unix.IP_TTL, level == unix.IPPROTO_IPV6 && typ == unix.IPV6_HOPLIMIT:
			// an int
			if len(data) < 4 {
				return errBadControl
			}
			m.ttl, m.hasTTL = int(int32(binary.NativeEndian.Uint32(data))), true
		case level == unix.SOL_SOCKET && typ == unix.SO_RXQ_OVFL:
			if len(data) < 4 {
				return errBadControl
			}
			m.ovfl, m.hasOvfl = binary.NativeEndian.Uint32(data), true
		}
		next := (int(l) + cmsgLenSize - 1) &^ (cmsgLenSize - 1)
		if next >= len(b) {
			return nil
		}
		b = b[next:]
	}
	return nil
}
