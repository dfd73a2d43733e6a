package hub

import "github.com/sharecast/sharecast/dispatch"

// SetTap makes h call f with each datagram it has written into a ring; call
// it before Serve.
func SetTap(h *Hub, f func(*dispatch.Datagram)) { h.tap = f }
