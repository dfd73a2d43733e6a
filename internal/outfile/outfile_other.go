//go:build !unix

package outfile

// noFollow is 0 where the OS has no O_NOFOLLOW (Windows): Create's Lstat
// check alone refuses a symbolic link there.
const noFollow = 0

func isSymlinkErr(error) bool { return false }
