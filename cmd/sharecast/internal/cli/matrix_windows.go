package cli

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/rs/zerolog"
)

// startBindChild is not supported on Windows: a process of another
// account needs its password (runas).
func startBindChild(network string, wildcard, specific fmt.Stringer, uid int, log zerolog.Logger) (*bindChild, error) {
	return nil, errors.New("binding as another user is not supported on Windows: run sharecast matrix under a second account")
}

func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
