//go:build !linux

package testbed

import (
	"errors"
	"net"
	"net/netip"
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

// AtExit does nothing outside Linux.
func AtExit(f func()) {}

// AsUser fails t outside Linux.
func AsUser(t testing.TB, cmd *exec.Cmd, uid, gid int) {
	t.Helper()
	t.Fatal("the test bed needs Linux")
}

// Host is a network namespace (Linux only).
type Host struct{ Name string }

// NewHost fails t outside Linux.
func NewHost(t testing.TB, name string) *Host {
	t.Helper()
	t.Fatal("the test bed needs Linux")
	return nil
}

// Do fails outside Linux.
func (h *Host) Do(fn func() error) error { return errors.ErrUnsupported }

// Start fails outside Linux.
func (h *Host) Start(cmd *exec.Cmd) error { return errors.ErrUnsupported }

// Command fails t outside Linux.
func (h *Host) Command(t testing.TB, name string, args ...string) *exec.Cmd {
	return Command(t, name, args...)
}

// Interface fails outside Linux.
func (h *Host) Interface(name string) (*net.Interface, error) { return nil, errors.ErrUnsupported }

// Veth fails t outside Linux.
func Veth(t testing.TB, a *Host, nameA string, addrA netip.Prefix, b *Host, nameB string, addrB netip.Prefix) {
	t.Helper()
	t.Fatal("the test bed needs Linux")
}

// Switch is a bridge (Linux only).
type Switch struct {
	Host *Host
	Name string
}

// NewSwitch fails t outside Linux.
func NewSwitch(t testing.TB, name string, snooping bool) *Switch {
	t.Helper()
	t.Fatal("the test bed needs Linux")
	return nil
}

// Attach fails t outside Linux.
func (s *Switch) Attach(t testing.TB, h *Host, ifname string, addr netip.Prefix) string {
	t.Helper()
	t.Fatal("the test bed needs Linux")
	return ""
}

// Ports fails outside Linux.
func (s *Switch) Ports(group netip.Addr) ([]string, error) { return nil, errors.ErrUnsupported }
