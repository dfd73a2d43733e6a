//go:build !linux

package mcast

import "runtime"

// unprivilegedPortStart returns the lowest port that any process may bind:
// 1024 on the BSDs and macOS (macOS has let anyone bind any port since
// 10.14, and EACCES then means something else, as it does on Windows, which
// has no privileged ports: there WSAEACCES comes from SO_EXCLUSIVEADDRUSE).
func unprivilegedPortStart() uint16 {
	switch runtime.GOOS {
	case "windows", "darwin", "ios":
		return 0
	}
	return 1024
}
