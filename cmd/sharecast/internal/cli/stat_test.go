package cli_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/sharecast/sharecast/cmd/sharecast/internal/cli"
	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/internal/moldudp64"
	"github.com/sharecast/sharecast/internal/wire"
)

func TestClassify(t *testing.T) {
	sc := make([]byte, 64)
	wire.Header{Stream: 0x0102030405060708, Seq: 77, SendTime: 5}.Put(sc)
	sess := moldudp64.MustParseSession("SESSION1")
	mold, err := moldudp64.AppendPacket(nil, sess, 1000, []byte("a"), []byte("bc"), []byte("d"))
	if err != nil {
		t.Fatal(err)
	}
	hb := moldudp64.AppendHeartbeat(nil, sess, 1003)
	cases := []struct {
		name, mode string
		p          []byte
		kind       string
		first, n   uint64
	}{
		{"sharecast", "auto", sc, "sharecast", 77, 1},
		{"mold", "auto", mold, "moldudp64", 1000, 3},
		{"heartbeat", "auto", hb, "moldudp64", 1003, 0},
		{"text", "auto", []byte("hello, world"), "none", 0, 0},
		{"sharecast as mold only", "moldudp64", sc, "none", 0, 0},
		{"mold as sharecast only", "sharecast", mold, "none", 0, 0},
	}
	for _, c := range cases {
		si := cli.Classify(c.p, c.mode)
		first, n := si.Range()
		if si.Kind() != c.kind || first != c.first || n != c.n {
			t.Errorf("%s: %s %d+%d, want %s %d+%d", c.name, si.Kind(), first, n, c.kind, c.first, c.n)
		}
	}
}

// stat's handler tracks each stream apart: by source, group and port, and
// by sharecast stream id or MoldUDP64 session; MoldUDP64 numbers are
// messages, and a heartbeat past a lost tail reveals the loss.
func TestStatStreams(t *testing.T) {
	h := cli.NewStatHandler("auto")
	src := netip.MustParseAddrPort("10.0.0.1:4000")
	g := netip.MustParseAddr("239.1.2.3")
	mold := func(session string, seq uint64, n int) []byte {
		p, err := moldudp64.AppendPacket(nil, moldudp64.MustParseSession(session), seq, make([][]byte, n)...)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	sharecast := func(stream, seq uint64) []byte {
		p := make([]byte, wire.HeaderLen)
		wire.Header{Stream: stream, Seq: seq, SendTime: time.Now().UnixNano()}.Put(p)
		return p
	}
	for _, p := range [][]byte{
		mold("A", 1, 3), mold("B", 1, 2), mold("A", 4, 2), // A: 1-5, B: 1-2
		moldudp64.AppendHeartbeat(nil, moldudp64.MustParseSession("A"), 9), // A: 6-8 lost
		mold("A", 6, 2), mold("A", 4, 1), // A: 6-7 late, 4 again
		sharecast(7, 0), sharecast(7, 2), sharecast(8, 0), sharecast(7, 2), // 7: 1 lost, 2 again; 8 alone
		[]byte("no number here"),
	} {
		h.ServeDatagram(context.Background(), &dispatch.Datagram{Payload: p, Source: src, Group: g, Port: 5000, Time: time.Now()})
	}
	gs, ss := cli.StatSnapshot(h)
	if len(gs) != 1 {
		t.Fatalf("groups %+v", gs)
	}
	gl := gs[0]
	if gl.Group != "239.1.2.3:5000" || gl.Streams != 4 || gl.Datagrams != 11 || gl.Unsequenced != 1 ||
		gl.Numbers != 12 || gl.Lost != 2 || gl.Gaps != 2 || gl.Reordered != 1 || gl.Duplicates != 2 || gl.Latency.Count != 4 {
		t.Errorf("group %+v", gl)
	}
	type line struct {
		kind, id                   string
		datagrams, next            uint64
		numbers, lost, gaps, reord uint64
		dup                        uint64
	}
	want := []line{
		{"sharecast", "0000000000000007", 3, 3, 2, 1, 1, 0, 1},
		{"sharecast", "0000000000000008", 1, 1, 1, 0, 0, 0, 0},
		{"moldudp64", "A", 5, 9, 7, 1, 1, 1, 1},
		{"moldudp64", "B", 1, 3, 2, 0, 0, 0, 0},
	}
	if len(ss) != len(want) {
		t.Fatalf("streams %+v", ss)
	}
	for i, s := range ss {
		got := line{s.Kind, s.ID, s.Datagrams, s.Next, s.Numbers, s.Lost, s.Gaps, s.Reordered, s.Duplicates}
		if got != want[i] || s.Source != src.String() || s.Group != "239.1.2.3:5000" {
			t.Errorf("stream %d: %+v, want %+v", i, got, want[i])
		}
	}
}

// A flood of new streams (a new source port each) evicts the idle ones,
// but a group's figures never go down: an evicted stream's stay in its
// group's, and the report stays bounded.
func TestStatEvictionKeepsGroupFigures(t *testing.T) {
	h := cli.NewStatHandler("auto")
	g := netip.MustParseAddr("239.1.2.3")
	send := func(port uint16, stream, seq uint64) {
		p := make([]byte, 40)
		wire.Header{Stream: stream, Seq: seq, SendTime: 1}.Put(p)
		h.ServeDatagram(context.Background(), &dispatch.Datagram{Payload: p, Time: time.Unix(1, 0),
			Source: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), port), Group: g, Port: 5000})
	}
	// A real stream that lost 5 numbers, then 5,000 one-datagram streams.
	for _, seq := range []uint64{0, 1, 7, 8} {
		send(1, 1, seq)
	}
	for i := range uint64(5000) {
		send(uint16(2+i), 100+i, 0)
	}
	gs, ss := cli.StatSnapshot(h)
	if len(gs) != 1 || gs[0].Lost != 5 || gs[0].Gaps != 1 || gs[0].Datagrams != 5004 || gs[0].StreamsEvicted == 0 {
		t.Errorf("group line %+v: want the real stream's 5 lost and 1 gap kept after evictions", gs)
	}
	if len(ss) > 100 {
		t.Errorf("%d stream lines", len(ss))
	}
	if n := cli.StatTransits(h); n != cli.DefaultMaxStreams {
		t.Errorf("the jitter keeps %d streams' transit times, want the tracker's %d", n, cli.DefaultMaxStreams)
	}
}

// stat's jitter is RFC 3550's (section 6.4.1): J += (|D| - J)/16, where D
// is the change in transit time (receive - send) from a stream's datagram
// before; on times the test sets, the figure is exact. Two streams whose
// senders' clocks differ by a second interleave, and that second is no
// part of it: D is reckoned within a stream, as RFC 3550 does per source,
// and the group's figure smooths the D of each of its streams.
func TestStatJitterRFC3550(t *testing.T) {
	h := cli.NewStatHandler("auto")
	g := netip.MustParseAddr("239.1.2.3")
	base := time.Unix(1_700_000_000, 0)
	send := func(src string, stream, seq uint64, sent, transit time.Duration) {
		p := make([]byte, 40)
		wire.Header{Stream: stream, Seq: seq, SendTime: base.Add(sent).UnixNano()}.Put(p)
		h.ServeDatagram(context.Background(), &dispatch.Datagram{Payload: p, Time: base.Add(sent + transit),
			Source: netip.MustParseAddrPort(src), Group: g, Port: 5000})
	}
	// Transit times of one stream, in µs, and the jitter RFC 3550 gives.
	transits := []time.Duration{100, 300, 200, 200, 1200, 100}
	var want float64
	for i, tr := range transits {
		// The second sender's clock is a second behind: its transit
		// times are a second longer, and steady.
		send("10.0.0.1:4000", 1, uint64(i), time.Duration(i)*time.Millisecond, tr*time.Microsecond)
		send("10.0.0.2:4000", 2, uint64(i), time.Duration(i)*time.Millisecond, time.Second+50*time.Microsecond)
		if i > 0 {
			d := float64(tr - transits[i-1])
			if d < 0 {
				d = -d
			}
			want += (d - want) / 16 // the first stream's D
			want += (0 - want) / 16 // the second's, steady
		}
	}
	gs, _ := cli.StatSnapshot(h)
	if len(gs) != 1 {
		t.Fatalf("groups %+v", gs)
	}
	// The figure is in µs, to a tenth.
	if got, w := gs[0].JitterUS, float64(int64(want*10+0.5))/10; got != w {
		t.Errorf("jitter %g µs, want %g", got, w)
	}
}
