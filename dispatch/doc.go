// Package dispatch fans the datagrams read from shared multicast sockets
// out to handlers, each behind its own bounded queue, so that a slow or
// failing handler costs only itself.
//
// # Handlers and the mux
//
// dispatch has the shape of net/http and miekg/dns: a [Handler] (and
// [HandlerFunc]) serves one [Datagram] at a time; [Middleware] wraps a
// Handler in another; a [Mux] routes by [Pattern] — destination group, and
// optionally destination port and source address. Unlike an HTTP mux, a
// Mux fans out: every handler whose pattern matches a datagram receives it.
// A datagram that nothing matches goes to the fallback handler
// ([Mux.Fallback]) and is counted as unmatched, with or without one.
//
//	var mux dispatch.Mux
//	mux.Handle(dispatch.Pattern{Group: g}, book, nil)
//	mux.Handle(dispatch.Pattern{Group: g}, recorder, &dispatch.HandlerConfig{QueueLen: 1 << 16, Overflow: dispatch.Block})
//	srv, _ := dispatch.NewServer(&mux, nil)
//	srv.AddSource("feed-a", conn) // an *mcast.Conn that joined g
//	err := srv.Serve(ctx)
//
// The Mux is pure routing: it holds the patterns, the handlers and their
// [HandlerConfig]s, and publishes them as an immutable snapshot that the
// Server's readers pick up once per batch. The queues, workers and counters
// are the Server's, so one Mux may serve several Servers at once (one per
// set of sockets, say), each with queues and [Stats] of its own; a handler
// shared that way is called from all of them and must be safe for
// concurrent use.
//
// # Isolation
//
// The [Server] reads each [Source] (an *mcast.Conn, or the in-memory one of
// package dispatchtest) in its own goroutine, a batch at a time, and pushes
// each datagram onto the queue of every handler it matches. Each handler has
// its own bounded queue and worker goroutine(s) ([HandlerConfig]), so a slow
// handler never holds up the socket or the other handlers. When its queue
// is full, its [Overflow] policy decides: drop the newest datagram, drop
// the oldest, or block — make the reader wait, so that the socket's
// receive buffer fills and the kernel drops, and counts, what overflows it
// (mcast.Stats.KernelDrops). Every datagram a handler misses is counted, per
// handler and per cause ([Drops]): for each handler, once the Server has
// stopped, received = delivered + dropped, exactly.
//
// A queue and a worker cost a hand-over between goroutines for every batch
// and a reference count for every datagram. A quick handler (one that
// counts, decodes, or copies into a ring of its own) can do without them:
// registered with [HandlerConfig].Inline, it is called on the socket's
// reader goroutine, right after the read, with no queue; while it runs its
// socket waits, as with Block. In BenchmarkFanOut one inline handler costs
// about a quarter of the CPU per datagram of one queued handler; see
// bench/RESULTS.md. Inline and queued handlers mix freely on one Mux.
//
// # Order
//
// A handler with one worker sees the datagrams of each socket in the order
// they were read. With several workers, the datagrams of one flow (source
// address and port, group) all go to the same worker, so each flow keeps
// its order while flows are handled in parallel.
//
// # No copies, no allocation
//
// A datagram is read into a pooled buffer and shared, read-only and
// uncopied, by every handler that takes it; a reference count returns the
// buffer to the pool when the last handler is done. Queues are rings of
// pointers and the handlers' context is long-lived, so that the path from
// the socket to the handlers allocates nothing per datagram (see the
// benchmarks in bench/RESULTS.md). The price is the rule in the [Datagram]
// doc: a Datagram and its Payload are valid only during the handler call,
// must not be modified, and are copied by a handler that keeps them.
//
// # Panics
//
// A handler that panics is recovered; the panic is counted (Drops.Panic)
// and logged through a sampler, and the handler, the others and the Server
// go on.
//
// # Lifecycle
//
// [Server.Serve] blocks until its context ends, [Server.Shutdown] or
// [Server.Close] is called, every Source is closed (after draining), or a
// Source fails. Shutdown stops reading — it sets each Source's read
// deadline, which unblocks a read at once — lets the handlers work through
// their queues, and, if its context ends first, drops what is left and
// returns a [*ShutdownError] that says exactly how many datagrams that was.
// Close does the same without waiting; it is idempotent. The Server never
// closes a Source: its owner does, after Serve returns.
//
// # Middleware
//
// [SequenceTracker] follows the sequence numbers that a user-supplied
// function extracts from each datagram, per flow, and counts gaps, missing
// and late numbers, duplicates and resets (with serial number arithmetic,
// RFC 1982, for numbers narrower than 64 bits). A datagram may carry one
// number or a range of them, as a MoldUDP64 packet numbers its messages;
// a function of the payload, such as one that reads a session name, may
// tell streams apart within a flow. What the network controls is bounded:
// the flows tracked (a new one evicts the flow idle longest, counted), the
// memory of each (a bit per number in its window), and the work per
// datagram (a number further than the window from the one expected is a
// reset, not a loss, and costs the same whatever its size), so that a
// forged number in one flow leaves the others' figures as they were.
// [Logging] logs a sample of
// the datagrams; [WithLogger] puts a per-datagram logger in the handler's
// context for zerolog.Ctx (which costs an allocation per datagram, so it is
// opt-in).
//
// # Stats
//
// [Server.Stats] returns, at any time, the counters per socket (with the
// kernel's, for an mcast.Conn), per group and per handler: datagrams,
// bytes, queue depth and its high-water mark, drops by cause, time in the
// handler. [Stats] has JSON field names for export and [Stats.WriteText]
// prints it as tables.
//
// # Testing
//
// Package dispatchtest has an in-memory Source (like wireguard-go's
// bindtest), a zero-allocation Generator for benchmarks, and a Recorder
// handler, so that handlers can be tested without sockets.
//
// BUG(sharecast): Where the OS does not report a datagram's destination
// (Windows; see package mcast), Datagram.Group is the zero Addr and only
// patterns without a group match it.
package dispatch
