package cli_test

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sharecast/sharecast/internal/testbed"
)

// send --dscp and --tos set the byte that the datagrams carry (the IPv4
// type of service, the IPv6 traffic class): a socket of the test's own
// reads it off each datagram (IP_RECVTOS, IPV6_RECVTCLASS).
func TestSendTOS(t *testing.T) {
	testbed.Require(t)
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	for _, c := range []struct {
		group string
		flags []string
		want  int
	}{
		{"239.10.0.56", nil, 0},
		{"239.10.0.56", []string{"--dscp", "46"}, 46 << 2},
		{"239.10.0.56", []string{"--tos", "40"}, 40},
		{"ff15::56", []string{"--dscp", "10"}, 10 << 2},
		{"ff15::56", []string{"--tos", "40"}, 40},
	} {
		g := netip.AddrPortFrom(netip.MustParseAddr(c.group), port)
		fd := tosSocket(t, g, lo.Index)
		args := append([]string{"send", g.String(), "--count", "1", "--log-level", "warn"}, c.flags...)
		if code, _, e := run(t, 20*time.Second, args...); code != 0 {
			t.Fatalf("%s: exit %d\n%s", strings.Join(args, " "), code, e)
		}
		if got := readTOS(t, fd, g.Addr().Is4()); got != c.want {
			t.Errorf("%s: the datagram carries %d, want %d", strings.Join(args, " "), got, c.want)
		}
	}
}

// tosSocket returns a socket that has joined g on the interface and reports
// each datagram's TOS byte (traffic class); it is closed when the test ends.
func tosSocket(t *testing.T, g netip.AddrPort, ifindex int) int {
	t.Helper()
	family, level, recv := syscall.AF_INET, syscall.IPPROTO_IP, syscall.IP_RECVTOS
	if g.Addr().Is6() {
		family, level, recv = syscall.AF_INET6, syscall.IPPROTO_IPV6, syscall.IPV6_RECVTCLASS
	}
	fd, err := syscall.Socket(family, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	check := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	check("SO_REUSEADDR", syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1))
	check("SO_RCVTIMEO", syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &syscall.Timeval{Sec: 20}))
	check("receive the TOS", syscall.SetsockoptInt(fd, level, recv, 1))
	if g.Addr().Is4() {
		check("bind", syscall.Bind(fd, &syscall.SockaddrInet4{Port: int(g.Port())}))
		check("join", syscall.SetsockoptIPMreqn(fd, level, syscall.IP_ADD_MEMBERSHIP,
			&syscall.IPMreqn{Multiaddr: g.Addr().As4(), Ifindex: int32(ifindex)}))
	} else {
		check("IPV6_V6ONLY", syscall.SetsockoptInt(fd, level, syscall.IPV6_V6ONLY, 1))
		check("bind", syscall.Bind(fd, &syscall.SockaddrInet6{Port: int(g.Port())}))
		check("join", syscall.SetsockoptIPv6Mreq(fd, level, syscall.IPV6_JOIN_GROUP,
			&syscall.IPv6Mreq{Multiaddr: g.Addr().As16(), Interface: uint32(ifindex)}))
	}
	return fd
}

// readTOS reads a datagram from fd and returns the TOS byte (traffic class)
// it arrived with.
func readTOS(t *testing.T, fd int, v4 bool) int {
	t.Helper()
	buf, oob := make([]byte, 65536), make([]byte, 256)
	_, oobn, _, _, err := syscall.Recvmsg(fd, buf, oob, 0)
	if err != nil {
		t.Fatalf("recvmsg: %v", err)
	}
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		switch {
		case v4 && m.Header.Level == syscall.IPPROTO_IP && m.Header.Type == syscall.IP_TOS && len(m.Data) >= 1:
			return int(m.Data[0])
		case !v4 && m.Header.Level == syscall.IPPROTO_IPV6 && m.Header.Type == syscall.IPV6_TCLASS && len(m.Data) >= 4:
			return int(int32(binary.NativeEndian.Uint32(m.Data)))
		}
	}
	t.Fatalf("no TOS among the control messages %+v", msgs)
	return -1
}
