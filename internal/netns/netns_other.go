//go:build !linux

package netns

import "os/exec"

// Command returns ErrNotSupported outside Linux.
func Command(args ...string) (*exec.Cmd, error) { return nil, ErrNotSupported }

// ExitCode returns ErrNotSupported outside Linux.
func ExitCode(cmd *exec.Cmd) (int, error) { return 0, ErrNotSupported }

// SetupLoopback returns ErrNotSupported outside Linux.
func SetupLoopback() error { return ErrNotSupported }

// CheckIsolated returns ErrNotSupported outside Linux.
func CheckIsolated() error { return ErrNotSupported }
