// Package soup re-serves a MoldUDP64 session over TCP with SoupBinTCP 3.0,
// for consumers that cannot receive multicast (a cloud host): a client
// logs in with the session and the sequence number it wants to start
// from, and receives every message from there on, in order, as the feed
// handler delivered it (arbitrated between lines A and B, and filled from
// a rewinder), then live as it comes, and the end of the session.
//
// # Protocol (SoupBinTCP 3.0)
//
// Every packet is a 2-byte big-endian length (of what follows), a 1-byte
// type and a payload. The client's first packet is a Login Request ('L':
// username 6 bytes, password 10, requested session 10, requested
// sequence number 20, ASCII, space-padded); the server answers Login
// Accepted ('A': session 10, sequence number 20: the number of the next
// message it will send) or Login Rejected ('J': 'A' not authorised, 'S'
// session not available). Then it sends Sequenced Data packets ('S': one
// message each, numbered implicitly from the accepted sequence number),
// a Server Heartbeat ('H') after each second with nothing to send, and
// End of Session ('Z') once the session has ended. The client sends a
// Client Heartbeat ('R') at least every second, and Logout Request ('O')
// to leave.
//
// # What is served
//
// Messages come from a rewind.Store that the feed handler fills (Store.Hook).
// A requested sequence number of 0 means "from the next message"; one
// below the oldest held starts at the oldest (Login Accepted says which).
// A blank requested session means the current one. SoupBinTCP data
// packets carry no sequence numbers, so a message that the Store does not
// hold (a gap that neither line nor the rewinder filled) cannot be
// skipped without misnumbering every later one: the server sends a Debug
// packet ('+') saying so and closes the connection, and the client logs in
// again after the gap. A new session in the Store ends the old one's
// connections with End of Session.
//
// # Limits
//
// Config.MaxClients bounds the connections (those beyond are closed at
// once and counted); a client that sends nothing for Config.IdleTimeout
// (15s, the protocol's), or sends a malformed or oversized packet, or
// does not log in first, is disconnected and counted; a client that does
// not read is disconnected when a write blocks for Config.WriteTimeout. A
// slow client holds back only its own connection: each has its own
// goroutines and buffer, and the feed handler never waits for it. With
// Config.Username set, a login must name it and Config.Password.
package soup
