// Package feedgen generates the two lines, A and B, of a MoldUDP64 feed
// for tests and benchmarks: a deterministic stream of packets, from a seed,
// with the loss, duplication, reordering and delay chosen for each line.
//
// # The feed
//
// A simulated server sends, one packet every Config.Interval, the messages
// FirstSeq to FirstSeq+Messages-1 in batches of MinBatch to MaxBatch (the
// MoldUDP64 framing of package moldudp64), a heartbeat after every
// HeartbeatEvery data packets if asked, and EndOfSession end-of-session
// packets at the end. Each message is made by [AppendMessage]: its
// sequence number and a pattern that [CheckMessage] verifies, so a test can
// prove that what an arbiter delivers is the right message, byte for byte.
//
// # The lines
//
// Every packet goes to both lines, as a real A/B feed sends the same
// packets on two multicast groups over two networks. Each line then, per
// packet and independently of the other (its own random stream from the
// seed), may lose it, deliver it twice, hold it back behind later packets,
// and delays it by its fixed Delay plus a random Jitter ([LineConfig]).
// [Generator.Next] returns the arrivals of both lines merged in time order,
// as one receiver would see them.
//
// # What the test checks against
//
// The generator records which messages each line carried
// ([Generator.Carried]), how far the packets that arrived announce the
// sequence ([Generator.Revealed]) and so which messages both lines lost and
// a receiver can know of ([Generator.Missing]): exactly the gaps an
// arbiter must report. Messages after Revealed (a tail that both lines
// lost, with no later heartbeat or end of session to announce it) are
// beyond any receiver's knowledge.
//
// Config.LoseBoth makes both lines lose the packets that hold chosen runs
// of messages (as when the server's own uplink fails), on top of each
// line's random losses; Config.OnSend sees every packet the server sends,
// lost or not, which is what a re-request server (package rewind) holds.
//
// The packets Next returns reuse the generator's buffers, so a long feed
// runs in constant memory apart from the carried bitmaps (two bits per
// message).
package feedgen
