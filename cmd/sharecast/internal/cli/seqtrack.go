package cli

import (
	"time"

	"github.com/sharecast/sharecast/internal/moldudp64"
	"github.com/sharecast/sharecast/internal/wire"
)

// seqKind says how a datagram carries its sequence number.
type seqKind uint8

const (
	kindNone      seqKind = iota // no sequence number found
	kindSharecast                // the sharecast test header: one number a datagram
	kindMold                     // MoldUDP64: the first message's number and a count
)

func (k seqKind) String() string {
	switch k {
	case kindSharecast:
		return "sharecast"
	case kindMold:
		return "moldudp64"
	}
	return "none"
}

// seqInfo is what a datagram says about its place in its stream.
type seqInfo struct {
	kind seqKind
	id   [10]byte // stream id (sharecast, big-endian in the first 8 bytes) or session (MoldUDP64)
	// first is the sequence number of the datagram (sharecast) or of its
	// first message (MoldUDP64); n is how many numbers it carries: 1, or
	// the message count (0 for a heartbeat or the end of a session).
	first, n uint64
	sent     time.Time // sharecast only
}

// classify reads the sequence number of a payload, as mode says: "auto"
// tries the sharecast header, then MoldUDP64.
func classify(p []byte, mode string) seqInfo {
	// wire.Is first: a decode error is an allocated value, and most
	// payloads of a MoldUDP64 feed are not sharecast's; moldudp64.TryDecode
	// builds no error, so a payload that is neither costs nothing either.
	if (mode == "auto" || mode == "sharecast") && wire.Is(p) {
		if h, err := wire.Decode(p); err == nil {
			si := seqInfo{kind: kindSharecast, first: h.Seq, n: 1, sent: h.Time()}
			for i := range 8 {
				si.id[i] = byte(h.Stream >> (56 - 8*i))
			}
			return si
		}
	}
	if mode == "auto" || mode == "moldudp64" {
		if m, ok := moldudp64.TryDecode(p); ok {
			return seqInfo{kind: kindMold, id: m.Session, first: m.Seq, n: uint64(m.Len())}
		}
	}
	return seqInfo{}
}

// seqWindow is how many numbers below the next expected one a tracker
// remembers, to tell a late datagram from a duplicate.
const seqWindow = 1 << 16

// seqCounters are the counts of one stream, or of many added up. Numbers
// are datagrams for sharecast streams and messages for MoldUDP64.
type seqCounters struct {
	Numbers    uint64 `json:"numbers"`    // distinct sequence numbers received
	Lost       uint64 `json:"lost"`       // numbers skipped and not received since
	Gaps       uint64 `json:"gaps"`       // jumps over one or more numbers
	Duplicates uint64 `json:"duplicates"` // datagrams whose numbers were all received before
	Reordered  uint64 `json:"reordered"`  // datagrams that came after a higher number, within the window
	Resets     uint64 `json:"resets"`     // jumps back past the window: the sender restarted
}

func (c *seqCounters) add(o seqCounters) {
	c.Numbers += o.Numbers
	c.Lost += o.Lost
	c.Gaps += o.Gaps
	c.Duplicates += o.Duplicates
	c.Reordered += o.Reordered
	c.Resets += o.Resets
}

// seqTracker follows the sequence numbers of one stream. Its zero value is
// ready; it is not safe for concurrent use.
type seqTracker struct {
	started bool
	next    uint64 // the next number expected
	seen    []uint64
	c       seqCounters
}

func (t *seqTracker) bit(k uint64) (word int, mask uint64) {
	i := k % seqWindow
	return int(i / 64), 1 << (i % 64)
}

func (t *seqTracker) isSeen(k uint64) bool {
	w, m := t.bit(k)
	return t.seen[w]&m != 0
}

func (t *seqTracker) set(k uint64, on bool) {
	w, m := t.bit(k)
	if on {
		t.seen[w] |= m
	} else {
		t.seen[w] &^= m
	}
}

// advance moves next to end: numbers in [next, from) are missing, those in
// [from, end) received.
func (t *seqTracker) advance(from, end uint64) {
	if from-t.next >= seqWindow {
		clear(t.seen)
	} else {
		for k := t.next; k < from; k++ {
			t.set(k, false)
		}
	}
	for k := max(from, end-min(end-from, seqWindow)); k < end; k++ {
		t.set(k, true)
	}
	t.next = end
}

// observe records a datagram that carries numbers [first, first+n).
func (t *seqTracker) observe(first, n uint64) {
	if t.seen == nil {
		t.seen = make([]uint64, seqWindow/64)
	}
	if !t.started {
		t.started = true
		t.next = first
	}
	end := first + n
	if first >= t.next {
		if first > t.next {
			t.c.Gaps++
			t.c.Lost += first - t.next
		}
		t.advance(first, end)
		t.c.Numbers += n
		return
	}
	if n == 0 {
		return // a heartbeat behind: nothing new, nothing repeated
	}
	if t.next-first > seqWindow {
		t.c.Resets++
		t.next = first
		clear(t.seen)
		t.advance(first, end)
		t.c.Numbers += n
		return
	}
	var fresh, dup uint64
	for k := first; k < end && k < t.next; k++ {
		if t.isSeen(k) {
			dup++
		} else {
			t.set(k, true)
			fresh++
		}
	}
	switch {
	case fresh > 0:
		t.c.Reordered++
		t.c.Lost -= min(fresh, t.c.Lost)
		t.c.Numbers += fresh
	case dup > 0:
		t.c.Duplicates++
	}
	if end > t.next {
		t.c.Numbers += end - t.next
		t.advance(t.next, end)
	}
}
