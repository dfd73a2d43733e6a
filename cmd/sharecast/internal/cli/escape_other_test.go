//go:build !linux

package cli_test

func namedHelper([]string) int { return 2 }
