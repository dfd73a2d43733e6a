// Package mdns is a multicast DNS (RFC 6762) service-discovery agent
// (DNS-SD, RFC 6763), and a responder for one service of its own, that
// shares port 5353 with any other mDNS stack on the host, such as
// avahi-daemon or mDNSResponder.
//
// # Sharing 5353
//
// An [Agent] opens its sockets with package mcast, which asks to share the
// port (SO_REUSEADDR on Linux, which avahi-daemon sets too; the options
// per OS are in package mcast's doc), joins
// 224.0.0.251 and ff02::fb on the chosen interfaces through package group,
// and reads through a dispatch.Server. Every stack bound to 5353 gets its
// own copy of each multicast packet, so the agent and avahi hear the same
// responses. Unicast datagrams to 5353 (replies to legacy unicast
// queries, RFC 6762 section 6.7) go to one socket only and are not the
// agent's: mcast's destination filter drops and counts them.
//
// # The table
//
// The DNS wire format is github.com/miekg/dns's. From each response (the
// answer, authority and additional sections; queries are ignored) the
// [Table] keeps the PTR records of service types ("_ipp._tcp.local." ->
// instance), and the SRV, TXT, A and AAAA records that describe each
// instance and its host, each with its TTL. A [Service] is an instance
// whose PTR record is alive, with what is known of its host, port, TXT
// strings and addresses. Records expire when their TTL runs out; a record
// with TTL 0 is a goodbye and goes one second later (RFC 6762 section
// 10.1). An address record with the cache-flush bit replaces the host's
// other addresses of its family received more than a second before
// (section 10.2). Reverse-address PTRs, the service-type enumeration and
// subtypes are not services.
//
// Responses whose source port is not 5353 are not multicast DNS responses
// (RFC 6762 section 6): the agent drops them unparsed and counts them in
// Stats.WrongPort. Queries are taken from any port.
//
// # Limits
//
// Anyone on the link can send to 224.0.0.251:5353, so everything the
// table keeps is bounded by its [TableConfig] (the zero value holds the
// defaults) and counted in [TableStats]:
//
//   - at most MaxRecords records (4096) and MaxServices services (1024);
//     a full table evicts, first the records that no PTR reaches, then
//     the least recently refreshed, so that a real service announced
//     after a flood is still seen;
//   - at most MaxAddrsPerHost addresses per host name (32), the host's
//     least recently refreshed one evicted for a new one, which bounds
//     what one change carries;
//   - TTLs clamped to MaxTTL (75 minutes, RFC 6762 section 10's 4500 s);
//   - SRV, TXT and address records that no PTR reaches (through an SRV
//     record, for addresses) dropped after OrphanGrace (10 s);
//   - TXT records above MaxTXTBytes (8900, RFC 6763 section 6.2) refused.
//
// Records expire through a heap, and a change is worked out only for the
// services that a packet or an expiry touched, so the cost of a packet
// follows the records in it and the services they change, not the size
// of the table.
//
// Every change to the table is reported through Config.OnChange as a
// [Change]: Added, Updated (host, port, TXT or addresses changed; a TTL
// refresh is no change) or Removed (expired or said goodbye).
//
// # Queries
//
// [Agent.Query] sends a PTR query for a service type from port 5353 to the
// group of each family on each interface the agent joined, with TTL (hop
// limit) 255 as RFC 6762 section 11 asks, so that responders answer by
// multicast and every listener, this agent included, learns the answers.
//
// [Agent.QueryOneShot] sends a one-shot query (section 5.1) from a socket
// of its own, on a port the kernel chooses: responders answer it by
// unicast to that port (section 6.7), so the answers reach this agent and
// no other program on port 5353. A unicast answer to port 5353 would reach
// one socket of the several there, whichever the kernel picks (on Linux,
// the last one bound), seldom this one.
//
// # Publishing
//
// [Agent.Publish] publishes one service from the agent's sockets on port
// 5353, beside avahi-daemon or mDNSResponder: it probes the instance and
// host names (section 8.1: three queries 250 ms apart, without the QU bit,
// for the reason above), settles simultaneous probes by the tie-break of
// section 8.2, announces twice a second apart (8.3), answers queries for
// its records (PTR, SRV, TXT, A, AAAA, with the additional records of RFC
// 6763 section 12; known answers suppressed, section 7.1), renames the
// service "Name (2)", "Name (3)" ... when another host owns the name, or
// its host name "host-2" ... when that is taken (section 9; after 100
// renames it gives up and logs it), and sends goodbyes, TTL 0, when it is withdrawn
// ([Agent.Unpublish], or Close; section 10.1). A question with the QU bit,
// or from another port than 5353, is answered by unicast (a legacy one,
// section 6.7, with its ID and question echoed and TTLs of at most 10 s).
//
// The answers are bounded, since anyone on the link can ask, from any
// source address: a record is multicast at most once a second on an
// interface (section 6), and unicast answers at most 20 a second beyond a
// burst of 40; what they hold back is counted ([PublishStats]).
package mdns
