package arbiter

import (
	"strconv"
	"time"

	"github.com/sharecast/sharecast/internal/moldudp64"
)

// Line names one of the two redundant feeds.
type Line uint8

// The two lines. Nothing distinguishes them but their names: the arbiter
// treats A and B alike.
const (
	LineA Line = iota
	LineB

	// LineRecovered is not a line but marks, in Message.Line, a message
	// that came from a re-request server through [Arbiter.Recover]. Feed
	// refuses it.
	LineRecovered
)

// String returns "A", "B" or "R" for LineRecovered (or "Line(n)" for an
// invalid line).
func (l Line) String() string {
	switch l {
	case LineA:
		return "A"
	case LineB:
		return "B"
	case LineRecovered:
		return "R"
	}
	return "Line(" + strconv.Itoa(int(l)) + ")"
}

// Message is one message delivered by the arbiter.
//
// Ownership: Data is valid only until the OnMessage callback returns. A
// message delivered as it arrived (Buffered false) aliases the packet
// passed to [Arbiter.Feed], which the caller may reuse after Feed returns;
// a buffered one aliases the arbiter's own buffer, which it reuses for a
// later message. Copy Data to keep it.
type Message struct {
	// Session is the session the message belongs to.
	Session moldudp64.Session

	// Seq is its sequence number.
	Seq uint64

	// Data is the message's bytes (see the ownership rule above).
	Data []byte

	// Line is the line whose copy is delivered: the first to arrive.
	Line Line

	// Arrived is when that copy arrived.
	Arrived time.Time

	// Buffered reports whether the message waited in the arbiter's buffer
	// (it arrived ahead of a missing one) rather than being delivered on
	// arrival.
	Buffered bool
}

// Recovered reports whether the message came from a re-request server
// (Line is LineRecovered) rather than from line A or B.
func (m Message) Recovered() bool { return m.Line == LineRecovered }

// Request is a run of missing sequence numbers, First to Last inclusive,
// that the other line did not fill within Config.GapTimeout: what to ask a
// re-request server for (see Config.RecoveryTimeout). Unlike a Gap it is
// not given up: the arbiter waits RecoveryTimeout more for
// [Arbiter.Recover] to fill it.
type Request struct {
	// Session is the session of the missing messages.
	Session moldudp64.Session

	// First and Last are the first and last missing sequence numbers.
	First, Last uint64

	// At is when the request was made.
	At time.Time
}

// Len returns the number of messages requested, Last-First+1.
func (r Request) Len() uint64 { return r.Last - r.First + 1 }

// GapReason says why a gap was declared.
type GapReason uint8

// Gap reasons.
const (
	// GapTimeout: the missing messages did not arrive on either line within
	// Config.GapTimeout of the first sign that they were missing.
	GapTimeout GapReason = iota + 1

	// GapWindow: a message arrived Config.Window or more sequence numbers
	// ahead of the next expected one, so the oldest missing messages were
	// given up to make room.
	GapWindow

	// GapSessionChange: a packet of another session arrived, and what was
	// still missing of the old one was given up.
	GapSessionChange

	// GapFlush: [Arbiter.Flush] gave up the missing messages.
	GapFlush
)

// String returns the reason's name: "timeout", "window", "session-change"
// or "flush".
func (r GapReason) String() string {
	switch r {
	case GapTimeout:
		return "timeout"
	case GapWindow:
		return "window"
	case GapSessionChange:
		return "session-change"
	case GapFlush:
		return "flush"
	}
	return "GapReason(" + strconv.Itoa(int(r)) + ")"
}

// Gap is a run of consecutive sequence numbers that neither line delivered
// in time: First to Last, inclusive. The messages in it are given up: a
// copy that arrives later is dropped and counted in LineStats.Late. A gap
// is what a receiver asks a re-request server for.
//
// Every missing sequence number is reported in exactly one Gap, in order
// with the delivered messages. A run of missing messages is one Gap when
// the window gives it up (the whole run at once) or the timeout does
// (what the same sign revealed); it can come in two or more adjacent ones
// only when news of its later part (a later message, or a heartbeat)
// arrives after its earlier part timed out.
type Gap struct {
	// Session is the session of the missing messages.
	Session moldudp64.Session

	// First and Last are the first and last missing sequence numbers.
	First, Last uint64

	// At is when the gap was declared.
	At time.Time

	// Reason says why it was declared then.
	Reason GapReason
}

// Len returns the number of missing messages, Last-First+1.
func (g Gap) Len() uint64 { return g.Last - g.First + 1 }

// LineEvent reports that a line went silent or came back.
type LineEvent struct {
	// Line is the line.
	Line Line

	// Silent is true when the line has sent nothing (heartbeats included)
	// for Config.LineTimeout, false when a packet arrives on a line that
	// was silent.
	Silent bool

	// LastPacket is when the line's last packet before the silence arrived,
	// or the zero Time if it never sent one.
	LastPacket time.Time

	// At is when the silence was detected, or the packet that ended it
	// arrived.
	At time.Time
}

// SessionEventKind says what happened to a session.
type SessionEventKind uint8

// Session event kinds.
const (
	// SessionStarted: the first packet of a session arrived. Seq is the
	// first sequence number expected.
	SessionStarted SessionEventKind = iota + 1

	// SessionEnded: an end-of-session packet arrived, and every message
	// before the sequence number it announced was delivered or reported
	// in a gap. Seq is one past the last.
	SessionEnded

	// SessionReplaced: a packet of another session arrived before this
	// one ended; whatever of it was still missing was reported in a gap
	// with reason GapSessionChange. Seq is one past the last message
	// delivered or reported.
	SessionReplaced
)

// String returns "started", "ended" or "replaced".
func (k SessionEventKind) String() string {
	switch k {
	case SessionStarted:
		return "started"
	case SessionEnded:
		return "ended"
	case SessionReplaced:
		return "replaced"
	}
	return "SessionEventKind(" + strconv.Itoa(int(k)) + ")"
}

// SessionEvent reports the start or end of a session.
type SessionEvent struct {
	// Kind says what happened.
	Kind SessionEventKind

	// Session is the session it happened to.
	Session moldudp64.Session

	// Seq is a sequence number whose meaning depends on Kind.
	Seq uint64

	// At is when it happened.
	At time.Time
}

// LineStats counts what arrived on one line and what became of it.
type LineStats struct {
	// Packets counts every packet fed for the line: data, heartbeats, end
	// of session and invalid ones.
	Packets uint64

	// Heartbeats and Ends count heartbeat and end-of-session packets.
	Heartbeats, Ends uint64

	// Messages counts message copies received. Each is delivered (counted
	// in First, when it is), dropped as a duplicate or late copy, dropped
	// unconfirmed or for want of buffer space, or was past its session's
	// end; so, with nothing buffered, no jump held and no session ended
	// early, Messages = First + Duplicates + Late + Unconfirmed +
	// Overflow. The messages of a held jump are counted once it is
	// confirmed or refused.
	Messages uint64

	// First counts the messages delivered from this line: those whose copy
	// on this line arrived first.
	First uint64

	// Duplicates counts copies dropped because the same message had already
	// arrived (on either line): delivered, or waiting in the buffer.
	Duplicates uint64

	// Late counts copies dropped because their sequence number had been
	// given up: reported in a gap, before the first sequence number the
	// session was started at, or of a session that was replaced.
	Late uint64

	// Invalid counts packets dropped, wholly or partly: sequence numbers
	// that overflow (Feed returns ErrSequenceOverflow), messages at or
	// past the sequence number that ended their session, or an end of
	// session behind a message already delivered or given up.
	Invalid uint64

	// Jumps counts the packets from this line that would have taken the
	// sequence beyond the window, to sequence numbers not yet known, and
	// were held for confirmation (see "Jumps" in the package doc).
	Jumps uint64

	// Unconfirmed counts the message copies dropped because the jump that
	// carried them was refused.
	Unconfirmed uint64

	// Overflow counts the message copies that were not buffered because
	// Config.BufferBytes was reached.
	Overflow uint64

	// Foreign counts the packets dropped because they belong to another
	// session than the current one, which they may not replace (see
	// Config.SessionTimeout); their messages are not counted in Messages.
	Foreign uint64

	// Silences counts the times the line was declared silent.
	Silences uint64

	// Silent reports whether the line is silent now.
	Silent bool

	// LastPacket is when its last packet arrived (the zero Time if none).
	LastPacket time.Time
}

// Stats is a snapshot of an Arbiter's counters.
type Stats struct {
	// Lines holds the per-line counters, indexed by Line.
	Lines [2]LineStats

	// Recovery counts, like a line's, the packets handed to
	// [Arbiter.Recover] and their messages: First those delivered
	// (Recovered), Duplicates and Late the copies of messages already
	// there or given up, Invalid the messages not known to be missing,
	// Foreign the packets of another session. Silences and Jumps stay 0.
	Recovery LineStats

	// Recovered counts the messages delivered from a re-request server
	// (Recovery.First).
	Recovered uint64

	// Requests counts the runs handed to Config.OnRequest, and Requested
	// the messages in them.
	Requests, Requested uint64

	// Session is the current session (zero before the first packet).
	Session moldudp64.Session

	// Sessions counts the sessions started.
	Sessions uint64

	// Next is the sequence number of the next message to deliver.
	Next uint64

	// Delivered counts the messages delivered, in all sessions.
	Delivered uint64

	// Gaps counts the gaps reported, and Missing the messages in them. A
	// run that the window is giving up (see Gap) is counted as it goes,
	// before OnGap reports it whole.
	// Delivered + Missing covers every sequence number from each session's
	// first to its last delivered or reported one, exactly once.
	Gaps, Missing uint64

	// Buffered is the number of messages waiting in the buffer now, and
	// BufferedMax the most that ever waited at once.
	Buffered, BufferedMax int

	// Retained is the memory of the buffer's messages now, in bytes: the
	// capacity of the slots' message buffers, waiting or kept for reuse.
	// RetainedMax is the most it ever was. Neither exceeds
	// Config.BufferBytes.
	Retained, RetainedMax int

	// JumpsConfirmed and JumpsRefused count the held jumps (LineStats.Jumps)
	// that another packet confirmed (or the feed caught up with), and
	// those dropped unconfirmed.
	// JumpPending reports whether one is held now; so the sum of the
	// lines' Jumps is JumpsConfirmed + JumpsRefused, plus 1 if JumpPending.
	JumpsConfirmed, JumpsRefused uint64
	JumpPending                  bool

	// Delay is the arbitration delay of every delivered message: from the
	// arrival of its first copy to its delivery. It is 0 for a message
	// delivered on arrival; only messages that waited behind a missing one
	// add to it.
	Delay Histogram

	// Skew is, for each message that arrived on both lines, the time from
	// its first copy to its copy on the other line: how far the slower line
	// lags. It is measured while the first copy is among the last
	// Config.Window sequence numbers (rounded up to a power of two), so an
	// extreme lag goes unmeasured.
	Skew Histogram
}
