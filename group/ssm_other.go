//go:build !windows

package group

import (
	"net"
	"net/netip"

	"github.com/sharecast/sharecast/mcast"
)

// osSource leaves every source operation to x/net (through mcast), which
// has them on Linux and the BSDs.
func osSource(c *mcast.Conn, op srcOp, ifi *net.Interface, group, source netip.Addr) (done bool, err error) {
	return false, nil
}
