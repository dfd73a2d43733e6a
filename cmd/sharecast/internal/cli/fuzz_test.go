package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/sharecast/sharecast/cmd/sharecast/internal/cli"
	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/internal/moldudp64"
	"github.com/sharecast/sharecast/internal/wire"
)

// fuzzSeeds are payloads of each kind that listen and stat tell apart.
func fuzzSeeds(f *testing.F) {
	sc := make([]byte, 64)
	wire.Header{Stream: 7, Seq: 1 << 63, SendTime: 1}.Put(sc)
	mold, _ := moldudp64.AppendPacket(nil, moldudp64.Session{'\x1b', '"', '\\'}, ^uint64(0)-1, []byte("ab"), nil)
	for _, p := range [][]byte{sc, mold, moldudp64.AppendHeartbeat(nil, moldudp64.Session{}, 5), []byte("hello"), {0xff, 0, 0x1b}, nil} {
		f.Add(p)
	}
}

// Whatever a datagram holds, listen writes one line of text for it, and
// one line of valid JSON, each of a size bounded by the payload's: no
// payload makes a description grow past a fixed part and a few bytes per
// payload byte (hex and quoting at most 4).
func FuzzListenOutput(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, p []byte) {
		d := &dispatch.Datagram{Payload: p, Time: time.Unix(1, 0), Source: netip.MustParseAddrPort("127.0.0.1:9"),
			Group: netip.MustParseAddr("239.1.2.3"), Port: 5000}
		var text, js bytes.Buffer
		th, tflush := cli.NewPrinter(&text, "text", "base64")
		jh, jflush := cli.NewPrinter(&js, "json", "hex")
		th.ServeDatagram(context.Background(), d)
		jh.ServeDatagram(context.Background(), d)
		tflush()
		jflush()
		if n := bytes.Count(text.Bytes(), []byte("\n")); n != 1 || bytes.ContainsAny(text.Bytes(), "\x1b\r") {
			t.Fatalf("text output for %x is not one clean line: %q", p, text.String())
		}
		line := bytes.TrimSuffix(js.Bytes(), []byte("\n"))
		if bytes.Contains(line, []byte("\n")) || !json.Valid(line) {
			t.Fatalf("JSON output for %x is not one valid line: %q", p, js.String())
		}
		if limit := 512 + 4*len(p); text.Len() > limit || js.Len() > limit {
			t.Fatalf("%d bytes of payload described in %d bytes of text and %d of JSON, over %d", len(p), text.Len(), js.Len(), limit)
		}
	})
}

// stat takes any datagrams from any sources: its report lists at most 100
// streams, and every group it lists is one that datagrams were sent to;
// every datagram is counted once in its group, and no datagram's numbers
// add more than stat's window to a group's lost, whatever they are (a
// jump past the window is a reset).
func FuzzStatHandler(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, p []byte) {
		h := cli.NewStatHandler("auto")
		// The input, cut in pieces, is many datagrams from many ports.
		n := 0
		for i := 0; len(p) > 0 && i < 4096; i++ {
			k := min(len(p), 1+int(p[0])%64)
			d := &dispatch.Datagram{Payload: p[:k], Time: time.Unix(2, 0), Source: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(i)),
				Group: netip.MustParseAddr("239.1.2.3"), Port: uint16(5000 + i%2)}
			h.ServeDatagram(context.Background(), d)
			p = p[k:]
			n++
		}
		gs, ss := cli.StatSnapshot(h)
		if len(ss) > 100 {
			t.Fatalf("%d stream lines, want at most 100", len(ss))
		}
		if len(gs) > 2 {
			t.Fatalf("%d groups from datagrams to 2", len(gs))
		}
		var sum uint64
		for _, g := range gs {
			sum += g.Datagrams
			if g.Unsequenced > g.Datagrams || g.Lost > (g.Datagrams-g.Unsequenced)*cli.SeqWindow {
				t.Fatalf("group %s: %d lost of %d datagrams (%d unsequenced), over the window %d a datagram", g.Group, g.Lost, g.Datagrams, g.Unsequenced, cli.SeqWindow)
			}
		}
		if sum != uint64(n) {
			t.Fatalf("%d datagrams counted in groups, %d sent", sum, n)
		}
	})
}
