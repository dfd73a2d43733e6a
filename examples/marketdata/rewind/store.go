package rewind

import (
	"sync"

	"github.com/sharecast/sharecast/examples/marketdata/arbiter"
	"github.com/sharecast/sharecast/internal/moldudp64"
)

// Defaults for the zero StoreConfig fields.
const (
	DefaultMaxMessages = 1 << 20
	DefaultMaxBytes    = 64 << 20
)

// StoreConfig bounds a [Store]. Its zero value means the defaults.
type StoreConfig struct {
	// MaxMessages is the most messages kept (the ring's slots, allocated
	// once: 32 bytes each); 0 means DefaultMaxMessages (1,048,576).
	MaxMessages int

	// MaxBytes bounds the memory of the messages kept, counted as the
	// capacity of their buffers; 0 means DefaultMaxBytes (64 MiB). The
	// oldest messages are dropped to make room.
	MaxBytes int
}

// Store keeps the last messages of one session, in sequence order, within
// its bounds in messages and bytes, for a [Server] to answer requests
// from. Messages are added in order (from an arbitrated feed, or by the
// sender itself); a run that never came (a gap) is a hole, which is never
// answered with a wrong message. A Store is safe for concurrent use.
type Store struct {
	mu       sync.Mutex
	max      int
	maxBytes int
	ring     []entry // indexed by seq % len(ring)
	session  moldudp64.Session
	active   bool
	first    uint64 // the oldest sequence number held (present or hole)
	next     uint64 // one past the newest
	bytes    int    // capacity of every entry's buffer
	ended    bool
	endSeq   uint64
	stats    StoreStats
	changed  chan struct{} // closed at the next change, if someone waits
}

type entry struct {
	data    []byte
	present bool
}

// StoreStats counts what a Store was given and what it dropped.
type StoreStats struct {
	// Session is the session held, Sessions the number started.
	Session  moldudp64.Session
	Sessions uint64

	// First and Next bound the sequence numbers held: First to Next-1,
	// holes included. Held counts the messages present among them, and
	// Bytes their memory.
	First, Next uint64
	Held, Bytes int

	// Added counts the messages stored, Stale those refused because they
	// were behind Next (already held or given up), longer than a message
	// can be, or larger than MaxBytes (a hole then), Evicted those dropped
	// for room, and Holes the sequence numbers skipped.
	Added, Stale, Evicted, Holes uint64

	// Ended reports whether the session's end is known, and EndSeq is
	// one past its last message.
	Ended  bool
	EndSeq uint64
}

// NewStore returns an empty Store bounded by cfg (nil for the defaults).
func NewStore(cfg *StoreConfig) *Store {
	var c StoreConfig
	if cfg != nil {
		c = *cfg
	}
	if c.MaxMessages <= 0 {
		c.MaxMessages = DefaultMaxMessages
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	return &Store{max: c.MaxMessages, maxBytes: c.MaxBytes, ring: make([]entry, c.MaxMessages)}
}

// Add stores message seq of session s (copying msg). A message of another
// session than the one held starts that session afresh; one behind the
// newest is refused (counted in Stale); one ahead leaves a hole before it.
// The oldest messages are dropped while the bounds are exceeded.
func (st *Store) Add(s moldudp64.Session, seq uint64, msg []byte) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.start(s, seq)
	if seq < st.next || len(msg) > moldudp64.MaxMessageLen {
		st.stats.Stale++
		return
	}
	if (len(msg)+63)&^63 > st.maxBytes {
		st.stats.Stale++ // larger than the whole store: a hole
		st.skipTo(seq + 1)
		st.notify()
		return
	}
	st.skipTo(seq)
	e := &st.ring[seq%uint64(st.max)]
	need := len(msg)
	if cap(e.data) < need {
		c := (need + 63) &^ 63
		st.bytes -= cap(e.data)
		e.data = nil
		for st.bytes+c > st.maxBytes && st.first < st.next {
			st.evict()
		}
		if st.bytes+c > st.maxBytes {
			return // cannot happen: checked above
		}
		e.data = make([]byte, 0, c)
		st.bytes += c
	}
	e.data = append(e.data[:0], msg...)
	e.present = true
	st.next = seq + 1
	st.stats.Added++
	st.stats.Held++
	st.notify()
}

// notify wakes those waiting on Changed.
func (st *Store) notify() {
	if st.changed != nil {
		close(st.changed)
		st.changed = nil
	}
}

// Changed returns a channel that is closed at the Store's next change (a
// message added, a hole, an end or a new session), for a reader that
// follows the feed live.
func (st *Store) Changed() <-chan struct{} {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.changed == nil {
		st.changed = make(chan struct{})
	}
	return st.changed
}

// Results of [Store.Get].
const (
	GetOK      = iota + 1 // the message is appended
	GetNotYet             // not come yet: wait for Changed
	GetEnded              // at or past the session's end
	GetMissing            // not held: dropped for room, or a hole
	GetForeign            // another session than the one held
)

// Get appends message seq of session s to dst, if held, and says what it
// found.
func (st *Store) Get(s moldudp64.Session, seq uint64, dst []byte) ([]byte, int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	switch {
	case !st.active || s != st.session:
		return dst, GetForeign
	case st.ended && seq >= st.endSeq:
		return dst, GetEnded
	case seq >= st.next:
		return dst, GetNotYet
	case seq < st.first || !st.ring[seq%uint64(st.max)].present:
		return dst, GetMissing
	}
	return append(dst, st.ring[seq%uint64(st.max)].data...), GetOK
}

// Skip records that the sequence numbers before next were given up (a gap
// in the feed the Store is fed from): they are holes, never answered.
func (st *Store) Skip(s moldudp64.Session, next uint64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.start(s, next)
	if next > st.next {
		st.skipTo(next)
	}
	st.notify()
}

// End records the end of session s: one past its last message is next.
func (st *Store) End(s moldudp64.Session, next uint64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.start(s, next)
	if !st.ended {
		st.ended, st.endSeq = true, next
	}
	st.notify()
}

// AddPacket stores what a downstream packet carries: its messages, or the
// end of its session. Heartbeats and malformed packets are ignored. It is
// what a sender calls with each packet it sends.
func (st *Store) AddPacket(b []byte) {
	p, ok := moldudp64.TryDecode(b)
	if !ok || !p.Valid() {
		return
	}
	if p.IsEndOfSession() {
		st.End(p.Session, p.Seq)
		return
	}
	for seq, msg := range p.Messages() {
		st.Add(p.Session, seq, msg)
	}
}

// start makes s the session held, if it is not yet, starting at seq.
func (st *Store) start(s moldudp64.Session, seq uint64) {
	if st.active && s == st.session {
		return
	}
	for st.first < st.next {
		st.evict()
	}
	st.active, st.session = true, s
	st.first, st.next = seq, seq
	st.ended, st.endSeq = false, 0
	st.stats.Sessions++
	st.notify()
}

// skipTo makes holes of the sequence numbers from next to seq (exclusive),
// dropping the oldest entries to keep at most max.
func (st *Store) skipTo(seq uint64) {
	if seq-st.next >= uint64(st.max) {
		// More holes than the ring holds: nothing older stays.
		for st.first < st.next {
			st.evict()
		}
		st.stats.Holes += seq - st.next
		st.first, st.next = seq, seq
	}
	for ; st.next < seq; st.next++ {
		if st.next-st.first >= uint64(st.max) {
			st.evict()
		}
		st.ring[st.next%uint64(st.max)].present = false
		st.stats.Holes++
	}
	if st.next-st.first >= uint64(st.max) {
		st.evict() // room for seq
	}
}

// evict drops the oldest entry, and its buffer.
func (st *Store) evict() {
	e := &st.ring[st.first%uint64(st.max)]
	if e.present {
		st.stats.Held--
		st.stats.Evicted++
	}
	st.bytes -= cap(e.data)
	e.data, e.present = nil, false
	st.first++
}

// Stats returns a snapshot of the counters.
func (st *Store) Stats() StoreStats {
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.stats
	s.Session, s.First, s.Next, s.Bytes, s.Ended, s.EndSeq = st.session, st.first, st.next, st.bytes, st.ended, st.endSeq
	return s
}

// Answer kinds, as [Store.Answer] returns them.
const (
	// AnswerMessages: a packet of messages, at most as many as asked.
	AnswerMessages = iota + 1
	// AnswerNotHeld: a heartbeat at the requested sequence number, which
	// the Store does not hold (dropped for room, a hole, or not yet come).
	AnswerNotHeld
	// AnswerEnd: an end of session; what was asked lies past its end.
	AnswerEnd
	// AnswerHeartbeat: a heartbeat at the next sequence number, for a
	// request of count 0.
	AnswerHeartbeat
	// AnswerForeign: nothing; the request is for another session than
	// the one held (or none is).
	AnswerForeign
)

// Answer appends to dst the answer to r, as a downstream packet of at most
// maxPayload bytes (header included; at least one message is sent if r
// asks for one and it is held, whatever its size), and returns it with the
// kind of answer:
//
//   - messages from r.Seq on, as many as are held without a hole, fit and
//     were asked for, never more (AnswerMessages);
//   - a heartbeat (count 0) whose sequence number is r.Seq, when r.Seq is
//     not held (AnswerNotHeld): "nothing from here", never a wrong message;
//   - an end of session at the session's end, when r.Seq is at or past it
//     (AnswerEnd);
//   - a heartbeat at the next sequence number for a request of count 0
//     (AnswerHeartbeat);
//   - nothing (dst unchanged), for a request of another session
//     (AnswerForeign).
//
// A Count of 0xFFFF (the end-of-session marker) asks for nothing, like 0.
func (st *Store) Answer(dst []byte, r moldudp64.Request, maxPayload int) ([]byte, int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	switch {
	case !st.active || r.Session != st.session:
		return dst, AnswerForeign
	case st.ended && r.Seq >= st.endSeq:
		return moldudp64.AppendEndOfSession(dst, st.session, st.endSeq), AnswerEnd
	case r.End() == r.Seq:
		return moldudp64.AppendHeartbeat(dst, st.session, st.next), AnswerHeartbeat
	case r.Seq < st.first || r.Seq >= st.next || !st.ring[r.Seq%uint64(st.max)].present:
		return moldudp64.AppendHeartbeat(dst, st.session, r.Seq), AnswerNotHeld
	}
	start := len(dst)
	dst = moldudp64.AppendHeartbeat(dst, st.session, r.Seq) // the header; its count is set below
	end := min(r.End(), st.next)
	if st.ended {
		end = min(end, st.endSeq)
	}
	var n uint16
	for s := r.Seq; s < end; s++ {
		e := &st.ring[s%uint64(st.max)]
		if !e.present || (n > 0 && len(dst)-start+2+len(e.data) > maxPayload) {
			break
		}
		dst = append(dst, byte(len(e.data)>>8), byte(len(e.data)))
		dst = append(dst, e.data...)
		n++
	}
	dst[start+18], dst[start+19] = byte(n>>8), byte(n)
	return dst, AnswerMessages
}

// Hook sets cfg's OnMessage, OnGap and OnSession so that what the arbiter
// delivers is stored: each message, each gap as a hole, each session's
// start and end. Callbacks already set are kept, and called first. It is
// how marketdata rewind keeps the feed it receives.
func (st *Store) Hook(cfg *arbiter.Config) {
	onMessage, onGap, onSession := cfg.OnMessage, cfg.OnGap, cfg.OnSession
	cfg.OnMessage = func(m arbiter.Message) {
		if onMessage != nil {
			onMessage(m)
		}
		st.Add(m.Session, m.Seq, m.Data)
	}
	cfg.OnGap = func(g arbiter.Gap) {
		if onGap != nil {
			onGap(g)
		}
		st.Skip(g.Session, g.Last+1)
	}
	cfg.OnSession = func(e arbiter.SessionEvent) {
		if onSession != nil {
			onSession(e)
		}
		switch e.Kind {
		case arbiter.SessionStarted:
			st.Skip(e.Session, e.Seq)
		case arbiter.SessionEnded:
			st.End(e.Session, e.Seq)
		}
	}
}
