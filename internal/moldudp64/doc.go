// Package moldudp64 encodes and decodes MoldUDP64 downstream packets, the
// framing that Nasdaq's market-data feeds (TotalView-ITCH and others) use
// on UDP multicast, as the MoldUDP64 Protocol Specification v1.00 defines
// it.
//
// # Wire format
//
// A downstream packet is a 20-byte header and zero or more message blocks.
// All numbers are big-endian:
//
//	offset  size  field
//	0       10    session: ASCII, left-justified, padded with spaces
//	10      8     sequence number of the first message in the packet
//	18      2     message count
//	20      ...   message blocks: a 2-byte length, then that many bytes
//
// Messages are numbered consecutively within a session, so the k-th message
// of a packet (from 0) has sequence number Seq+k. Two counts are special
// and carry no messages: 0 is a heartbeat, which the server sends
// periodically when idle, and 0xFFFF ([EndOfSession]) marks the end of the
// session; servers repeat it for a while in place of heartbeats. Both carry
// the sequence number of the next message expected, so a receiver learns
// from them what it missed at the tail of a burst.
//
// # Decoding
//
// [Decode] checks a whole packet and returns a [Packet] that is a view into
// the bytes: the session, the sequence number, the count and the message
// blocks, uncopied. [Packet.Messages] (a range-over-func iterator) and
// [Packet.Iter] (a Next-style [Iterator]) walk the messages, each a slice
// of the input. Neither Decode nor the iterators allocate, so a receive loop
// that reuses its buffers decodes at no garbage-collection cost; the
// messages are valid only as long as the buffer is not reused.
//
// A malformed packet never panics: it returns a [*DecodeError] that says
// where decoding stopped and unwraps, for errors.Is, to one of
// [ErrShortHeader] (fewer than 20 bytes), [ErrTruncatedMessage] (a block
// running past the end), [ErrCountMismatch] (more or fewer whole blocks
// than the count says) or [ErrTrailingBytes] (junk after the last block).
// Decode accepts any bytes in the session field (they are the sender's
// business); [ParseSession] is strict about the sessions it makes.
//
// # Encoding
//
// [AppendPacket], [AppendHeartbeat] and [AppendEndOfSession] append a
// packet to a caller's buffer, in the style of strconv.AppendInt, so that a
// generator or a retransmission server reuses one buffer for every packet.
// [Packet.AppendTo] re-encodes a decoded packet byte for byte.
//
// # Requests
//
// A receiver that missed messages asks a re-request server for them with a
// request packet: the same 20 bytes as a header, the count being the number
// of messages wanted ([Request], [DecodeRequest], [AppendRequest]). The
// server answers with an ordinary downstream packet, unicast to the address
// and port that asked, holding at most that many messages. DecodeRequest
// accepts exactly 20 bytes, and [Request.End] never wraps around, however
// hostile the sequence number.
package moldudp64
