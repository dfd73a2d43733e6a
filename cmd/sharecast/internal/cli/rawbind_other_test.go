//go:build !linux

package cli_test

// rawBindHelper is Linux-only, as the test that uses it.
func rawBindHelper([]string) int { return 2 }
