package mdns_test

import (
	"testing"

	"github.com/sharecast/sharecast/internal/testbed"
)

// TestMain runs the tests in a private network namespace (package
// testbed); avahi-daemon, when a test starts one, runs there too.
func TestMain(m *testing.M) { testbed.Main(m) }
