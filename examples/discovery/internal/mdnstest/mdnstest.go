// Package mdnstest sends mDNS responses for the tests of the discovery
// example, the way responders send them: from port 5353 (RFC 6762 section
// 6; the agent drops responses from any other port).
package mdnstest

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/sharecast/sharecast/mcast"
)

// Port is the mDNS port.
const Port = 5353

// Responder sends datagrams to an mDNS group from port 5353, out of the
// loopback interface, with loopback on, as a responder on the host would.
// Its socket shares port 5353 with the agent's (package mcast's Listen)
// and joins no group, so it receives none of the group's traffic.
type Responder struct {
	uc  *net.UDPConn
	dst *net.UDPAddr
}

// NewResponder opens a Responder to group (224.0.0.251 or ff02::fb) on
// the loopback interface of the calling thread's network namespace; it is
// closed when the test ends. Call it only inside the test bed.
func NewResponder(t testing.TB, group netip.Addr) *Responder {
	t.Helper()
	network := "udp4"
	if group.Is6() {
		network = "udp6"
	}
	c, err := mcast.Listen(context.Background(), network, ":5353", &mcast.Config{ReadBuffer: -1})
	if err != nil {
		t.Fatalf("mdnstest: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	lo, err := mcast.LoopbackInterface()
	if err != nil {
		t.Fatalf("mdnstest: %v", err)
	}
	uc := c.UDPConn()
	dst := &net.UDPAddr{IP: group.AsSlice(), Port: Port}
	if group.Is6() {
		p := ipv6.NewPacketConn(uc)
		err = errors.Join(p.SetMulticastInterface(lo), p.SetMulticastHopLimit(1), p.SetMulticastLoopback(true))
		dst.Zone = lo.Name
	} else {
		p := ipv4.NewPacketConn(uc)
		err = errors.Join(p.SetMulticastInterface(lo), p.SetMulticastTTL(1), p.SetMulticastLoopback(true))
	}
	if err != nil {
		t.Fatalf("mdnstest: sender options: %v", err)
	}
	return &Responder{uc: uc, dst: dst}
}

// Send sends b as one datagram.
func (r *Responder) Send(b []byte) error {
	_, err := r.uc.WriteToUDP(b, r.dst)
	return err
}
