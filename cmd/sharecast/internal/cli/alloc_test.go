package cli_test

import (
	"context"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/sharecast/sharecast/cmd/sharecast/internal/cli"
	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/internal/benchcpu"
	"github.com/sharecast/sharecast/internal/moldudp64"
	"github.com/sharecast/sharecast/internal/wire"
)

// datagrams returns n datagrams of a sharecast stream, or of a MoldUDP64
// session, as a handler sees them.
func datagrams(tb testing.TB, n int, mold bool) []dispatch.Datagram {
	tb.Helper()
	ds := make([]dispatch.Datagram, n)
	now := time.Now()
	for i := range ds {
		var p []byte
		if mold {
			var err error
			p, err = moldudp64.AppendPacket(nil, moldudp64.MustParseSession("S1"), uint64(1+3*i), []byte("abc"), []byte("de"), []byte("f"))
			if err != nil {
				tb.Fatal(err)
			}
		} else {
			p = make([]byte, 200)
			wire.Header{Stream: 9, Seq: uint64(i), SendTime: now.UnixNano()}.Put(p)
			wire.Fill(p[wire.HeaderLen:], uint64(i))
		}
		ds[i] = dispatch.Datagram{Payload: p, Source: netip.MustParseAddrPort("127.0.0.1:4000"), Group: netip.MustParseAddr("239.1.2.3"),
			Port: 5000, IfIndex: 1, Time: now.Add(time.Duration(i) * time.Microsecond), Socket: "udp4:5000"}
	}
	return ds
}

// The handlers of listen and stat allocate nothing per datagram once
// warm (the interface name is looked up once, a stream's state made once).
func TestHandlersDoNotAllocate(t *testing.T) {
	handlers := map[string]func() dispatch.Handler{
		"listen text":     func() dispatch.Handler { h, _ := cli.NewPrinter(io.Discard, "text", "base64"); return h },
		"listen json":     func() dispatch.Handler { h, _ := cli.NewPrinter(io.Discard, "json", "base64"); return h },
		"listen json hex": func() dispatch.Handler { h, _ := cli.NewPrinter(io.Discard, "json", "hex"); return h },
		"listen raw":      func() dispatch.Handler { h, _ := cli.NewPrinter(io.Discard, "raw", "base64"); return h },
		"stat":            func() dispatch.Handler { return cli.NewStatHandler("auto") },
	}
	for name, mk := range handlers {
		for _, mold := range []bool{false, true} {
			if mold && name != "stat" && name != "listen json" {
				continue
			}
			h := mk()
			ds := datagrams(t, 1300, mold)
			for i := range ds[:200] {
				h.ServeDatagram(context.Background(), &ds[i])
			}
			i := 200
			allocs := testing.AllocsPerRun(1000, func() {
				h.ServeDatagram(context.Background(), &ds[i])
				i++
			})
			if allocs != 0 {
				t.Errorf("%s (MoldUDP64 %v): %v allocations per datagram", name, mold, allocs)
			}
		}
	}
}

func BenchmarkHandlers(b *testing.B) {
	for _, c := range []struct {
		name string
		h    func() dispatch.Handler
	}{
		{"listen-json", func() dispatch.Handler { h, _ := cli.NewPrinter(io.Discard, "json", "base64"); return h }},
		{"listen-text", func() dispatch.Handler { h, _ := cli.NewPrinter(io.Discard, "text", "base64"); return h }},
		{"stat", func() dispatch.Handler { return cli.NewStatHandler("auto") }},
	} {
		b.Run(c.name, func(b *testing.B) {
			h := c.h()
			ds := datagrams(b, 4096, false)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				h.ServeDatagram(context.Background(), &ds[i%len(ds)])
				i++
			}
		})
	}
}

// BenchmarkStatAttack puts what issue 17's findings 1 and 2 make stat's
// handler do beside its ordinary case ("normal": one stream, in order),
// per datagram of 200 bytes: a stream whose numbers jump by 65,535 (a gap
// within stat's window of 2^16 each time), past the window, or by 2^62+1
// (a reset each); and a new stream id, or a new source port, each
// datagram once stat's streams of the group (cli.DefaultMaxStreams) are
// known (an eviction each).
// bench/RESULTS.md records the factors.
func BenchmarkStatAttack(b *testing.B) {
	for _, c := range []struct {
		name   string
		step   uint64 // sequence number i is i*step
		stream bool   // a new stream id each datagram
		port   bool   // a new source port each datagram
	}{
		{"normal", 1, false, false},
		{"jump-65535", 65_535, false, false},
		{"jump-past-window", 1 << 17, false, false},
		{"jump-2^62", 1<<62 + 1, false, false},
		{"new-stream-each", 1, true, false},
		{"new-port-each", 1, false, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			h := cli.NewStatHandler("auto")
			d := datagrams(b, 1, false)[0]
			put := func(i uint64) {
				hd := wire.Header{Stream: 9, Seq: i * c.step, SendTime: d.Time.UnixNano()}
				if c.stream {
					hd.Stream = i
				}
				if c.port {
					d.Source = netip.AddrPortFrom(d.Source.Addr(), uint16(i))
				}
				hd.Put(d.Payload)
				h.ServeDatagram(context.Background(), &d)
			}
			i := uint64(0)
			for ; i < 8192; i++ { // the streams known, and evicted, already
				put(i)
			}
			b.ReportAllocs()
			stop := benchcpu.Start(b)
			for b.Loop() {
				put(i)
				i++
			}
			stop()
		})
	}
}
