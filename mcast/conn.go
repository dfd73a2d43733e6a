package mcast

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/sharecast/sharecast/internal/sockerr"
)

// DefaultReadBuffer is the receive buffer that a Conn asks for when
// Config.ReadBuffer is 0: 4 MiB, room for about 2,700 full-size Ethernet
// datagrams, or a burst of some milliseconds of a fast feed.
const DefaultReadBuffer = 4 << 20

// MaxReadBuffer is the largest Config.ReadBuffer that Listen takes:
// 1 GiB - 1 byte. setsockopt takes the size as a C int, and Linux caps
// SO_RCVBUF at INT_MAX/2 (it doubles what it grants), so a larger value
// would be cut short, or wrap, on the way to the kernel.
const MaxReadBuffer = math.MaxInt32 / 2

// Config configures [Listen]. The zero value is ready to use and means the
// defaults that each field documents. A Config may be shared by several
// Listen calls; Listen does not modify it.
type Config struct {
	// Share says with whom the port is shared. The default, ShareAnyUser,
	// shares it with any socket that asks to share it.
	Share Share

	// ReadBuffer is the receive buffer (SO_RCVBUF) to ask the kernel for,
	// in bytes. 0 means DefaultReadBuffer; a negative value leaves the
	// kernel's default. Where the kernel grants less (Linux caps it at
	// net.core.rmem_max), Listen tries SO_RCVBUFFORCE, which root or
	// CAP_NET_ADMIN may use, and logs one warning if it is still short.
	// [Conn.ReadBuffer] reports what was granted. More than MaxReadBuffer
	// is refused (ErrInvalidConfig).
	ReadBuffer int

	// BatchSize is the most datagrams that one ReadBatch call reads with
	// one system call (recvmmsg on Linux). 0 means DefaultBatchSize. Where
	// the OS has no batch read it is 1.
	BatchSize int

	// AcceptUnicast, when set, passes on datagrams whose destination is not
	// a group this socket joined (unicast or broadcast to the port). By
	// default they are dropped and counted in Stats.Filtered.
	AcceptUnicast bool

	// Logger receives the Conn's log events. The zero value logs nothing.
	Logger zerolog.Logger
}

// Stats are the counters of one Conn. All counters only grow.
type Stats struct {
	// Datagrams and Bytes count what ReadBatch returned.
	Datagrams, Bytes uint64
	// Truncated counts datagrams longer than their receive buffer (MSG_TRUNC),
	// which were dropped rather than passed on cut short.
	Truncated uint64
	// KernelDrops counts datagrams the kernel dropped for this socket
	// because its receive buffer was full (SO_RXQ_OVFL; on Linux, Stats
	// reads the socket's current count through SO_MEMINFO as well, since
	// SO_RXQ_OVFL only arrives with the next datagram).
	KernelDrops uint64
	// Filtered counts datagrams whose destination was not a group this
	// socket joined, dropped by the destination check.
	Filtered uint64
	// BadControl counts datagrams whose control messages could not be
	// parsed; they are passed on without the metadata.
	BadControl uint64
}

// Conn is a UDP socket that receives multicast on a port it may share with
// other sockets. It wraps a *net.UDPConn, so that the runtime poller,
// deadlines and Close work as usual.
//
// ReadBatch may be called from one goroutine at a time (concurrent calls are
// serialised); every other method is safe for concurrent use.
type Conn struct {
	uc      *net.UDPConn
	rc      syscall.RawConn
	ipv6    bool
	local   netip.AddrPort
	share   Share
	unicast bool
	rcvbuf  int
	batch   int
	log     zerolog.Logger
	slog    zerolog.Logger // sampled, for per-datagram events

	p4 *ipv4.PacketConn
	p6 *ipv6.PacketConn

	readMu sync.Mutex
	rd     reader // OS-specific read state; guarded by readMu

	mu      sync.Mutex
	members map[Membership]struct{}
	blocked map[Membership]struct{}
	groups  atomic.Pointer[[]dest] // joined (group, interface) pairs, for the destination check

	datagrams, bytes, truncated, filtered, badControl atomic.Uint64
	rxqDrops                                          atomic.Uint64

	closeOnce sync.Once
	closeErr  error
}

// Listen opens a UDP socket for receiving multicast, bound to address on
// network, and sets its options for cfg.Share. Network is "udp4" or "udp6";
// address is "host:port" as for net.ListenPacket, where an empty host means
// the wildcard address of the family, which is what a receiver that joins
// groups normally binds. A nil cfg means the zero Config.
//
// The socket joins no group: call [Conn.JoinGroup] or
// [Conn.JoinSourceSpecificGroup], or use package group.
//
// A bind that the kernel refuses because the port is held returns an error
// that wraps ErrPortInUse (or ErrAccessDenied) and names the share mode.
func Listen(ctx context.Context, network, address string, cfg *Config) (*Conn, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	var v6 bool
	switch network {
	case "udp4":
	case "udp6":
		v6 = true
	default:
		return nil, fmt.Errorf("mcast: network %q (want udp4 or udp6): %w", network, ErrInvalidConfig)
	}
	bind, err := parseBind(address, v6)
	if err != nil {
		return nil, err
	}
	if cfg.ReadBuffer > MaxReadBuffer {
		return nil, fmt.Errorf("mcast: receive buffer of %d bytes: the most a socket takes is %d (1 GiB - 1): %w", cfg.ReadBuffer, MaxReadBuffer, ErrInvalidConfig)
	}
	opts, err := options(goos, cfg.Share, v6)
	if err != nil {
		return nil, fmt.Errorf("mcast: listen %s %s: %w", network, bind, err)
	}
	batch := cfg.BatchSize
	if batch <= 0 {
		batch = DefaultBatchSize
	}
	if batch > MaxBatchSize {
		batch = MaxBatchSize
	}

	c := &Conn{
		ipv6:    v6,
		share:   cfg.Share,
		unicast: cfg.AcceptUnicast,
		batch:   batch,
		log:     cfg.Logger.With().Str("component", "mcast").Logger(),
		members: make(map[Membership]struct{}),
		blocked: make(map[Membership]struct{}),
	}
	if w := exclusiveWarning(goos, cfg.Share); w != "" {
		c.log.Warn().Str("os", goos).Msg(w)
	}
	c.slog = c.log.Sample(&zerolog.BurstSampler{Burst: 5, Period: 10 * time.Second})
	c.groups.Store(new([]dest))

	var ctlErr error
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		err := rc.Control(func(fd uintptr) {
			ctlErr = applyOptions(fd, opts, func(o sockopt, err error) {
				c.log.Debug().Err(err).Stringer("option", o.id).Msg("optional socket option not set")
			})
			if ctlErr == nil {
				c.rcvbuf = setReadBuffer(fd, cfg.ReadBuffer, c.log)
			}
		})
		if err != nil {
			return err
		}
		return ctlErr
	}}
	pc, err := lc.ListenPacket(ctx, network, bind.String())
	if err != nil {
		return nil, listenError(network, bind, cfg.Share, err)
	}
	c.uc = pc.(*net.UDPConn)
	if c.rc, err = c.uc.SyscallConn(); err != nil {
		c.uc.Close()
		return nil, fmt.Errorf("mcast: listen %s %s: %w", network, bind, err)
	}
	c.local = c.uc.LocalAddr().(*net.UDPAddr).AddrPort()
	if v6 {
		c.p6 = ipv6.NewPacketConn(c.uc)
	} else {
		c.p4 = ipv4.NewPacketConn(c.uc)
	}
	if err := c.initReader(); err != nil {
		c.uc.Close()
		return nil, fmt.Errorf("mcast: listen %s %s: %w", network, bind, err)
	}
	c.log.Debug().Str("local", c.local.String()).Stringer("share", c.share).
		Int("rcvbuf", c.rcvbuf).Int("batch", c.batch).Msg("listening")
	return c, nil
}

func parseBind(address string, ipv6 bool) (netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("mcast: address %q: %w: %w", address, ErrInvalidConfig, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, fmt.Errorf("mcast: port %q in %q (want 1-65535): %w", portStr, address, ErrInvalidConfig)
	}
	var ip netip.Addr
	switch {
	case host == "" && ipv6:
		ip = netip.IPv6Unspecified()
	case host == "":
		ip = netip.IPv4Unspecified()
	default:
		if ip, err = netip.ParseAddr(host); err != nil {
			return netip.AddrPort{}, fmt.Errorf("mcast: host %q in %q: %w", host, address, ErrInvalidConfig)
		}
		ip = ip.Unmap()
		if ip.Is6() != ipv6 {
			return netip.AddrPort{}, fmt.Errorf("mcast: address %s is not of the network's family: %w", ip, ErrInvalidConfig)
		}
	}
	return netip.AddrPortFrom(ip, uint16(port)), nil
}

// listenError classifies a failed bind.
func listenError(network string, bind netip.AddrPort, share Share, err error) error {
	return listenErrorOn(runtime.GOOS, network, bind, share, err)
}

// listenErrorOn classifies a failed bind by goos's error numbers (Windows'
// are not syscall's names): a test on Linux checks Windows' too.
func listenErrorOn(goos, network string, bind netip.AddrPort, share Share, err error) error {
	switch {
	case sockerr.IsOn(goos, err, sockerr.AddrInUse):
		return fmt.Errorf("mcast: listen %s %s with share=%s: %w: %w", network, bind, share, ErrPortInUse, err)
	case sockerr.IsOn(goos, err, sockerr.Access) && bind.Port() < unprivilegedPortStart():
		return &sentinelError{
			err: fmt.Errorf("mcast: listen %s %s: port %d is privileged (below %d): binding it needs root or CAP_NET_BIND_SERVICE: %w",
				network, bind, bind.Port(), unprivilegedPortStart(), err),
			is: []error{ErrPrivilegedPort, ErrAccessDenied},
		}
	case sockerr.IsOn(goos, err, sockerr.Access):
		return fmt.Errorf("mcast: listen %s %s with share=%s: %w: %w", network, bind, share, ErrAccessDenied, err)
	}
	return fmt.Errorf("mcast: listen %s %s with share=%s: %w", network, bind, share, err)
}

// setReadBuffer asks for the receive buffer and returns what was granted.
func setReadBuffer(fd uintptr, want int, log zerolog.Logger) int {
	if want == 0 {
		want = DefaultReadBuffer
	}
	if want < 0 {
		got, _ := getsockoptInt(fd, solSocket, soRcvbuf)
		return got
	}
	scale := tables[goos].rcvbufScale
	if scale == 0 {
		scale = 1
	}
	// An error here leaves the kernel's default, which the read-back below
	// reports and the warning names: a short buffer is a degraded socket,
	// not a failed one.
	_ = setsockoptInt(fd, solSocket, soRcvbuf, want)
	got, _ := getsockoptInt(fd, solSocket, soRcvbuf)
	if got < want*scale && soRcvbufMax >= 0 {
		// SO_RCVBUFFORCE fails with EPERM without CAP_NET_ADMIN; then the
		// value granted above stands.
		if setsockoptInt(fd, solSocket, soRcvbufMax, want) == nil {
			got, _ = getsockoptInt(fd, solSocket, soRcvbuf)
		}
	}
	if got < want*scale {
		log.Warn().Int("requested", want).Int("granted", got/scale).
			Msg("receive buffer smaller than requested; raise net.core.rmem_max (Linux) or kern.ipc.maxsockbuf (BSD), or run with CAP_NET_ADMIN")
	}
	return got
}

// LocalAddr returns the address and port the socket is bound to.
func (c *Conn) LocalAddr() netip.AddrPort { return c.local }

// UDPConn returns the underlying socket, for options that mcast does not
// set. Reading from it directly bypasses the counters and the destination
// check.
func (c *Conn) UDPConn() *net.UDPConn { return c.uc }

// IPv6 reports whether the socket is of the IPv6 family.
func (c *Conn) IPv6() bool { return c.ipv6 }

// Share returns the sharing mode the socket was opened with.
func (c *Conn) Share() Share { return c.share }

// ReadBuffer returns the receive buffer the kernel granted, as the kernel
// reports it (Linux reports twice the size that was set, the extra being its
// bookkeeping allowance).
func (c *Conn) ReadBuffer() int { return c.rcvbuf }

// ReadBufferGranted returns the receive buffer the kernel granted for
// datagrams, in the unit that Config.ReadBuffer asks in: ReadBuffer with
// Linux's doubling taken out (Linux reports twice what was set), and
// ReadBuffer itself elsewhere. Compare it with what was asked.
func (c *Conn) ReadBufferGranted() int {
	if scale := tables[goos].rcvbufScale; scale > 1 {
		return c.rcvbuf / scale
	}
	return c.rcvbuf
}

// BatchSize returns how many datagrams one ReadBatch call reads at most.
func (c *Conn) BatchSize() int { return c.batch }

// SetReadDeadline sets the deadline for ReadBatch, as net.Conn does.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.uc.SetReadDeadline(t) }

// Stats returns a snapshot of the counters. It is safe to call while another
// goroutine reads.
func (c *Conn) Stats() Stats {
	s := Stats{
		Datagrams:   c.datagrams.Load(),
		Bytes:       c.bytes.Load(),
		Truncated:   c.truncated.Load(),
		Filtered:    c.filtered.Load(),
		BadControl:  c.badControl.Load(),
		KernelDrops: c.rxqDrops.Load(),
	}
	var now uint32
	var ok bool
	// Control fails once the socket is closed; the counter from the
	// control messages then stands.
	_ = c.rc.Control(func(fd uintptr) { now, ok = kernelDrops(fd) })
	if ok && uint64(now) > s.KernelDrops {
		s.KernelDrops = uint64(now)
	}
	return s
}

// ReadBatch reads up to len(ds) datagrams (at most BatchSize) into the
// buffers of ds (the whole capacity of each ds[i].Payload) and returns how
// many it read. It blocks until at least one datagram is accepted, the read
// deadline passes or the Conn is closed. After Close it returns an error for
// which errors.Is(err, net.ErrClosed) holds.
//
// Datagrams that are truncated, or sent to a group this socket did not join,
// are counted and dropped; ReadBatch moves the accepted ones to the front of
// ds, swapping whole Datagram values, so each buffer keeps its Tag.
//
// On Linux one call is one recvmmsg system call per wake-up, and it
// allocates nothing.
func (c *Conn) ReadBatch(ds []Datagram) (int, error) {
	if len(ds) == 0 {
		return 0, nil
	}
	if len(ds) > c.batch {
		ds = ds[:c.batch]
	}
	for i := range ds {
		if cap(ds[i].Payload) == 0 {
			return 0, fmt.Errorf("mcast: read: datagram %d has no buffer: %w", i, ErrInvalidConfig)
		}
	}
	c.readMu.Lock()
	defer c.readMu.Unlock()
	for {
		n, err := c.readOS(ds)
		if n > 0 || err != nil {
			return n, err
		}
	}
}

// accept runs the checks that every OS's read path shares on one datagram
// and counts it. It reports whether the datagram is passed on.
func (c *Conn) accept(d *Datagram) bool {
	if !c.unicast && d.Group.IsValid() && !c.joined(d.Group, d.IfIndex) {
		c.filtered.Add(1)
		if e := c.slog.Debug(); e.Enabled() {
			e.Str("dst", d.Group.String()).Str("src", d.Source.String()).Msg("datagram to a group not joined, dropped")
		}
		return false
	}
	c.datagrams.Add(1)
	c.bytes.Add(uint64(len(d.Payload)))
	return true
}

func (c *Conn) countTruncated(src netip.AddrPort, size int) {
	c.truncated.Add(1)
	if e := c.slog.Warn(); e.Enabled() {
		e.Str("src", src.String()).Int("buffer", size).Msg("datagram larger than its buffer, dropped as truncated")
	}
}

// dest is a group joined on an interface (0: any interface).
type dest struct {
	group   netip.Addr
	ifIndex int
}

// joined reports whether the socket joined g on interface ifIndex. The
// interface matters for IPv6, where Linux delivers a group's datagrams to
// every socket that joined the group on any interface, once any socket on
// the host joined it on the interface they came in on.
func (c *Conn) joined(g netip.Addr, ifIndex int) bool {
	for _, d := range *c.groups.Load() {
		if d.group == g && (d.ifIndex == 0 || ifIndex == 0 || d.ifIndex == ifIndex) {
			return true
		}
	}
	return false
}

// Close closes the socket, which leaves every group it joined. It is
// idempotent: later calls return what the first returned.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.uc.Close()
		c.mu.Lock()
		clear(c.members)
		clear(c.blocked)
		c.groups.Store(new([]dest))
		c.mu.Unlock()
	})
	return c.closeErr
}

// updateGroups rebuilds the list for the destination check; c.mu is held.
func (c *Conn) updateGroups() {
	seen := make(map[dest]bool, len(c.members))
	gs := make([]dest, 0, len(c.members))
	for m := range c.members {
		d := dest{m.Group, m.IfIndex}
		if !seen[d] {
			seen[d] = true
			gs = append(gs, d)
		}
	}
	c.groups.Store(&gs)
}
