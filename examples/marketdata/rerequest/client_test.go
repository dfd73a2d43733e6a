package rerequest_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/marketdata/arbiter"
	"github.com/sharecast/sharecast/examples/marketdata/feedgen"
	"github.com/sharecast/sharecast/examples/marketdata/rerequest"
	"github.com/sharecast/sharecast/internal/moldudp64"
	"github.com/sharecast/sharecast/internal/testbed"
)

// TestClient drives a Client against a fake server that ignores the first
// request (the client retries), then answers with forgeries before the
// real answer: a packet from another socket, one of another session, one
// for what was not asked, and a partial answer (the client asks for the
// rest at once). Only the real answers are delivered; each forgery is
// counted; requests never ask for more than MaxCount.
func TestClient(t *testing.T) {
	testbed.Require(t)
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	other, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	delivered := make(chan moldudp64.Packet, 10)
	c, err := rerequest.New(&rerequest.Config{
		Server: srv.LocalAddr().(*net.UDPAddr).AddrPort(), MaxCount: 4, RetryTimeout: 5 * time.Millisecond,
		Deliver: func(p moldudp64.Packet, _ time.Time) {
			delivered <- moldudp64.Packet{Session: p.Session, Seq: p.Seq, Count: p.Count, Payload: append([]byte(nil), p.Payload...)}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	c.Want(arbiter.Request{Session: sess, First: 10, Last: 15}) // two requests: 10-13, 14-15
	b := make([]byte, 100)
	read := func() (moldudp64.Request, *net.UDPAddr) {
		t.Helper()
		srv.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, from, err := srv.ReadFromUDP(b)
		if err != nil {
			t.Fatal(err)
		}
		r, err := moldudp64.DecodeRequest(b[:n])
		if err != nil {
			t.Fatal(err)
		}
		return r, from
	}
	answer := func(conn *net.UDPConn, to *net.UDPAddr, s moldudp64.Session, first, last uint64) {
		t.Helper()
		var ms [][]byte
		for seq := first; seq <= last; seq++ {
			ms = append(ms, feedgen.AppendMessage(nil, seq, 12))
		}
		p, err := moldudp64.AppendPacket(nil, s, first, ms...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.WriteToUDP(p, to); err != nil {
			t.Fatal(err)
		}
	}
	// The first two requests go unanswered; they come again.
	seen := map[moldudp64.Request]int{}
	var from *net.UDPAddr
	for len(seen) < 2 || seen[moldudp64.Request{Session: sess, Seq: 10, Count: 4}] < 2 {
		var r moldudp64.Request
		r, from = read()
		if r.Count > 4 {
			t.Fatalf("request %+v asks for more than 4", r)
		}
		seen[r]++
	}
	answer(other, from, sess, 10, 13)                              // not from the server
	answer(srv, from, moldudp64.MustParseSession("OTHER"), 10, 13) // another session
	answer(srv, from, sess, 12, 14)                                // straddles two requests: not asked
	answer(srv, from, sess, 10, 11)                                // partial
	answer(srv, from, sess, 14, 15)                                // whole
	for _, want := range []uint64{10, 14} {
		select {
		case p := <-delivered:
			if p.Seq != want {
				t.Fatalf("delivered an answer from %d, want %d", p.Seq, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no answer delivered")
		}
	}
	// The rest of 10-13 is asked for.
	for {
		r, from := read()
		if r.Seq == 12 && r.Count == 2 {
			answer(srv, from, sess, 12, 13)
			break
		}
	}
	select {
	case p := <-delivered:
		if p.Seq != 12 || p.Count != 2 {
			t.Fatalf("delivered %+v, want 12-13", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the rest was not delivered")
	}
	st := c.Stats()
	if st.Foreign != 1 || st.WrongSession != 1 || st.Unasked != 1 || st.Answers != 3 || st.Filled != 2 || st.Retries < 2 || st.Messages != 6 {
		t.Errorf("stats %+v", st)
	}
	// Once the arbiter has moved on, nothing is pending.
	c.Advance(16)
	if st := c.Stats(); st.Pending != 0 || st.Unanswered != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestWantBounded: a run far longer than MaxPending requests can hold is
// queued up to MaxPending, and the rest is counted, at once.
func TestWantBounded(t *testing.T) {
	c, err := rerequest.New(&rerequest.Config{Server: netip.MustParseAddrPort("127.0.0.1:9"), MaxCount: 10, MaxPending: 5,
		Local: netip.MustParseAddrPort("127.0.0.1:0"), Deliver: func(moldudp64.Packet, time.Time) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Want(arbiter.Request{Session: sess, First: 1, Last: 1 << 50})
	if st := c.Stats(); st.Pending != 5 || st.Dropped != (1<<50-50+9)/10 {
		t.Errorf("stats %+v", st)
	}
}

// TestPacing: with Rate 100 a second and Burst 2, ten requests due at
// once go out two at once, then one every 10ms; those unanswered for
// RetryTimeout go again (retries), oldest first, paced the same.
func TestPacing(t *testing.T) {
	testbed.Require(t)
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := rerequest.New(&rerequest.Config{Server: srv.LocalAddr().(*net.UDPAddr).AddrPort(), MaxCount: 1, Rate: 100, Burst: 2,
		RetryTimeout: time.Second, Deliver: func(moldudp64.Packet, time.Time) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Want(arbiter.Request{Session: sess, First: 1, Last: 10})
	t0 := time.Date(2024, 1, 2, 9, 30, 0, 0, time.UTC)
	check := func(at time.Duration, requests, retries uint64) {
		t.Helper()
		c.Pass(t0.Add(at))
		if st := c.Stats(); st.Requests != requests || st.Retries != retries {
			t.Fatalf("at %v: %d requests (%d retries), want %d (%d)", at, st.Requests, st.Retries, requests, retries)
		}
	}
	check(0, 2, 0)
	check(5*time.Millisecond, 2, 0)
	check(10*time.Millisecond, 3, 0)
	check(50*time.Millisecond, 5, 0) // the bucket holds 2 at most
	check(130*time.Millisecond, 7, 0)
	// A second on, the oldest requests, unanswered, are due again before
	// the ones never sent: requests go in sequence order, which is the
	// order the arbiter delivers in.
	check(time.Second+130*time.Millisecond, 9, 2)  // 1 and 2 again
	check(time.Second+140*time.Millisecond, 10, 3) // 3 again
	// The arbiter moves past them all: forgotten, each unanswered.
	c.Advance(11)
	if st := c.Stats(); st.Pending != 0 || st.Unanswered != 10 {
		t.Errorf("stats %+v", st)
	}
}
