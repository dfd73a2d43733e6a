package hub

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"
	"unsafe"
)

// The ring: one memfd per hub socket, written by one goroutine of the hub
// and mapped read-only by every consumer.
//
//	[0, ringHeader)            header: magic, version, geometry, the head
//	ringHeader + i*slotSize    slot i: sequence word, metadata, payload
//
// Datagram number n (0, 1, 2...) lives in slot n % slots. Its slot's
// sequence word is n+1 once it is complete, and busy|(n+1) while the
// writer fills it: a reader that expects n and finds n+1 copies the slot,
// then reads the word again, and keeps the copy only if it has not
// changed (a seqlock). A larger number means the writer has lapped the
// reader: the datagrams between are lost to it (overrun), and it goes on
// from the oldest one still in the ring. The head (the number of the next
// datagram to write) has a cache line of its own.
const (
	ringMagic   = 0x474e5242_55484353 // "SCHUBRNG" little-endian
	ctlMagic    = 0x4c544342_55484353 // "SCHUBCTL"
	layoutVer   = 1
	ringHeader  = 4096
	slotHeader  = slotHeaderLen
	busy        = uint64(1) << 63
	cacheLine   = 64
	maxRings    = 64
	minSlots    = 16
	maxSlotSize = 1 << 20

	// ring header offsets
	rhMagic    = 0
	rhVersion  = 8  // uint32
	rhSlots    = 12 // uint32
	rhSlotSize = 16 // uint32
	rhPort     = 20 // uint32
	rhFamily   = 24 // uint32: 4 or 6
	rhHead     = 128
	rhClosed   = 192 // uint32

	// slot offsets
	slSeq     = 0
	slTime    = 8  // int64 unix ns
	slLen     = 16 // uint32
	slIfIndex = 20 // uint32
	slTTL     = 24 // int32
	slSrcPort = 28 // uint32 (low 16 bits), bit 16: source is IPv4, bit 17: group is IPv4
	slSrc     = 32 // 16 bytes
	slGroup   = 48 // 16 bytes
)

// The control area: one memfd per hub, mapped read-write by every
// consumer. It holds a wake line per ring (the futex word that sleeping
// readers wait on, and how many sleep) and a line per consumer and ring
// (where the consumer is, what it got and lost; the hub reads these for
// its stats and writes where a new consumer starts).
const (
	chMagic    = 0
	chVersion  = 8         // uint32
	chRings    = 12        // uint32
	chMaxCons  = 16        // uint32
	ctlWake    = cacheLine // wake line of ring r at ctlWake + r*cacheLine
	wkWord     = 0         // uint32 futex word
	wkWaiters  = 4         // uint32: 1 when a reader may sleep; the writer clears it as it wakes them
	clNext     = 0         // uint64: next datagram number to read
	clDeliv    = 8         // uint64
	clOverrun  = 16        // uint64
	clTrunc    = 24        // uint64: longer than the consumer's buffer
	clStart    = 32        // uint64: head when it attached (written by the hub)
	clPID      = 40        // uint32 (written by the hub)
	clInUse    = 44        // uint32 (written by the hub)
	clBytes    = 48        // uint64
	ctlLineLen = cacheLine
)

func ctlConsumerBase(rings int) int { return ctlWake + rings*cacheLine }

func ctlSize(rings, maxCons int) int {
	n := ctlConsumerBase(rings) + rings*maxCons*ctlLineLen
	return (n + 4095) &^ 4095
}

func ctlLine(rings, c, r int) int { return ctlConsumerBase(rings) + (c*rings+r)*ctlLineLen }

func ringSize(slots, slotSize int) int { return ringHeader + slots*slotSize }

// slotSizeFor returns the slot size for datagrams of up to max bytes: the
// header and the payload, rounded up to a cache line.
func slotSizeFor(max int) int { return (slotHeader + max + cacheLine - 1) &^ (cacheLine - 1) }

func u64(b []byte, off int) *uint64 { return (*uint64)(unsafe.Pointer(&b[off])) }
func u32(b []byte, off int) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }

// ringGeom is what a ring's header says of it.
type ringGeom struct {
	slots, slotSize int
	port            uint16
	family          int
}

func initRing(b []byte, g ringGeom) {
	atomic.StoreUint32(u32(b, rhVersion), layoutVer)
	atomic.StoreUint32(u32(b, rhSlots), uint32(g.slots))
	atomic.StoreUint32(u32(b, rhSlotSize), uint32(g.slotSize))
	atomic.StoreUint32(u32(b, rhPort), uint32(g.port))
	atomic.StoreUint32(u32(b, rhFamily), uint32(g.family))
	atomic.StoreUint64(u64(b, rhMagic), ringMagic)
}

// readGeom checks a ring's header against its size and returns its
// geometry.
func readGeom(b []byte) (ringGeom, error) {
	if len(b) < ringHeader {
		return ringGeom{}, fmt.Errorf("hub: ring of %d bytes: %w", len(b), ErrProtocol)
	}
	if atomic.LoadUint64(u64(b, rhMagic)) != ringMagic || atomic.LoadUint32(u32(b, rhVersion)) != layoutVer {
		return ringGeom{}, fmt.Errorf("hub: ring header is not a version %d ring's: %w", layoutVer, ErrProtocol)
	}
	g := ringGeom{
		slots:    int(atomic.LoadUint32(u32(b, rhSlots))),
		slotSize: int(atomic.LoadUint32(u32(b, rhSlotSize))),
		port:     uint16(atomic.LoadUint32(u32(b, rhPort))),
		family:   int(atomic.LoadUint32(u32(b, rhFamily))),
	}
	if g.slots < minSlots || g.slots&(g.slots-1) != 0 || g.slotSize <= slotHeader || g.slotSize > maxSlotSize ||
		g.slotSize%cacheLine != 0 || ringSize(g.slots, g.slotSize) != len(b) {
		return ringGeom{}, fmt.Errorf("hub: ring geometry %d slots of %d bytes in %d bytes: %w", g.slots, g.slotSize, len(b), ErrProtocol)
	}
	return g, nil
}

// writer writes datagrams into one ring. Only one goroutine calls write.
type writer struct {
	b        []byte
	mask     uint64
	slotSize int
	maxLen   int
	head     uint64
	headp    *uint64
	word     *uint32 // the ring's futex word in the control area
	waiters  *uint32
	wake     func(*uint32)

	wakes   atomic.Uint64
	tooLong atomic.Uint64
	writing atomic.Uint32
	closed  atomic.Bool
}

func newWriter(b []byte, ctl []byte, ring int, wake func(*uint32)) *writer {
	g, _ := readGeom(b)
	w := &writer{
		b: b, mask: uint64(g.slots - 1), slotSize: g.slotSize, maxLen: g.slotSize - slotHeader,
		headp: u64(b, rhHead), wake: wake,
	}
	w.head = atomic.LoadUint64(w.headp)
	if ctl != nil {
		w.word = u32(ctl, ctlWake+ring*cacheLine+wkWord)
		w.waiters = u32(ctl, ctlWake+ring*cacheLine+wkWaiters)
	}
	return w
}

// write writes one datagram into the next slot and wakes sleeping readers.
// It reports false if the datagram is longer than a slot holds (counted)
// or the writer is closed.
func (w *writer) write(payload []byte, src netip.AddrPort, grp netip.Addr, ifIndex, ttl int, t time.Time) bool {
	w.writing.Store(1)
	defer w.writing.Store(0)
	if w.closed.Load() {
		return false
	}
	if len(payload) > w.maxLen {
		w.tooLong.Add(1)
		return false
	}
	h := w.head
	off := ringHeader + int(h&w.mask)*w.slotSize
	s := w.b[off : off+w.slotSize : off+w.slotSize]
	// A swap, not a store: on weakly ordered CPUs it keeps the stores
	// below from being seen before the slot is marked busy.
	atomic.SwapUint64(u64(s, slSeq), busy|(h+1))
	var hdr [slotHeader]byte
	le := binary.LittleEndian
	le.PutUint64(hdr[slTime:], uint64(t.UnixNano()))
	le.PutUint32(hdr[slLen:], uint32(len(payload)))
	le.PutUint32(hdr[slIfIndex:], uint32(ifIndex))
	le.PutUint32(hdr[slTTL:], uint32(int32(ttl)))
	port := uint32(src.Port())
	if src.Addr().Is4() {
		port |= 1 << 16
	}
	if grp.Is4() {
		port |= 1 << 17
	}
	le.PutUint32(hdr[slSrcPort:], port)
	sa, ga := src.Addr().As16(), grp.As16()
	copy(hdr[slSrc:], sa[:])
	copy(hdr[slGroup:], ga[:])
	storePayload(s[8:slotHeader], hdr[8:])
	storePayload(s[slotHeader:], payload)
	atomic.StoreUint64(u64(s, slSeq), h+1)
	w.head = h + 1
	atomic.StoreUint64(w.headp, h+1)
	// A reader that is about to sleep sets the flag; the first write after
	// clears it and wakes every sleeper, once: the writes after it make no
	// system call until a reader says again that it sleeps.
	if w.waiters != nil && atomic.LoadUint32(w.waiters) != 0 && atomic.SwapUint32(w.waiters, 0) != 0 {
		atomic.AddUint32(w.word, 1)
		w.wakes.Add(1)
		w.wake(w.word)
	}
	return true
}

// close stops the writer and waits until a write in progress has
// returned; the ring may be unmapped then.
func (w *writer) close() {
	w.closed.Store(true)
	for w.writing.Load() != 0 {
		time.Sleep(time.Millisecond) // a write takes well under that
	}
}

// reader reads one ring from where its consumer line says.
type reader struct {
	b        []byte
	mask     uint64
	slots    uint64
	slotSize int
	headp    *uint64
	next     uint64
	line     []byte // the consumer's line in the control area

	delivered, overrun, truncated, bytes uint64
}

func newReader(b []byte, line []byte) (*reader, error) {
	g, err := readGeom(b)
	if err != nil {
		return nil, err
	}
	r := &reader{b: b, mask: uint64(g.slots - 1), slots: uint64(g.slots), slotSize: g.slotSize, headp: u64(b, rhHead), line: line}
	r.next = atomic.LoadUint64(u64(line, clStart))
	return r, nil
}

// slotResult is what read found in the next slot.
type slotResult int

const (
	slotEmpty   slotResult = iota // not written yet
	slotOK                        // copied into the datagram
	slotSkipped                   // longer than the buffer: counted, skipped
	slotLapped                    // overrun: counted, next moved on
)

// read copies datagram r.next into buf and its metadata into the results;
// see slotResult.
func (r *reader) read(buf []byte) (res slotResult, n int, src netip.AddrPort, grp netip.Addr, ifIndex, ttl int, t time.Time) {
	want := r.next + 1
	off := ringHeader + int(r.next&r.mask)*r.slotSize
	s := r.b[off : off+r.slotSize : off+r.slotSize]
	seq := atomic.LoadUint64(u64(s, slSeq))
	if seq != want {
		if seq&^busy <= want { // older lap, or being written now
			return slotEmpty, 0, src, grp, 0, 0, t
		}
		r.lapped()
		return slotLapped, 0, src, grp, 0, 0, t
	}
	var hdr [slotHeader]byte
	loadPayload(hdr[8:], s[8:slotHeader])
	le := binary.LittleEndian
	n = int(le.Uint32(hdr[slLen:]))
	if n > len(buf) || n > r.slotSize-slotHeader {
		if atomic.LoadUint64(u64(s, slSeq)) != want {
			r.lapped()
			return slotLapped, 0, src, grp, 0, 0, t
		}
		r.next++
		r.truncated++
		return slotSkipped, 0, src, grp, 0, 0, t
	}
	loadPayload(buf[:n], s[slotHeader:])
	if atomic.LoadUint64(u64(s, slSeq)) != want {
		r.lapped() // torn: the writer came round while we copied
		return slotLapped, 0, src, grp, 0, 0, t
	}
	ns := int64(le.Uint64(hdr[slTime:]))
	ifIndex = int(le.Uint32(hdr[slIfIndex:]))
	ttl = int(int32(le.Uint32(hdr[slTTL:])))
	port := le.Uint32(hdr[slSrcPort:])
	sa, ga := [16]byte(hdr[slSrc:slSrc+16]), [16]byte(hdr[slGroup:slGroup+16])
	sAddr, gAddr := netip.AddrFrom16(sa), netip.AddrFrom16(ga)
	if port&(1<<16) != 0 {
		sAddr = sAddr.Unmap()
	}
	if port&(1<<17) != 0 {
		gAddr = gAddr.Unmap()
	}
	r.next++
	r.delivered++
	r.bytes += uint64(n)
	return slotOK, n, netip.AddrPortFrom(sAddr, uint16(port)), gAddr, ifIndex, ttl, time.Unix(0, ns)
}

// lapped counts what the writer overwrote before r read it, and moves r to
// the oldest datagram that is still whole.
func (r *reader) lapped() {
	head := atomic.LoadUint64(r.headp)
	oldest := uint64(0)
	if head >= r.slots {
		oldest = head - r.slots + 1 // slot head%slots is the next to be overwritten
	}
	if oldest <= r.next {
		oldest = r.next + 1
	}
	r.overrun += oldest - r.next
	r.next = oldest
}

// available reports whether datagram r.next (or a later lap) is there.
func (r *reader) available() bool {
	off := ringHeader + int(r.next&r.mask)*r.slotSize
	v := atomic.LoadUint64(u64(r.b, off+slSeq))
	return v == r.next+1 || v&^busy > r.next+1
}

// publish writes where the reader is into its consumer line, for the hub.
func (r *reader) publish() {
	atomic.StoreUint64(u64(r.line, clDeliv), r.delivered)
	atomic.StoreUint64(u64(r.line, clOverrun), r.overrun)
	atomic.StoreUint64(u64(r.line, clTrunc), r.truncated)
	atomic.StoreUint64(u64(r.line, clBytes), r.bytes)
	atomic.StoreUint64(u64(r.line, clNext), r.next)
}
