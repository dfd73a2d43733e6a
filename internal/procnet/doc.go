// Package procnet parses the tables of Linux's /proc/net that sharecast
// reads: the UDP sockets (udp, udp6), the multicast groups that each
// interface holds (igmp, igmp6) and their source filters (mcfilter,
// mcfilter6), the kernel's counters (snmp, netstat) and the integer
// sysctls under /proc/sys/net. It is the one parser of each file: the group
// package, the CLI's ports and doctor commands, the test bed and the bench
// harness all call it.
//
// igmp and igmp6 list the groups that the kernel reports on each interface
// with IGMP (RFC 1112, RFC 3376) and MLD (RFC 3810); mcfilter and mcfilter6
// list the sources of source-specific memberships (RFC 3678, RFC 4607), with
// how many sockets include and exclude each.
//
// # Formats
//
// The parsers are pure functions of the text ([ParseUDP], [ParseIGMP],
// [ParseMcfilter], each for [IPv4] or [IPv6]; [ParseCounters],
// [ParseSysctl]), tested on fixture files on
// any OS. What the kernel prints (net/ipv4/udp.c, net/ipv6/datagram.c,
// net/ipv4/igmp.c, net/ipv6/mcast.c):
//
//	udp        a header, then per socket "sl: local remote st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops"
//	udp6       the same, with IPv6 addresses
//	igmp       a header, then per interface "idx<TAB>name : count querier"
//	           (querier: V1, V2 or V3, the IGMP version in force),
//	           followed by a tab-indented line per group, "group users running:timer reporter"
//	igmp6      no header; per group "idx name group users flags timer"
//	mcfilter   a header, then per source "idx name 0xgroup 0xsource include exclude"
//	mcfilter6  the same, with IPv6 addresses and no "0x"
//	snmp       no header; per group a pair of lines, "Group: name name ..." then "Group: value value ..."
//	netstat    the same (TcpExt, IpExt, ...)
//	sysctl     one integer, as /proc/sys/net/core/rmem_max holds
//
// Addresses come in two byte orders. udp, udp6 and igmp print each 32-bit
// word of an address (held in network order) as the CPU's integer, so that
// a little-endian machine prints 127.0.0.1 as 0100007F and port 5000 (the
// port is a number) as 1388; the parsers read those words in the byte order
// of the machine that runs them, which is right for that machine's files
// (the fixtures in testdata are of a little-endian one). igmp6 and
// mcfilter6 print the address's 16 bytes in network order, and mcfilter
// prints ntohl of the address, which is network order too.
//
// A v4-mapped address in udp6 (a socket of the IPv6 family bound to
// ::ffff:127.0.0.1) is returned unmapped, as 127.0.0.1. Interface names
// are whole in igmp and igmp6 but cut to 6 characters in mcfilter and
// mcfilter6: match a [SourceFilter] to its [Membership] by index.
//
// # Malformed lines
//
// Every parser applies one rule: the first line that it cannot read ends
// the parse, which returns no records and a [*LineError] naming the file,
// the line's number (from 1) and its text; the error matches
// [ErrMalformed] with errors.Is. A line cannot be read when it has fewer
// fields than the record needs, a number or address that does not parse
// or has the wrong width for the family, a group line of igmp before any
// interface line, or more than 64 KiB; in snmp and netstat, a line
// without its "Group:" prefix, a line of values whose prefix is not that of
// the names before it or that has fewer values than names, and a line of
// names that no line of values follows; a sysctl file that does not hold
// exactly one integer. Blank lines and the header line (the first line of
// each file but igmp6, snmp and netstat) are skipped unread; fields after
// those a record holds are ignored, so that a kernel that appends a column
// still parses. The kernel writes these files a whole line at a time, so
// a line that does not parse means a format that this package does not
// know, and a partial answer would mislead (a socket missing from a port,
// a group taken for left).
//
// # Namespaces
//
// The readers ([ReadUDP], [ReadIGMP], [ReadMcfilter], [ReadSNMP],
// [ReadNetstat]) open
// /proc/thread-self/net/<file>: the tables of the calling thread's network
// namespace, which is that of a goroutine locked to a thread that entered
// another namespace (as internal/testbed's Host.Do does), where /proc/net
// shows the namespace of the process's main thread. On a kernel without
// thread-self (before Linux 3.17) they read /proc/net/<file>. A file that
// does not exist (udp6, igmp6 and mcfilter6 on a kernel without IPv6;
// every file off Linux) is an error that matches fs.ErrNotExist: each
// caller says whether that reads as empty. [ReadSysctl] opens
// /proc/sys/net, which shows the namespace of the thread that opens it.
//
// [SocketInode] parses the target of a /proc/<pid>/fd link, which names
// the inode of a socket as the udp tables do.
package procnet
