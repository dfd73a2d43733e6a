//go:build unix

package feedsend

import "syscall"

var errNoBufs error = syscall.ENOBUFS
