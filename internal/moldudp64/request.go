package moldudp64

import (
	"encoding/binary"
	"fmt"
)

// RequestLen is the length of a request packet: session (10 bytes),
// sequence number (8) and requested message count (2).
const RequestLen = HeaderLen

// Request is a MoldUDP64 request packet, which a receiver sends by unicast
// to a re-request server (a "rewinder") to ask for messages it missed:
// Count messages of Session from Seq on. The server answers with an
// ordinary downstream packet, unicast to the address and port the request
// came from, holding at most Count messages (as many as fit in one
// datagram).
type Request struct {
	// Session is the session whose messages are wanted.
	Session Session

	// Seq is the sequence number of the first message wanted.
	Seq uint64

	// Count is the number of messages wanted. 0 asks for none; the
	// special value [EndOfSession] (0xFFFF) is not a count and a server
	// should not take it as one.
	Count uint16
}

// DecodeRequest parses b as a request packet: exactly [RequestLen] bytes.
// A shorter packet returns an error wrapping [ErrShortHeader], a longer one
// an error wrapping [ErrTrailingBytes]. Like Decode, it accepts any bytes
// in the session field and never panics; it allocates only for an error.
func DecodeRequest(b []byte) (Request, error) {
	var r Request
	switch {
	case len(b) < RequestLen:
		return r, fmt.Errorf("request of %d bytes, want %d: %w", len(b), RequestLen, ErrShortHeader)
	case len(b) > RequestLen:
		return r, fmt.Errorf("request of %d bytes, want %d: %w", len(b), RequestLen, ErrTrailingBytes)
	}
	copy(r.Session[:], b[:10])
	r.Seq = binary.BigEndian.Uint64(b[10:18])
	r.Count = binary.BigEndian.Uint16(b[18:20])
	return r, nil
}

// AppendRequest appends the request packet r to dst and returns the
// extended slice.
func AppendRequest(dst []byte, r Request) []byte {
	return appendHeader(dst, r.Session, r.Seq, r.Count)
}

// End returns one past the last sequence number the request asks for,
// Seq+Count, saturated at 2^64-1 so that a hostile request does not wrap
// around. A Count of [EndOfSession] counts as 0.
func (r Request) End() uint64 {
	n := uint64(r.Count)
	if r.Count == EndOfSession {
		n = 0
	}
	if r.Seq > ^uint64(0)-n {
		return ^uint64(0)
	}
	return r.Seq + n
}
