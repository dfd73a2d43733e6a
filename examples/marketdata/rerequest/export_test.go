package rerequest

import (
	"net/netip"
	"time"

	"github.com/sharecast/sharecast/internal/moldudp64"
)

// Take exposes take, the check of an answer, for the fuzz target.
func (c *Client) Take(b []byte, from netip.AddrPort, now time.Time) (moldudp64.Packet, bool) {
	return c.take(b, from, now)
}

// Pass exposes pass, one round of sending, at a made-up time.
func (c *Client) Pass(now time.Time) time.Duration {
	var buf []byte
	return c.pass(now, &buf)
}
