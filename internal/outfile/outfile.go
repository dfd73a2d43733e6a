// Package outfile creates the files that sharecast's programs write what
// they receive into (captures, recordings), so that what another user
// prepared at the path cannot redirect the write: a symbolic link at the
// path is refused rather than followed (O_NOFOLLOW where the OS has it),
// and a new file is readable by its owner only (0600) unless asked.
package outfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ErrSymlink reports a path that is a symbolic link: Create does not
// follow it, since it may point at a file of the owner's that another user
// wants overwritten.
var ErrSymlink = errors.New("is a symbolic link, not followed")

// DefaultPerm is the mode of a new file: its owner's only.
const DefaultPerm fs.FileMode = 0o600

// Create creates or truncates the file name for writing, with mode perm
// (0 means DefaultPerm) for a new file. A symbolic link at name is refused
// with an error wrapping ErrSymlink.
func Create(name string, perm fs.FileMode) (*os.File, error) {
	if perm == 0 {
		perm = DefaultPerm
	}
	// Lstat first for a clear error on every OS; O_NOFOLLOW then closes the
	// window between the check and the open where the OS has it.
	if fi, err := os.Lstat(name); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("%s %w", name, ErrSymlink)
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|noFollow, perm)
	if err != nil {
		if isSymlinkErr(err) {
			return nil, fmt.Errorf("%s %w", name, ErrSymlink)
		}
		return nil, err
	}
	return f, nil
}
