// Package arbiter merges the two redundant lines of a MoldUDP64 feed, A
// and B, into one stream in which every message appears exactly once and in
// sequence order, and reports what neither line delivered.
//
// Exchanges such as Nasdaq send every market-data packet twice, on two
// multicast groups carried over separate networks, so that a packet lost on
// one line is usually found on the other. A receiver joins both and keeps,
// for each sequence number, the first copy to arrive ("line arbitration").
// The framing, sessions, heartbeats and end-of-session packets are those of
// the MoldUDP64 Protocol Specification v1.00 (package moldudp64).
//
// # Use
//
// Decode each datagram with moldudp64.Decode and pass it to [Arbiter.Feed]
// with its line and receive time (mcast.Datagram.Time); call [Arbiter.Tick]
// now and then so that timeouts fire while no packets come. The arbiter
// calls back, on the caller's goroutine:
//
//   - Config.OnMessage with each message, in order, once;
//   - Config.OnGap with each run of sequence numbers that neither line
//     delivered in time (what to ask a re-request server for);
//   - Config.OnLine when a line goes silent or comes back;
//   - Config.OnSession when a session starts, ends or is replaced;
//   - Config.OnRequest, if Config.RecoveryTimeout is set, with each run
//     that the other line did not fill in time (what to ask a re-request
//     server for; its answers go to [Arbiter.Recover]).
//
// Time comes only from the caller (Feed's and Tick's now): the arbiter has
// no timers or goroutines, and tests drive it with made-up times, without
// sleeping.
//
// # Ordering policy
//
// The arbiter keeps next, the sequence number it will deliver next.
//
//   - A message at next is delivered at once (and then any buffered ones
//     that follow it). This is the common case, and costs no copy: the
//     message handed to OnMessage aliases the packet.
//   - A message behind next is a duplicate (its first copy was delivered, or
//     it is buffered) or late (its sequence number was given up in a gap),
//     and is dropped and counted.
//   - A message ahead of next, because a packet was lost on one line or
//     arrived out of order, is copied into a buffer (a ring of
//     Config.Window slots, each reused) to wait for the missing ones.
//
// A missing message is waited for at most Config.GapTimeout from the first
// sign that it is missing: the arrival of any later message, or of a
// heartbeat or end of session announcing a later sequence number. Then it,
// and the missing messages around it that the same sign revealed, are
// reported in a [Gap] (reason GapTimeout) and the buffered messages behind
// them are delivered. The deadline is checked by each Feed and Tick, so no
// message is held back longer than GapTimeout plus the time to the next
// call; and a message that arrives within GapTimeout of the first sign of
// its absence is never lost. GapTimeout should exceed the skew between the
// lines plus their reordering. Config.Window bounds the buffer: a message
// Window or more ahead of next gives up the oldest missing ones at once
// (reason GapWindow). A run given up so is reported once, whole: while
// the message after it is missing too, the window's next give-up extends
// it, and it is reported when the run ends (a message is delivered, a late
// copy of it comes, or anything else is given up), not a piece for each
// message that pushes the window on. The gaps and the delivered messages
// together cover every sequence number exactly once, in order.
//
// # Re-requests
//
// With Config.RecoveryTimeout set, a run still missing GapTimeout after
// the first sign of it is handed to Config.OnRequest (once; runs split
// around the messages already buffered), and waited for RecoveryTimeout
// longer. The caller asks a re-request server (MoldUDP64's request
// packet; see package rerequest) and passes the answers to
// [Arbiter.Recover], which delivers what they fill, in order, once
// (Message.Line is LineRecovered). An answer fills only what is missing:
// what it holds beyond that is counted and dropped (Stats.Recovery), so a
// forged answer cannot move the sequence on. What is still missing at the
// end is given up in a gap as without re-requests.
//
// # Sessions
//
// The first packet starts a session, expecting Config.StartSeq first (or,
// by default, the packet's own sequence number). An end-of-session packet
// (count 0xFFFF) announces the session's last sequence number; once every
// message before it is delivered or reported missing, OnSession reports
// SessionEnded.
//
// A packet of another session replaces the current one only by this
// rule: the current session has ended (its end of session arrived), or
// none of its packets has arrived on either line for
// Config.SessionTimeout, or Config.FollowSessions is set. Otherwise the
// packet is dropped, counted (LineStats.Foreign) and Feed returns
// [ErrForeignSession]: one well-formed packet with a foreign session (ten
// 0xFF bytes, say) cannot end the live session, whose end is still
// honoured. When a session is replaced, what is still missing of it is reported (reason GapSessionChange), the
// buffered messages are delivered, OnSession reports SessionReplaced, and
// the new session starts. Packets of the replaced session that arrive
// later are dropped as late. Heartbeats (count 0) carry no messages but,
// like every packet, announce how far the sequence has gone, which reveals
// a lost tail, and keep their line from being declared silent.
//
// # Jumps
//
// A packet that would take the sequence beyond the window (a message, or
// a heartbeat or end of session announcing one, Window or more past next)
// to sequence numbers not yet known to exist, past a message still
// missing, is a jump: after a long
// outage of both lines, or forged, since anyone on the segment can send a
// packet with the live session's name and sequence number 2^62. Acting
// on it would give up a window's worth of real messages, and make every
// message after it late. So it is held, not acted on, until another
// packet confirms it: one that is beyond the window too and within Window
// sequence numbers of it, from either line (the other line's copy, or the
// same line's next data packet or heartbeat). Then the held packet is
// accepted, as of that moment, and the confirming one after it. It is
// confirmed too, as soon as the feed catches up with it (next comes within
// Window of its end, or reaches its first sequence number, or its sequence
// numbers are announced), for then it is a jump no more: so a real packet
// that was merely early is delivered, and never left to time out into a
// gap while it waits (a timeout stops short of its messages). A packet
// within the window from the held one's line, and not within Window of
// it, refutes it (that line went
// on without it), as does a jump elsewhere or a new session: the held
// packet is dropped and its messages counted in LineStats.Unconfirmed.
// Meanwhile the real feed goes on untouched. Jumps are counted per line
// (LineStats.Jumps) and by outcome (Stats.JumpsConfirmed, JumpsRefused).
//
// This defeats a single forged or corrupt packet, at the cost of holding
// a real jump until the next packet. It cannot tell a forged stream of
// packets that agree with each other from the feed: MoldUDP64 has no
// authentication, and a sender on the segment can always do that.
//
// # Silent lines
//
// A line that has sent nothing, heartbeats included, for Config.LineTimeout
// is reported once through OnLine (and counted in LineStats.Silences);
// its next packet reports it back. The silence clock starts at the first
// packet, of either line: before it there is no data yet and no line is
// silent; a line that never sent is silent LineTimeout after the other
// line's first packet. The check runs in Feed and Tick, so a
// silence is noticed even when only Feed is called, at the latest when the
// line comes back.
//
// # Measurements
//
// [Arbiter.Stats] returns per-line counters (packets, messages, which line
// was first, duplicates, late copies, silences) and, for the feed, messages
// delivered, gaps and missing messages, buffer use, and two latency
// histograms:
//
//   - Delay, the arbitration delay: for each delivered message, the time
//     from the arrival of its first copy to its delivery. It is zero for
//     messages delivered on arrival; it is the price of waiting for a
//     missing message (at most GapTimeout).
//   - Skew, for each message that both lines delivered, the time from the
//     first copy to the other line's copy: how far the slower line lags.
//
// # Memory and concurrency
//
// New allocates the ring of Window slots. A slot's message buffer is
// allocated when a message first needs it, and kept for reuse up to
// Config.BufferBytes/(2×slots) bytes (2 KiB at the defaults), so in steady
// state Feed and Tick allocate nothing; a larger one is freed once its
// message is delivered. The messages waiting in the buffer hold at most
// the rest of Config.BufferBytes: what the network sends cannot make the
// buffer hold more than BufferBytes (Stats.Retained), and a message that
// would is dropped and counted (LineStats.Overflow). Starting a session
// costs no clearing of the ring (a generation number marks its slots),
// however often forged sessions come. An Arbiter is not safe for
// concurrent use; see [Arbiter].
package arbiter
