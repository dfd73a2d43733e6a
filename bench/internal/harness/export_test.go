//go:build linux

package harness

// Internals for the tests of package harness_test.
var (
	SpliceSection = spliceSection
	BeginMark     = beginMark
	EndMark       = endMark
)
