// Package feedhandler receives a MoldUDP64 market-data feed on its two
// redundant lines, A and B, over UDP multicast, and merges them into one
// stream with package arbiter: every message once, in order, and every
// message that neither line delivered reported as a gap.
//
// # Sockets and groups
//
// The lines are two group specs (package group: "239.1.1.1:5000",
// "239.1.1.2:5000%eth1", source-specific ones too), on the same port or
// on different ports, on one interface or two. Lines that share a port
// (and address family) share one socket that joins both groups; otherwise
// each line has its own. Sockets are opened with package mcast, sharing
// their port with any other receiver on the host, and memberships are kept
// by a group.Set, which re-joins them when a link comes back.
//
// # Dispatch and arbitration
//
// A dispatch.Server reads the sockets and hands every datagram to one
// handler, with one worker, which tells the line by the datagram's group
// and port, decodes it and feeds the arbiter (under a lock, which Stats
// takes too). With one socket for both lines the arbiter sees the
// datagrams in the order the kernel received them, and its clock is the
// kernel's receive timestamp, so the time a missing message is waited for
// (arbiter.Config.GapTimeout) is measured between arrivals, whatever the
// delay before they are handled. The handler's queue blocks when full
// (dispatch.Block): the reader then waits, the socket's buffer fills, and
// what overflows it is dropped and counted by the kernel
// (mcast.Stats.KernelDrops, in [Stats].KernelDrops) rather than lost
// silently in the middle.
//
// While no datagram is arriving, a ticker calls arbiter's Tick with the
// wall-clock time, so that the gaps at the end of a burst are reported
// and silent lines noticed (arbiter.Config.LineTimeout). It ticks only
// when the handler is idle: every datagram read has been handled, so no
// copy that is still on its way through the queue can be given up.
//
// # Malformed packets
//
// A datagram that is not a MoldUDP64 packet (moldudp64.Decode fails) is
// counted for its line in [Stats].Malformed and logged through a sampler
// (a burst of 5 a second); one whose sequence numbers overflow is counted
// by the arbiter (arbiter.LineStats.Invalid), as is one of a foreign
// session that may not replace the live one (arbiter.LineStats.Foreign,
// logged through the same sampler). None of them stops the feed or
// panics. A datagram of neither line (another group on a shared socket)
// is counted in Stats.Foreign.
//
// # Re-requests
//
// With [Config].Rewinder set, the runs that neither line filled within the
// arbiter's GapTimeout are asked for from that MoldUDP64 re-request
// server (package rerequest: request packets of at most
// Rerequest.MaxCount messages, paced, retried, from a socket of the
// Handler's own on an ephemeral port, never the shared feed port, where a
// unicast answer could land on another receiver's socket). The answers
// go to the arbiter's Recover, which delivers what they fill in order,
// once, and refuses anything else. What is still missing after
// Arbiter.RecoveryTimeout (DefaultRecoveryTimeout) is reported in a gap,
// exactly as without a rewinder; a rewinder that is down only delays the
// gaps by that time. While a run is being asked for, the messages behind
// it wait in the arbiter's buffer: its Window (and BufferBytes) must hold
// what arrives in GapTimeout plus the rewinder's round trip, or the window
// gives the run up first. [Stats].Rerequest counts the requests, retries,
// unanswered ones, refused answers and the fill latency.
//
// # Events
//
// The callbacks of [Config].Arbiter (OnMessage, OnGap, OnLine, OnSession)
// are called as the arbiter documents, with the Handler's lock held: they
// must not call the Handler's methods, and should be quick, since the
// feed waits for them.
package feedhandler
