// Package group keeps the multicast memberships of a socket: which groups,
// from which sources, on which interfaces, kept right while links come and
// go.
//
// # Specs
//
// A [Spec] names a membership in text, for flags and configuration files:
//
//	239.1.2.3:5000               any-source group (IGMP, RFC 1112 and 3376)
//	[ff15::1]:5000               any-source IPv6 group (MLD, RFC 2710 and 3810)
//	232.1.1.1:5000@10.0.0.1      source-specific group (RFC 4607)
//	[ff3e::1]:5000@2001:db8::1   source-specific IPv6 group
//	239.1.2.3:5000%eth0          on an interface by name; %2 by index,
//	                             %10.0.0.1 by address, %* on every one
//
// [ParseSpec] reads them and [Spec.String] writes them back the same way;
// Spec is an encoding.TextMarshaler. A bad spec is refused up front with a
// [*SpecError] that names the bad part: a group that is not multicast, a
// port of 0 or over 65535, a source on an any-source group (or none on a
// source-specific one: 232.0.0.0/8 and ff3x::/32 take exactly one source,
// every other group none), an interface text that cannot be one.
//
// # Memberships
//
// A [Set] joins and leaves specs on an [mcast.Conn], which joins through
// golang.org/x/net (ipv4.PacketConn, ipv6.PacketConn; the socket API of RFC
// 3678) and keeps the socket's memberships for its destination filter.
// Joins are idempotent; one socket may hold many groups, one group may be
// joined on many interfaces, and any-source groups may exclude sources
// ([Set.ExcludeSource], [Set.IncludeSource]). [Set.List] says what is
// joined where, with interface names; [Set.Close] leaves everything.
//
// An interface is chosen by name, index or address, or "*" for every
// interface that is up and has the MULTICAST flag. One that does not
// exist, is down or cannot do multicast is an error ([ErrNoInterface],
// [ErrInterfaceDown], [ErrNotMulticastCapable]), never a join on nothing or
// on another interface. A spec without an interface leaves the choice to
// the kernel, which picks by its routing table for the group.
//
// # Limits
//
// Linux caps the IPv4 memberships of a socket at
// net.ipv4.igmp_max_memberships (20 by default, per network namespace) and
// the sources of one group at net.ipv4.igmp_max_msf (10). IPv6 has no count:
// each membership takes socket option memory, whose share per socket is
// net.core.optmem_max (128 KiB, some 2,300 memberships), and the sources of
// a group are capped by net.ipv6.mld_max_msf (64). A join past a limit
// returns an error that wraps [ErrMembershipLimit] and the kernel's errno
// (ENOBUFS, or ENOMEM for optmem_max) and names the sysctl and its value:
//
//	group: join 239.0.0.21:5000%lo: on lo (index 1): the socket holds 20
//	memberships, the most that net.ipv4.igmp_max_memberships = 20 allows: ...
//
// # Links that come and go
//
// On Linux a Set watches the kernel's link and address events (rtnetlink,
// through github.com/vishvananda/netlink), waits [Config.Settle] for the
// events that come together, and then:
//
//   - on an interface that came back up, or was given an address of the
//     socket's family again, joins its memberships again;
//   - on an interface that was deleted, leaves its memberships (the kernel
//     dropped them from the interface, but the socket keeps a stale entry
//     that would make a later join fail with EADDRINUSE or ENODEV);
//   - joins specs that follow a name, an index or "*" on the interfaces
//     that now match: an interface deleted and created again under the
//     same name (it gets a new index) is joined again, and "*" joins
//     interfaces that come up after the Join.
//
// Each re-join is logged and counted in [Stats].Rejoins; [Set.List] shows
// a spec that has lost its interface as Waiting. A spec chosen by address
// keeps the interface that had the address at the Join.
//
// What the kernel does (measured on Linux 6.18, IPv4 and IPv6): while an
// interface is down, and when its addresses are removed and added again,
// the kernel keeps both the socket's membership and the interface's (it
// stops reporting, and reports again on up; /proc/net/igmp and igmp6 list
// the group all along), so delivery resumes by itself and the re-join finds
// the membership in place (EADDRINUSE, or EADDRNOTAVAIL for a
// source-specific one; both taken as success). When the
// interface is deleted, the interface's membership goes, but the socket's
// stays: joining again on the old index gives ENODEV (IPv4) or EADDRINUSE
// (IPv6) and receives nothing, and leaving it succeeds, except for a
// source-specific membership, whose leave fails with ENODEV and which then
// stays in the socket for good, counting against igmp_max_memberships,
// unless the group is left as a whole on that index. So the watcher leaves
// memberships of deleted interfaces (a source-specific one also as a whole),
// joins fresh ones on interfaces that come back, and after each re-join
// checks /proc/net/igmp or igmp6: a group that the interface does not list
// is left and joined afresh.
//
// The watcher's netlink sockets, and its interface lists, belong to the
// network namespace of the thread that called [New] (as a socket made by
// mcast.Listen on that thread does); when the watcher's goroutine finds
// its thread in another namespace, it moves a locked thread of its own
// there, which ends with the watcher.
//
// # Windows
//
// golang.org/x/net joins only any-source groups on Windows; package mcast
// does the source-specific joins and source blocks there itself
// (IP_ADD_SOURCE_MEMBERSHIP and its kin for IPv4, MCAST_JOIN_SOURCE_GROUP
// with GROUP_SOURCE_REQ for IPv6), so a Set works the same. Where an OS has
// no source filters (x/net has none for NetBSD and OpenBSD), they return
// errors that wrap [ErrNotSupported].
//
// BUG(sharecast): Only Linux re-joins when links come back; elsewhere there
// is no watcher, and Config.NoWatch changes nothing.
//
// BUG(sharecast): Only Linux names a limit in its error; elsewhere the
// kernel's error (ETOOMANYREFS on the BSDs and macOS) is returned as it is.
//
// BUG(sharecast): Linux delivers an IPv6 group to every socket that joined
// it, whichever interface each joined it on (it checks the interface only
// for IPv4, with IP_MULTICAST_ALL off), and mcast's destination check
// compares groups only: a socket that joined an IPv6 group on one interface
// also gets the group's datagrams from another interface on which any
// socket of the host joined it. Datagram.IfIndex says where each came from.
package group
