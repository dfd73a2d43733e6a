package rerequest_test

import (
	"testing"

	"github.com/sharecast/sharecast/internal/testbed"
)

// TestMain runs the tests in a private network namespace (package testbed).
func TestMain(m *testing.M) { testbed.Main(m) }
