package mcast_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sharecast/sharecast/mcast"
)

// A receive buffer larger than any OS takes is refused before a socket is
// opened, naming the limit, rather than cut to 32 bits on its way.
func TestReadBufferTooLarge(t *testing.T) {
	for _, n := range []int{mcast.MaxReadBuffer + 1, 1 << 31, 1 << 32, 1e12, int(^uint(0) >> 1)} {
		c, err := mcast.Listen(context.Background(), "udp4", ":5999", &mcast.Config{ReadBuffer: n})
		if !errors.Is(err, mcast.ErrInvalidConfig) {
			t.Errorf("ReadBuffer %d: %v, want ErrInvalidConfig", n, err)
		}
		if c != nil {
			c.Close()
		}
	}
}
