package rerequest_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/marketdata/arbiter"
	"github.com/sharecast/sharecast/examples/marketdata/rerequest"
	"github.com/sharecast/sharecast/internal/moldudp64"
)

// FuzzAnswers sends a Client arbitrary datagrams, from the server or not,
// while it waits for answers to 10-25 and 40-41 of sess: it never panics,
// never takes a packet that is not from the server, of sess, and within
// what is still asked for, and never takes the same messages twice.
func FuzzAnswers(f *testing.F) {
	ans := func(seq uint64, n int) []byte {
		var ms [][]byte
		for range n {
			ms = append(ms, []byte("m"))
		}
		b, _ := moldudp64.AppendPacket(nil, sess, seq, ms...)
		return b
	}
	f.Add(ans(10, 4), true)
	f.Add(ans(12, 20), true)
	f.Add(moldudp64.AppendHeartbeat(nil, sess, 40), true)
	f.Add(ans(40, 2), false)
	server := netip.MustParseAddrPort("127.0.0.1:9")
	f.Fuzz(func(t *testing.T, b []byte, fromServer bool) {
		c, err := rerequest.New(&rerequest.Config{Server: server, MaxCount: 8, Local: netip.MustParseAddrPort("127.0.0.1:0"),
			Deliver: func(moldudp64.Packet, time.Time) {}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Want(arbiter.Request{Session: sess, First: 10, Last: 25})
		c.Want(arbiter.Request{Session: sess, First: 40, Last: 41})
		from := server
		if !fromServer {
			from = netip.MustParseAddrPort("127.0.0.1:10")
		}
		taken := map[uint64]bool{}
		for range 3 { // the same datagram thrice: taken once at most
			p, ok := c.Take(b, from, time.Now())
			if !ok {
				continue
			}
			if !fromServer || p.Session != sess || p.Len() == 0 {
				t.Fatalf("took %+v from %s", p, from)
			}
			first, last := p.Seq, p.NextSeq()-1
			if !(first >= 10 && last <= 25 && last-first < 8) && !(first >= 40 && last <= 41) {
				t.Fatalf("took %d-%d, not asked", first, last)
			}
			fresh := false
			for s := first; s <= last; s++ {
				fresh = fresh || !taken[s]
				taken[s] = true
			}
			if !fresh {
				t.Fatalf("took %d-%d again", first, last)
			}
		}
		st := c.Stats()
		if st.Runs != 2 || st.Pending > 3 {
			t.Fatalf("stats %+v", st)
		}
	})
}
