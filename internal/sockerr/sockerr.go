// Package sockerr tells socket errors apart on every OS, in one place: the
// syscall package's EADDRINUSE and EACCES are what Linux and the BSDs
// return, but Windows returns WSAEADDRINUSE (10048) and WSAEACCES (10013),
// which those names never equal there. mcast, group and the CLI ask this
// package rather than compare with syscall's constants.
//
// The tables of every OS are data compiled everywhere, so that a test on
// Linux checks Windows' as well (Table).
package sockerr

import (
	"errors"
	"runtime"
	"syscall"
)

// Kind is a kind of socket error that sharecast acts on.
type Kind int

const (
	// AddrInUse: the address and port are held (EADDRINUSE).
	AddrInUse Kind = iota
	// Access: permission denied (EACCES; on Windows also a port held with
	// SO_EXCLUSIVEADDRUSE).
	Access
	// AddrNotAvail: the address is not one of this host's, or the
	// membership does not exist (EADDRNOTAVAIL).
	AddrNotAvail
	// NoDevice: no such interface, or no route to pick one by (ENODEV).
	NoDevice
	// MsgSize: a datagram was longer than the buffer (Windows reports it
	// as an error after filling the buffer: WSAEMSGSIZE).
	MsgSize
)

// Windows Sockets error codes, from winerror.h (x/sys/windows lacks most
// of them).
const (
	wsaEACCES        syscall.Errno = 10013
	wsaEMSGSIZE      syscall.Errno = 10040
	wsaEADDRINUSE    syscall.Errno = 10048
	wsaEADDRNOTAVAIL syscall.Errno = 10049
)

// unixTable serves Linux, the BSDs and macOS: the syscall package's names
// are their numbers.
var unixTable = map[Kind][]syscall.Errno{
	AddrInUse:    {syscall.EADDRINUSE},
	Access:       {syscall.EACCES},
	AddrNotAvail: {syscall.EADDRNOTAVAIL},
	NoDevice:     {syscall.ENODEV},
	MsgSize:      {syscall.EMSGSIZE},
}

// tables holds the errors of each OS by kind.
var tables = map[string]map[Kind][]syscall.Errno{
	"windows": {
		AddrInUse:    {wsaEADDRINUSE},
		Access:       {wsaEACCES},
		AddrNotAvail: {wsaEADDRNOTAVAIL},
		MsgSize:      {wsaEMSGSIZE},
	},
}

// Table returns the errors of kind k on goos.
func Table(goos string, k Kind) []syscall.Errno {
	if t, ok := tables[goos]; ok {
		return t[k]
	}
	return unixTable[k]
}

// Is reports whether err is an error of kind k on the running OS.
func Is(err error, k Kind) bool { return IsOn(runtime.GOOS, err, k) }

// IsOn reports whether err is an error of kind k on goos.
func IsOn(goos string, err error, k Kind) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	for _, e := range Table(goos, k) {
		if errno == e {
			return true
		}
	}
	return false
}
