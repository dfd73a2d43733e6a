package cli_test

import (
	"testing"

	"github.com/sharecast/sharecast/cmd/sharecast/internal/cli"
	"github.com/sharecast/sharecast/internal/testbed"
)

// TestMain runs the tests in the test bed's network namespace. The test
// binary doubles as the sharecast command (the "sharecast" helper runs
// cli.Run as main does), so that every subcommand runs as a process of
// its own, also as another user.
func TestMain(m *testing.M) {
	testbed.Register("sharecast", cli.Main)
	testbed.Register("rawbind", rawBindHelper)
	testbed.Register("named", namedHelper)
	testbed.Main(m)
}
