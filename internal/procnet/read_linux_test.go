package procnet_test

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/sharecast/sharecast/internal/procnet"
	"github.com/sharecast/sharecast/internal/testbed"
)

// listen opens a UDP socket on addr (port 0: any) and returns it with its
// inode, as /proc/self/fd names it.
func listen(t *testing.T, addr string) (*net.UDPConn, uint64) {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, inodeOf(t, c)
}

func inodeOf(t *testing.T, c *net.UDPConn) uint64 {
	t.Helper()
	inode, err := socketInode(c)
	if err != nil {
		t.Fatal(err)
	}
	return inode
}

// socketInode returns the inode of c's socket, as /proc/self/fd names it.
func socketInode(c *net.UDPConn) (uint64, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var target string
	var lerr error
	if err := rc.Control(func(fd uintptr) { target, lerr = os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd)) }); err != nil {
		return 0, err
	}
	if lerr != nil {
		return 0, lerr
	}
	inode, ok := procnet.SocketInode(target)
	if !ok {
		return 0, fmt.Errorf("fd link %q is not a socket", target)
	}
	return inode, nil
}

// findUDP returns the socket of ss with inode.
func findUDP(ss []procnet.UDPSocket, inode uint64) (procnet.UDPSocket, bool) {
	i := slices.IndexFunc(ss, func(s procnet.UDPSocket) bool { return s.Inode == inode })
	if i < 0 {
		return procnet.UDPSocket{}, false
	}
	return ss[i], true
}

// The readers find, in the files of this machine, the sockets, groups and
// sources that the test makes, at their addresses: the byte order of the
// running kernel is read right.
func TestRead(t *testing.T) {
	testbed.Require(t)
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		fam           procnet.Family
		local         string
		group, source netip.Addr
		join          func(*net.UDPConn, *net.UDPAddr, *net.UDPAddr) error
	}{
		{procnet.IPv4, "127.0.0.1:0", netip.MustParseAddr("232.1.2.3"), netip.MustParseAddr("127.0.0.1"), func(c *net.UDPConn, g, s *net.UDPAddr) error {
			return ipv4.NewPacketConn(c).JoinSourceSpecificGroup(lo, g, s)
		}},
		{procnet.IPv6, "[::1]:0", netip.MustParseAddr("ff3e::1:2:3"), netip.MustParseAddr("::1"), func(c *net.UDPConn, g, s *net.UDPAddr) error {
			return ipv6.NewPacketConn(c).JoinSourceSpecificGroup(lo, g, s)
		}},
	} {
		t.Run(c.fam.String(), func(t *testing.T) {
			conn, inode := listen(t, c.local)
			ss, err := procnet.ReadUDP(c.fam)
			if err != nil {
				t.Fatal(err)
			}
			s, ok := findUDP(ss, inode)
			if !ok || s.Local != conn.LocalAddr().(*net.UDPAddr).AddrPort() || s.UID != os.Geteuid() || s.State != 7 {
				t.Fatalf("socket %d (%v): %+v, %v in %+v", inode, conn.LocalAddr(), s, ok, ss)
			}

			g := &net.UDPAddr{IP: c.group.AsSlice()}
			src := &net.UDPAddr{IP: c.source.AsSlice()}
			if err := c.join(conn, g, src); err != nil {
				t.Fatal(err)
			}
			ms, err := procnet.ReadIGMP(c.fam)
			if err != nil {
				t.Fatal(err)
			}
			want := procnet.Membership{IfIndex: lo.Index, IfName: "lo", Group: c.group, Users: 1}
			if c.fam == procnet.IPv4 {
				want.Version = 3
			}
			if !slices.Contains(ms, want) {
				t.Fatalf("%+v not in %+v", want, ms)
			}
			fs, err := procnet.ReadMcfilter(c.fam)
			if err != nil {
				t.Fatal(err)
			}
			wantF := procnet.SourceFilter{IfIndex: lo.Index, IfName: "lo", Group: c.group, Source: c.source, Include: 1}
			if !slices.Contains(fs, wantF) {
				t.Fatalf("%+v not in %+v", wantF, fs)
			}
		})
	}
}

// The readers see the namespace of the calling thread: a socket opened in
// another host is listed inside it and not outside.
func TestReadThreadNamespace(t *testing.T) {
	h := testbed.NewHost(t, "procnet")
	var inode uint64
	var inside []procnet.UDPSocket
	err := h.Do(func() error {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return err
		}
		t.Cleanup(func() { c.Close() })
		if inode, err = socketInode(c); err != nil {
			return err
		}
		inside, err = procnet.ReadUDP(procnet.IPv4)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := findUDP(inside, inode); !ok {
		t.Fatalf("the host's socket %d is not in its udp: %+v", inode, inside)
	}
	outside, err := procnet.ReadUDP(procnet.IPv4)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := findUDP(outside, inode); ok {
		t.Fatalf("the host's socket is in the test's namespace: %+v", s)
	}
}
