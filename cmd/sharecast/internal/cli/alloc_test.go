package cli_test

import (
	"context"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/sharecast/sharecast/cmd/sharecast/internal/cli"
	"github.com/sharecast/sharecast/dispatch"
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
