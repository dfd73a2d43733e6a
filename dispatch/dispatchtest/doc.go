// Package dispatchtest helps to test dispatch handlers without sockets, as
// wireguard-go's bindtest does for its binds.
//
// # Sources
//
// [Source] is an in-memory dispatch.Source that stands in for an
// mcast.Conn; [Generator] makes datagrams with a function and allocates
// nothing, for benchmarks. A Source behaves as a socket does where it
// matters to a dispatch.Server: ReadBatch blocks until a datagram is there, honours the read deadline
// (os.ErrDeadlineExceeded), returns net.ErrClosed once closed and emptied,
// and, with a Backlog, drops what overflows it and counts that in
// Stats().KernelDrops, as the kernel does with a socket's receive buffer.
//
//	src := dispatchtest.NewSource(&dispatchtest.SourceConfig{LocalAddr: netip.MustParseAddrPort("0.0.0.0:5000")})
//	srv.AddSource("test", src)
//	go srv.Serve(ctx)
//	src.Send([]byte("hello"), netip.MustParseAddrPort("10.0.0.1:4000"), netip.MustParseAddr("239.1.2.3"))
//	src.Close() // Serve returns once everything sent is handled
//
// # Handlers
//
// [Recorder] is a dispatch.Handler that keeps a copy of every datagram it
// is given, and can wait for a number of them.
package dispatchtest
