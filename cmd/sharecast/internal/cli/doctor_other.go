//go:build !linux

package cli

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/sharecast/sharecast/mcast"
)

// runDoctor needs Linux: /proc, sysctls, netlink routes and nftables.
func runDoctor(*cobra.Command, *env, doctorOptions) (*DoctorReport, error) {
	return nil, fmt.Errorf("doctor reads Linux's /proc, sysctls and routing table, which %s does not have: %w", runtime.GOOS, mcast.ErrNotSupported)
}
