// Package testbed runs the tests of sharecast inside private network
// namespaces, so that no test ever sends a datagram out of a host interface.
//
// # The namespace
//
// A package whose tests touch the network calls [Main] from its TestMain.
// Main re-executes the test binary in a new network namespace (CLONE_NEWNET;
// with CLONE_NEWUSER and a uid map when not root), where the only interface
// is lo. It brings lo up with the MULTICAST flag and routes 224.0.0.0/4
// (source 127.0.0.1) and, as a local route, ff00::/8 through it (IPv6 makes
// an ordinary route through lo a reject route), so that senders and receivers
// on lo exchange multicast without setting an interface. The outer process
// waits and exits with the child's status.
//
// Tests call [Require] first. It skips the test, saying why, where no
// namespace could be made; where the environment variable CI is set it
// fails instead, since CI runs as root and must never skip. Require also
// checks, every time, that the namespace holds no interface that the test
// bed did not create, and fails the test if it finds one rather than let it
// send anything.
//
// # Hosts, links and bridges
//
// [NewHost] makes another namespace, a host, with its own lo. [Veth] joins
// two hosts (or a host and the test's own namespace) with a veth pair and
// addresses; [NewSwitch] makes a Linux bridge, with multicast snooping on
// or off, and [Switch.Attach] plugs a host into it. Code runs inside a host
// through [Host.Do] (sockets opened there belong to that host, whichever
// thread later uses them) or in a process started with [Host.Command].
// Everything is removed by t.Cleanup.
//
// # Helper processes
//
// [Register] names a function that the test binary runs instead of its
// tests when started by [Command]: a second process in the same namespace,
// such as a receiver. [AsUser] makes such a process run as another user.
package testbed
