package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/mcast"
)

// Consumer is one process's attachment to a hub: a [Source] per hub socket,
// each a dispatch.Source, so that a dispatch.Server serves its handlers
// from the hub as it would from sockets. Its methods are safe for
// concurrent use.
type Consumer struct {
	name    string
	conn    *net.UnixConn
	slot    int
	hubPID  int
	ctl     []byte
	sources []*Source

	mapMu sync.RWMutex // held to unmap ctl; kick holds it to use it

	gone      atomic.Bool
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
	watchDone chan struct{}
}

// Source is one ring of a hub, read by one consumer. It implements
// dispatch.Source (and LocalAddr, Stats and BatchSize, which a
// dispatch.Server uses). ReadBatch copies each datagram from the ring into
// the caller's buffer: no system call while datagrams are there, no
// allocation; when the ring is empty it spins briefly, then sleeps on a
// futex that the hub wakes.
type Source struct {
	c      *Consumer
	name   string
	local  netip.AddrPort
	mem    []byte
	r      *reader
	word   *uint32
	waiter *uint32

	mu       sync.Mutex   // held by ReadBatch, and by Close to unmap
	deadline atomic.Int64 // unix ns; 0 = none
	unmapped bool

	delivered, overrun, truncated, bytes atomic.Uint64
}

// spins is how many times an empty ring is checked again before the
// reader sleeps; backstop bounds each sleep, so that a wake-up lost to a
// race costs that much delay at most.
const (
	spins    = 200
	backstop = 250 * time.Millisecond
)

// Attach attaches to the hub named name (empty: DefaultName) in this
// network namespace. It fails with ErrNoHub when none listens under the
// name, ErrAccessDenied when the hub refuses this process's user,
// ErrUntrustedHub when the hub's user is not trusted, ErrHubFull when it
// has no slot left. The consumer starts at the hub's newest datagram: it
// gets every datagram that the hub accepts from then on, but for those it
// loses to overrun, which it counts.
func Attach(name string, cfg *AttachConfig) (_ *Consumer, err error) {
	var ac AttachConfig
	if cfg != nil {
		ac = *cfg
	}
	if name == "" {
		name = DefaultName
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	addr := Addr(name)
	conn, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: addr, Net: "unixpacket"})
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return nil, fmt.Errorf("hub: attach %s (%s): %w", name, addr, ErrNoHub)
		}
		return nil, fmt.Errorf("hub: attach %s (%s): %w", name, addr, err)
	}
	c := &Consumer{name: name, conn: conn, watchDone: make(chan struct{})}
	var fds []int
	defer func() {
		if err != nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
			c.unmap()
			conn.Close()
		}
	}()
	cred, err := peerCred(conn)
	if err != nil {
		return nil, fmt.Errorf("hub: attach %s: %w", name, err)
	}
	if uid := int(cred.Uid); uid != os.Geteuid() && uid != 0 && !slices.Contains(ac.TrustUIDs, uid) {
		return nil, fmt.Errorf("hub: attach %s: the hub (pid %d) runs as uid %d: %w", name, cred.Pid, uid, ErrUntrustedHub)
	}
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace((maxRings+1)*4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("hub: attach %s: reading the hub's answer: %w", name, err)
	}
	if fds, err = parseRights(oob[:oobn]); err != nil {
		return nil, fmt.Errorf("hub: attach %s: %w: %w", name, err, ErrProtocol)
	}
	if n == 0 {
		return nil, fmt.Errorf("hub: attach %s: the hub closed the connection: %w", name, ErrHubGone)
	}
	var hl hello
	if err := json.Unmarshal(buf[:n], &hl); err != nil {
		return nil, fmt.Errorf("hub: attach %s: answer: %w: %w", name, err, ErrProtocol)
	}
	switch {
	case hl.Denied:
		return nil, fmt.Errorf("hub: attach %s: %s: %w", name, hl.Error, ErrAccessDenied)
	case hl.Full:
		return nil, fmt.Errorf("hub: attach %s: %s: %w", name, hl.Error, ErrHubFull)
	case hl.Version != layoutVer:
		return nil, fmt.Errorf("hub: attach %s: hub speaks version %d, not %d: %w", name, hl.Version, layoutVer, ErrProtocol)
	case len(hl.Rings) == 0 || len(hl.Rings) > maxRings || len(fds) != len(hl.Rings)+1 ||
		hl.MaxCons <= 0 || hl.Slot < 0 || hl.Slot >= hl.MaxCons:
		return nil, fmt.Errorf("hub: attach %s: %d rings, %d descriptors, slot %d of %d: %w", name, len(hl.Rings), len(fds), hl.Slot, hl.MaxCons, ErrProtocol)
	}
	c.slot, c.hubPID = hl.Slot, hl.HubPID
	if c.ctl, err = mapFD(fds[0], true); err != nil {
		return nil, fmt.Errorf("hub: attach %s: control area: %w", name, err)
	}
	if len(c.ctl) != ctlSize(len(hl.Rings), hl.MaxCons) || atomic.LoadUint64(u64(c.ctl, chMagic)) != ctlMagic ||
		int(atomic.LoadUint32(u32(c.ctl, chRings))) != len(hl.Rings) || int(atomic.LoadUint32(u32(c.ctl, chMaxCons))) != hl.MaxCons {
		return nil, fmt.Errorf("hub: attach %s: control area does not match the answer: %w", name, ErrProtocol)
	}
	for i, hr := range hl.Rings {
		s := &Source{c: c, name: hr.Socket, local: hr.Local}
		c.sources = append(c.sources, s)
		if s.mem, err = mapFD(fds[i+1], false); err != nil {
			return nil, fmt.Errorf("hub: attach %s: ring %s: %w", name, hr.Socket, err)
		}
		line := c.ctl[ctlLine(len(hl.Rings), hl.Slot, i):][:ctlLineLen]
		if s.r, err = newReader(s.mem, line); err != nil {
			return nil, fmt.Errorf("hub: attach %s: ring %s: %w", name, hr.Socket, err)
		}
		s.word = u32(c.ctl, ctlWake+i*cacheLine+wkWord)
		s.waiter = u32(c.ctl, ctlWake+i*cacheLine+wkWaiters)
	}
	for _, fd := range fds {
		unix.Close(fd) // the mappings keep the memory
	}
	fds = nil
	go c.watch()
	ac.Logger.Debug().Str("hub", name).Int("slot", c.slot).Int("hub_pid", c.hubPID).Int("rings", len(c.sources)).Msg("attached")
	return c, nil
}

// parseRights returns the descriptors of an SCM_RIGHTS message.
func parseRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("control message: %w", err)
	}
	var fds []int
	for i := range msgs {
		f, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			return fds, fmt.Errorf("control message: %w", err)
		}
		fds = append(fds, f...)
	}
	return fds, nil
}

// mapFD maps a memfd, shared, read-only unless write.
func mapFD(fd int, write bool) ([]byte, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Size < ringHeader || st.Size > 1<<36 {
		return nil, fmt.Errorf("memfd of %d bytes: %w", st.Size, ErrProtocol)
	}
	prot := unix.PROT_READ
	if write {
		prot |= unix.PROT_WRITE
	}
	return unix.Mmap(fd, 0, int(st.Size), prot, unix.MAP_SHARED)
}

// watch waits for the hub's end of the connection to close, then marks
// the hub gone and wakes the readers.
func (c *Consumer) watch() {
	defer close(c.watchDone)
	var b [64]byte
	for {
		if _, err := c.conn.Read(b[:]); err != nil {
			break
		}
	}
	c.gone.Store(true)
	for _, s := range c.sources {
		s.kick()
	}
}

// Sources returns the consumer's sources, one per hub socket, in the
// hub's order. The slice is a copy; the Sources are the Consumer's.
func (c *Consumer) Sources() []*Source { return slices.Clone(c.sources) }

// AddTo adds every Source to srv, each under its hub socket's name
// ("udp4:5000"), so that srv serves its handlers from the hub.
func (c *Consumer) AddTo(srv *dispatch.Server) error {
	for _, s := range c.sources {
		if err := srv.AddSource(s.name, s); err != nil {
			return err
		}
	}
	return nil
}

// Gone reports whether the hub has gone (its connection ended).
func (c *Consumer) Gone() bool { return c.gone.Load() }

// Slot returns the consumer's slot in the hub, HubPID the hub's process.
func (c *Consumer) Slot() int   { return c.slot }
func (c *Consumer) HubPID() int { return c.hubPID }

// Close detaches: the hub frees the consumer's slot, and the Sources'
// reads return net.ErrClosed (a read in progress returns first). It is
// idempotent.
func (c *Consumer) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		for _, s := range c.sources {
			s.kick()
		}
		c.closeErr = c.conn.Close()
		<-c.watchDone
		for _, s := range c.sources {
			s.mu.Lock()
			if s.mem != nil {
				s.r.publish()
				unix.Munmap(s.mem)
				s.mem = nil
			}
			s.unmapped = true
			s.mu.Unlock()
		}
		c.unmap()
	})
	return c.closeErr
}

// unmap unmaps the control area and the rings of an attach that failed or
// a closed consumer.
func (c *Consumer) unmap() {
	for _, s := range c.sources {
		if s.mem != nil {
			unix.Munmap(s.mem)
			s.mem = nil
		}
	}
	c.mapMu.Lock()
	defer c.mapMu.Unlock()
	if c.ctl != nil {
		unix.Munmap(c.ctl)
		c.ctl = nil
	}
}

// Name returns the Source's hub socket name ("udp4:5000").
func (s *Source) Name() string { return s.name }

// LocalAddr returns the hub socket's local address; its port is the
// destination port of every datagram of the Source.
func (s *Source) LocalAddr() netip.AddrPort { return s.local }

// BatchSize returns how many datagrams a ReadBatch may return at most.
func (s *Source) BatchSize() int { return 256 }

// kick bumps the ring's futex word and wakes its sleepers, so that a
// reader sees a change of state (deadline, close, hub gone) at once.
func (s *Source) kick() {
	s.c.mapMu.RLock()
	defer s.c.mapMu.RUnlock()
	if s.word == nil || s.c.ctl == nil {
		return
	}
	atomic.AddUint32(s.word, 1)
	futexWakeAll(s.word)
}

// SetReadDeadline sets the time after which ReadBatch returns
// os.ErrDeadlineExceeded; the zero time means none.
func (s *Source) SetReadDeadline(t time.Time) error {
	if s.c.closed.Load() {
		return net.ErrClosed
	}
	var ns int64
	if !t.IsZero() {
		ns = max(t.UnixNano(), 1)
	}
	s.deadline.Store(ns)
	s.kick()
	return nil
}

// ReadBatch fills ds with the next datagrams of the ring, with their
// metadata (source, group, interface, TTL, kernel timestamp), as
// mcast.Conn.ReadBatch does. It waits while the ring is empty; it returns
// os.ErrDeadlineExceeded past the deadline, net.ErrClosed after Close, and
// an error that wraps ErrHubGone once the hub has gone and the ring holds
// nothing more to read. A datagram longer than its buffer is skipped and
// counted (Stats().Truncated). Call it from one goroutine at a time.
func (s *Source) ReadBatch(ds []mcast.Datagram) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unmapped || s.c.closed.Load() {
		return 0, net.ErrClosed
	}
	if len(ds) == 0 {
		return 0, nil
	}
	idle := 0
	for {
		if dl := s.deadline.Load(); dl != 0 && time.Now().UnixNano() >= dl {
			return 0, os.ErrDeadlineExceeded
		}
		n := s.fill(ds)
		if n > 0 {
			return n, nil
		}
		if s.c.closed.Load() {
			return 0, net.ErrClosed
		}
		if s.c.gone.Load() {
			if s.r.available() {
				continue // what the hub wrote before it went
			}
			return 0, fmt.Errorf("hub %s: %s: %w", s.c.name, s.name, ErrHubGone)
		}
		if idle < spins {
			idle++
			if idle%16 == 0 {
				runtime.Gosched()
			}
			continue
		}
		s.sleep()
	}
}

// fill reads up to len(ds) datagrams and publishes where the reader is.
func (s *Source) fill(ds []mcast.Datagram) int {
	r := s.r
	d0, o0, t0, b0 := r.delivered, r.overrun, r.truncated, r.bytes
	n := 0
	for n < len(ds) {
		d := &ds[n]
		res, k, src, grp, ifi, ttl, t := r.read(d.Payload[:cap(d.Payload)])
		switch res {
		case slotEmpty:
			goto done
		case slotOK:
			d.Payload = d.Payload[:k]
			d.Source, d.Group, d.IfIndex, d.TTL, d.Time = src, grp, ifi, ttl, t
			n++
		}
	}
done:
	if r.delivered != d0 || r.overrun != o0 || r.truncated != t0 {
		r.publish()
		s.delivered.Add(r.delivered - d0)
		s.overrun.Add(r.overrun - o0)
		s.truncated.Add(r.truncated - t0)
		s.bytes.Add(r.bytes - b0)
	}
	return n
}

// sleep waits on the ring's futex word until the writer (or kick) bumps
// it, or the deadline or the backstop passes.
func (s *Source) sleep() {
	w := atomic.LoadUint32(s.word)
	atomic.StoreUint32(s.waiter, 1)
	if s.r.available() || s.c.closed.Load() || s.c.gone.Load() {
		return
	}
	d := backstop
	if dl := s.deadline.Load(); dl != 0 {
		d = min(d, time.Duration(dl-time.Now().UnixNano()))
		if d <= 0 {
			return
		}
	}
	futexSleep(s.word, w, d)
}

// Stats returns the Source's counters as mcast.Stats: Datagrams and Bytes
// delivered, Truncated (longer than the caller's buffer). Overruns are in
// [Source.Overrun], since the kernel dropped nothing.
func (s *Source) Stats() mcast.Stats {
	return mcast.Stats{Datagrams: s.delivered.Load(), Bytes: s.bytes.Load(), Truncated: s.truncated.Load()}
}

// Overrun returns how many datagrams the hub overwrote before this Source
// read them.
func (s *Source) Overrun() uint64 { return s.overrun.Load() }

// Delivered returns how many datagrams ReadBatch returned.
func (s *Source) Delivered() uint64 { return s.delivered.Load() }
