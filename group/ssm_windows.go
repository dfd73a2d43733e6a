package group

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/sharecast/sharecast/mcast"
)

// osSource does the source operations that x/net lacks on Windows: for
// IPv4 it sets IP_ADD_SOURCE_MEMBERSHIP and its kin itself; for IPv6 it
// returns ErrNotSupported. These memberships do not enter the Conn's
// membership set (Conn.Memberships), which on Windows serves no
// destination filter; the Set keeps them and leaves them on Close.
func osSource(c *mcast.Conn, op srcOp, ifi *net.Interface, group, source netip.Addr) (done bool, err error) {
	m := mcast.Membership{Group: group, Source: source}
	if ifi != nil {
		m.IfIndex = ifi.Index
	}
	if group.Is6() {
		return true, fmt.Errorf("group: IPv6 %s %s on windows: %w", op, m, ErrNotSupported)
	}
	req := newWinIPMreqSource(group, source, m.IfIndex)
	rc, err := c.UDPConn().SyscallConn()
	if err != nil {
		return true, &mcast.OpError{Op: op.String(), Membership: m, Err: err}
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		serr = windows.Setsockopt(windows.Handle(fd), windows.IPPROTO_IP, int32(winSourceOption(op)),
			(*byte)(unsafe.Pointer(&req)), int32(unsafe.Sizeof(req)))
	})
	if err == nil && serr != nil {
		err = os.NewSyscallError("setsockopt", serr)
	}
	if err != nil {
		return true, &mcast.OpError{Op: op.String(), Membership: m, Err: err}
	}
	return true, nil
}
