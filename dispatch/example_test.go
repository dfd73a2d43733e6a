package dispatch_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/rs/zerolog"
	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/dispatch/dispatchtest"
	"github.com/sharecast/sharecast/mcast"
)

// A server on a real socket: one handler per group, a fallback, and a
// graceful shutdown on a signal's context. (Not run: it would need a
// network.)
func Example() {
	ctx := context.Background() // in a program: signal.NotifyContext(...)
	conn, err := mcast.Listen(ctx, "udp4", ":5000", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	ifi, _ := net.InterfaceByName("eth0")
	for _, g := range []string{"239.1.2.3", "239.1.2.4"} {
		if err := conn.JoinGroup(ifi, netip.MustParseAddr(g)); err != nil {
			fmt.Println(err)
			return
		}
	}

	var mux dispatch.Mux
	_ = mux.HandleFunc(dispatch.Pattern{Group: netip.MustParseAddr("239.1.2.3")},
		func(ctx context.Context, d *dispatch.Datagram) { /* decode d.Payload */ }, nil)
	_ = mux.HandleFunc(dispatch.Pattern{Group: netip.MustParseAddr("239.1.2.4")},
		func(ctx context.Context, d *dispatch.Datagram) { /* ... */ },
		&dispatch.HandlerConfig{QueueLen: 4096, Overflow: dispatch.DropOldest})
	_ = mux.Fallback(dispatch.Logging(&dispatch.LogConfig{Logger: zerolog.New(os.Stderr)})(
		dispatch.HandlerFunc(func(context.Context, *dispatch.Datagram) {})), nil)

	srv, _ := dispatch.NewServer(&mux, &dispatch.Config{Logger: zerolog.New(os.Stderr)})
	_ = srv.AddSource("feed", conn)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			fmt.Println(err) // says how many queued datagrams were dropped
		}
	}()
	if err := srv.Serve(context.Background()); err != nil {
		fmt.Println(err)
	}
}

// Testing a handler without sockets: an in-memory source from
// dispatchtest, closed when the test has sent everything, so that Serve
// returns once every datagram is handled.
func Example_test() {
	var mux dispatch.Mux
	var total int
	_ = mux.HandleFunc(dispatch.Pattern{Group: netip.MustParseAddr("239.1.2.3")},
		func(_ context.Context, d *dispatch.Datagram) { total += len(d.Payload) }, nil)
	srv, _ := dispatch.NewServer(&mux, nil)
	src := dispatchtest.NewSource(&dispatchtest.SourceConfig{LocalAddr: netip.MustParseAddrPort("0.0.0.0:5000")})
	_ = srv.AddSource("test", src)

	from := netip.MustParseAddrPort("10.0.0.1:4000")
	src.Send([]byte("hello"), from, netip.MustParseAddr("239.1.2.3"))
	src.Send([]byte("world!"), from, netip.MustParseAddr("239.1.2.3"))
	src.Send([]byte("other group"), from, netip.MustParseAddr("239.9.9.9"))
	src.Close()
	if err := srv.Serve(context.Background()); err != nil {
		fmt.Println(err)
	}
	st := srv.Stats()
	fmt.Println("bytes handled:", total)
	fmt.Println("unmatched:", st.Unmatched)
	// Output:
	// bytes handled: 11
	// unmatched: 1
}

// Middleware: a sequence tracker in front of a handler, fed by the
// sender's 32-bit sequence numbers at the start of each payload.
func ExampleSequenceTracker() {
	tr, _ := dispatch.NewSequenceTracker(&dispatch.SequenceConfig{
		Bits: 32,
		Extract: func(d *dispatch.Datagram) (uint64, bool) {
			if len(d.Payload) < 4 {
				return 0, false
			}
			return uint64(binary.BigEndian.Uint32(d.Payload)), true
		},
	})
	h := dispatch.Chain(dispatch.HandlerFunc(func(context.Context, *dispatch.Datagram) {}), tr.Middleware)
	for _, n := range []uint32{1, 2, 4, 3, 3, 7} {
		h.ServeDatagram(context.Background(), &dispatch.Datagram{Payload: binary.BigEndian.AppendUint32(nil, n)})
	}
	st := tr.Stats()
	fmt.Printf("gaps %d, missing %d, late %d, duplicates %d\n", st.Gaps, st.Missing, st.Late, st.Duplicates)
	// Output:
	// gaps 2, missing 2, late 1, duplicates 1
}

// Stats in a table, as the CLI prints them.
func ExampleStats_WriteText() {
	var mux dispatch.Mux
	_ = mux.HandleFunc(dispatch.Pattern{}, func(context.Context, *dispatch.Datagram) {}, &dispatch.HandlerConfig{Name: "all"})
	srv, _ := dispatch.NewServer(&mux, nil)
	src := dispatchtest.NewSource(&dispatchtest.SourceConfig{LocalAddr: netip.MustParseAddrPort("0.0.0.0:5000")})
	_ = srv.AddSource("feed", src)
	src.Send(make([]byte, 100), netip.MustParseAddrPort("10.0.0.1:4000"), netip.MustParseAddr("239.1.2.3"))
	src.Close()
	_ = srv.Serve(context.Background())
	st := srv.Stats()
	// These vary from run to run.
	st.Handlers[0].HandlerTime, st.Buffers, st.BuffersFree = 0, 128, 128
	_ = st.WriteText(os.Stdout)
	// Output:
	// socket         local  datagrams  bytes  read errors  kernel drops  truncated  filtered
	// feed    0.0.0.0:5000          1    100            0             0          0         0
	//
	// group      port  datagrams  bytes  unmatched
	// 239.1.2.3  5000          1    100          0
	//
	// handler     overflow  received  delivered  queue full  evicted  panic  shutdown  queued  high water  time
	// all      drop-newest         1          1           0        0      0         0       0           1    0s
	//
	// unmatched 0, buffers 128 (128 free)
}
