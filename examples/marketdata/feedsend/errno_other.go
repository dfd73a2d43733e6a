//go:build !unix

package feedsend

import "errors"

// errNoBufs matches nothing where the OS has no ENOBUFS.
var errNoBufs = errors.New("feedsend: no buffer space")
