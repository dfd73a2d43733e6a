package feedhandler_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sharecast/sharecast/examples/marketdata/feedhandler"
	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/internal/testbed"
)

// TestNewErrors checks that bad configurations are refused, and that a
// failure half-way (line B's interface does not exist, after line A's
// socket was opened and joined) undoes what was done.
func TestNewErrors(t *testing.T) {
	testbed.Require(t)
	a := group.MustParseSpec("239.1.1.7:5400")
	for name, cfg := range map[string]*feedhandler.Config{
		"nil":       nil,
		"no lines":  {},
		"same line": {A: a, B: a},
	} {
		if _, err := feedhandler.New(context.Background(), cfg); !errors.Is(err, feedhandler.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
	_, err := feedhandler.New(context.Background(), &feedhandler.Config{A: a, B: group.MustParseSpec("239.1.1.8:5401%nosuchif0")})
	if !errors.Is(err, group.ErrNoInterface) {
		t.Fatalf("B on a missing interface: %v", err)
	}
	socks, err := testbed.UDPSockets(5400)
	if err != nil {
		t.Fatal(err)
	}
	if len(socks) != 0 {
		t.Errorf("line A's socket left open: %+v", socks)
	}
}
