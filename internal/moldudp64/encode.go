package moldudp64

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// AppendPacket appends a downstream packet to dst: the header for session
// s, with seq as the sequence number of the first message, and each of
// msgs as a message block. It returns the extended slice. With no messages
// it appends a heartbeat (see [AppendHeartbeat]).
//
// A message longer than [MaxMessageLen] returns an error wrapping
// [ErrMessageTooLong], more than [MaxMessages] messages one wrapping
// [ErrTooManyMessages]; dst is then returned unchanged. AppendPacket does
// not limit the packet to the size of a UDP datagram: that is the
// caller's to choose. It allocates only when dst lacks the capacity.
func AppendPacket(dst []byte, s Session, seq uint64, msgs ...[]byte) ([]byte, error) {
	if len(msgs) > MaxMessages {
		return dst, fmt.Errorf("%d messages, at most %d: %w", len(msgs), MaxMessages, ErrTooManyMessages)
	}
	size := HeaderLen
	for i, m := range msgs {
		if len(m) > MaxMessageLen {
			return dst, fmt.Errorf("message %d (seq %d) is %d bytes, at most %d: %w",
				i, seq+uint64(i), len(m), MaxMessageLen, ErrMessageTooLong)
		}
		size += 2 + len(m)
	}
	dst = slices.Grow(dst, size)
	dst = appendHeader(dst, s, seq, uint16(len(msgs)))
	for _, m := range msgs {
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(m)))
		dst = append(dst, m...)
	}
	return dst, nil
}

// AppendHeartbeat appends a heartbeat for session s to dst: a header with
// message count 0 whose sequence number next is that of the next message
// the server will send.
func AppendHeartbeat(dst []byte, s Session, next uint64) []byte {
	return appendHeader(dst, s, next, 0)
}

// AppendEndOfSession appends an end-of-session packet for session s to
// dst: a header with message count 0xFFFF whose sequence number next is
// one past the session's last message.
func AppendEndOfSession(dst []byte, s Session, next uint64) []byte {
	return appendHeader(dst, s, next, EndOfSession)
}

func appendHeader(dst []byte, s Session, seq uint64, count uint16) []byte {
	dst = append(dst, s[:]...)
	dst = binary.BigEndian.AppendUint64(dst, seq)
	return binary.BigEndian.AppendUint16(dst, count)
}
