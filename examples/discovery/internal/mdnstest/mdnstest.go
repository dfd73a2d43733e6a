// Package mdnstest sends mDNS responses for the tests of the discovery
// example, the way responders send them: from port 5353 (RFC 6762 section
// 6; the agent drops responses from any other port). It builds the floods
// of issue 17's finding 4 too.
package mdnstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/sharecast/sharecast/internal/testbed"
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

// SendAll packs and sends the messages, waiting before each until the
// sockets on port 5353 have drained (testbed.Pace), so that the kernel
// drops none.
func (r *Responder) SendAll(t testing.TB, ms ...*dns.Msg) {
	t.Helper()
	for _, m := range ms {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		if err := testbed.Pace(Port, 256<<10, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := r.Send(b); err != nil {
			t.Fatal(err)
		}
	}
}

// HugeTTL is the largest TTL, 136 years.
const HugeTTL = 1<<32 - 1

// PTRFlood returns responses that announce n services of type
// _flood._tcp (instances f<first>..), per records a packet, with ttl and
// nothing but the PTR record. 400 records make 8.4 KB, within the
// 9,000 bytes of an mDNS packet (RFC 6762 section 17).
func PTRFlood(first, n, per int, ttl uint32) []*dns.Msg {
	var ms []*dns.Msg
	for i := first; i < first+n; i += per {
		m := new(dns.Msg)
		m.Response, m.Compress = true, true
		for j := i; j < min(i+per, first+n); j++ {
			m.Answer = append(m.Answer, &dns.PTR{Hdr: dns.RR_Header{Name: "_flood._tcp.local.", Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: ttl},
				Ptr: fmt.Sprintf("f%d._flood._tcp.local.", j)})
		}
		ms = append(ms, m)
	}
	return ms
}

// AddrFlood returns responses with n A records, per records a packet: one
// host name per record (h<first>.local.) when oneHost is empty (orphans:
// no SRV names them), or all for oneHost. 300 records for as many hosts
// make 6.9 KB, 400 for one host 6.4 KB.
func AddrFlood(first, n, per int, oneHost string, ttl uint32) []*dns.Msg {
	var ms []*dns.Msg
	for i := first; i < first+n; i += per {
		m := new(dns.Msg)
		m.Response, m.Compress = true, true
		for j := i; j < min(i+per, first+n); j++ {
			host := oneHost
			if host == "" {
				host = fmt.Sprintf("h%d.local.", j)
			}
			ip := net.IPv4(10, byte(j>>16), byte(j>>8), byte(j))
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: host, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: ip})
		}
		ms = append(ms, m)
	}
	return ms
}
