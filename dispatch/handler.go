package dispatch

import (
	"context"
	"net/netip"
	"time"
)

// Datagram is one received datagram as a [Handler] sees it.
//
// Ownership: a Datagram and the bytes of its Payload belong to the Server,
// and are shared read-only by every handler that the datagram fans out to.
// They are valid only until ServeDatagram returns; the Server then recycles
// the buffer for another datagram. A handler must not modify a Datagram or
// its Payload, and one that keeps the bytes past the call copies them
// (bytes.Clone, or append into its own buffer). The same holds for
// middleware, which passes the same *Datagram on.
type Datagram struct {
	// Payload holds the datagram's bytes.
	Payload []byte

	// Source is the sender's address and port.
	Source netip.AddrPort

	// Group is the datagram's destination address: the multicast group it
	// was sent to, or the zero Addr where the OS does not report it (see
	// the BUG note in package mcast).
	Group netip.Addr

	// Port is the destination port: the local port of the socket that
	// received the datagram, or 0 if its Source does not say (see
	// [Server.AddSource]).
	Port uint16

	// IfIndex is the index of the interface the datagram arrived on, or 0.
	IfIndex int

	// TTL is the IPv4 TTL or IPv6 hop limit the datagram arrived with, or
	// -1 where the Source does not say (see mcast.Datagram.TTL).
	TTL int

	// Time is the receive timestamp that the Source reported (the kernel's,
	// for an mcast.Conn on Linux).
	Time time.Time

	// Socket is the name under which the receiving Source was added to the
	// Server.
	Socket string
}

// Handler handles datagrams. ServeDatagram is called from the worker
// goroutine(s) of the handler's queue, one datagram at a time per worker;
// a handler registered with more than one worker, or on a Mux that more
// than one Server serves (each has its own queue and workers for it), must
// be safe for concurrent use.
//
// The context is long-lived: one per Server, not per datagram, so that
// calling a handler allocates nothing. It carries the values of the context
// given to [Server.Serve], and it is cancelled when the Server stops hard
// ([Server.Close], or [Server.Shutdown] past its deadline), so that a
// handler that waits on something can give up.
//
// A handler that panics is recovered by the Server: the panic is counted
// (as a drop with cause panic) and logged through a sampler, and the
// handler goes on receiving the datagrams that follow.
type Handler interface {
	ServeDatagram(ctx context.Context, d *Datagram)
}

// HandlerFunc adapts an ordinary function to a [Handler].
type HandlerFunc func(ctx context.Context, d *Datagram)

// ServeDatagram calls f(ctx, d).
func (f HandlerFunc) ServeDatagram(ctx context.Context, d *Datagram) { f(ctx, d) }

// Middleware wraps a Handler in another, as net/http middleware does.
type Middleware func(Handler) Handler

// Chain returns h wrapped in the middleware mws, the first of them
// outermost: Chain(h, a, b) is a(b(h)), so a sees each datagram first.
func Chain(h Handler, mws ...Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}
