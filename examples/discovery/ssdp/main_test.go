package ssdp_test

import (
	"testing"

	"github.com/sharecast/sharecast/internal/testbed"
)

// TestMain runs the tests in a private network namespace (package
// testbed); minidlna and minissdpd, when a test starts them, run there
// too, or in hosts of their own.
func TestMain(m *testing.M) {
	testbed.Register("ssdp-listen", listenHelper)
	testbed.Main(m)
}
