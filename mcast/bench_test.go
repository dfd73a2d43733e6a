package mcast_test

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/mcast"
)

// BenchmarkRead measures the cost of receiving one 64-byte datagram, side
// by side: the standard library (net.ListenMulticastUDP and ReadFromUDP, one
// datagram a call), x/net's ReadFrom with control messages (what a careful
// hand-written receiver does), and mcast's batch path (recvmmsg, 64 a
// call). The queue is filled with the timer stopped, so each figure is the
// receive side alone.
func BenchmarkRead(b *testing.B) {
	testbed.Require(b)
	group := netip.MustParseAddrPort("239.1.2.3:5300")
	const chunk = 1000
	msg := make([]byte, 64)

	fill := func(b *testing.B, s *testbed.Sender) {
		b.StopTimer()
		for i := 0; i < chunk; i++ {
			if err := s.Send(msg); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
	run := func(b *testing.B, read func(b *testing.B) int) {
		s := testbed.NewSender(b, group, lo(b), netip.Addr{})
		b.ReportAllocs()
		b.SetBytes(int64(len(msg)))
		b.ResetTimer()
		for done := 0; done < b.N; {
			fill(b, s)
			for got := 0; got < chunk; {
				got += read(b)
			}
			done += chunk
		}
	}

	b.Run("stdlib-ReadFromUDP", func(b *testing.B) {
		c, err := net.ListenMulticastUDP("udp4", lo(b), net.UDPAddrFromAddrPort(group))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		c.SetReadBuffer(4 << 20)
		buf := make([]byte, 2048)
		run(b, func(b *testing.B) int {
			if _, _, err := c.ReadFromUDP(buf); err != nil {
				b.Fatal(err)
			}
			return 1
		})
	})
	b.Run("xnet-ReadFrom-cmsg", func(b *testing.B) {
		uc, err := net.ListenUDP("udp4", &net.UDPAddr{Port: int(group.Port())})
		if err != nil {
			b.Fatal(err)
		}
		defer uc.Close()
		uc.SetReadBuffer(4 << 20)
		p := ipv4.NewPacketConn(uc)
		if err := p.JoinGroup(lo(b), net.UDPAddrFromAddrPort(group)); err != nil {
			b.Fatal(err)
		}
		if err := p.SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true); err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, 2048)
		run(b, func(b *testing.B) int {
			if _, _, _, err := p.ReadFrom(buf); err != nil {
				b.Fatal(err)
			}
			return 1
		})
	})
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("mcast-ReadBatch-%d", batch), func(b *testing.B) {
			c := listen(b, "udp4", fmt.Sprintf(":%d", group.Port()), &mcast.Config{BatchSize: batch})
			if err := c.JoinGroup(lo(b), group.Addr()); err != nil {
				b.Fatal(err)
			}
			ds := mcast.NewBatch(batch, 2048)
			c.SetReadDeadline(time.Now().Add(time.Minute))
			run(b, func(b *testing.B) int {
				n, err := c.ReadBatch(ds)
				if err != nil {
					b.Fatal(err)
				}
				return n
			})
			if st := c.Stats(); st.KernelDrops != 0 {
				b.Fatalf("kernel drops %d: the chunk overflowed the buffer", st.KernelDrops)
			}
		})
	}
}
