//go:build !linux

package cli

import (
	"fmt"
	"runtime"

	"github.com/sharecast/sharecast/mcast"
)

// readHostTables needs Linux's /proc.
func readHostTables(ports []uint16) (*hostTables, error) {
	return nil, fmt.Errorf("ports reads /proc, which %s does not have: %w", runtime.GOOS, mcast.ErrNotSupported)
}
