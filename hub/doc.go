// Package hub lets one socket feed any number of local consumer processes
// through shared memory.
//
// Every socket that shares a port costs the kernel one copy and one wake-up
// of every datagram, paid by the sender's system call: 16 processes on one
// port hold a small fraction of one socket's lossless rate. A hub reads the
// port once and writes each datagram, once, into a ring in shared memory;
// every consumer reads it there, with no system call per datagram while it
// keeps up. This is the design of Aeron's IPC log buffers and of the LMAX
// disruptor: one writer, a sequence number in every slot, readers that
// never make the writer wait.
//
// # The hub
//
// [Listen] opens the hub's sockets as dispatch.Listen does (one shared
// socket per family and port of the group specs: an ordinary co-tenant of
// the port, so that tcpdump, socat and other receivers still share it) and
// writes each datagram, from an inline handler on the socket's reader, into
// the ring of its socket with its metadata: source, group, port, interface,
// TTL and the kernel's receive timestamp. [Hub.Serve] receives;
// [Hub.Stats] counts the consumers, their lag and overruns, and the hub's
// own kernel drops, truncation and filtering (dispatch.Stats).
//
// # The ring
//
// A ring is a memfd (memfd_create(2)), mapped MAP_SHARED: Config.Slots slots
// of a fixed size (Config.MaxDatagram plus a 64-byte header), datagram n in
// slot n mod Slots. The writer marks a slot busy, fills it and publishes
// its sequence number n+1; a reader that expects n copies the slot and
// keeps the copy only if the number is still n+1 afterwards (a seqlock), so
// it never returns a torn datagram. Finding a larger number, it knows that
// the writer lapped it: it counts the datagrams it lost (overrun) and goes
// on from the oldest one still whole. For every consumer, the datagrams
// the hub accepted while it was attached = delivered + overrun (+ those
// longer than the consumer's buffers, counted as truncated), exactly.
//
// A consumer whose ring is empty spins briefly, then sleeps on a futex word
// (FUTEX_WAIT, not private, since the word is in shared memory); the writer
// makes the wake-up system call only when a reader has said that it sleeps.
// The hub never waits for a consumer.
//
// # Attaching
//
// A hub listens on a unix socket (SOCK_SEQPACKET) in the abstract namespace,
// named after it ([Addr]: "@sharecast-hub/NAME"). Abstract names belong to
// the network namespace, leave nothing behind in the file system, and
// vanish with the hub: a hub killed with SIGKILL leaves no stale attach
// point or ring that a consumer could take for live, and a new hub may take
// the name at once. On connect the hub reads the peer's credentials
// (SO_PEERCRED, and SO_PEERGROUPS for its supplementary groups) and accepts
// its own user, root, and the members of Config.Group; others are refused
// (ErrAccessDenied): the equivalent of a 0600 file, or 0640 with a group.
// The consumer checks the hub's credentials in turn (ErrUntrustedHub,
// AttachConfig.TrustUIDs), since anyone could listen under a name. An
// accepted consumer gets a slot and the memfds, passed with SCM_RIGHTS (so
// the rings exist nowhere else: /proc/PID/fd of the hub needs ptrace rights
// over it); it maps the rings read-only (they are sealed with
// F_SEAL_FUTURE_WRITE, Linux 5.1, so that the descriptor it holds allows
// nothing else), and a small control area read-write, where it publishes its position for the hub's stats and says
// when it sleeps. A consumer of the named group can thus disturb the other
// consumers' statistics and wake-ups, never the datagrams.
//
// When a consumer's connection ends (Close, exit, SIGKILL: the kernel
// closes it in every case) the hub frees its slot. When the hub's ends, the
// consumer reads what the rings still hold and then gets [ErrHubGone]; a
// dispatch.Server serving it returns that error. Attach again to find a new
// hub under the name.
//
// # Consumers
//
// [Attach] returns a [Consumer] with one [Source] per hub socket. A Source
// is a dispatch.Source: [Consumer.AddTo] adds them to a dispatch.Server,
// whose handlers then run unchanged, inline or queued. ReadBatch copies
// each datagram from the ring into the Server's buffer (one copy, no
// allocation, no system call while datagrams are there).
//
// # Operating systems
//
// Linux only. Elsewhere [Listen] and [Attach] return [ErrNotSupported]:
// macOS has no memfd and no futex that another process can wake, Windows
// no SCM_RIGHTS; FreeBSD could do it (shm_open(SHM_ANON), umtx, SCM_RIGHTS),
// but it is not written.
package hub
