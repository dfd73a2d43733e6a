package cli

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/rs/zerolog"
)

// WSAEADDRINUSE and WSAEACCES (winerror.h), which the syscall package's
// EADDRINUSE and EACCES do not match on Windows.
const (
	errnoInUse  syscall.Errno = 10048
	errnoAccess syscall.Errno = 10013
)

// startBindChild is not supported on Windows: a process of another
// account needs its password (runas).
func startBindChild(network string, wildcard, specific fmt.Stringer, uid int, log zerolog.Logger) (*bindChild, error) {
	return nil, errors.New("binding as another user is not supported on Windows: run sharecast matrix under a second account")
}

func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
