package moldudp64

import (
	"encoding/binary"
	"iter"
)

// Sizes and special values of the downstream packet (MoldUDP64 v1.00).
const (
	// HeaderLen is the length of the downstream packet header: session
	// (10 bytes), sequence number (8) and message count (2).
	HeaderLen = 20

	// EndOfSession is the message count that marks an end-of-session
	// packet. Like a heartbeat (count 0), it carries no messages and its
	// sequence number is the next one expected.
	EndOfSession = 0xFFFF

	// MaxMessages is the most messages one packet can count (0xFFFF being
	// reserved for EndOfSession). A UDP datagram holds far fewer.
	MaxMessages = EndOfSession - 1

	// MaxMessageLen is the longest message a 2-byte length field allows.
	MaxMessageLen = 0xFFFF
)

// Packet is a decoded MoldUDP64 downstream packet: a view into the bytes it
// was decoded from, which it does not copy. It stays valid as long as those
// bytes do and are not modified.
//
// A Packet is a small value: pass it and copy it freely. One that
// [Decode] returned is well formed; one built by hand is iterated up to its
// first malformed message block and no further.
type Packet struct {
	// Session is the session the packet belongs to.
	Session Session

	// Seq is the sequence number of the packet's first message, or, for a
	// heartbeat or end-of-session packet, of the next message expected.
	Seq uint64

	// Count is the header's message count: 0 for a heartbeat,
	// [EndOfSession] for the end of the session, otherwise the number of
	// messages in Payload.
	Count uint16

	// Payload is the packet's message blocks as they are on the wire (each
	// a 2-byte big-endian length and that many bytes), aliasing the input.
	Payload []byte
}

// Decode parses b as a downstream packet. It allocates nothing for a well
// formed packet; the returned Packet aliases b. A malformed packet returns
// a [*DecodeError] that unwraps to [ErrShortHeader], [ErrTruncatedMessage],
// [ErrCountMismatch] or [ErrTrailingBytes]; Decode never panics.
func Decode(b []byte) (Packet, error) {
	p, fault, ok := decode(b)
	if !ok {
		e := new(DecodeError) // allocated here, so that fault does not escape on every call
		*e = fault
		return Packet{}, e
	}
	return p, nil
}

// TryDecode is Decode for a caller that only needs to know whether b is a
// packet, such as one that tells protocols apart: it reports false where
// Decode returns an error, and allocates nothing either way (the error
// value that Decode builds for a malformed packet is an allocation).
func TryDecode(b []byte) (Packet, bool) {
	p, _, ok := decode(b)
	return p, ok
}

// decode parses b, or says what is wrong with it.
func decode(b []byte) (Packet, DecodeError, bool) {
	var p Packet
	if len(b) < HeaderLen {
		return p, DecodeError{Err: ErrShortHeader, Offset: len(b), Need: HeaderLen, Left: len(b)}, false
	}
	copy(p.Session[:], b[:10])
	p.Seq = binary.BigEndian.Uint64(b[10:18])
	p.Count = binary.BigEndian.Uint16(b[18:20])
	p.Payload = b[HeaderLen:]

	want := int(p.Count)
	if p.Count == EndOfSession {
		want = 0
	}
	off, n := HeaderLen, 0
	for ; n < want; n++ {
		left := len(b) - off
		if left == 0 {
			return Packet{}, DecodeError{Err: ErrCountMismatch, Offset: off, Count: want, Index: n}, false
		}
		if left < 2 {
			return Packet{}, DecodeError{Err: ErrTruncatedMessage, Offset: off, Count: want, Index: n, Need: 2, Left: left}, false
		}
		need := 2 + int(binary.BigEndian.Uint16(b[off:]))
		if need > left {
			return Packet{}, DecodeError{Err: ErrTruncatedMessage, Offset: off, Count: want, Index: n, Need: need, Left: left}, false
		}
		off += need
	}
	if off < len(b) {
		// Whole message blocks beyond the count mean the count is wrong;
		// anything else is junk after the last message.
		err := ErrTrailingBytes
		if wholeBlocks(b[off:]) {
			err = ErrCountMismatch
		}
		return Packet{}, DecodeError{Err: err, Offset: off, Count: want, Index: n, Left: len(b) - off}, false
	}
	return p, DecodeError{}, true
}

// wholeBlocks reports whether b is one or more whole message blocks.
func wholeBlocks(b []byte) bool {
	for len(b) >= 2 {
		n := 2 + int(binary.BigEndian.Uint16(b))
		if n > len(b) {
			return false
		}
		b = b[n:]
	}
	return len(b) == 0
}

// IsHeartbeat reports whether p is a heartbeat: message count 0.
func (p Packet) IsHeartbeat() bool { return p.Count == 0 }

// IsEndOfSession reports whether p marks the end of its session: message
// count 0xFFFF.
func (p Packet) IsEndOfSession() bool { return p.Count == EndOfSession }

// Len returns the number of messages the packet carries: Count, or 0 for a
// heartbeat or end-of-session packet.
func (p Packet) Len() int {
	if p.Count == EndOfSession {
		return 0
	}
	return int(p.Count)
}

// NextSeq returns the sequence number expected after this packet: Seq plus
// the number of messages. For a heartbeat or end-of-session packet it is
// Seq. (It wraps around for a hostile Seq near 2^64; see [Packet.Valid].)
func (p Packet) NextSeq() uint64 { return p.Seq + uint64(p.Len()) }

// Valid reports whether the packet's sequence numbers fit in 64 bits
// without wrapping around: Seq + Len() <= 2^64-1. The codec does not
// require it, but a receiver should drop a packet that fails it.
func (p Packet) Valid() bool { return p.Seq <= ^uint64(0)-uint64(p.Len()) }

// AppendTo appends the packet's wire form (header and Payload) to dst and
// returns the extended slice. For a Packet that Decode returned, the result
// is the bytes it was decoded from.
func (p Packet) AppendTo(dst []byte) []byte {
	dst = appendHeader(dst, p.Session, p.Seq, p.Count)
	return append(dst, p.Payload...)
}

// Iter returns an [Iterator] over the packet's messages.
func (p Packet) Iter() Iterator {
	return Iterator{seq: p.Seq, rest: p.Payload, left: p.Len()}
}

// Messages returns an iterator over the packet's messages and their
// sequence numbers, for use with range:
//
//	for seq, msg := range p.Messages() { ... }
//
// Each msg aliases the packet's bytes. It allocates nothing.
func (p Packet) Messages() iter.Seq2[uint64, []byte] {
	return func(yield func(uint64, []byte) bool) {
		it := p.Iter()
		for {
			seq, msg, ok := it.Next()
			if !ok || !yield(seq, msg) {
				return
			}
		}
	}
}

// Iterator walks the messages of a [Packet], in order. Its zero value has
// no messages. It is a value type that allocates nothing.
type Iterator struct {
	seq  uint64
	rest []byte
	left int
}

// Next returns the next message and its sequence number, or ok == false
// after the last one (or at a malformed block of a Packet built by hand).
// msg aliases the packet's bytes; its capacity is capped at its length.
func (it *Iterator) Next() (seq uint64, msg []byte, ok bool) {
	if it.left <= 0 || len(it.rest) < 2 {
		return 0, nil, false
	}
	n := 2 + int(binary.BigEndian.Uint16(it.rest))
	if n > len(it.rest) {
		it.left = 0
		return 0, nil, false
	}
	seq, msg = it.seq, it.rest[2:n:n]
	it.seq++
	it.rest = it.rest[n:]
	it.left--
	return seq, msg, true
}

// Remaining returns the number of messages that Next has yet to return,
// by the header's count.
func (it *Iterator) Remaining() int { return max(it.left, 0) }
