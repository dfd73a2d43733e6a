package feedhandler_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/marketdata/arbiter"
	"github.com/sharecast/sharecast/examples/marketdata/feedgen"
	"github.com/sharecast/sharecast/examples/marketdata/feedhandler"
	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/internal/moldudp64"
	"github.com/sharecast/sharecast/internal/testbed"
)

// TestForgedJump is issue 17's finding 5 over real sockets: a feed of
// 1,100 messages on lines A and B (one port, so one socket, which keeps
// the order they were sent in); after the first 100, an attacker's socket
// sends line A one packet of the live session with sequence number 2^62,
// and, after each of the next 1,000, a forged heartbeat as far ahead to
// either line. The feed handler delivers all 1,100 real messages, in order
// and byte for byte, none late or missing, and refuses every forged jump,
// counting it.
func TestForgedJump(t *testing.T) {
	testbed.Require(t)
	specA, specB := group.MustParseSpec("239.1.1.7:5400"), group.MustParseSpec("239.1.1.8:5400")
	c := newChecker(1)
	cfg := &feedhandler.Config{
		A: specA, B: specB,
		Arbiter: arbiter.Config{GapTimeout: 50 * time.Millisecond, LineTimeout: time.Minute, StartSeq: 1},
	}
	c.hook(cfg)
	h, err := feedhandler.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, h)
	lines := [2]*testbed.Sender{
		testbed.NewSender(t, specA.AddrPort(), nil, netip.Addr{}),
		testbed.NewSender(t, specB.AddrPort(), nil, netip.Addr{}),
	}
	attacker := [2]*testbed.Sender{
		testbed.NewSender(t, specA.AddrPort(), nil, netip.Addr{}),
		testbed.NewSender(t, specB.AddrPort(), nil, netip.Addr{}),
	}
	sess := moldudp64.MustParseSession("20240102A")
	var buf, msg []byte
	send := func(s *testbed.Sender, p []byte) {
		t.Helper()
		if err := s.Send(p); err != nil {
			t.Fatal(err)
		}
	}
	const n = 1100
	var forged uint64
	for seq := uint64(1); seq <= n; seq++ {
		msg = feedgen.AppendMessage(msg[:0], seq, 16+int(seq%32))
		if buf, err = moldudp64.AppendPacket(buf[:0], sess, seq, msg); err != nil {
			t.Fatal(err)
		}
		send(lines[0], buf)
		send(lines[1], buf)
		switch {
		case seq == 100:
			buf, _ = moldudp64.AppendPacket(buf[:0], sess, 1<<62, []byte("forged"))
			send(attacker[0], buf)
			forged++
		case seq > 100:
			buf = moldudp64.AppendHeartbeat(buf[:0], sess, 1<<62+seq<<32)
			send(attacker[seq%2], buf)
			forged++
		}
		if seq%256 == 0 {
			if err := testbed.Pace(specA.Port, 256<<10, 10*time.Second); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The end of the session, on both lines, settles the last forged
	// heartbeat and ends the test.
	buf = moldudp64.AppendEndOfSession(buf[:0], sess, n+1)
	send(lines[0], buf)
	send(lines[1], buf)
	end := c.waitEnd(t, 30*time.Second)
	if err := stop(); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	c.check(t)
	st := h.Stats()
	f := st.Feed
	t.Logf("delivered %d, gaps %d, missing %d; jumps A %d, B %d, refused %d, confirmed %d; kernel drops %d",
		f.Delivered, f.Gaps, f.Missing, f.Lines[0].Jumps, f.Lines[1].Jumps, f.JumpsRefused, f.JumpsConfirmed, st.KernelDrops)
	if st.KernelDrops != 0 {
		t.Fatalf("the kernel dropped %d datagrams: the counts below cannot be exact", st.KernelDrops)
	}
	if end.Seq != n+1 || c.next != n+1 || c.delivered != n || f.Delivered != n || f.Gaps != 0 || f.Missing != 0 {
		t.Errorf("ended at %d, covered up to %d: delivered %d (arbiter %d), gaps %d, missing %d; want all %d delivered",
			end.Seq, c.next-1, c.delivered, f.Delivered, f.Gaps, f.Missing, n)
	}
	for i, l := range f.Lines {
		if l.Late != 0 || l.Messages != l.First+l.Duplicates+l.Unconfirmed {
			t.Errorf("line %s: %+v", arbiter.Line(i), l)
		}
	}
	if jumps := f.Lines[0].Jumps + f.Lines[1].Jumps; jumps != forged || f.JumpsRefused != forged || f.JumpsConfirmed != 0 ||
		f.JumpPending || f.Lines[0].Unconfirmed != 1 {
		t.Errorf("%d jumps held, %d refused, %d confirmed (pending %v), %d unconfirmed on A; want %d, %d, 0, 1",
			jumps, f.JumpsRefused, f.JumpsConfirmed, f.JumpPending, f.Lines[0].Unconfirmed, forged, forged)
	}
}
