package rerequest_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/marketdata/arbiter"
	"github.com/sharecast/sharecast/examples/marketdata/feedgen"
	"github.com/sharecast/sharecast/examples/marketdata/rerequest"
	"github.com/sharecast/sharecast/examples/marketdata/rewind"
	"github.com/sharecast/sharecast/internal/moldudp64"
	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/mcast"
)

var sess = moldudp64.MustParseSession("TRAP")

// rewinder serves a Store holding messages 1-100 of sess, and returns its
// address.
func rewinder(t *testing.T) (*rewind.Server, netip.AddrPort) {
	t.Helper()
	st := rewind.NewStore(nil)
	for s := uint64(1); s <= 100; s++ {
		st.Add(sess, s, feedgen.AppendMessage(nil, s, 16))
	}
	srv, err := rewind.Listen("127.0.0.1:0", &rewind.ServerConfig{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return srv, srv.Addr()
}

// TestSharedPortTrap is issue 14's fourth criterion. Two receivers share
// the feed's port (two sockets, as two feed handlers on one host have).
// Each in turn sends a request from its socket on the shared port; the
// rewinder answers each to the address and port it came from, which is the
// same for both, so the kernel delivers both answers to one socket, the
// one it picks for that port: one receiver gets the other's answer, and
// the other gets none. Then each asks from a rerequest.Client, whose
// socket is its own: each gets its own answer, always.
func TestSharedPortTrap(t *testing.T) {
	testbed.Require(t)
	srv, addr := rewinder(t)
	const port = 5700
	var socks [2]*mcast.Conn
	for i := range socks {
		c, err := mcast.Listen(context.Background(), "udp4", ":5700", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		socks[i] = c
	}
	// Both ask from the shared port: first receiver 0 for message 10,
	// then receiver 1 for message 20.
	got := [2][]uint64{}
	for i, seq := range []uint64{10, 20} {
		req := moldudp64.AppendRequest(nil, moldudp64.Request{Session: sess, Seq: seq, Count: 1})
		if _, err := socks[i].UDPConn().WriteToUDPAddrPort(req, addr); err != nil {
			t.Fatal(err)
		}
		// Wait until the rewinder has answered, then see where the
		// answer went: each socket's queue, read without waiting.
		waitAnswers(t, srv, uint64(i+1))
	}
	// Collect the two answers wherever they are.
	deadline := time.Now().Add(10 * time.Second)
	for len(got[0])+len(got[1]) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("answers found: %v, %v; want 2", got[0], got[1])
		}
		for i, c := range socks {
			got[i] = append(got[i], drain(t, c.UDPConn())...)
		}
	}
	t.Logf("requests from the shared port %d: receiver 0 asked for 10, receiver 1 for 20; receiver 0 got %v, receiver 1 got %v",
		port, got[0], got[1])
	if len(got[0])+len(got[1]) != 2 {
		t.Fatalf("%d answers arrived, want 2", len(got[0])+len(got[1]))
	}
	// Both answers went to the same 4-tuple, so to the same socket: one
	// receiver got both, the other none.
	if len(got[0]) != 2 && len(got[1]) != 2 {
		t.Fatalf("the answers were split: %v, %v", got[0], got[1])
	}

	// The same with a socket of each receiver's own.
	var mu sync.Mutex
	own := [2][]uint64{}
	var clients [2]*rerequest.Client
	for i := range clients {
		c, err := rerequest.New(&rerequest.Config{Server: addr, Deliver: func(p moldudp64.Packet, _ time.Time) {
			mu.Lock()
			defer mu.Unlock()
			for seq, msg := range p.Messages() {
				if err := feedgen.CheckMessage(seq, msg); err != nil {
					t.Error(err)
				}
				own[i] = append(own[i], seq)
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		if c.LocalAddr().Port() == port {
			t.Fatalf("the request socket is on the shared port")
		}
		clients[i] = c
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	for round := range 5 {
		for i, c := range clients {
			seq := uint64(10*(i+1) + round)
			c.Want(arbiter.Request{Session: sess, First: seq, Last: seq})
		}
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n0, n1 := len(own[0]), len(own[1])
		mu.Unlock()
		if n0 == 5 && n1 == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("answers on the own sockets: %v, %v", own[0], own[1])
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("requests from sockets of their own: receiver 0 got %v, receiver 1 got %v", own[0], own[1])
	for i, c := range clients {
		for _, seq := range own[i] {
			if seq/10 != uint64(i+1) {
				t.Errorf("receiver %d got message %d, asked for by the other", i, seq)
			}
		}
		if st := c.Stats(); st.Filled != 5 || st.Foreign+st.Unasked+st.WrongSession != 0 {
			t.Errorf("client %d: %+v", i, st)
		}
	}
}

// waitAnswers waits until srv has answered n requests.
func waitAnswers(t *testing.T, srv *rewind.Server, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for srv.Stats().Answers < n {
		if time.Now().After(deadline) {
			t.Fatalf("the rewinder answered %d requests, want %d", srv.Stats().Answers, n)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// drain reads what c's queue holds now and returns the sequence numbers of
// the answers in it.
func drain(t *testing.T, c *net.UDPConn) []uint64 {
	t.Helper()
	var out []uint64
	b := make([]byte, 2048)
	for {
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		n, _, err := c.ReadFromUDPAddrPort(b)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		p, err := moldudp64.Decode(b[:n])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Seq)
	}
}
