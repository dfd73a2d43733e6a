package harness

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sharecast/sharecast/internal/netns"
	"github.com/sharecast/sharecast/internal/wire"
)

// sendBatch is how many datagrams one sendmmsg call sends.
const sendBatch = 64

type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

// sender sends the datagrams of one stream to a group through lo, with
// sendmmsg on a blocking socket of its own (not the runtime's poller), from
// a locked thread.
type sender struct {
	fd     int
	size   int
	stream uint64
	seq    uint64
	hdrs   []mmsghdr
	iovs   []unix.Iovec
	bufs   [][]byte
}

// newSender opens a sender to g of datagrams of size bytes. It refuses to
// open one if the namespace holds any interface but lo: what it sends must
// not leave the namespace.
func newSender(g netip.AddrPort, size int, stream uint64) (*sender, error) {
	if err := netns.CheckIsolated(); err != nil {
		return nil, fmt.Errorf("refusing to send: %w", err)
	}
	if !g.Addr().Is4() || !g.Addr().IsMulticast() {
		return nil, fmt.Errorf("sender: %s is not an IPv4 multicast group", g)
	}
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("sender: socket: %w", err)
	}
	s := &sender{fd: fd, size: size, stream: stream}
	err = unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(lo.Index)})
	if err == nil {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, 1)
	}
	if err == nil {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 1)
	}
	if err == nil {
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20) != nil {
			// Without CAP_NET_ADMIN the default stands; loopback frees
			// each datagram as it is delivered, so it is enough.
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
		}
		err = unix.Connect(fd, &unix.SockaddrInet4{Port: int(g.Port()), Addr: g.Addr().As4()})
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("sender: %w", err)
	}
	s.hdrs = make([]mmsghdr, sendBatch)
	s.iovs = make([]unix.Iovec, sendBatch)
	s.bufs = make([][]byte, sendBatch)
	for i := range s.bufs {
		b := make([]byte, size)
		wire.Header{Stream: stream}.Put(b)
		wire.Fill(b[wire.HeaderLen:], 0)
		s.bufs[i] = b
		s.iovs[i].Base = &b[0]
		s.iovs[i].SetLen(size)
		s.hdrs[i].hdr.Iov = &s.iovs[i]
		s.hdrs[i].hdr.SetIovlen(1)
	}
	return s, nil
}

func (s *sender) close() { unix.Close(s.fd) }

// send sends k datagrams (k <= sendBatch), stamped with the next sequence
// numbers and the time now, and returns how many went.
func (s *sender) send(k int) (int, error) {
	now := uint64(time.Now().UnixNano())
	for i := range k {
		b := s.bufs[i]
		// wire's header: sequence at 16, send time at 24 (big-endian)
		putBE64(b[16:], s.seq+uint64(i))
		putBE64(b[24:], now)
	}
	done := 0
	for done < k {
		n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&s.hdrs[done])), uintptr(k-done), 0, 0, 0)
		switch e {
		case 0:
			done += int(n)
		case unix.EINTR:
		case unix.ENOBUFS, unix.EAGAIN:
			// The queue is momentarily full: the kernel's say, not ours.
			time.Sleep(50 * time.Microsecond)
		default:
			s.seq += uint64(done)
			return done, fmt.Errorf("sender: sendmmsg: %w", e)
		}
	}
	s.seq += uint64(k)
	return k, nil
}

func putBE64(b []byte, v uint64) {
	_ = b[7]
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}

// sendResult is what a sender did in one run.
type sendResult struct {
	Sent    uint64
	Elapsed time.Duration
}

// Rate returns the datagrams sent per second.
func (r sendResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Sent) / r.Elapsed.Seconds()
}

// run sends for d, flat out if rate is 0, else at rate datagrams a
// second (paced per millisecond or so, in batches of up to sendBatch). It
// stops early if ctx ends.
func (s *sender) run(ctx context.Context, d time.Duration, rate float64) (sendResult, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := time.Now()
	end := start.Add(d)
	var sent uint64
	var err error
	for i := 0; ; i++ {
		now := time.Now()
		if !now.Before(end) {
			break
		}
		if i&255 == 0 && ctx.Err() != nil {
			err = ctx.Err()
			break
		}
		k := sendBatch
		if rate > 0 {
			due := int64(now.Sub(start).Seconds()*rate) - int64(sent)
			if due <= 0 {
				next := start.Add(time.Duration(float64(sent+1) / rate * float64(time.Second)))
				time.Sleep(min(next.Sub(now), end.Sub(now)))
				continue
			}
			k = int(min(due, sendBatch))
		}
		n, e := s.send(k)
		sent += uint64(n)
		if e != nil {
			err = e
			break
		}
	}
	return sendResult{Sent: sent, Elapsed: time.Since(start)}, err
}
