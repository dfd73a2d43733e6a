// Package harness is sharecast's benchmark harness (`go run ./bench`): it
// measures per-socket multicast delivery of receivers side by side,
// in a private network namespace, and writes bench/RESULTS.md and a chart.
//
// # What runs
//
// One sender (sendmmsg on a blocking socket, from a locked thread) sends
// datagrams that carry the sharecast test header (package internal/wire:
// stream, sequence, send time) to one group and port on lo. N receiving
// sockets share the port, as N sockets in one process ([ModeProc]) or as N
// processes of one socket ([ModeProcs]); every receiver is a process of its
// own, so that its CPU time and allocations are its own. The receivers:
//
//   - [KindSharecast]: mcast.Conn batch reads through a dispatch.Server,
//     one per socket, with one inline handler each (called on the reader's
//     goroutine); [KindSharecastQueued], outside the default sweep, has the
//     handler behind a queue and a worker (overflow Block);
//   - [KindMcast]: mcast.Conn.ReadBatch in a plain loop;
//   - [KindStdlib]: net.ListenMulticastUDP and ReadFromUDP;
//   - [KindC]: bench/cref/recv.c, recvmmsg (epoll over the sockets of a
//     process, two threads), built with the C compiler at run time: the
//     kernel's limit on the machine; [KindCMeta], outside the default
//     sweep, is the same with mcast's control messages on every datagram;
//   - [KindHub], outside the default sweep: one hub process (package hub:
//     one socket, a ring in shared memory) and N consumer processes (or N
//     consumers in one process), each a dispatch.Server with an inline
//     handler over the ring; the hub is stopped first, and its consumers
//     read its ring to the end. Its consumers' losses are their overruns
//     and the hub socket's drops, which the run reports apart (RunResult.Hub).
//
// Each does the same work per datagram: decode the header, check the
// stream, count, read the clock, record the latency in a histogram.
//
// # A run
//
// The harness starts the receivers (the Go ones are its own binary again,
// in the receiver role: [RecvMain]), waits for each to say "ready" (every
// socket joined), checks in /proc/net/udp that N sockets are bound, sends
// for a while (at a rate, or flat out), waits for the receive queues to
// drain, then tells the receivers to stop (a line on stdin) and reads one
// JSON line from each ([ProcReport]): per socket the datagrams received,
// the kernel's drops (SO_MEMINFO), truncated and foreign datagrams and
// latency percentiles; per process CPU time and heap allocations from
// "ready" on. Every loop is bounded in count and time; receivers exit by
// themselves after a lifetime, and are killed if the harness dies.
//
// # The sweep
//
// [PhaseRate] sends at a set rate; [PhaseMax] sends flat out (on loopback
// the sender's system call pays the kernel's delivery to every socket, so
// its rate is the host's limit) and repeats each cell; [PhaseLossless]
// searches, per receiver and N, the highest rate at which every socket gets
// every datagram of a run, with a bounded number of probes. Within a cell
// the receivers run one after another, in an order rotated from cell to
// cell, so that their ratios hold on a noisy machine. A time budget bounds
// the whole sweep; [Quick] is the CI mode, whose [Check] judges sanity
// only (delivery ratio 1 at a low rate, counts that add up), never a
// timing.
//
// # Safety
//
// [Main] re-executes the program in a new network namespace
// (internal/netns: CLONE_NEWNET, and CLONE_NEWUSER when not root), brings
// lo up with the multicast routes, and runs there; the sender refuses to
// open if the namespace holds any interface but lo. Nothing leaves the
// host. Under `go test`, the test bed's namespace serves instead.
//
// The harness needs Linux; elsewhere [Main] says so.
package harness
