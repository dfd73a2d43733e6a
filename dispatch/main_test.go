package dispatch_test

import (
	"testing"

	"github.com/sharecast/sharecast/internal/testbed"
)

// TestMain runs the tests in the test bed's network namespace, for the
// tests that use real sockets (TestBlockPolicyKernelDrops,
// TestSequenceTrackerUnderAttack).
func TestMain(m *testing.M) { testbed.Main(m) }
