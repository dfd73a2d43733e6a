package dispatch

import (
	"cmp"
	"context"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// SequenceConfig configures a [SequenceTracker]. Extract is required; for
// the other fields the zero value means the default that each documents.
type SequenceConfig struct {
	// Extract returns the sequence number that the sender put in d, and
	// false for a datagram that has none (counted as NoSequence). It is
	// called for every datagram and should not allocate.
	Extract func(d *Datagram) (seq uint64, ok bool)

	// Bits is the width of the sequence numbers, 1 to 64; 0 means 64.
	// Numbers wrap modulo 2^Bits and are compared by serial number
	// arithmetic (RFC 1982): one more than half the range ahead is behind.
	Bits int

	// Window is how many numbers below the highest seen the tracker
	// remembers, to tell a late datagram from a duplicate; 0 means 1024.
	// It is rounded up to a power of two. A datagram further behind than
	// that counts as a reset: the sender restarted, and tracking restarts
	// from its number.
	Window int

	// MaxFlows caps how many flows (source address and port, group) are
	// tracked; 0 means 4096. Datagrams of further flows are counted in
	// Untracked only.
	MaxFlows int

	// Logger receives an event for each gap, reset, duplicate or late
	// datagram, through a sampler (5 every 10 seconds). The zero value
	// logs nothing.
	Logger zerolog.Logger
}

// SequenceStats counts what a SequenceTracker saw, for one flow or all.
type SequenceStats struct {
	// Datagrams counts datagrams with a sequence number.
	Datagrams uint64 `json:"datagrams"`
	// NoSequence counts datagrams for which Extract returned false.
	NoSequence uint64 `json:"no_sequence"`
	// Untracked counts datagrams of flows beyond MaxFlows.
	Untracked uint64 `json:"untracked"`
	// Gaps counts jumps forward over one or more missing numbers.
	Gaps uint64 `json:"gaps"`
	// Missing counts the numbers skipped by those jumps and not seen
	// since: a late datagram that fills a gap takes one off.
	Missing uint64 `json:"missing"`
	// Late counts datagrams that arrived after a higher number
	// (reordered), within the window.
	Late uint64 `json:"late"`
	// Duplicates counts datagrams whose number was already seen.
	Duplicates uint64 `json:"duplicates"`
	// Resets counts datagrams further behind than the window, taken as a
	// restart of the sender's numbering.
	Resets uint64 `json:"resets"`
}

func (s *SequenceStats) add(o *SequenceStats) {
	s.Datagrams += o.Datagrams
	s.NoSequence += o.NoSequence
	s.Untracked += o.Untracked
	s.Gaps += o.Gaps
	s.Missing += o.Missing
	s.Late += o.Late
	s.Duplicates += o.Duplicates
	s.Resets += o.Resets
}

// FlowSequence is the sequence state of one flow.
type FlowSequence struct {
	Source netip.AddrPort `json:"source"`
	Group  netip.Addr     `json:"group"`
	// Highest is the highest sequence number seen.
	Highest uint64 `json:"highest"`
	SequenceStats
}

// SequenceTracker follows the sequence numbers of each flow (source
// address and port, destination group) through the datagrams that its
// Middleware sees, and counts gaps, losses, reordering and duplicates. It
// is safe for concurrent use.
type SequenceTracker struct {
	extract  func(*Datagram) (uint64, bool)
	mask     uint64 // 2^bits - 1
	half     uint64 // 2^(bits-1)
	window   uint64
	maxFlows int
	log      zerolog.Logger

	mu      sync.Mutex
	flows   map[flowKey]*flowSeq
	other   SequenceStats // NoSequence and Untracked, which belong to no flow
	lastKey flowKey
	last    *flowSeq
}

type flowKey struct {
	src   netip.AddrPort
	group netip.Addr
}

type flowSeq struct {
	hi   uint64
	seen []uint64 // bit (n mod window) is set if number n, within the window below hi, was seen
	st   SequenceStats
}

// NewSequenceTracker returns a tracker configured by cfg.
func NewSequenceTracker(cfg *SequenceConfig) (*SequenceTracker, error) {
	if cfg == nil || cfg.Extract == nil {
		return nil, fmt.Errorf("dispatch: sequence tracker without Extract: %w", ErrInvalidConfig)
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
		extract:  c.Extract,
		mask:     ^uint64(0) >> (64 - c.Bits),
		half:     uint64(1) << (c.Bits - 1),
		window:   w,
		maxFlows: c.MaxFlows,
		log:      c.Logger.Sample(&zerolog.BurstSampler{Burst: 5, Period: 10 * time.Second}),
		flows:    make(map[flowKey]*flowSeq),
	}
	if t.window > t.half && c.Bits < 64 {
		return nil, fmt.Errorf("dispatch: sequence tracker: window %d is more than half of %d-bit numbers: %w", w, c.Bits, ErrInvalidConfig)
	}
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
	seq, ok := t.extract(d)
	t.mu.Lock()
	defer t.mu.Unlock()
	if !ok {
		t.other.NoSequence++
		return
	}
	seq &= t.mask
	k := flowKey{d.Source, d.Group}
	f := t.last
	if f == nil || k != t.lastKey {
		f = t.flows[k]
		if f == nil {
			if len(t.flows) >= t.maxFlows {
				t.other.Untracked++
				return
			}
			f = &flowSeq{hi: seq, seen: make([]uint64, t.window/64)}
			t.flows[k] = f
			f.st.Datagrams++
			f.mark(seq, t.window)
			t.lastKey, t.last = k, f
			return
		}
		t.lastKey, t.last = k, f
	}
	f.st.Datagrams++
	diff := (seq - f.hi) & t.mask
	switch {
	case diff == 0:
		f.st.Duplicates++
		t.event(k, seq, f.hi, "duplicate")
	case diff < t.half:
		if diff > 1 {
			f.st.Gaps++
			f.st.Missing += diff - 1
			t.event(k, seq, f.hi, "gap")
		}
		f.advance(seq, diff, t.window, t.mask)
	default:
		back := (f.hi - seq) & t.mask
		switch {
		case back >= t.window:
			f.st.Resets++
			t.event(k, seq, f.hi, "reset")
			f.hi = seq
			clear(f.seen)
			f.mark(seq, t.window)
		case f.isSeen(seq, t.window):
			f.st.Duplicates++
			t.event(k, seq, f.hi, "duplicate")
		default:
			f.st.Late++
			if f.st.Missing > 0 {
				f.st.Missing--
			}
			f.mark(seq, t.window)
			t.event(k, seq, f.hi, "late")
		}
	}
}

func (t *SequenceTracker) event(k flowKey, seq, hi uint64, what string) {
	if e := t.log.Warn(); e.Enabled() {
		e.Str("src", k.src.String()).Str("group", k.group.String()).Uint64("seq", seq).Uint64("highest", hi).Msg("sequence " + what)
	}
}

func (f *flowSeq) mark(n, window uint64) {
	i := n & (window - 1)
	f.seen[i/64] |= 1 << (i % 64)
}

func (f *flowSeq) isSeen(n, window uint64) bool {
	i := n & (window - 1)
	return f.seen[i/64]&(1<<(i%64)) != 0
}

// advance moves hi forward by diff to seq, forgetting the numbers that
// leave the window.
func (f *flowSeq) advance(seq, diff, window, mask uint64) {
	if diff >= window {
		clear(f.seen)
	} else {
		for n := (f.hi + 1) & mask; n != seq; n = (n + 1) & mask {
			i := n & (window - 1)
			f.seen[i/64] &^= 1 << (i % 64)
		}
	}
	f.hi = seq
	f.mark(seq, window)
}

// Stats returns the totals over all flows.
func (t *SequenceTracker) Stats() SequenceStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.other
	for _, f := range t.flows {
		s.add(&f.st)
	}
	return s
}

// Flows returns the state of each flow, sorted by group and source.
func (t *SequenceTracker) Flows() []FlowSequence {
	t.mu.Lock()
	fs := make([]FlowSequence, 0, len(t.flows))
	for k, f := range t.flows {
		fs = append(fs, FlowSequence{Source: k.src, Group: k.group, Highest: f.hi, SequenceStats: f.st})
	}
	t.mu.Unlock()
	slices.SortFunc(fs, func(a, b FlowSequence) int {
		return cmp.Or(a.Group.Compare(b.Group), a.Source.Compare(b.Source))
	})
	return fs
}
