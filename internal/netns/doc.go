// Package netns lets a program run part of itself inside a private network
// namespace that it makes on the spot, so that what it sends there cannot
// leave the host: `sharecast demo` uses it.
//
// # How
//
// [Command] returns an exec.Cmd that runs the program's own executable
// again in a new network namespace (CLONE_NEWNET). As root that is all; as
// another user it adds a new user namespace (CLONE_NEWUSER) in which the
// user is mapped to root, which Linux allows where unprivileged user
// namespaces are enabled (kernel.unprivileged_userns_clone=1 on Debian and
// Ubuntu kernels, user.max_user_namespaces > 0 everywhere). The child is
// killed if the parent dies.
//
// Inside, the only interface is lo, down. [SetupLoopback] brings it up with
// the MULTICAST flag and routes 224.0.0.0/4 (source 127.0.0.1) and, as a
// local route, ff00::/8 through it, so that senders and receivers exchange
// multicast on lo without naming an interface. [CheckIsolated] verifies
// that lo is the only interface, before anything is sent.
//
// Outside Linux there are no network namespaces: Command returns
// [ErrNotSupported].
package netns
