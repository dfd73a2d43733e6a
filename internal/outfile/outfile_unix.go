//go:build unix

package outfile

import (
	"errors"
	"syscall"
)

// noFollow makes open fail (ELOOP) on a symbolic link.
const noFollow = syscall.O_NOFOLLOW

func isSymlinkErr(err error) bool { return errors.Is(err, syscall.ELOOP) }
