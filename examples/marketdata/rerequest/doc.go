// Package rerequest is the client side of MoldUDP64 re-requests: it asks
// a re-request server (a "rewinder", such as package rewind's) for the
// messages that neither line of a feed delivered, and hands the answers to
// the arbiter, which delivers what they fill in order, once.
//
// # Requests
//
// The arbiter (arbiter.Config.OnRequest) reports each run that the other
// line did not fill within its GapTimeout; [Client.Want] queues it, split
// into requests of at most Config.MaxCount messages (the request packet's
// count, package moldudp64). A request is sent at once if the rate limit
// (Config.Rate a second, Config.Burst at once) allows, and again, counted
// as a retry, if no answer came within Config.RetryTimeout. Requests that
// are due go out in sequence order, oldest first, since the arbiter
// delivers nothing past the oldest missing message. An answer
// that holds only part of a request (the server fills one datagram) makes
// the client ask at once for the rest. A run is forgotten when the
// arbiter's sequence has passed it ([Client.Advance]): filled, or given up
// by the arbiter after its RecoveryTimeout, which is the bounded time
// after which the gap is reported as without re-requests. A request that
// never had an answer is then counted as unanswered. Queued runs are
// capped (Config.MaxPending requests); what does not fit is counted and
// left to the arbiter's timeout.
//
// # A socket of its own
//
// Requests go out from a socket of the client's own, on an ephemeral
// unicast port (Config.Local), never from the feed's shared multicast
// port. The server answers to the address and port the request came from;
// on a port that several receivers share (SO_REUSEADDR, SO_REUSEPORT), a
// unicast datagram goes to one of the sockets that the kernel picks (the
// last bound, or a hash of the addresses), not necessarily the asker's.
// On a port of its own the answer always reaches the asker.
//
// # Answers
//
// An answer is an ordinary downstream packet. It is taken only if it
// comes from the configured server, is of the session asked for, and its
// messages lie within a request still pending, starting at or before the
// first message not yet answered (a late answer to a retried request
// counts as a duplicate, one for what the arbiter has passed as stale);
// anything else is counted (Stats: Foreign, WrongSession, Unasked,
// Malformed) and dropped, so a forged answer cannot fill what was not
// asked. A heartbeat or end of session at a pending request's next
// sequence number is the server saying it does not hold it (yet: a
// rewinder on the same feed may be a little behind): it is counted
// (Stats.Unavailable) and the request is sent again after RetryTimeout,
// until the arbiter gives the run up.
// Accepted answers go to Config.Deliver (the feed handler's
// arbiter.Recover, under its lock). The time from a request's first
// sending to its last answer is its fill latency (Stats.Latency).
package rerequest
