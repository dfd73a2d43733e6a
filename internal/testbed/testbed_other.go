//go:build !linux

package testbed

import (
	"os"
	"os/exec"
	"testing"
)

// Register names a helper function for Command (Linux only).
func Register(name string, fn func(args []string) int) {}

// Main runs the tests; outside Linux there is no test bed, and tests that
// call Require skip.
func Main(m *testing.M) { os.Exit(m.Run()) }

// Available reports false outside Linux.
func Available() bool { return false }

// RealRoot reports false outside Linux.
func RealRoot() bool { return false }

// Require skips t: the test bed needs Linux network namespaces.
func Require(t testing.TB) {
	t.Helper()
	t.Skip("the test bed needs Linux network namespaces")
}

// RequireRoot skips t, as Require does.
func RequireRoot(t testing.TB) { Require(t) }

// Command fails t outside Linux.
func Command(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	t.Fatal("the test bed needs Linux")
	return nil
}

// Cleanup does nothing outside Linux.
func Cleanup() {}
