package hub_test

import (
	"testing"

	"github.com/sharecast/sharecast/internal/testbed"
)

// TestMain runs the tests in the test bed's network namespace: the hubs
// receive multicast there, and their attach points (abstract unix sockets)
// belong to that namespace too.
func TestMain(m *testing.M) { testbed.Main(m) }
