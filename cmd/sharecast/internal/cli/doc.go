// Package cli is the sharecast command: listen, send, stat, hub, ports,
// doctor, matrix and demo. [Run] runs a command line and returns the exit status; the
// program's main only wires it to the process (arguments, standard
// streams, SIGINT and SIGTERM).
//
// # Subcommands
//
//   - listen joins groups (specs as package group reads them) and prints
//     each datagram as text, a hex dump, JSON lines or raw bytes, through a
//     dispatch.Server with one handler; it warns when a socket of another
//     user shares the port.
//   - send sends test datagrams that start with the sharecast header
//     (package internal/wire), paced by an absolute timetable and sent in
//     sendmmsg batches; or the lines of standard input. Without an
//     interface it sends on loopback.
//   - stat tracks sequence numbers (sharecast header or MoldUDP64) and
//     latency per stream and reports per group and per socket, as a table
//     redrawn in place or JSON lines.
//   - hub joins groups once and writes each datagram into a ring in shared
//     memory that local consumers attach to by name (package hub); listen
//     and stat read from a hub with --hub NAME instead of a socket of their
//     own (hubsession.go). Linux only.
//   - ports reads /proc (Linux) for the sockets on a port, their processes
//     and users, and the groups joined on each interface; it flags a
//     co-tenant of another user.
//   - doctor checks why a feed may not arrive (interface, route, rp_filter,
//     nftables rules, membership and buffer limits, a snooping bridge's
//     querier, the sockets on the port; with --listen, what arrives) and
//     prints one line per check with the fix, or a [DoctorReport] as JSON;
//     it exits 1 when a check is a problem. Linux only.
//   - matrix binds two sockets to one port in every combination of mode
//     and address and prints the outcomes, laid out like Microsoft's
//     "Using SO_REUSEADDR and SO_EXCLUSIVEADDRUSE" tables; as root a
//     second table has the second bind made by another user.
//   - demo runs receivers, a dispatcher and a sender in a private network
//     namespace (package internal/netns) and shows that every receiver gets
//     every datagram.
//
// # Exit status and errors
//
// 0 for success, also after SIGINT or SIGTERM; 1 for an error at run time
// (a port that another socket holds, no rights); 2 for a usage error (a
// bad flag, argument or group spec, or an interface that does not exist),
// which names the bad value and shows the usage line. Errors are one line.
//
// # Logging and metrics
//
// --log-level and --log-format (console on a terminal, JSON otherwise) set
// up the zerolog logger that Run passes to the packages; only this package
// makes a logger. listen and stat serve Prometheus metrics with --metrics:
// a collector reads the counters that mcast and dispatch keep, per socket,
// group and handler, when scraped, so they cost nothing per datagram.
package cli
