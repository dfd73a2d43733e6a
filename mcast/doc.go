// Package mcast opens UDP sockets that receive multicast on a port they
// share with other sockets, in one process or in several, and reads from
// them fast and without losing a datagram uncounted.
//
// # Sharing a port
//
// Multicast is the one case where the kernel delivers a datagram to every
// socket bound to its port rather than to one of them: any number of
// receivers, each with its own [Conn], get a copy of every datagram sent to
// the groups that each joined. For several sockets to bind one port, every
// one of them must ask to share it; [Share] picks how, and [Config.Share]
// the mode (any user, same user, exclusive). The options behind each mode:
//
//	mode        Linux                        BSD, macOS                   Windows
//	any-user    SO_REUSEADDR                 SO_REUSEADDR + SO_REUSEPORT  SO_REUSEADDR
//	same-user   SO_REUSEPORT                  ErrNotSupported              ErrNotSupported
//	exclusive   (no reuse option)             (no reuse option)            SO_EXCLUSIVEADDRUSE
//
// Port sharing is also how ports get hijacked: on Linux a process of
// another user that sets SO_REUSEADDR can bind an any-user port and receive
// its multicast and its unicast datagrams. A receiver that must not share
// uses ShareExclusive; one that shares only with its own user uses
// ShareSameUser (Linux). A bind refused because the port is held wraps
// [ErrPortInUse] (or [ErrAccessDenied]) and names the mode that was asked.
//
// # No leakage
//
// On Linux a socket bound to the wildcard address receives, by default,
// every group that any socket on the host joined on its port
// (IP_MULTICAST_ALL, on by default; the standard library's
// net.ListenMulticastUDP leaves it so). Listen turns IP_MULTICAST_ALL and
// IPV6_MULTICAST_ALL off, and [Conn.ReadBatch] also checks each datagram's
// destination address (IP_PKTINFO, IPV6_PKTINFO) against the groups that the
// socket joined, dropping and counting in [Stats].Filtered any other (such as
// unicast to the port, unless [Config.AcceptUnicast]).
//
// # Reading
//
// [Conn.ReadBatch] reads many datagrams with one recvmmsg system call on
// Linux, through the runtime's poller, and allocates nothing: the caller
// supplies the buffers ([NewBatch]), and the source address and the control
// messages are decoded in place. Each [Datagram] carries its source, its
// destination group, the interface it came in on, and the kernel's receive
// timestamp (SO_TIMESTAMPNS). A datagram longer than its buffer (MSG_TRUNC)
// is counted in Stats.Truncated and never passed on as if whole. The
// kernel's drop counter (SO_RXQ_OVFL, and SO_MEMINFO for its current value)
// is in Stats.KernelDrops. On the BSDs and macOS, reads go through
// golang.org/x/net/ipv4 and ipv6, one datagram a call. On Windows, where
// x/net parses no control messages, a read is one WSARecvMsg (Go's
// ReadMsgUDPAddrPort), and mcast parses its IP_PKTINFO / IPV6_PKTINFO
// (WSACMSGHDR, IN_PKTINFO, IN6_PKTINFO) itself, so the destination check
// holds there too.
//
// # Memberships
//
// [Conn.JoinGroup] and [Conn.JoinSourceSpecificGroup] join groups through
// golang.org/x/net (IGMPv2/v3, RFC 1112 and 3376; MLDv1/v2, RFC 2710 and
// 3810; source-specific multicast, RFC 4607; the socket API of RFC 3678).
// On Windows, where x/net joins only any-source groups, mcast sets the
// source options itself: IP_ADD_SOURCE_MEMBERSHIP and its kin (with an
// IP_MREQ_SOURCE) for IPv4, MCAST_JOIN_SOURCE_GROUP and its kin (with a
// GROUP_SOURCE_REQ, Windows Vista and later) for IPv6. On an OS without
// source filters (NetBSD and OpenBSD in x/net) the source calls return
// errors that wrap [ErrNotSupported].
// Package group builds on them: group specs, interface selection, re-joins
// when links come back.
//
// # Receive buffer
//
// Listen asks for [Config.ReadBuffer] bytes (4 MiB by default), tries
// SO_RCVBUFFORCE where the kernel grants less, reports the granted size in
// [Conn.ReadBuffer] and logs one warning when it is still short.
//
// BUG(sharecast): On Linux (measured on 6.18), sockets that share a port
// through SO_REUSEPORT form a reuseport group, and when exactly one socket
// on the port has joined a datagram's group, the UDP early demux finds it
// and then hands the datagram to a member of the reuseport group chosen by
// a hash of the addresses, which may be a socket that joined another group.
// That socket's destination check drops the datagram and counts it in
// Stats.Filtered; the socket that joined never sees it. ShareAnyUser
// therefore sets SO_REUSEADDR only on Linux. ShareSameUser needs
// SO_REUSEPORT: its sockets are safe when they all join the same groups
// (the demux then finds several and delivers to each), or with
// sysctl net.ipv4.udp_early_demux=0 (and net.ipv6.udp_early_demux=0).
//
// BUG(sharecast): On the BSDs and macOS, ShareExclusive is not exclusive
// (from the kernels' source, not run): it binds the wildcard address
// without reuse options, which refuses any later bind to the wildcard
// address, but a later socket that sets SO_REUSEADDR or SO_REUSEPORT is
// checked only against sockets bound to exactly its own address, and for a
// multicast address SO_REUSEADDR counts as SO_REUSEPORT and the kernel
// skips its check of the other socket's user (FreeBSD's in_pcbbind_avail
// and in6_pcbbind_avail, XNU's in_pcbbind and in6_pcbbind; NetBSD's and
// OpenBSD's have the same exact-match rule). So a socket of any user bound
// to the group's address and the port shares it, and receives the group
// once it joins. No bind of the first socket closes this (bound to the
// group, it refuses later binds to the group but not, on the same user or
// root, to the wildcard address). Listen logs a warning when the mode is
// asked there.
//
// BUG(sharecast): SO_RXQ_OVFL and MSG_TRUNC are Linux-only, so outside
// Linux Stats.KernelDrops stays 0 and truncation is detected by a datagram
// filling its whole buffer: ReadBatch keeps each buffer's last byte spare
// there (ReadSlack; NewBatch and package dispatch add it), and Windows's
// WSAEMSGSIZE counts too.
package mcast
