// Package rewind is a MoldUDP64 re-request server (a "rewinder"): it keeps
// the last messages of a session and answers request packets for them, by
// unicast, as the MoldUDP64 Protocol Specification v1.00 describes.
//
// # Store
//
// A [Store] keeps the last messages of one session, bounded in messages
// (StoreConfig.MaxMessages, a ring allocated once) and in bytes
// (StoreConfig.MaxBytes, the capacity of the messages' buffers, reused from
// message to message): the oldest are dropped to make room. It is fed in
// sequence order, from an arbitrated feed (marketdata rewind: lines A and
// B, on the shared port, through package feedhandler; a gap becomes a
// hole) or by the sender itself ([Store.AddPacket] with each packet it
// sends, as marketdata -generate does).
//
// # Answers
//
// A request packet is the 20-byte header: session, the first sequence
// number wanted and the number of messages wanted. [Store.Answer] says what
// to send back, always one downstream packet:
//
//   - the messages asked for, from the first, as many as are held without
//     a hole and fit in ServerConfig.MaxPayload bytes, never more than
//     asked;
//   - for a first sequence number not held (dropped for room, a hole, or
//     not come yet), a heartbeat (count 0) whose sequence number is the one
//     asked for: "nothing from here". Never a wrong message;
//   - for one at or past the session's end, an end of session (count
//     0xFFFF) at the end;
//   - for a count of 0, a heartbeat at the next sequence number the Store
//     will hold;
//   - for another session than the one held, nothing.
//
// # Not an amplifier
//
// A [Server] answers each well-formed request with one packet at most, no
// larger than MaxPayload (1,400 bytes by default) and holding no more
// messages than asked, to the address the request came from; and it
// answers no faster than ServerConfig.Rate a second (a token bucket of
// ServerConfig.Burst, over all askers): requests beyond it are dropped and
// counted. A forged source address can therefore draw at most Rate answers
// a second, each one datagram, onto a victim. Malformed requests are
// counted and logged through a sampler; nothing the network sends makes
// the Server panic or grow.
package rewind
