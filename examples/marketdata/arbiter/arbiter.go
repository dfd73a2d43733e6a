package arbiter

import (
	"fmt"
	"math/bits"
	"time"

	"github.com/sharecast/sharecast/internal/moldudp64"
)

// Defaults for the zero Config fields.
const (
	DefaultWindow      = 16384
	DefaultGapTimeout  = 10 * time.Millisecond
	DefaultLineTimeout = 3 * time.Second
	DefaultBufferBytes = 64 << 20

	// DefaultSessionTimeout is the Config.SessionTimeout default.
	DefaultSessionTimeout = 5 * time.Second

	// MaxWindow is the largest Config.Window allowed.
	MaxWindow = 1 << 22
)

// Config configures an [Arbiter]. Its zero value means the defaults; a
// nil *Config is the zero Config.
type Config struct {
	// Window is how far ahead of the next expected sequence number a
	// message may arrive and be buffered: sequence numbers next to
	// next+Window-1. A message further ahead makes the arbiter give up the
	// oldest missing messages (a gap with reason GapWindow) until it fits;
	// but a packet that would do so, and reveals sequence numbers not yet
	// known, is first held until another confirms it (see "Jumps" in the
	// package doc). The buffer holds at most Window messages; its slots
	// are allocated once (about 48 bytes each, Window rounded up to a
	// power of two), and the bytes of their messages are bounded by
	// BufferBytes. It should cover the message rate times GapTimeout. 0
	// means DefaultWindow (16384); at most MaxWindow.
	Window int

	// BufferBytes bounds the memory of the buffer's messages: the
	// capacity of every slot's message buffer, whether it holds a waiting
	// message or is kept for reuse, never exceeds it in sum
	// (Stats.Retained). Each slot may keep up to BufferBytes/(2×slots)
	// bytes between messages (a larger buffer is freed once its message
	// is delivered); the rest holds the waiting messages. A message that
	// would take them past it is not buffered: it is dropped and counted
	// in LineStats.Overflow, as if its packet had been lost, so the other
	// line's copy may still fill it. 0 means DefaultBufferBytes (64 MiB),
	// which keeps 2 KiB a slot at the default Window. One more buffer, the
	// size of one packet, holds a jump awaiting confirmation.
	BufferBytes int

	// GapTimeout is how long a missing message is waited for, from the
	// first sign that it is missing: the arrival of a later message, or of
	// a heartbeat or end of session that announces a later sequence
	// number. Then it is given up and reported in a gap (at the first Feed
	// or Tick from then on). It bounds the delay added to any message, and
	// should exceed the skew between the lines plus their reordering. 0
	// means DefaultGapTimeout (10ms).
	GapTimeout time.Duration

	// LineTimeout is how long a line may send nothing, heartbeats
	// included, before it is reported silent. MoldUDP64 servers send
	// heartbeats when idle, so a silent line is a fault. 0 means
	// DefaultLineTimeout (3s).
	LineTimeout time.Duration

	// StartSeq is the sequence number expected first in each session. 0,
	// the default, means the sequence number of the session's first packet
	// to arrive (data, heartbeat or end), which suits joining a session
	// under way; copies of earlier messages are then counted as Late. Set
	// it to 1 to receive sessions from their start and have every missing
	// message reported.
	StartSeq uint64

	// SessionTimeout is how long the current session must have sent
	// nothing (no packet of it on either line) before a packet of another
	// session may replace it, unless it has ended (its end of session
	// arrived) or FollowSessions is set. Until then packets of other
	// sessions are dropped and counted (LineStats.Foreign), and Feed
	// returns [ErrForeignSession]: one forged packet cannot end the live
	// session. 0 means DefaultSessionTimeout (5s).
	SessionTimeout time.Duration

	// FollowSessions makes every packet of a new session replace the
	// current one at once, as soon as it arrives (what a receiver that
	// trusts its network and must follow a restarted server without
	// delay wants). The default switches only by the rule SessionTimeout
	// states.
	FollowSessions bool

	// RecoveryTimeout, if positive, turns on re-requests: a missing run
	// that the other line has not filled within GapTimeout is handed to
	// OnRequest, once, and waited for RecoveryTimeout longer, for
	// [Arbiter.Recover] to fill; only then is what is still missing given
	// up in a gap (reason GapTimeout). 0, the default, declares gaps at
	// GapTimeout, with no requests.
	RecoveryTimeout time.Duration

	// OnRequest is called, when RecoveryTimeout is set, with each run of
	// missing sequence numbers to ask a re-request server for. It is
	// called once per run, in order; retrying is the caller's business.
	OnRequest func(Request)

	// OnMessage is called with every message delivered, in sequence order.
	// nil discards them (the counters still count).
	OnMessage func(Message)

	// OnGap is called with every gap, in order with the messages.
	OnGap func(Gap)

	// OnLine is called when a line goes silent and when it comes back.
	OnLine func(LineEvent)

	// OnSession is called when a session starts, ends or is replaced.
	OnSession func(SessionEvent)
}

// Arbiter merges the A and B lines of a MoldUDP64 feed into one stream in
// which every message appears once, in order, with the gaps that neither
// line filled reported. See the package documentation for the policy.
//
// An Arbiter is not safe for concurrent use: one goroutine feeds it (or the
// caller serialises Feed, Tick, Flush and Stats with its own lock, which
// can be as simple as a sync.Mutex held around each call). The callbacks
// run on the calling goroutine, inside Feed, Tick or Flush, and must not
// call the Arbiter's methods.
type Arbiter struct {
	cfg    Config
	window uint64
	mask   uint64
	ring   []slot // indexed by seq & mask
	gen    uint32 // the current session's generation (see slot.gen)
	ev     fifo   // when each not yet delivered sequence number was first known missing
	rq     fifo   // the same evidence, consumed as the runs are requested
	asked  uint64 // one past the last sequence number requested

	keep     int // the most bytes a slot keeps between messages
	budget   int // the most bytes the waiting messages' buffers may hold
	inUse    int // bytes of the waiting messages' buffers
	retained int // bytes of all the slots' buffers

	held heldJump // a jump awaiting confirmation

	epoch   time.Time // the first time seen; times are kept relative to it
	clocked bool
	now     time.Duration // the latest time seen
	nowTime time.Time     // now as a Time

	active    bool // a session has started
	session   moldudp64.Session
	prev      moldudp64.Session // the session replaced last
	hasPrev   bool
	start     uint64 // the session's first expected sequence number
	next      uint64 // the next sequence number to deliver
	known     uint64 // one past the highest sequence number known to exist
	ended     bool   // an end of session has arrived
	endSeq    uint64
	endReport bool          // SessionEnded or SessionReplaced has been reported
	sessLast  time.Duration // the last packet of the current session

	anyPacket   bool          // a packet has arrived (the silence clock runs)
	firstPacket time.Duration // when the first one did

	recent  [16]span // the last gaps, to tell late copies from duplicates
	nrecent int
	pend    pendingGap // given up, not yet reported: the run may go on

	lines [3]lineState // A, B and recovered
	stats Stats
}

type slot struct {
	seq    uint64
	gen    uint32        // the session generation that seq belongs to
	at     time.Duration // arrival of the first copy
	data   []byte        // the buffered copy; its capacity is kept for reuse
	line   Line          // line of the first copy
	state  uint8
	paired bool // the other line's copy has been seen (Skew recorded)
}

// Slot states. A slot describes the sequence number in it only if its seq
// matches and its gen is the current session's, so that starting a
// session costs no clearing.
const (
	empty uint8 = iota
	buffered
	delivered
	gapped
)

type span struct{ first, last uint64 }

// pendingGap is a run given up and counted but not yet reported, because
// the sequence number after it is missing too and may be given up next:
// the run is reported once, whole, when it ends (see flushGap).
type pendingGap struct {
	ok     bool
	span   span
	reason GapReason
}

// heldJump is a packet beyond the window awaiting confirmation.
type heldJump struct {
	ok   bool
	line Line
	p    moldudp64.Packet // its Payload is buf
	end  uint64           // p's end, as jump saw it
	buf  []byte
}

// maxHeld is the largest payload held as a jump: a UDP datagram's. A
// larger packet (built by hand) is refused at once.
const maxHeld = 1 << 16

type lineState struct {
	stats LineStats
	last  time.Duration
	seen  bool
}

// New returns an Arbiter configured by cfg (nil for the defaults). It
// returns an error wrapping [ErrInvalidConfig] for a negative value or a
// Window above MaxWindow.
func New(cfg *Config) (*Arbiter, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	switch {
	case c.Window < 0 || c.Window > MaxWindow:
		return nil, fmt.Errorf("config: Window %d, want 0 to %d: %w", c.Window, MaxWindow, ErrInvalidConfig)
	case c.GapTimeout < 0:
		return nil, fmt.Errorf("config: GapTimeout %v is negative: %w", c.GapTimeout, ErrInvalidConfig)
	case c.LineTimeout < 0:
		return nil, fmt.Errorf("config: LineTimeout %v is negative: %w", c.LineTimeout, ErrInvalidConfig)
	case c.BufferBytes < 0:
		return nil, fmt.Errorf("config: BufferBytes %d is negative: %w", c.BufferBytes, ErrInvalidConfig)
	case c.SessionTimeout < 0 || c.RecoveryTimeout < 0:
		return nil, fmt.Errorf("config: SessionTimeout %v or RecoveryTimeout %v is negative: %w",
			c.SessionTimeout, c.RecoveryTimeout, ErrInvalidConfig)
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.GapTimeout == 0 {
		c.GapTimeout = DefaultGapTimeout
	}
	if c.LineTimeout == 0 {
		c.LineTimeout = DefaultLineTimeout
	}
	if c.BufferBytes == 0 {
		c.BufferBytes = DefaultBufferBytes
	}
	size := uint64(1) << bits.Len64(uint64(c.Window-1))
	a := &Arbiter{
		cfg:    c,
		window: uint64(c.Window),
		mask:   size - 1,
		ring:   make([]slot, size),
		keep:   c.BufferBytes / int(2*size),
	}
	a.budget = c.BufferBytes - a.keep*int(size)
	a.ev.limit = 2*c.Window + 64
	a.rq.limit = a.ev.limit
	return a, nil
}

// Feed hands the arbiter a packet that arrived on line at time now. The
// packet's messages are delivered through Config.OnMessage, in order,
// either at once or, if they arrived ahead of a missing message, later
// (Feed copies them). Feed first gives up the messages whose GapTimeout
// has passed by now, and reports lines that have been silent too long, as
// Tick does.
//
// now should not go backwards; a time before one already seen is taken as
// that time. Feed returns an error only for an invalid line (wrapping
// [ErrInvalidLine], the packet is ignored), a packet whose sequence
// numbers overflow (wrapping [ErrSequenceOverflow], counted in
// LineStats.Invalid and dropped) or a packet of a foreign session that may
// not replace the current one ([ErrForeignSession] itself, so that a flood
// of them allocates nothing; counted in LineStats.Foreign and dropped). It
// allocates nothing in steady state.
func (a *Arbiter) Feed(line Line, p moldudp64.Packet, now time.Time) error {
	if line > LineB {
		return fmt.Errorf("line %d: %w", line, ErrInvalidLine)
	}
	t := a.clock(now)
	a.expire(t)
	a.checkLines(t)
	ls := &a.lines[line]
	ls.stats.Packets++
	if ls.stats.Silent {
		ls.stats.Silent = false
		if a.cfg.OnLine != nil {
			ev := LineEvent{Line: line, At: a.at(t)}
			if ls.seen {
				ev.LastPacket = a.at(ls.last)
			}
			a.cfg.OnLine(ev)
		}
	}
	ls.last, ls.seen = t, true
	if !a.anyPacket {
		a.anyPacket, a.firstPacket = true, t
	}
	if !p.Valid() {
		ls.stats.Invalid++
		return fmt.Errorf("line %s: packet at %d with %d messages: %w", line, p.Seq, p.Len(), ErrSequenceOverflow)
	}

	switch {
	case !a.active:
		a.startSession(p.Session, p.Seq, t)
	case p.Session != a.session:
		if a.hasPrev && p.Session == a.prev {
			ls.stats.Messages += uint64(p.Len())
			ls.stats.Late += uint64(p.Len())
			return nil
		}
		if !a.cfg.FollowSessions && !a.ended && t-a.sessLast < a.cfg.SessionTimeout {
			ls.stats.Foreign++
			return ErrForeignSession
		}
		a.replaceSession(p.Session, p.Seq, t)
	}
	a.sessLast = t
	switch {
	case p.IsHeartbeat():
		ls.stats.Heartbeats++
	case p.IsEndOfSession():
		ls.stats.Ends++
	}
	if !a.jump(line, p) {
		a.accept(line, p, t)
		a.settle()
	}
	a.checkEnd(t)
	return nil
}

// accept handles a packet of the current session.
func (a *Arbiter) accept(line Line, p moldudp64.Packet, t time.Duration) {
	switch {
	case p.IsHeartbeat():
		a.announce(p.Seq, t)
	case p.IsEndOfSession():
		if p.Seq < a.next {
			// Behind a message delivered or given up, which it says does
			// not exist: forged or corrupt.
			a.lines[line].stats.Invalid++
			return
		}
		if !a.ended {
			a.ended, a.endSeq = true, p.Seq
		}
		a.announce(p.Seq, t)
	default:
		a.data(line, p, t)
	}
}

// jump holds a packet that would take the sequence beyond the window, to
// sequence numbers not yet known to exist, until another packet confirms
// it: one beyond the window too, within Window of it, from either line.
// A packet within the window from the held one's line, and more than
// Window from it, refutes it, as does a jump elsewhere or a new session; the refused packet's messages are
// dropped and counted. jump reports whether it took p; if not, p is to be
// accepted, after the held packet that it confirmed, if any. A held
// packet that the feed catches up with is accepted by settle.
//
// Its work is constant per packet, whatever the sequence numbers.
func (a *Arbiter) jump(line Line, p moldudp64.Packet) bool {
	end := p.NextSeq()
	if a.ended {
		end = min(end, a.endSeq)
	}
	if !a.beyond(p.Seq, end) {
		if a.held.ok && a.held.line == line && !a.held.near(p.Seq, end, a.window) {
			// Its line went on without it. (A packet of its line within
			// Window of it came out of order, behind it: the line's
			// packets are reordered, which refutes nothing.)
			a.refuse()
		}
		return false
	}
	if a.held.ok {
		if a.held.near(p.Seq, end, a.window) {
			a.confirm()
			return false
		}
		a.refuse()
	}
	a.lines[line].stats.Jumps++
	if len(p.Payload) > maxHeld {
		a.held = heldJump{p: p, line: line, buf: a.held.buf}
		a.refuse()
		return true
	}
	h := &a.held
	h.buf = append(h.buf[:0], p.Payload...)
	h.ok, h.line, h.p, h.end = true, line, p, end
	h.p.Payload = h.buf
	return true
}

// beyond reports whether a packet of sequence numbers seq to end
// (exclusive) is a jump: whether it takes the sequence beyond the window,
// to numbers not yet known to exist, past a message still missing. One
// that starts at next continues the feed: it gives nothing up.
func (a *Arbiter) beyond(seq, end uint64) bool {
	return seq > a.next && end > a.known && end-a.next > a.window
}

// settle accepts the held packet, as of now, once it is a jump no more:
// the feed has caught up with it (next has reached its first sequence
// number or come within Window of its end, or its sequence numbers were
// announced), so that it would be accepted if it arrived now. Holding it
// longer would let its messages, which the arbiter has, time out into a
// gap.
func (a *Arbiter) settle() {
	// Not clamped to an end of session that came since: the feed never
	// reaches what lies beyond it.
	if a.held.ok && !a.beyond(a.held.p.Seq, a.held.end) {
		a.confirm()
	}
}

// giveUpBefore is giveUp for the timeouts and Flush: it stops short of a
// held packet's messages, which are due then, and accepts it instead.
func (a *Arbiter) giveUpBefore(limit uint64, reason GapReason, t time.Duration) bool {
	if a.held.ok && a.held.p.Seq > a.next {
		limit = min(limit, a.held.p.Seq)
	}
	ok := a.giveUp(limit, reason, t)
	a.settle()
	return ok
}

// near reports whether the sequence numbers seq to end lie within w of
// the held packet's: a packet that continues it, or the other line's copy.
func (h *heldJump) near(seq, end, w uint64) bool {
	switch {
	case seq > h.end:
		return seq-h.end <= w
	case h.p.Seq > end:
		return h.p.Seq-end <= w
	}
	return true
}

// confirm accepts the held packet, as of now.
func (a *Arbiter) confirm() {
	a.held.ok = false
	a.stats.JumpsConfirmed++
	a.accept(a.held.line, a.held.p, a.now)
}

// refuse drops the held packet, counting its messages.
func (a *Arbiter) refuse() {
	h := &a.held
	n := uint64(h.p.Len())
	ls := &a.lines[h.line].stats
	ls.Messages += n
	ls.Unconfirmed += n
	a.stats.JumpsRefused++
	h.ok = false
}

// Tick tells the arbiter the time: it gives up, as gaps, the missing
// messages whose GapTimeout has passed by now (delivering the buffered
// messages behind them), and reports each line that has sent nothing for
// LineTimeout. Feed does the same, so Tick is needed only to get these
// reports while no packets arrive; call it every few milliseconds, or at
// the deadline the caller computes. It allocates nothing.
func (a *Arbiter) Tick(now time.Time) {
	t := a.clock(now)
	a.expire(t)
	a.checkLines(t)
	a.checkEnd(t)
}

// Flush gives up at once every message still missing that is known to
// exist (with reason GapFlush), delivering all that is buffered, as when
// the feed is being shut down or handed over. The session stays current.
func (a *Arbiter) Flush(now time.Time) {
	t := a.clock(now)
	for a.active && a.next < a.known {
		if !a.giveUpBefore(a.known, GapFlush, t) {
			break
		}
	}
	a.flushGap(t)
	a.checkEnd(t)
}

// Stats returns a snapshot of the counters.
func (a *Arbiter) Stats() Stats {
	s := a.stats
	for i := range s.Lines {
		s.Lines[i] = a.lines[i].stats
		if a.lines[i].seen {
			s.Lines[i].LastPacket = a.at(a.lines[i].last)
		}
	}
	s.Recovery = a.lines[LineRecovered].stats
	s.Recovered = s.Recovery.First
	s.Session = a.session
	s.Next = a.next
	s.Retained = a.retained
	s.JumpPending = a.held.ok
	return s
}

// clock converts now to the arbiter's time, which never goes backwards.
func (a *Arbiter) clock(now time.Time) time.Duration {
	if !a.clocked {
		a.epoch, a.clocked = now, true
	}
	if d := now.Sub(a.epoch); d >= a.now {
		a.now, a.nowTime = d, now
	}
	return a.now
}

// at converts the arbiter's time back to a Time.
func (a *Arbiter) at(t time.Duration) time.Time {
	if t == a.now {
		return a.nowTime
	}
	return a.epoch.Add(t)
}

// data handles the messages of a data packet.
func (a *Arbiter) data(line Line, p moldudp64.Packet, t time.Duration) {
	ls := &a.lines[line].stats
	ls.Messages += uint64(p.Len())
	// Known before the messages are handled, so that a window give-up
	// knows that the run it gives up may go on.
	a.announce(p.NextSeq(), t)
	pastEnd := false
	it := p.Iter()
	for s, msg, ok := it.Next(); ok; s, msg, ok = it.Next() {
		if a.ended && s >= a.endSeq {
			pastEnd = true
			continue
		}
		for s >= a.next && s-a.next >= a.window {
			if !a.giveUp(s-a.window+1, GapWindow, t) {
				break
			}
		}
		switch {
		case s < a.next:
			a.stale(line, s, t)
		case s == a.next:
			a.deliver(line, s, msg, t, t, false)
			a.drain(t)
		default:
			a.buffer(line, s, msg, t)
		}
	}
	if pastEnd {
		ls.Invalid++
	}
}

// announce records that the sequence numbers before end exist, as of t.
func (a *Arbiter) announce(end uint64, t time.Duration) {
	if a.ended {
		end = min(end, a.endSeq)
	}
	if end > a.known {
		a.known = end
		if end > a.next {
			a.ev.push(evidence{end: end, at: t})
			if a.cfg.RecoveryTimeout > 0 {
				a.rq.push(evidence{end: end, at: t})
			}
		}
	}
}

// buffer keeps a copy of a message that arrived ahead of the next expected.
func (a *Arbiter) buffer(line Line, s uint64, msg []byte, t time.Duration) {
	sl := &a.ring[s&a.mask]
	if a.holds(sl, s) && sl.state == buffered {
		a.duplicate(sl, line, t)
		return
	}
	// Any other sequence number in this slot is behind next (the window is
	// no larger than the ring), so it is no longer needed, and its buffer
	// is one kept for reuse (at most keep bytes).
	c := cap(sl.data)
	if len(msg) > c {
		c = a.bufSize(len(msg))
	}
	if a.inUse+c > a.budget {
		a.lines[line].stats.Overflow++
		return
	}
	if c > cap(sl.data) {
		a.retained += c - cap(sl.data)
		a.stats.RetainedMax = max(a.stats.RetainedMax, a.retained)
		sl.data = make([]byte, 0, c)
	}
	a.inUse += c
	sl.seq, sl.gen, sl.at, sl.line, sl.state, sl.paired = s, a.gen, t, line, buffered, false
	sl.data = append(sl.data[:0], msg...)
	a.stats.Buffered++
	a.stats.BufferedMax = max(a.stats.BufferedMax, a.stats.Buffered)
}

// bufSize returns the capacity to give a slot's buffer for a message of n
// bytes: n rounded up to 64, but no more than a slot keeps if n fits.
func (a *Arbiter) bufSize(n int) int {
	c := (n + 63) &^ 63
	if c > a.keep && n <= a.keep {
		c = a.keep
	}
	return c
}

// release ends a delivered message's hold on its slot's buffer, and frees
// the buffer if it is larger than a slot keeps.
func (a *Arbiter) release(sl *slot) {
	c := cap(sl.data)
	a.inUse -= c
	if c > a.keep {
		a.retained -= c
		sl.data = nil
	}
}

// holds reports whether sl describes sequence number s of this session.
func (a *Arbiter) holds(sl *slot, s uint64) bool {
	return sl.seq == s && sl.gen == a.gen && sl.state != empty
}

// deliver passes message s to OnMessage and advances next past it.
func (a *Arbiter) deliver(line Line, s uint64, msg []byte, arrived, t time.Duration, wasBuffered bool) {
	sl := &a.ring[s&a.mask]
	if !wasBuffered {
		sl.seq, sl.gen, sl.at, sl.line, sl.paired = s, a.gen, arrived, line, false
	}
	a.flushGap(t)
	sl.state = delivered
	a.next = s + 1
	a.stats.Delivered++
	a.stats.Delay.Record(t - arrived)
	a.lines[line].stats.First++
	if a.cfg.OnMessage != nil {
		a.cfg.OnMessage(Message{
			Session:  a.session,
			Seq:      s,
			Data:     msg,
			Line:     line,
			Arrived:  a.at(arrived),
			Buffered: wasBuffered,
		})
	}
}

// drain delivers the buffered messages that follow next without a break.
func (a *Arbiter) drain(t time.Duration) {
	for a.stats.Buffered > 0 {
		sl := &a.ring[a.next&a.mask]
		if !a.holds(sl, a.next) || sl.state != buffered {
			return
		}
		a.stats.Buffered--
		a.deliver(sl.line, sl.seq, sl.data, sl.at, t, true)
		a.release(sl)
	}
}

// stale handles a copy of a message behind next: a duplicate of one
// delivered, or a late copy of one given up.
func (a *Arbiter) stale(line Line, s uint64, t time.Duration) {
	ls := &a.lines[line].stats
	if p := a.pend.span; a.pend.ok && p.first <= s && s <= p.last {
		a.flushGap(t) // the gap is reported before a late copy is counted
	}
	if sl := &a.ring[s&a.mask]; a.holds(sl, s) {
		if sl.state == gapped {
			ls.Late++
		} else {
			a.duplicate(sl, line, t)
		}
		return
	}
	// Older than the ring remembers.
	if s < a.start || a.inRecentGap(s) {
		ls.Late++
		return
	}
	ls.Duplicates++
}

// duplicate counts a copy of a message already delivered or buffered, and
// measures the lag between the lines.
func (a *Arbiter) duplicate(sl *slot, line Line, t time.Duration) {
	a.lines[line].stats.Duplicates++
	if sl.line != line && !sl.paired && line != LineRecovered && sl.line != LineRecovered {
		sl.paired = true
		a.stats.Skew.Record(t - sl.at)
	}
}

// expire requests the missing messages whose GapTimeout has passed, if
// recovery is on, and gives up those whose GapTimeout (and
// RecoveryTimeout) has passed.
func (a *Arbiter) expire(t time.Duration) {
	if a.next >= a.known {
		a.ev.clear() // nothing is missing: all evidence is spent
		a.rq.clear()
		return
	}
	if a.cfg.RecoveryTimeout > 0 {
		a.request(t)
	}
	wait := a.cfg.GapTimeout + a.cfg.RecoveryTimeout
	for a.active && a.next < a.known {
		e, ok := a.ev.oldest(a.next)
		if !ok || t-e.at < wait {
			return
		}
		// Give up only what this evidence revealed: a later heartbeat may
		// have announced more, which waits for its own deadline.
		if !a.giveUpBefore(e.end, GapTimeout, t) {
			return
		}
	}
}

// request hands to OnRequest the missing runs whose GapTimeout has passed
// and that were not requested yet.
func (a *Arbiter) request(t time.Duration) {
	for a.active {
		from := max(a.next, a.asked)
		e, ok := a.rq.oldest(from)
		if !ok || t-e.at < a.cfg.GapTimeout {
			return
		}
		a.rq.pop()
		a.askMissing(from, e.end, t)
		a.asked = e.end
	}
}

// askMissing calls OnRequest with each run of sequence numbers from from
// to end (exclusive) that is not buffered. Buffered messages lie within
// the window, so it looks at no more than Window slots; beyond them the
// rest is one run.
func (a *Arbiter) askMissing(from, end uint64, t time.Duration) {
	if a.held.ok && a.held.p.Seq > from {
		end = min(end, a.held.p.Seq) // the held packet has them, or refutes them
	}
	run := from
	for s := from; s < end; s++ {
		if s-a.next > a.mask {
			break
		}
		if sl := &a.ring[s&a.mask]; a.holds(sl, s) && sl.state == buffered {
			if run < s {
				a.ask(run, s-1, t)
			}
			run = s + 1
		}
	}
	if run < end {
		a.ask(run, end-1, t)
	}
}

func (a *Arbiter) ask(first, last uint64, t time.Duration) {
	a.stats.Requests++
	a.stats.Requested += last - first + 1
	if a.cfg.OnRequest != nil {
		a.cfg.OnRequest(Request{Session: a.session, First: first, Last: last, At: a.at(t)})
	}
}

// giveUp reports the missing messages from next up to the first buffered
// one, or limit, whichever comes first, as a gap; then delivers the
// buffered messages that follow. It reports whether it advanced next (it
// always does when limit > next, since the message at next is never
// buffered).
func (a *Arbiter) giveUp(limit uint64, reason GapReason, t time.Duration) bool {
	end := a.firstBuffered(limit)
	if end <= a.next {
		return false
	}
	g := span{a.next, end - 1}
	// Mark the slots (the last ring's worth) so that late copies are told
	// from duplicates.
	for s := max(g.first, g.last-min(g.last, a.mask)); ; s++ {
		sl := &a.ring[s&a.mask]
		sl.seq, sl.gen, sl.state = s, a.gen, gapped
		if s == g.last {
			break
		}
	}
	a.recent[a.nrecent%len(a.recent)] = g
	a.nrecent++
	a.next = end
	if a.pend.ok && a.pend.span.last+1 == g.first {
		a.pend.span.last = g.last
	} else {
		a.flushGap(t)
		a.pend = pendingGap{ok: true, span: g, reason: reason}
		a.stats.Gaps++
	}
	a.stats.Missing += end - g.first
	a.drain(t) // delivers, and so reports the gap, if the run ended at a message held
	if reason != GapWindow || a.next >= a.known {
		// A timeout (or flush, or session change) reports at once what
		// it gave up, with the window's pieces before it; so does a
		// window give-up after which nothing more is known to be missing.
		a.flushGap(t)
	}
	return true
}

// flushGap reports the pending gap, if any: a run that the window gave
// up. It is called before anything that follows the run: a message
// delivered, a late copy of one of its messages, a session event, a give-up
// for another reason than the window (which it extends first, if
// adjacent), the end of Flush; and when nothing more is known to be
// missing. Until then the window's next give-up extends it, so that a run
// is reported once, not a piece for each message that pushes the window
// on.
func (a *Arbiter) flushGap(t time.Duration) {
	if !a.pend.ok {
		return
	}
	a.pend.ok = false
	if a.cfg.OnGap != nil {
		g := a.pend.span
		a.cfg.OnGap(Gap{Session: a.session, First: g.first, Last: g.last, At: a.at(t), Reason: a.pend.reason})
	}
}

// firstBuffered returns the lowest buffered sequence number below limit, or
// limit if there is none. Buffered messages lie within the window, so it
// looks at no more than Window slots.
func (a *Arbiter) firstBuffered(limit uint64) uint64 {
	if a.stats.Buffered == 0 {
		return limit
	}
	for s := a.next; s < limit && s-a.next <= a.mask; s++ {
		if sl := &a.ring[s&a.mask]; a.holds(sl, s) && sl.state == buffered {
			return s
		}
	}
	return limit
}

func (a *Arbiter) inRecentGap(s uint64) bool {
	for _, g := range a.recent[:min(a.nrecent, len(a.recent))] {
		if g.first <= s && s <= g.last {
			return true
		}
	}
	return false
}

// checkLines reports the lines that have been silent for LineTimeout. The
// silence clock starts at the first packet: before it there is no data
// yet, and no line is silent; a line that never sent is silent
// LineTimeout after the other line's first packet.
func (a *Arbiter) checkLines(t time.Duration) {
	if !a.anyPacket {
		return
	}
	for i := range a.lines[:2] {
		l := &a.lines[i]
		since := a.firstPacket
		if l.seen {
			since = l.last
		}
		if l.stats.Silent || t-since < a.cfg.LineTimeout {
			continue
		}
		l.stats.Silent = true
		l.stats.Silences++
		if a.cfg.OnLine != nil {
			ev := LineEvent{Line: Line(i), Silent: true, At: a.at(t)}
			if l.seen {
				ev.LastPacket = a.at(l.last)
			}
			a.cfg.OnLine(ev)
		}
	}
}

// checkEnd reports the end of the session once all of it is accounted for.
func (a *Arbiter) checkEnd(t time.Duration) {
	if a.ended && !a.endReport && a.next >= a.endSeq {
		a.endReport = true
		a.sessionEvent(SessionEnded, a.next, t)
	}
}

func (a *Arbiter) sessionEvent(k SessionEventKind, seq uint64, t time.Duration) {
	a.flushGap(t)
	if a.cfg.OnSession != nil {
		a.cfg.OnSession(SessionEvent{Kind: k, Session: a.session, Seq: seq, At: a.at(t)})
	}
}

// startSession makes s the current session, expecting first (or
// Config.StartSeq) next.
func (a *Arbiter) startSession(s moldudp64.Session, first uint64, t time.Duration) {
	if a.cfg.StartSeq != 0 {
		first = a.cfg.StartSeq
	}
	a.active, a.session = true, s
	// A new generation makes every slot stale at once; only when the
	// counter wraps (every 2^32 sessions) are the slots cleared.
	if a.gen++; a.gen == 0 {
		for i := range a.ring {
			a.ring[i].state = empty
		}
		a.gen = 1
	}
	a.start, a.next, a.known, a.asked = first, first, first, first
	a.sessLast = t
	a.ended, a.endSeq, a.endReport = false, 0, false
	a.nrecent = 0
	a.ev.clear()
	a.rq.clear()
	a.stats.Sessions++
	a.sessionEvent(SessionStarted, first, t)
}

// replaceSession gives up what is missing of the current session and
// starts s.
func (a *Arbiter) replaceSession(s moldudp64.Session, first uint64, t time.Duration) {
	for a.next < a.known {
		if !a.giveUp(a.known, GapSessionChange, t) {
			break
		}
	}
	if !a.endReport {
		k := SessionReplaced
		if a.ended && a.next >= a.endSeq {
			k = SessionEnded
		}
		a.endReport = true
		a.sessionEvent(k, a.next, t)
	}
	if a.held.ok {
		a.refuse()
	}
	a.prev, a.hasPrev = a.session, true
	a.startSession(s, first, t)
}

// evidence says that the sequence numbers below end were known to exist at
// time at.
type evidence struct {
	end uint64
	at  time.Duration
}

// fifo holds evidence in arrival order. Since an entry is pushed only when
// it raises the highest end, the ends increase too, so the oldest entry
// whose end is past next is the earliest time at which next was known to
// be missing.
type fifo struct {
	buf   []evidence // length a power of two
	head  int
	n     int
	limit int
}

func (f *fifo) push(e evidence) {
	if f.n == len(f.buf) {
		if f.n >= f.limit {
			// Full (only a flood of heartbeats with rising sequence numbers
			// gets here): extend the newest entry, which makes the newest
			// sequence numbers seem known a little earlier than they were.
			f.buf[(f.head+f.n-1)&(len(f.buf)-1)].end = e.end
			return
		}
		nb := make([]evidence, max(16, 2*len(f.buf)))
		for i := range f.n {
			nb[i] = f.buf[(f.head+i)&(len(f.buf)-1)]
		}
		f.buf, f.head = nb, 0
	}
	f.buf[(f.head+f.n)&(len(f.buf)-1)] = e
	f.n++
}

// oldest drops the entries that no longer matter (end <= next) and returns
// the oldest one left.
func (f *fifo) oldest(next uint64) (evidence, bool) {
	for f.n > 0 {
		e := f.buf[f.head]
		if e.end > next {
			return e, true
		}
		f.head = (f.head + 1) & (len(f.buf) - 1)
		f.n--
	}
	return evidence{}, false
}

// pop drops the oldest entry.
func (f *fifo) pop() {
	if f.n > 0 {
		f.head = (f.head + 1) & (len(f.buf) - 1)
		f.n--
	}
}

func (f *fifo) clear() { f.head, f.n = 0, 0 }

// Next returns the sequence number of the next message to deliver (the
// same as Stats().Next, without the copy).
func (a *Arbiter) Next() uint64 { return a.next }

// Session returns the current session (the zero Session before the first
// packet).
func (a *Arbiter) Session() moldudp64.Session { return a.session }

// Recover hands the arbiter a packet that a re-request server sent in
// answer to a request (see Config.RecoveryTimeout), at time now. Its
// messages that are still missing (from Next on, known to exist, within
// the window) are delivered in order like any other, or buffered until
// the ones before them come, with Message.Line LineRecovered; the others
// are counted in Stats.Recovery and dropped: copies of messages delivered,
// buffered or given up (Duplicates, Late), and messages not known to be
// missing (Invalid, per message). Recover never moves the sequence on by
// itself: a forged answer can fill only what was missing, and what the
// feed's own lines then deliver is checked against it as duplicates.
//
// A packet of another session returns [ErrForeignSession], and one whose
// sequence numbers overflow an error wrapping [ErrSequenceOverflow]; both
// are counted (Recovery.Foreign, Recovery.Invalid) and dropped.
// Heartbeats and ends of session are ignored. It allocates nothing in
// steady state.
func (a *Arbiter) Recover(p moldudp64.Packet, now time.Time) error {
	t := a.clock(now)
	ls := &a.lines[LineRecovered].stats
	ls.Packets++
	switch {
	case !a.active || p.Session != a.session:
		ls.Foreign++
		return ErrForeignSession
	case !p.Valid():
		ls.Invalid++
		return fmt.Errorf("recovered packet at %d with %d messages: %w", p.Seq, p.Len(), ErrSequenceOverflow)
	case p.IsHeartbeat():
		ls.Heartbeats++
		return nil
	case p.IsEndOfSession():
		ls.Ends++
		return nil
	}
	ls.Messages += uint64(p.Len())
	it := p.Iter()
	for s, msg, ok := it.Next(); ok; s, msg, ok = it.Next() {
		switch {
		case s < a.next:
			a.stale(LineRecovered, s, t)
		case s >= a.known || (a.ended && s >= a.endSeq) || s-a.next >= a.window ||
			(a.held.ok && s >= a.held.p.Seq):
			ls.Invalid++
		case s == a.next:
			a.deliver(LineRecovered, s, msg, t, t, false)
			a.drain(t)
		default:
			a.buffer(LineRecovered, s, msg, t)
		}
	}
	a.settle()
	a.checkEnd(t)
	return nil
}
