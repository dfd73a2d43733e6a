package hub_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sharecast/sharecast/hub"
)

// A Config out of range is refused before any socket opens, naming the
// field, on every OS.
func TestConfigInvalid(t *testing.T) {
	for _, c := range []hub.Config{
		{Name: "bad/name"},
		{Slots: -1},
		{MaxDatagram: 70000},
		{MaxConsumers: 5000},
		{WakeInterval: 2 * time.Second},
	} {
		if _, err := hub.Listen(context.Background(), []string{"239.1.2.3:5000"}, &c); !errors.Is(err, hub.ErrInvalidConfig) {
			t.Errorf("%+v: Listen = %v, want ErrInvalidConfig", c, err)
		}
	}
}
