package feedhandler_test

import (
	"testing"

	"github.com/sharecast/sharecast/internal/testbed"
)

// TestMain runs the tests in a private network namespace (package testbed):
// the feeds go over lo there, and nowhere else.
func TestMain(m *testing.M) { testbed.Main(m) }
