package dispatch_test

import (
	"testing"

	"github.com/sharecast/sharecast/internal/testbed"
)

// TestMain runs the tests in the test bed's network namespace, for the one
// test that uses real sockets (TestBlockPolicyKernelDrops).
func TestMain(m *testing.M) { testbed.Main(m) }
