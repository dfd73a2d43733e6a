package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/user"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/sharecast/sharecast/dispatch"
)

// Hub receives groups on shared sockets and writes every datagram, once,
// into a ring in shared memory that any number of consumer processes read
// ([Attach]). Its methods are safe for concurrent use.
type Hub struct {
	cfg  Config
	log  zerolog.Logger
	addr string
	gid  int // the group allowed besides the hub's user, or -1

	recv   *dispatch.Receiver
	rings  []*hubRing
	byName map[string]*hubRing
	ctlFD  int
	ctl    []byte
	ln     *net.UnixListener

	mu       sync.Mutex
	slots    []*peer // by consumer slot; nil = free
	closed   bool
	unmapped bool // the rings and control area are unmapped (after Close)
	conns    sync.WaitGroup
	wakers   sync.WaitGroup
	serving  atomic.Bool

	attached, detached, refused atomic.Uint64

	tap func(*dispatch.Datagram) // tests: sees each datagram after it is written

	closeOnce sync.Once
	closeErr  error
}

type hubRing struct {
	wakeCh chan struct{} // to the ring's waker goroutine
	name   string
	local  netip.AddrPort
	fd     int
	mem    []byte
	w      *writer
	slots  int
	max    int
}

type peer struct {
	conn  *net.UnixConn
	pid   int
	uid   int
	since time.Time
}

// hello is the hub's answer to a consumer that it accepts; the ring and
// control memfds come with it (SCM_RIGHTS): the control area first, then
// one ring per entry of Rings.
type hello struct {
	Version int         `json:"version"`
	Error   string      `json:"error,omitempty"`
	Denied  bool        `json:"denied,omitempty"`
	Full    bool        `json:"full,omitempty"`
	Slot    int         `json:"slot"`
	MaxCons int         `json:"max_consumers"`
	Rings   []helloRing `json:"rings"`
	HubPID  int         `json:"hub_pid"`
}

type helloRing struct {
	Socket string         `json:"socket"`
	Local  netip.AddrPort `json:"local"`
}

// Listen opens the sockets of specs (group specs, as dispatch.Listen takes
// them), joins their groups, makes a ring per socket and opens the attach
// point, so that consumers may attach from then on; [Hub.Serve] receives.
// It fails with an error that wraps ErrInvalidConfig, dispatch's and
// mcast's errors, or EADDRINUSE when a hub of that name runs already. On
// error, whatever was opened is closed.
func Listen(ctx context.Context, specs []string, cfg *Config) (_ *Hub, err error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	h := &Hub{cfg: c, log: c.Logger.With().Str("component", "hub").Str("hub", c.Name).Logger(),
		addr: Addr(c.Name), gid: -1, ctlFD: -1, byName: map[string]*hubRing{}}
	if c.Group != "" {
		if h.gid, err = lookupGroup(c.Group); err != nil {
			return nil, err
		}
	}
	defer func() {
		if err != nil {
			h.Close()
		}
	}()
	var lc dispatch.ListenConfig
	if c.Listen != nil {
		lc = *c.Listen
	}
	lc.BufferSize = c.MaxDatagram
	lc.Handler = &dispatch.HandlerConfig{Name: "hub", Inline: true}
	lc.Logger = c.Logger
	if h.recv, err = dispatch.Listen(ctx, specs, dispatch.HandlerFunc(h.write), &lc); err != nil {
		return nil, err
	}
	socks := h.recv.Sockets()
	if len(socks) > maxRings {
		return nil, invalid("%d sockets, over %d", len(socks), maxRings)
	}
	if h.ctlFD, h.ctl, err = newMemfd("sharecast-hub-ctl", ctlSize(len(socks), c.MaxConsumers), true); err != nil {
		return nil, err
	}
	atomic.StoreUint32(u32(h.ctl, chVersion), layoutVer)
	atomic.StoreUint32(u32(h.ctl, chRings), uint32(len(socks)))
	atomic.StoreUint32(u32(h.ctl, chMaxCons), uint32(c.MaxConsumers))
	atomic.StoreUint64(u64(h.ctl, chMagic), ctlMagic)
	// Consumers write their lines into the control area; that no one can
	// seal it against the next consumer's mapping, seal the seals.
	if _, err := unix.FcntlInt(uintptr(h.ctlFD), unix.F_ADD_SEALS, unix.F_SEAL_SEAL); err != nil {
		return nil, fmt.Errorf("hub: memfd seals: %w", err)
	}
	slotSize := slotSizeFor(c.MaxDatagram)
	for i, s := range socks {
		local := s.Conn.LocalAddr()
		r := &hubRing{name: s.Name, local: local, fd: -1, slots: c.Slots, max: slotSize - slotHeader}
		h.rings = append(h.rings, r)
		if r.fd, r.mem, err = newMemfd("sharecast-hub-ring", ringSize(c.Slots, slotSize), true); err != nil {
			return nil, err
		}
		if err := sealWrites(r.fd); err != nil {
			return nil, err
		}
		fam := 4
		if local.Addr().Is6() && !local.Addr().Is4In6() {
			fam = 6
		}
		initRing(r.mem, ringGeom{slots: c.Slots, slotSize: slotSize, port: local.Port(), family: fam})
		// The writer hands the wake-up system call (which costs it more,
		// the more consumers sleep) to a goroutine of the ring's own, so
		// that the socket's reader is not held up by it. After a wake-up
		// the goroutine rests for WakeInterval: the writes meanwhile fold
		// into one pending wake-up (wakeCh holds one).
		r.wakeCh = make(chan struct{}, 1)
		word := u32(h.ctl, ctlWake+i*cacheLine+wkWord)
		h.wakers.Add(1)
		go func(iv time.Duration) {
			defer h.wakers.Done()
			for range r.wakeCh {
				futexWakeAll(word)
				if iv > 0 {
					time.Sleep(iv)
				}
			}
		}(c.WakeInterval)
		r.w = newWriter(r.mem, h.ctl, i, func(*uint32) {
			select {
			case r.wakeCh <- struct{}{}:
			default: // a wake-up is pending already
			}
		})
		h.byName[s.Name] = r
	}
	h.slots = make([]*peer, c.MaxConsumers)
	if h.ln, err = net.ListenUnix("unixpacket", &net.UnixAddr{Name: h.addr, Net: "unixpacket"}); err != nil {
		return nil, fmt.Errorf("hub: %s: attach point %s: %w", c.Name, h.addr, err)
	}
	h.conns.Add(1)
	go h.accept()
	h.log.Info().Str("addr", h.addr).Int("rings", len(h.rings)).Int("slots", c.Slots).Int("max_datagram", c.MaxDatagram).Msg("hub listening")
	return h, nil
}

// lookupGroup returns the gid of a group name or number.
func lookupGroup(g string) (int, error) {
	if n, err := strconv.Atoi(g); err == nil && n >= 0 {
		return n, nil
	}
	grp, err := user.LookupGroup(g)
	if err != nil {
		return -1, fmt.Errorf("hub: group %q: %w: %w", g, err, ErrInvalidConfig)
	}
	n, err := strconv.Atoi(grp.Gid)
	if err != nil {
		return -1, fmt.Errorf("hub: group %q: gid %q: %w", g, grp.Gid, ErrInvalidConfig)
	}
	return n, nil
}

// newMemfd makes a memfd of size bytes, readable and writable by its owner
// only, and maps it shared.
func newMemfd(name string, size int, write bool) (int, []byte, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, nil, fmt.Errorf("hub: memfd_create: %w", err)
	}
	if err := unix.Fchmod(fd, 0o600); err != nil {
		unix.Close(fd)
		return -1, nil, fmt.Errorf("hub: memfd chmod: %w", err)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		unix.Close(fd)
		return -1, nil, fmt.Errorf("hub: memfd of %d bytes: %w", size, err)
	}
	// The size is final: seal it, so that no consumer can shrink the
	// file under the others' mappings (SIGBUS).
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW); err != nil {
		unix.Close(fd)
		return -1, nil, fmt.Errorf("hub: memfd seals: %w", err)
	}
	prot := unix.PROT_READ
	if write {
		prot |= unix.PROT_WRITE
	}
	mem, err := unix.Mmap(fd, 0, size, prot, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return -1, nil, fmt.Errorf("hub: mmap %d bytes: %w", size, err)
	}
	return fd, mem, nil
}

// sealWrites forbids, from now on, every write to the memfd but through
// the mappings made already (F_SEAL_FUTURE_WRITE, Linux 5.1): a consumer
// that holds the descriptor can map it read-only only, and cannot write to
// it, so that the ring is the hub's alone. No seal may be added after it.
func sealWrites(fd int) error {
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_FUTURE_WRITE|unix.F_SEAL_SEAL); err != nil {
		return fmt.Errorf("hub: memfd write seal (F_SEAL_FUTURE_WRITE, Linux 5.1 and later): %w", err)
	}
	return nil
}

// write is the hub's inline handler: it writes each datagram into the
// ring of its socket. One goroutine reads each socket, so each ring has one
// writer.
func (h *Hub) write(_ context.Context, d *dispatch.Datagram) {
	if r := h.byName[d.Socket]; r != nil {
		if r.w.write(d.Payload, d.Source, d.Group, d.IfIndex, d.TTL, d.Time) && h.tap != nil {
			h.tap(d)
		}
	}
}

// Serve receives until ctx ends (or Close is called), writing every
// datagram into the rings, and returns nil then, or the error that stopped
// a socket. It does not close the hub: Close does (and tells the
// consumers).
func (h *Hub) Serve(ctx context.Context) error {
	h.serving.Store(true)
	return h.recv.Serve(ctx)
}

// Addr returns the hub's attach point (see the package function Addr).
func (h *Hub) Addr() string { return h.addr }

// Name returns the hub's name.
func (h *Hub) Name() string { return h.cfg.Name }

// Receiver returns the hub's receiver, for its sockets and memberships.
func (h *Hub) Receiver() *dispatch.Receiver { return h.recv }

func (h *Hub) accept() {
	defer h.conns.Done()
	for {
		c, err := h.ln.AcceptUnix()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				h.log.Error().Err(err).Msg("accept failed; no more consumers can attach")
			}
			return
		}
		h.conns.Add(1)
		go h.serveConn(c)
	}
}

// serveConn checks a consumer's credentials, gives it a slot and the
// memfds, and frees the slot when its connection ends (Close, exit,
// SIGKILL: the kernel closes the socket in every case).
func (h *Hub) serveConn(c *net.UnixConn) {
	defer h.conns.Done()
	defer c.Close()
	cred, err := peerCred(c)
	if err != nil {
		h.refused.Add(1)
		h.log.Warn().Err(err).Msg("consumer refused: no credentials")
		return
	}
	if ok, why := h.allowed(c, cred); !ok {
		h.refused.Add(1)
		h.log.Warn().Int("pid", int(cred.Pid)).Int("uid", int(cred.Uid)).Msg("consumer refused: " + why)
		sendHello(c, &hello{Version: layoutVer, Denied: true, Error: why}, nil)
		return
	}
	p := &peer{conn: c, pid: int(cred.Pid), uid: int(cred.Uid), since: time.Now()}
	slot := h.take(p)
	if slot < 0 {
		h.refused.Add(1)
		why := fmt.Sprintf("all %d consumer slots are taken", h.cfg.MaxConsumers)
		h.log.Warn().Int("pid", p.pid).Msg("consumer refused: " + why)
		sendHello(c, &hello{Version: layoutVer, Full: true, Error: why}, nil)
		return
	}
	defer h.release(slot)
	hl := &hello{Version: layoutVer, Slot: slot, MaxCons: h.cfg.MaxConsumers, HubPID: os.Getpid()}
	fds := []int{h.ctlFD}
	for i, r := range h.rings {
		line := h.ctl[ctlLine(len(h.rings), slot, i):][:ctlLineLen]
		clear(line)
		start := atomic.LoadUint64(r.w.headp)
		atomic.StoreUint64(u64(line, clStart), start)
		atomic.StoreUint64(u64(line, clNext), start)
		atomic.StoreUint32(u32(line, clPID), uint32(p.pid))
		atomic.StoreUint32(u32(line, clInUse), 1)
		hl.Rings = append(hl.Rings, helloRing{Socket: r.name, Local: r.local})
		fds = append(fds, r.fd)
	}
	if err := sendHello(c, hl, fds); err != nil {
		h.log.Warn().Err(err).Int("pid", p.pid).Msg("consumer left before it attached")
		return
	}
	h.attached.Add(1)
	h.log.Info().Int("pid", p.pid).Int("uid", p.uid).Int("slot", slot).Msg("consumer attached")
	// The consumer sends nothing: a read returns when it goes.
	var buf [64]byte
	for {
		if _, err := c.Read(buf[:]); err != nil {
			break
		}
	}
	h.detached.Add(1)
	h.log.Info().Int("pid", p.pid).Int("slot", slot).Msg("consumer left")
}

func (h *Hub) take(p *peer) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return -1
	}
	for i, q := range h.slots {
		if q == nil {
			h.slots[i] = p
			return i
		}
	}
	return -1
}

func (h *Hub) release(slot int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range h.rings {
		atomic.StoreUint32(u32(h.ctl, ctlLine(len(h.rings), slot, i)+clInUse), 0)
	}
	h.slots[slot] = nil
}

// allowed says whether a peer may attach: the hub's user, root, or a
// member of the group the operator named (its primary group, or one of
// its supplementary groups as SO_PEERGROUPS reports them).
func (h *Hub) allowed(c *net.UnixConn, cred *unix.Ucred) (bool, string) {
	uid := int(cred.Uid)
	if uid == os.Geteuid() || uid == 0 {
		return true, ""
	}
	if h.gid < 0 {
		return false, fmt.Sprintf("uid %d is not the hub's user (uid %d), and the hub allows no group", uid, os.Geteuid())
	}
	if int(cred.Gid) == h.gid {
		return true, ""
	}
	groups, err := peerGroups(c)
	if err != nil {
		return false, fmt.Sprintf("uid %d: its groups cannot be read: %v", uid, err)
	}
	for _, g := range groups {
		if int(g) == h.gid {
			return true, ""
		}
	}
	return false, fmt.Sprintf("uid %d is not the hub's user (uid %d) nor in group %d", uid, os.Geteuid(), h.gid)
}

func peerCred(c *net.UnixConn) (*unix.Ucred, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	if cerr != nil {
		return nil, fmt.Errorf("SO_PEERCRED: %w", cerr)
	}
	return cred, nil
}

// peerGroups returns the peer's supplementary groups (SO_PEERGROUPS, Linux
// 4.13 and later).
func peerGroups(c *net.UnixConn) ([]uint32, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	buf := make([]uint32, 1024)
	n := uint32(len(buf) * 4)
	var errno unix.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
	}); err != nil {
		return nil, err
	}
	if errno != 0 {
		return nil, fmt.Errorf("SO_PEERGROUPS: %w", errno)
	}
	return buf[:min(int(n/4), len(buf))], nil
}

func sendHello(c *net.UnixConn, hl *hello, fds []int) error {
	b, err := json.Marshal(hl)
	if err != nil {
		return err
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	_, _, err = c.WriteMsgUnix(b, oob, nil)
	return err
}

// Stats returns the hub's counters and those its consumers publish; safe
// to call at any time.
func (h *Hub) Stats() Stats {
	st := Stats{Name: h.cfg.Name, Addr: h.addr, Attached: h.attached.Load(), Detached: h.detached.Load(), Refused: h.refused.Load()}
	if h.recv != nil {
		st.Server = h.recv.Stats()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.rings {
		if r.w == nil {
			continue
		}
		var written uint64
		if h.unmapped {
			written = r.w.head // final: the writer is closed
		} else {
			written = atomic.LoadUint64(r.w.headp)
		}
		st.Rings = append(st.Rings, RingStats{Socket: r.name, Local: r.local, Written: written,
			Slots: r.slots, MaxDatagram: r.max, Wakes: r.w.wakes.Load()})
	}
	for slot, p := range h.slots {
		if p == nil || h.unmapped {
			continue
		}
		cs := ConsumerStats{Slot: slot, PID: p.pid, UID: p.uid, Since: p.since}
		for i, r := range h.rings {
			line := h.ctl[ctlLine(len(h.rings), slot, i):][:ctlLineLen]
			cr := ConsumerRing{Socket: r.name,
				Start:     atomic.LoadUint64(u64(line, clStart)),
				Next:      atomic.LoadUint64(u64(line, clNext)),
				Delivered: atomic.LoadUint64(u64(line, clDeliv)),
				Bytes:     atomic.LoadUint64(u64(line, clBytes)),
				Overrun:   atomic.LoadUint64(u64(line, clOverrun)),
				Truncated: atomic.LoadUint64(u64(line, clTrunc)),
			}
			if head := atomic.LoadUint64(r.w.headp); head > cr.Next {
				cr.Lag = head - cr.Next
			}
			cs.Rings = append(cs.Rings, cr)
		}
		st.Consumers = append(st.Consumers, cs)
	}
	return st
}

// Close stops receiving, closes the sockets and the attach point, and
// tells every consumer that the hub is gone (its connection ends; it reads
// what the ring still holds, then gets ErrHubGone). It is idempotent:
// later calls return what the first returned.
func (h *Hub) Close() error {
	h.closeOnce.Do(func() {
		var errs []error
		if h.recv != nil {
			errs = append(errs, h.recv.Close())
		}
		for _, r := range h.rings {
			if r.w != nil {
				r.w.close()
				atomic.StoreUint32(u32(r.mem, rhClosed), 1)
			}
			if r.wakeCh != nil {
				close(r.wakeCh)
			}
		}
		h.wakers.Wait()
		h.mu.Lock()
		h.closed = true
		for _, p := range h.slots {
			if p != nil {
				p.conn.Close()
			}
		}
		h.mu.Unlock()
		if h.ln != nil {
			errs = append(errs, h.ln.Close())
		}
		h.conns.Wait()
		h.mu.Lock()
		defer h.mu.Unlock()
		h.unmapped = true
		for _, r := range h.rings {
			if r.mem != nil {
				errs = append(errs, unix.Munmap(r.mem))
			}
			if r.fd >= 0 {
				errs = append(errs, unix.Close(r.fd))
			}
		}
		if h.ctl != nil {
			errs = append(errs, unix.Munmap(h.ctl))
			h.ctl = nil
		}
		if h.ctlFD >= 0 {
			errs = append(errs, unix.Close(h.ctlFD))
		}
		h.closeErr = errors.Join(errs...)
	})
	return h.closeErr
}
