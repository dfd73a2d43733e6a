package moldudp64

import (
	"errors"
	"strconv"
)

// Sentinel errors. Errors returned by this package are, or wrap, one of
// these, so that callers can match them with errors.Is.
var (
	// ErrShortHeader reports a packet shorter than the 20-byte downstream
	// packet header.
	ErrShortHeader = errors.New("moldudp64: short header")

	// ErrTruncatedMessage reports a message block cut off by the end of the
	// packet: a length field missing one of its two bytes, or a length that
	// runs past the end.
	ErrTruncatedMessage = errors.New("moldudp64: truncated message")

	// ErrCountMismatch reports a packet whose message blocks, each whole,
	// number more or fewer than the header's message count.
	ErrCountMismatch = errors.New("moldudp64: message count does not match the message blocks")

	// ErrTrailingBytes reports bytes after the last message that the
	// header counts which do not form whole message blocks (or any bytes
	// after the header of a heartbeat or end-of-session packet that do not).
	ErrTrailingBytes = errors.New("moldudp64: trailing bytes")

	// ErrMessageTooLong reports, when encoding, a message longer than
	// [MaxMessageLen] bytes.
	ErrMessageTooLong = errors.New("moldudp64: message too long")

	// ErrTooManyMessages reports, when encoding, more than [MaxMessages]
	// messages for one packet (0xFFFF is reserved for end of session).
	ErrTooManyMessages = errors.New("moldudp64: too many messages for one packet")

	// ErrInvalidSession reports a session name longer than 10 bytes or
	// holding a byte that is not printable ASCII.
	ErrInvalidSession = errors.New("moldudp64: invalid session")
)

// DecodeError is the error that [Decode] returns for a malformed packet. It
// says where decoding stopped and unwraps to one of the sentinels
// [ErrShortHeader], [ErrTruncatedMessage], [ErrCountMismatch] or
// [ErrTrailingBytes].
type DecodeError struct {
	// Err is the sentinel that names the reason.
	Err error

	// Offset is the byte offset in the packet where the fault was found:
	// the start of the message block (or trailing bytes) at fault, or the
	// packet's length for a short header or missing messages.
	Offset int

	// Count is the header's message count (0 for a short header).
	Count int

	// Index is the number of whole message blocks decoded before the fault.
	Index int

	// Need and Left are, for a truncated message, the bytes its block needs
	// (length field included) and the bytes left in the packet; for a short
	// header, 20 and the packet's length; for trailing bytes, Left is their
	// number.
	Need, Left int
}

// Error describes the fault, starting with the sentinel's text.
func (e *DecodeError) Error() string {
	s := e.Err.Error()
	switch e.Err {
	case ErrShortHeader:
		return s + ": " + strconv.Itoa(e.Left) + " bytes, want " + strconv.Itoa(e.Need)
	case ErrTruncatedMessage:
		return s + ": message " + strconv.Itoa(e.Index+1) + " of " + strconv.Itoa(e.Count) +
			" at offset " + strconv.Itoa(e.Offset) + " needs " + strconv.Itoa(e.Need) +
			" bytes, " + strconv.Itoa(e.Left) + " left"
	case ErrCountMismatch:
		if e.Index < e.Count {
			return s + ": header counts " + strconv.Itoa(e.Count) + ", packet holds " + strconv.Itoa(e.Index)
		}
		return s + ": header counts " + strconv.Itoa(e.Count) + ", packet holds more (next at offset " +
			strconv.Itoa(e.Offset) + ")"
	case ErrTrailingBytes:
		return s + ": " + strconv.Itoa(e.Left) + " bytes at offset " + strconv.Itoa(e.Offset) +
			" after message " + strconv.Itoa(e.Index) + " of " + strconv.Itoa(e.Count)
	}
	return s + " at offset " + strconv.Itoa(e.Offset)
}

// Unwrap returns Err.
func (e *DecodeError) Unwrap() error { return e.Err }
