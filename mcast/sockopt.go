package mcast

import (
	"fmt"
	"runtime"
)

// platform names the running OS and architecture in errors.
var platform = runtime.GOOS + "/" + runtime.GOARCH

// windowsExclusiveAddrUse is SO_EXCLUSIVEADDRUSE, which
// golang.org/x/sys/windows does not define. The Windows SDK (winsock2.h)
// defines it as ((int)(~SO_REUSEADDR)), and SO_REUSEADDR is 4, so its value
// is -5 (0xfffffffb as an unsigned 32-bit option number). It is defined here,
// on every OS, so that its test runs everywhere.
const windowsExclusiveAddrUse = ^0x0004

// optID names a socket option independently of the OS. Each OS maps the
// names it knows to its own level and option number (from golang.org/x/sys,
// whose values differ by OS and architecture) in sockopt_<goos>.go; a name
// that an OS does not map is not supported there.
type optID int

const (
	optReuseAddr        optID = iota + 1 // SO_REUSEADDR
	optReusePort                         // SO_REUSEPORT
	optExclusiveAddrUse                  // SO_EXCLUSIVEADDRUSE (Windows)
	optMulticastAll4                     // IP_MULTICAST_ALL (Linux)
	optMulticastAll6                     // IPV6_MULTICAST_ALL (Linux)
	optPktInfo4                          // IP_PKTINFO: destination address and interface
	optPktInfo6                          // IPV6_RECVPKTINFO (IPV6_PKTINFO on Windows)
	optTimestampNS                       // SO_TIMESTAMPNS: kernel receive time
	optRxqOvfl                           // SO_RXQ_OVFL: kernel drop counter
	optRecvTTL4                          // IP_RECVTTL: the TTL a datagram arrived with
	optRecvHopLimit6                     // IPV6_RECVHOPLIMIT: the hop limit
)

var optNames = map[optID]string{
	optReuseAddr:        "SO_REUSEADDR",
	optReusePort:        "SO_REUSEPORT",
	optExclusiveAddrUse: "SO_EXCLUSIVEADDRUSE",
	optMulticastAll4:    "IP_MULTICAST_ALL",
	optMulticastAll6:    "IPV6_MULTICAST_ALL",
	optPktInfo4:         "IP_PKTINFO",
	optPktInfo6:         "IPV6_RECVPKTINFO",
	optTimestampNS:      "SO_TIMESTAMPNS",
	optRxqOvfl:          "SO_RXQ_OVFL",
	optRecvTTL4:         "IP_RECVTTL",
	optRecvHopLimit6:    "IPV6_RECVHOPLIMIT",
}

func (id optID) String() string {
	if s, ok := optNames[id]; ok {
		return s
	}
	return fmt.Sprintf("optID(%d)", int(id))
}

// sockopt is one entry of a per-OS option table: set option id to value.
// A required option that fails (or that the OS lacks) fails the Listen; a
// best-effort one is skipped, and the reason logged at debug level.
type sockopt struct {
	id       optID
	value    int
	required bool
}

// osTable is what one OS does for each sharing mode and address family. It
// is plain data for every OS, compiled everywhere, so that the tables of all
// OSes are unit-tested on any OS.
type osTable struct {
	// share lists the options of each mode; a mode missing from the map is
	// not supported on that OS.
	share map[Share][]sockopt
	// recv4 and recv6 are the options that a receiving socket of each
	// family sets (metadata, leak protection). Empty where the OS gets its
	// metadata another way (the portable x/net path).
	recv4, recv6 []sockopt
	// rcvbufScale is the factor by which the OS reports a granted receive
	// buffer (Linux doubles the value set, to account for its overhead).
	rcvbufScale int
	// exclusiveGap, where not empty, is the warning that Listen logs when
	// ShareExclusive is asked on an OS where it is not exclusive.
	exclusiveGap string
}

// tables holds the option tables of every OS that sharecast knows.
var tables = map[string]osTable{
	"linux": {
		share: map[Share][]sockopt{
			// Not SO_REUSEPORT: Linux's UDP early demux hands a multicast
			// datagram that exactly one socket of a reuseport group has
			// joined to any member of the group (measured on 6.18; see
			// the package doc), so sockets that join different groups on
			// one port would get each other's datagrams.
			ShareAnyUser:   {{optReuseAddr, 1, true}},
			ShareSameUser:  {{optReusePort, 1, true}},
			ShareExclusive: {},
		},
		recv4: []sockopt{
			{optMulticastAll4, 0, true},
			{optPktInfo4, 1, true},
			{optTimestampNS, 1, false},
			{optRxqOvfl, 1, false},
			{optRecvTTL4, 1, false},
		},
		recv6: []sockopt{
			// IPV6_MULTICAST_ALL came with Linux 4.20; before it the
			// destination filter alone keeps other groups out.
			{optMulticastAll6, 0, false},
			{optPktInfo6, 1, true},
			{optTimestampNS, 1, false},
			{optRxqOvfl, 1, false},
			{optRecvHopLimit6, 1, false},
		},
		rcvbufScale: 2,
	},
	"darwin":  bsdTable,
	"freebsd": bsdTable,
	"netbsd":  bsdTable,
	"openbsd": bsdTable,
	"windows": {
		share: map[Share][]sockopt{
			ShareAnyUser:   {{optReuseAddr, 1, true}},
			ShareExclusive: {{optExclusiveAddrUse, 1, true}},
		},
		// The destination address and interface, which WSARecvMsg
		// returns as IN_PKTINFO / IN6_PKTINFO (wincmsg.go parses them).
		// Required, as on Linux: the destination check needs them.
		recv4:       []sockopt{{optPktInfo4, 1, true}},
		recv6:       []sockopt{{optPktInfo6, 1, true}},
		rcvbufScale: 1,
	},
}

// bsdTable serves the BSDs and macOS, where a multicast port is shared when
// every socket sets both SO_REUSEADDR and SO_REUSEPORT, and where no option
// restricts sharing to one user.
//
// There ShareExclusive is not exclusive: see exclusiveGapBSD.
var bsdTable = osTable{
	share: map[Share][]sockopt{
		ShareAnyUser:   {{optReuseAddr, 1, true}, {optReusePort, 1, true}},
		ShareExclusive: {},
	},
	rcvbufScale:  1,
	exclusiveGap: exclusiveGapBSD,
}

// exclusiveGapBSD is what the BSDs' and XNU's in_pcbbind (read, not run)
// do to an exclusive socket, a wildcard bind without reuse options: a later
// socket that sets SO_REUSEADDR or SO_REUSEPORT looks up only its exact
// (address, port) when it binds, so one bound to the group's address and
// the port does not find the wildcard socket; for a multicast address
// SO_REUSEADDR counts as SO_REUSEPORT and the check of the other socket's
// user is skipped (FreeBSD's in_pcbbind_avail and in6_pcbbind_avail, XNU's
// in_pcbbind and in6_pcbbind). Such a socket, of any user, shares the port
// and, once it joins the group, receives the group's datagrams. Binds to
// the wildcard address are refused as they should be.
const exclusiveGapBSD = "share=exclusive is not exclusive on this OS: a socket of any user that binds the group's address and this port with SO_REUSEADDR or SO_REUSEPORT shares the port and receives the group (the kernel checks only exact matches for it); only binds to the wildcard address are refused"

// exclusiveWarning returns the warning that Listen logs for mode share on
// goos, or "".
func exclusiveWarning(goos string, share Share) string {
	if share != ShareExclusive {
		return ""
	}
	return tables[goos].exclusiveGap
}

// options returns the options that a receiving socket of the given family
// sets on goos for mode share.
func options(goos string, share Share, ipv6 bool) ([]sockopt, error) {
	t, ok := tables[goos]
	if !ok {
		return nil, fmt.Errorf("share mode %s on %s: %w", share, goos, ErrNotSupported)
	}
	so, ok := t.share[share]
	if !ok {
		return nil, fmt.Errorf("share mode %s on %s: %w", share, goos, ErrNotSupported)
	}
	out := append([]sockopt(nil), so...)
	if ipv6 {
		out = append(out, t.recv6...)
	} else {
		out = append(out, t.recv4...)
	}
	return out, nil
}

// applyOptions sets opts on fd through the platform's setsockopt, mapping
// each name with sysOpt. It is the one OS-neutral walker of the tables.
func applyOptions(fd uintptr, opts []sockopt, skipped func(sockopt, error)) error {
	for _, o := range opts {
		level, name, ok := sysOpt(o.id)
		if !ok {
			err := notSupported(o.id.String())
			if o.required {
				return err
			}
			skipped(o, err)
			continue
		}
		if err := setsockoptInt(fd, level, name, o.value); err != nil {
			err = fmt.Errorf("setsockopt %s=%d: %w", o.id, o.value, err)
			if o.required {
				return err
			}
			skipped(o, err)
		}
	}
	return nil
}
