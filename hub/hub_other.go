//go:build !linux

package hub

import (
	"context"
	"net/netip"
	"time"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/mcast"
)

// Hub is a hub; outside Linux, Listen returns ErrNotSupported.
type Hub struct{}

// Listen returns ErrNotSupported outside Linux.
func Listen(ctx context.Context, specs []string, cfg *Config) (*Hub, error) {
	if _, err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	return nil, ErrNotSupported
}

// Serve returns ErrNotSupported.
func (h *Hub) Serve(ctx context.Context) error { return ErrNotSupported }

// Addr returns the hub's attach point.
func (h *Hub) Addr() string { return "" }

// Name returns the hub's name.
func (h *Hub) Name() string { return "" }

// Receiver returns nil.
func (h *Hub) Receiver() *dispatch.Receiver { return nil }

// Stats returns no counters.
func (h *Hub) Stats() Stats { return Stats{} }

// Close does nothing.
func (h *Hub) Close() error { return nil }

// Consumer is an attachment to a hub; outside Linux, Attach returns
// ErrNotSupported.
type Consumer struct{}

// Source is one ring of a hub.
type Source struct{}

// Attach returns ErrNotSupported outside Linux.
func Attach(name string, cfg *AttachConfig) (*Consumer, error) { return nil, ErrNotSupported }

// Sources returns nil.
func (c *Consumer) Sources() []*Source { return nil }

// AddTo returns ErrNotSupported.
func (c *Consumer) AddTo(srv *dispatch.Server) error { return ErrNotSupported }

// Gone reports true.
func (c *Consumer) Gone() bool { return true }

// Slot returns -1.
func (c *Consumer) Slot() int { return -1 }

// HubPID returns 0.
func (c *Consumer) HubPID() int { return 0 }

// Close does nothing.
func (c *Consumer) Close() error { return nil }

// Name returns "".
func (s *Source) Name() string { return "" }

// LocalAddr returns the zero AddrPort.
func (s *Source) LocalAddr() netip.AddrPort { return netip.AddrPort{} }

// BatchSize returns 1.
func (s *Source) BatchSize() int { return 1 }

// SetReadDeadline returns ErrNotSupported.
func (s *Source) SetReadDeadline(t time.Time) error { return ErrNotSupported }

// ReadBatch returns ErrNotSupported.
func (s *Source) ReadBatch(ds []mcast.Datagram) (int, error) { return 0, ErrNotSupported }

// Stats returns no counters.
func (s *Source) Stats() mcast.Stats { return mcast.Stats{} }

// Overrun returns 0.
func (s *Source) Overrun() uint64 { return 0 }

// Delivered returns 0.
func (s *Source) Delivered() uint64 { return 0 }
