//go:build !linux

package winetest

import (
	"context"
	"os/exec"
	"testing"
)

// Wine is a Wine prefix of a test's own (Linux only).
type Wine struct{}

// New skips t: the Wine harness runs in the test bed's Linux namespaces.
func New(t testing.TB) *Wine {
	t.Helper()
	t.Skip("the Wine harness needs Linux (the test bed's network namespaces)")
	return nil
}

// Go fails t outside Linux.
func (w *Wine) Go(t testing.TB, args ...string) {
	t.Helper()
	t.Fatal("the Wine harness needs Linux")
}

// Command fails outside Linux.
func (w *Wine) Command(ctx context.Context, exe string, args ...string) *exec.Cmd {
	return nil
}

// Run fails t outside Linux.
func (w *Wine) Run(t testing.TB, env []string, exe string, args ...string) string {
	t.Helper()
	t.Fatal("the Wine harness needs Linux")
	return ""
}
