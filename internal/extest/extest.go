// Package extest holds test helpers shared by the examples' tests.
package extest

import (
	"bytes"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// Buffer is a bytes.Buffer safe for concurrent use: a program under test
// writes it while the test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// RequireCommand returns the path of the program name, which the Debian
// package pkg installs. Where it is missing the test skips, or fails in CI
// (where the environment variable CI is set), since CI installs every
// package that .ci/apt-packages lists.
func RequireCommand(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed (Debian package %s, listed in .ci/apt-packages)", name, pkg)
		}
		t.Skipf("%s is not installed (Debian package %s)", name, pkg)
	}
	return p
}
