package netns_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sharecast/sharecast/internal/netns"
	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/mcast"
)

const envChild = "SHARECAST_NETNS_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(envChild) != "" {
		os.Exit(child())
	}
	testbed.Main(m)
}

// child runs in the namespace that netns.Command made: lo is down and no
// group is routed until SetupLoopback, after which a datagram sent to a
// group without naming an interface comes back through lo.
func child() int {
	if err := netns.CheckIsolated(); err != nil {
		fmt.Println(err)
		return 3
	}
	lo, err := net.InterfaceByName("lo")
	if err != nil || lo.Flags&net.FlagUp != 0 {
		fmt.Println("lo is not down in a new namespace:", lo, err)
		return 3
	}
	if err := netns.SetupLoopback(); err != nil {
		fmt.Println(err)
		return 3
	}
	for _, g := range []string{"239.1.2.3:5000", "[ff15::1]:5000"} {
		if err := roundTrip(netip.MustParseAddrPort(g)); err != nil {
			fmt.Println(g, err)
			return 3
		}
	}
	fmt.Println("ok")
	return 0
}

func roundTrip(g netip.AddrPort) error {
	network := "udp4"
	if g.Addr().Is6() {
		network = "udp6"
	}
	c, err := mcast.Listen(context.Background(), network, fmt.Sprintf(":%d", g.Port()), nil)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.JoinGroup(nil, g.Addr()); err != nil {
		return err
	}
	s, err := net.DialUDP(network, nil, net.UDPAddrFromAddrPort(g))
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.Write([]byte("hello")); err != nil {
		return err
	}
	ds := mcast.NewBatch(1, 64)
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	n, err := c.ReadBatch(ds)
	if err != nil || n != 1 || string(ds[0].Payload) != "hello" || ds[0].Group != g.Addr() {
		return fmt.Errorf("read %d %q to %v: %v", n, ds[0].Payload, ds[0].Group, err)
	}
	return nil
}

func TestCommandMakesIsolatedNamespace(t *testing.T) {
	testbed.Require(t)
	cmd, err := netns.Command("-test.run=^$")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, &out, &out
	cmd.Env = append(cmd.Env, envChild+"=1")
	code, err := netns.ExitCode(cmd)
	if err != nil || code != 0 || strings.TrimSpace(out.String()) != "ok" {
		t.Fatalf("child: exit %d, %v, output %q", code, err, out.String())
	}
}

func TestCheckIsolatedInTestBed(t *testing.T) {
	testbed.Require(t)
	if err := netns.CheckIsolated(); err != nil {
		t.Fatalf("the test bed's namespace holds only lo, but: %v", err)
	}
}

func TestExitCodeOfSignal(t *testing.T) {
	testbed.Require(t)
	cmd, err := netns.Command("-test.run=^$")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Path = "/bin/sh"
	cmd.Args = []string{"sh", "-c", "kill -TERM $$"}
	code, err := netns.ExitCode(cmd)
	if err != nil || code != 128+15 {
		t.Fatalf("exit %d, %v; want 143", code, err)
	}
}
