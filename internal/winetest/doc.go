// Package winetest runs Windows builds of sharecast's tests and programs
// under Wine, inside the test bed's private network namespace
// ([testbed.Require]), so that the Windows code paths run against a real
// socket stack without sending anything out of a host interface. Wine is
// not Windows: a test built on it shows that the Windows code paths run,
// not what Windows does (Wine maps SO_EXCLUSIVEADDRUSE, SO_REUSEADDR and the
// rest onto Linux's sockets).
//
// [New] skips the test, saying why, where Debian's wine64 or
// gcc-mingw-w64-x86-64 is missing (about 160 MB, a minute to install:
// apt-get install --no-install-recommends wine64
// gcc-mingw-w64-x86-64-win32), off amd64 and off Linux; where the
// environment variable CI is true it fails instead of skipping when they
// are missing, since .ci/apt-packages installs them. Otherwise it
// makes a Wine prefix of the test's own, and [Wine.Go] builds for
// windows/amd64 with the overlay below; [Wine.Command] and [Wine.Run] run
// the result under wine64.
//
// # The two test-only shims
//
// Wine 8.0 (Debian bookworm's wine64) needs two shims to run a Go 1.26
// program at all. They are kept here and nowhere else, and are never
// shipped or used on Windows:
//   - testdata/bcryptprimitives.c: a stand-in bcryptprimitives.dll
//     exporting ProcessPrng (which Go's runtime loads at start-up and Wine
//     8.0 lacks), forwarding to RtlGenRandom; New builds it with mingw-w64
//     and puts it in the prefix's system32 (Go loads it from the system
//     directory only);
//   - a go build overlay of net/fd_windows.go, made at test time from
//     GOROOT, that tolerates WSAEOPNOTSUPP from the SIO_UDP_NETRESET ioctl
//     that Go's net package issues on every UDP socket (Wine 8.0 does not
//     implement it, and every UDP socket would fail). New fails the test if
//     GOROOT's file no longer has the check that the overlay relaxes.
package winetest
