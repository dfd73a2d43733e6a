//go:build !linux

package hub_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sharecast/sharecast/hub"
)

// Outside Linux the hub says that it is not supported, on both sides.
func TestNotSupported(t *testing.T) {
	if _, err := hub.Listen(context.Background(), []string{"239.1.2.3:5000"}, nil); !errors.Is(err, hub.ErrNotSupported) {
		t.Fatalf("Listen: %v, want ErrNotSupported", err)
	}
	if _, err := hub.Attach("", nil); !errors.Is(err, hub.ErrNotSupported) {
		t.Fatalf("Attach: %v, want ErrNotSupported", err)
	}
}
