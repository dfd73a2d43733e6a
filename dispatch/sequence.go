package dispatch

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/sharecast/sharecast/internal/bitring"
)

// SequenceConfig configures a [SequenceTracker]. Exactly one of Extract and
// ExtractRange is required; for the other fields the zero value means the
// default that each documents.
type SequenceConfig struct {
	// Extract returns the sequence number that the sender put in d, and
	// false for a datagram that has none (counted as NoSequence): one
	// number a datagram. It is called for every datagram and should not
	// allocate.
	Extract func(d *Datagram) (seq uint64, ok bool)

	// ExtractRange is Extract for protocols whose datagrams carry a range
	// of numbers, [first, first+count): MoldUDP64, for one, numbers
	// messages and puts the first message's number and the message count
	// in each packet. A count of 0 (a MoldUDP64 heartbeat, whose number is
	// the next one the sender will use) delivers nothing: it is counted in
	// Datagrams, and if it is ahead of the next number expected, the
	// numbers in between count as Missing (the sender says it sent them).
	// A count of half the number space (2^(Bits-1)) or more cannot be
	// ordered by serial number arithmetic and counts as NoSequence. It is
	// called for every datagram and should not allocate.
	ExtractRange func(d *Datagram) (first, count uint64, ok bool)

	// Stream, if set, names the stream that d belongs to within its source
	// and destination, such as a session or stream identifier in the
	// payload's header: flows are then told apart by stream too. It is
	// called for each datagram that has a sequence number, after Extract
	// or ExtractRange, and should not allocate. Nil means one stream a
	// source and destination.
	Stream func(d *Datagram) StreamID

	// Bits is the width of the sequence numbers, 1 to 64; 0 means 64.
	// Numbers wrap modulo 2^Bits and are compared by serial number
	// arithmetic (RFC 1982): one more than half the range ahead is behind.
	Bits int

	// Window is how many numbers below the next one expected the tracker
	// remembers, to tell a late datagram from a duplicate; 0 means 1024.
	// It is rounded up to a power of two, and to at least 64. A datagram
	// further than that from the next number expected, behind or ahead,
	// counts as a reset (the sender restarted, or the number is forged),
	// not as a gap: tracking restarts from its number, and no number
	// counts as missing. A datagram's numbers can thus add at most Window
	// to Missing, whatever they are. Each flow keeps a bit per number in
	// the window.
	Window int

	// MaxFlows caps how many flows are tracked; 0 means 4096. A datagram
	// of a new flow when MaxFlows are tracked evicts the flow idle longest
	// (the one whose last datagram is the oldest), counted in Evicted:
	// its figures stay in the totals of [SequenceTracker.Stats] but leave
	// [SequenceTracker.Flows], and if it comes back it is tracked anew.
	MaxFlows int

	// OnEvict, if set, is called with the last figures of each flow
	// evicted, before they join the totals, so that a caller that adds
	// flows up by group (as a Prometheus counter must, never going down)
	// can keep them. It is called from Observe, with the tracker's lock
	// held: it must not call the tracker.
	OnEvict func(FlowSequence)

	// Logger receives an event for each gap, reset, duplicate or late
	// datagram, through a sampler (5 every 10 seconds). The zero value
	// logs nothing.
	Logger zerolog.Logger
}

// StreamID names a stream within a source and destination, as
// [SequenceConfig.Stream] finds it in a datagram; its bytes mean what that
// function says. It marshals to text as hexadecimal.
type StreamID [16]byte

// MarshalText returns id in hexadecimal, trailing zero bytes left out.
func (id StreamID) MarshalText() ([]byte, error) {
	return hex.AppendEncode(nil, bytes.TrimRight(id[:], "\x00")), nil
}

// SequenceStats counts what a SequenceTracker saw, for one flow or all.
// For the numbers of a range, "number" counts numbers and "datagram"
// datagrams; with Extract, one number a datagram, the two are the same.
type SequenceStats struct {
	// Datagrams counts datagrams with a sequence number, heartbeats (a
	// range of count 0) included.
	Datagrams uint64 `json:"datagrams"`
	// NoSequence counts datagrams for which Extract or ExtractRange
	// returned false, or a range too long to order.
	NoSequence uint64 `json:"no_sequence"`
	// Untracked counts datagrams with a sequence number that no flow
	// counts. Since a new flow evicts the flow idle longest, it is 0 in
	// this version; it is kept for the readers of this struct and its
	// JSON, and for a rule of admission that may refuse flows.
	Untracked uint64 `json:"untracked"`
	// Evicted counts flows evicted to make room for a new one under
	// [SequenceConfig.MaxFlows] (in totals only; 0 in a flow's figures).
	Evicted uint64 `json:"evicted"`
	// Numbers counts numbers received for the first time (within the
	// window, and since the last reset).
	Numbers uint64 `json:"numbers"`
	// Gaps counts jumps forward over one or more missing numbers.
	Gaps uint64 `json:"gaps"`
	// Missing counts the numbers skipped by those jumps and not seen
	// since: each late number that fills a gap takes one off.
	Missing uint64 `json:"missing"`
	// Late counts datagrams that brought one or more numbers below the
	// next expected (reordered), within the window.
	Late uint64 `json:"late"`
	// Duplicates counts datagrams that brought no number not already
	// seen (a heartbeat is none).
	Duplicates uint64 `json:"duplicates"`
	// DuplicateNumbers counts the numbers received again, whether their
	// datagram brought new numbers too or not.
	DuplicateNumbers uint64 `json:"duplicate_numbers"`
	// Resets counts datagrams further from the next number expected than
	// the window, behind or ahead, taken as a restart of the sender's
	// numbering (or a forged number): tracking restarts from there, and
	// the numbers jumped over do not count as missing.
	Resets uint64 `json:"resets"`
}

func (s *SequenceStats) add(o *SequenceStats) {
	s.Datagrams += o.Datagrams
	s.NoSequence += o.NoSequence
	s.Untracked += o.Untracked
	s.Evicted += o.Evicted
	s.Numbers += o.Numbers
	s.Gaps += o.Gaps
	s.Missing += o.Missing
	s.Late += o.Late
	s.Duplicates += o.Duplicates
	s.DuplicateNumbers += o.DuplicateNumbers
	s.Resets += o.Resets
}

// FlowSequence is the sequence state of one flow.
type FlowSequence struct {
	Source netip.AddrPort `json:"source"`
	Group  netip.Addr     `json:"group"`
	// Port is the destination port ([Datagram.Port]).
	Port uint16 `json:"port"`
	// Stream is what [SequenceConfig.Stream] returned, or zero.
	Stream StreamID `json:"stream,omitzero"`
	// Highest is the highest sequence number seen, or that a heartbeat
	// said was sent: Next-1, modulo 2^Bits.
	Highest uint64 `json:"highest"`
	// Next is the number expected next.
	Next uint64 `json:"next"`
	SequenceStats
}

// SequenceTracker follows the sequence numbers of each flow (source
// address and port, destination group and port, and stream if
// [SequenceConfig.Stream] is set) through the datagrams that its
// Middleware sees, and counts gaps, losses, reordering and duplicates.
//
// What the network chooses is bounded: the flows by MaxFlows (a new flow
// evicts the flow idle longest), each flow's memory by the window, and
// the work per datagram by the window too, whatever the numbers and
// counts that the datagram carries: a jump past the window is a reset,
// which costs the same whatever its size; a gap within it clears a bit
// per number jumped, 64 at a time. A flow's figures are its own: a
// forged number in one flow changes no other flow's. It allocates
// nothing once MaxFlows flows are known (an evicted flow's memory serves
// the new one) or the flow is known. It is safe for concurrent use.
type SequenceTracker struct {
	extract      func(*Datagram) (uint64, bool)
	extractRange func(*Datagram) (uint64, uint64, bool)
	stream       func(*Datagram) StreamID
	mask         uint64 // 2^bits - 1
	half         uint64 // 2^(bits-1)
	window       uint64
	maxFlows     int
	onEvict      func(FlowSequence)
	log          zerolog.Logger

	mu    sync.Mutex
	flows map[flowKey]*flowSeq
	lru   flowSeq       // the root of the ring of flows by last datagram: lru.older is the newest, lru.newer the flow idle longest
	other SequenceStats // NoSequence, Untracked, Evicted, and the evicted flows' figures
	last  *flowSeq      // the flow of the last datagram, at the front of the ring
}

type flowKey struct {
	src    netip.AddrPort
	group  netip.Addr
	port   uint16
	stream StreamID
}

// flowSeq is a flow's state. The bits of seen are exact for the known
// numbers below next; the others' are stale and read as unseen, and are
// cleared when a late number first reaches them, so that a reset, or a
// new flow in an evicted one's place, clears nothing.
type flowSeq struct {
	key          flowKey
	newer, older *flowSeq // the ring of flows by last datagram
	next         uint64   // the number expected next
	known        uint64   // how many numbers below next seen holds exactly, at most the window
	seen         []uint64 // bit (n mod window) is set if number n, within the window below next, was seen
	st           SequenceStats
}

// NewSequenceTracker returns a tracker configured by cfg.
func NewSequenceTracker(cfg *SequenceConfig) (*SequenceTracker, error) {
	if cfg == nil || (cfg.Extract == nil) == (cfg.ExtractRange == nil) {
		return nil, fmt.Errorf("dispatch: sequence tracker needs one of Extract and ExtractRange: %w", ErrInvalidConfig)
	}
	c := *cfg
	if c.Bits < 0 || c.Bits > 64 || c.Window < 0 || c.MaxFlows < 0 {
		return nil, fmt.Errorf("dispatch: sequence tracker: bits %d, window %d, max flows %d: %w", c.Bits, c.Window, c.MaxFlows, ErrInvalidConfig)
	}
	if c.Bits == 0 {
		c.Bits = 64
	}
	if c.Window == 0 {
		c.Window = 1024
	}
	if c.MaxFlows == 0 {
		c.MaxFlows = 4096
	}
	w := uint64(1) << bits.Len(uint(max(c.Window, 64)-1))
	t := &SequenceTracker{
		extract:      c.Extract,
		extractRange: c.ExtractRange,
		stream:       c.Stream,
		mask:         ^uint64(0) >> (64 - c.Bits),
		half:         uint64(1) << (c.Bits - 1),
		window:       w,
		maxFlows:     c.MaxFlows,
		onEvict:      c.OnEvict,
		log:          c.Logger.Sample(&zerolog.BurstSampler{Burst: 5, Period: 10 * time.Second}),
		flows:        make(map[flowKey]*flowSeq),
	}
	if t.window > t.half && c.Bits < 64 {
		return nil, fmt.Errorf("dispatch: sequence tracker: window %d is more than half of %d-bit numbers: %w", w, c.Bits, ErrInvalidConfig)
	}
	t.lru.newer, t.lru.older = &t.lru, &t.lru
	return t, nil
}

// Middleware returns h wrapped so that the tracker sees each datagram
// before h does. (The method value t.Middleware is a [Middleware].)
func (t *SequenceTracker) Middleware(h Handler) Handler {
	return HandlerFunc(func(ctx context.Context, d *Datagram) {
		t.Observe(d)
		h.ServeDatagram(ctx, d)
	})
}

// Observe counts one datagram; Middleware calls it.
func (t *SequenceTracker) Observe(d *Datagram) {
	var first, count uint64
	var ok bool
	if t.extractRange != nil {
		first, count, ok = t.extractRange(d)
	} else {
		first, ok = t.extract(d)
		count = 1
	}
	k := flowKey{src: d.Source, group: d.Group, port: d.Port}
	if ok && t.stream != nil {
		k.stream = t.stream(d)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !ok || count >= t.half {
		t.other.NoSequence++
		return
	}
	first &= t.mask
	f := t.last
	if f == nil || k != f.key {
		f = t.flows[k]
		if f == nil {
			f = t.newFlow(k, first)
		} else {
			f.unlink()
		}
		t.push(f)
		t.last = f
	}
	f.st.Datagrams++
	if ahead := (first - f.next) & t.mask; ahead < t.half {
		switch {
		case ahead > t.window:
			t.reset(f, first, count)
		case ahead > 0:
			f.st.Gaps++
			f.st.Missing += ahead
			t.event(&k, "gap", first, count, f.next)
			fallthrough
		default:
			t.advance(f, first, ahead, count)
		}
		return
	}
	if count == 0 {
		return // a heartbeat behind: nothing new, nothing repeated
	}
	back := (f.next - first) & t.mask // 1 to half
	if back > t.window {
		t.reset(f, first, count)
		return
	}
	if back > f.known { // stale bits: unseen since the last reset
		f.clearRange(first, back-f.known)
		f.known = back
	}
	// [first, first+old) is in the window, the rest (if any) from next on.
	old := min(count, back)
	dup := f.seenIn(first, old)
	fresh := old - dup
	f.setRange(first, old)
	f.st.Numbers += fresh
	f.st.DuplicateNumbers += dup
	switch {
	case fresh > 0:
		f.st.Late++
		f.st.Missing -= min(fresh, f.st.Missing)
		t.event(&k, "late", first, count, f.next)
	case old == count:
		f.st.Duplicates++
		t.event(&k, "duplicate", first, count, f.next)
	}
	if count > old {
		t.advance(f, f.next, 0, count-old)
	}
}

// newFlow returns the state of a new flow k whose first number is first,
// not in the ring: new, or the flow idle longest's if MaxFlows are
// tracked, its figures added to the totals.
func (t *SequenceTracker) newFlow(k flowKey, first uint64) *flowSeq {
	var f *flowSeq
	if len(t.flows) < t.maxFlows {
		f = &flowSeq{seen: make([]uint64, t.window/64)}
	} else {
		f = t.lru.newer
		f.unlink()
		delete(t.flows, f.key)
		if t.onEvict != nil {
			k := f.key
			t.onEvict(FlowSequence{Source: k.src, Group: k.group, Port: k.port, Stream: k.stream,
				Highest: (f.next - 1) & t.mask, Next: f.next, SequenceStats: f.st})
		}
		t.other.add(&f.st)
		t.other.Evicted++
		f.st = SequenceStats{}
	}
	f.key, f.next, f.known = k, first, 0
	t.flows[k] = f
	return f
}

// push puts f at the front of the ring: the flow seen last.
func (t *SequenceTracker) push(f *flowSeq) {
	f.newer, f.older = &t.lru, t.lru.older
	t.lru.older.newer = f
	t.lru.older = f
}

// unlink takes f out of the ring.
func (f *flowSeq) unlink() {
	f.newer.older = f.older
	f.older.newer = f.newer
}

// reset restarts f's numbering at first: the number is further from the
// next expected than the window, behind or ahead.
func (t *SequenceTracker) reset(f *flowSeq, first, count uint64) {
	f.st.Resets++
	t.event(&f.key, "reset", first, count, f.next)
	f.next, f.known = first, 0
	t.advance(f, first, 0, count)
}

func (t *SequenceTracker) event(k *flowKey, what string, first, count, next uint64) {
	if e := t.log.Warn(); e.Enabled() {
		e.Str("src", k.src.String()).Str("group", netip.AddrPortFrom(k.group, k.port).String()).
			Uint64("seq", first).Uint64("count", count).Uint64("next", next).Msg("sequence " + what)
	}
}

// advance moves f's next number on to first+count: the gap numbers before
// first (at most the window) are missing, the count from first seen. Its
// work is bounded by the window, whatever count is.
func (t *SequenceTracker) advance(f *flowSeq, first, gap, count uint64) {
	w := t.window
	switch {
	case count >= w: // the new window holds only numbers of the range
		f.setRange(first+count-w, w)
		f.known = w
	case gap+count >= w: // the gap's numbers in the new window are unseen
		f.setRange(first, count)
		f.known = count
	default:
		f.clearRange(f.next, gap)
		f.setRange(first, count)
		f.known = min(f.known+gap+count, w)
	}
	f.next = (first + count) & t.mask
	f.st.Numbers += count
}

// The bits of a range of numbers (at most the window) in a flow's window.
func (f *flowSeq) setRange(first, n uint64)   { bitring.Set(f.seen, first, n) }
func (f *flowSeq) clearRange(first, n uint64) { bitring.Clear(f.seen, first, n) }

// seenIn returns how many of the n numbers from first were seen.
func (f *flowSeq) seenIn(first, n uint64) uint64 { return bitring.Count(f.seen, first, n) }

// Stats returns the totals over all flows, the evicted ones included.
func (t *SequenceTracker) Stats() SequenceStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.other
	for _, f := range t.flows {
		s.add(&f.st)
	}
	return s
}

// Flows returns the state of each flow tracked (at most MaxFlows: the
// evicted ones are not), sorted by group, port, source and stream.
func (t *SequenceTracker) Flows() []FlowSequence {
	t.mu.Lock()
	fs := make([]FlowSequence, 0, len(t.flows))
	for k, f := range t.flows {
		fs = append(fs, FlowSequence{Source: k.src, Group: k.group, Port: k.port, Stream: k.stream,
			Highest: (f.next - 1) & t.mask, Next: f.next, SequenceStats: f.st})
	}
	t.mu.Unlock()
	slices.SortFunc(fs, func(a, b FlowSequence) int {
		return cmp.Or(a.Group.Compare(b.Group), cmp.Compare(a.Port, b.Port), a.Source.Compare(b.Source), bytes.Compare(a.Stream[:], b.Stream[:]))
	})
	return fs
}
